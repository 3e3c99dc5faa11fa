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
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from checker import REPO_ROOT
from checker.catalog import Kata

STATUSES = ("pass", "fail", "not_implemented", "error", "timeout")


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

    def count(self, status: str) -> int:
        return sum(1 for record in self.records if record["status"] == status)

    @property
    def passed(self) -> bool:
        return bool(self.records) and all(r["status"] == "pass" for r in self.records)

    @property
    def not_started(self) -> bool:
        return bool(self.records) and all(
            r["status"] == "not_implemented" for r in self.records
        )


def _estimate_grader_count(grader: Path) -> int:
    """Count test functions by reading the source, to size the overall limit."""
    text = grader.read_text(encoding="utf-8") if grader.exists() else ""
    return max(1, len(re.findall(r"^\s*def test_", text, flags=re.MULTILINE)))


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
        kata=kata, impl_path=impl_path, seed=None if ci else seed, time_limit=limit
    )

    with tempfile.TemporaryDirectory(prefix="kata-") as scratch:
        report = Path(scratch) / "report.jsonl"
        command = [
            sys.executable, "-m", "pytest", str(kata.grader_path),
            "-p", "checker.plugin", "-p", "no:cacheprovider",
            "--rootdir", str(REPO_ROOT), "-q", "--no-header", "-rN", "--tb=no",
            f"--kata-report={report}", f"--kata-time-limit={limit}",
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
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                timeout=overall_limit, preexec_fn=limits.apply if limits else None,
            )
            output = done.stdout + done.stderr
            if limits is not None:
                limit_detail = limits.exit_detail(done.returncode)
        except subprocess.TimeoutExpired as expired:
            killed = True
            raw = expired.stdout or ""
            output = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        result.duration = time.monotonic() - start
        collected: list[str] = []
        report_seen_collection = False
        if report.exists():
            for line in report.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                if "collected" in record:
                    collected = record["collected"]
                    report_seen_collection = True
                else:
                    result.records.append(record)

    stopped_early = stop_first and any(r["status"] != "pass" for r in result.records)
    seen = {record["id"] for record in result.records}
    for node_id in collected:
        if node_id in seen or stopped_early:
            continue
        # Graders that never reported: the run was killed while they ran, or
        # the interpreter itself died (a crash in native code).
        missing = {"id": node_id, "name": node_id.split("::")[-1], "explain": None,
                   "output": "", "duration": 0.0, "example": None, "frames": []}
        if killed:
            missing.update(status="timeout")
        else:
            missing.update(status="error", kind="limit" if limit_detail else "crash",
                           detail=limit_detail or output.strip()[-800:])
        result.records.append(missing)
    if not result.records and keyword and report_seen_collection:
        result.nothing_selected = True
    elif not result.records:
        # Nothing ran: the grader file itself failed to import or collect.
        result.collect_error = output[-3000:]
    return result
