"""Run one kata's graders in a pytest subprocess and collect the records.

The subprocess keeps learner code (infinite loops, crashes, stray prints)
away from the CLI process. Each grader has its own time limit inside the
subprocess (see `checker.plugin`); on top of that the whole run is killed
after `overall_limit` seconds, and graders that never reported are then
marked "timeout".
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from checker import REPO_ROOT
from checker.catalog import Kata

STATUSES = ("pass", "fail", "not_implemented", "error", "timeout", "not_run")


@dataclass
class CheckResult:
    kata: Kata
    impl_path: Path
    seed: int | None
    records: list[dict] = field(default_factory=list)
    collect_error: str | None = None
    duration: float = 0.0
    time_limit: float = 0.0
    nothing_selected: bool = False
    usage_error: str | None = None
    partial: bool = False

    def count(self, status: str) -> int:
        return sum(1 for record in self.records if record["status"] == status)

    @property
    def all_pass(self) -> bool:
        """Every grader that ran passed (maybe only those --only selected)."""
        return bool(self.records) and all(r["status"] == "pass" for r in self.records)

    @property
    def passed(self) -> bool:
        """The kata is passed: every grader ran and passed."""
        return self.all_pass and not self.partial

    @property
    def not_started(self) -> bool:
        return bool(self.records) and all(
            r["status"] == "not_implemented" for r in self.records
        )


def _estimate_grader_count(grader: Path) -> int:
    """Count test functions by reading the source, to size the overall limit."""
    text = grader.read_text(encoding="utf-8") if grader.exists() else ""
    return max(1, len(re.findall(r"^\s*def test_", text, flags=re.MULTILINE)))


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the grading process and everything it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _exit_detail(output: str) -> str:
    """The last lines pytest printed before the process ended, without banners."""
    lines = [line for line in output.strip().splitlines() if line.strip() and not line.startswith("!!!")]
    return "\n".join(lines[-6:])


def run_graders(
    kata: Kata,
    *,
    impl: str | None = None,
    seed: int | None = None,
    time_limit: float | None = None,
    ci: bool = False,
    stop_first: bool = False,
    keyword: str | None = None,
    limits=None,
) -> CheckResult:
    """Grade `impl` (see `checker.resolver`) against kata `kata`'s graders.

    `limits` (a `checker.practice.limits.ResourceLimits`) caps the CPU time
    and memory of the grading subprocess, for code nobody has reviewed.
    """
    from checker.resolver import resolve_path

    env = dict(os.environ)
    env["KATA_IMPL"] = impl if impl is not None else env.get("KATA_IMPL", "katas")
    env.setdefault("KATA_IMPL_BASE", os.getcwd())
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Grader models are tiny: one thread is fastest, and it keeps parallel
    # self-test workers from oversubscribing the cores.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["KATA_HYPOTHESIS_PROFILE"] = "ci" if ci else "learner"
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + existing if existing else "")
    if seed is None and not ci:
        seed = random.randrange(10**6)
    impl_path = resolve_path(kata.name, env["KATA_IMPL"])
    limit = time_limit if time_limit is not None else kata.time_limit
    result = CheckResult(
        kata=kata, impl_path=impl_path, seed=None if ci else seed, time_limit=limit,
        partial=bool(keyword),
    )

    with tempfile.TemporaryDirectory(prefix="kata-") as scratch:
        # The plugin writes through an inherited descriptor, so the records
        # survive even if code under test deletes files in the temp folder.
        report = open(Path(scratch) / "report.jsonl", "w+b")  # noqa: SIM115
        log = open(Path(scratch) / "pytest.log", "w+b")  # noqa: SIM115
        command = [
            sys.executable, "-m", "pytest", str(kata.grader_path),
            "-p", "checker.plugin", "-p", "no:cacheprovider",
            "--rootdir", str(REPO_ROOT), "-q", "--no-header", "-rN", "--tb=no",
            f"--kata-report-fd={report.fileno()}", f"--kata-time-limit={limit}",
        ]
        if seed is not None and not ci:
            command.append(f"--hypothesis-seed={seed}")
        if stop_first:
            command.append("-x")
        if keyword:
            command += ["-k", keyword]
        overall_limit = 60 + limit * _estimate_grader_count(kata.grader_path) * 1.5
        start = time.monotonic()
        killed = False
        limit_detail = None
        # A new session, so that processes the code under test forks are
        # killed with the run instead of keeping it waiting.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=REPO_ROOT, pass_fds=(report.fileno(),), start_new_session=True,
            preexec_fn=limits.apply if limits else None,
        )
        try:
            returncode = process.wait(timeout=overall_limit)
            if limits is not None:
                limit_detail = limits.exit_detail(returncode)
        except subprocess.TimeoutExpired:
            killed = True
        finally:
            _kill_group(process)
        result.duration = time.monotonic() - start
        log.seek(0)
        output = log.read().decode("utf-8", errors="replace")
        report.seek(0)
        lines = report.read().decode("utf-8", errors="replace").splitlines()
        report.close()
        log.close()

    collected: list[str] = []
    explanations: dict[str, dict | None] = {}
    started: list[str] = []
    report_seen_collection = False
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short when the process died
        if "collected" in record:
            collected = record["collected"]
            explanations = record.get("explain") or {}
            report_seen_collection = True
        elif "started" in record:
            started.append(record["started"])
        else:
            result.records.append(record)

    if "Wrong expression passed to '-k'" in output:
        lines = [line for line in output.splitlines() if "-k" in line or "Expected" in line]
        result.usage_error = " ".join(line.strip() for line in lines[-2:]) or str(keyword)
        return result

    stopped_early = stop_first and any(r["status"] != "pass" for r in result.records)
    seen = {record["id"] for record in result.records}
    running = next((node for node in reversed(started) if node not in seen), None)
    for node_id in collected:
        if node_id in seen or stopped_early:
            continue
        missing = {"id": node_id, "name": node_id.split("::")[-1], "explain": explanations.get(node_id),
                   "output": "", "duration": 0.0, "example": None, "frames": []}
        if node_id != running:
            # An earlier grader ended the whole run before this one started.
            missing.update(status="not_run")
        elif killed:
            missing.update(status="timeout", seconds=overall_limit if running else None)
        elif limit_detail:
            missing.update(status="error", kind="limit", detail=limit_detail)
        else:
            missing.update(status="error", kind="exit", detail=_exit_detail(output))
        result.records.append(missing)
    if not result.records and keyword and report_seen_collection:
        result.nothing_selected = True
    elif not result.records:
        # Nothing ran: the grader file itself failed to import or collect.
        result.collect_error = output[-3000:]
    return result
