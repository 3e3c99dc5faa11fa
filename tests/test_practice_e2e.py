"""The practice loop as a learner and an interviewer drive it, through a pseudo-terminal.

Every command runs as its own process (`python -m checker`) with
KATA_STATE_DIR in a temporary folder, against the real loss_mask graders
narrowed with `--only`, so each grading takes a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pexpect
import pytest

from checker import REPO_ROOT

SOLUTION = (REPO_ROOT / "solutions" / "loss_mask.py").read_text(encoding="utf-8")
LEARNER_FILE = REPO_ROOT / "katas" / "loss_mask" / "loss_mask.py"
ONE_GRADER = "test_header_is_prompt"
GRADING_TIMEOUT = 90


@pytest.fixture
def env(tmp_path):
    values = dict(os.environ)
    values.update(KATA_STATE_DIR=str(tmp_path / "state"), KATA_LANG="en", NO_COLOR="1",
                  PYTHONPATH=str(REPO_ROOT))
    return values


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kata(env, tmp_path, *arguments: str) -> tuple[str, int]:
    """Run one `kata` command in a pseudo-terminal; return its output and exit status."""
    command = shlex.join([sys.executable, "-m", "checker", *arguments])
    output, status = pexpect.run(command, cwd=str(tmp_path), env=env, withexitstatus=True,
                                 timeout=GRADING_TIMEOUT, encoding="utf-8")
    assert "Traceback" not in output, output
    return output, status


def test_watch_regrades_on_save_and_enter(env, tmp_path):
    candidate = tmp_path / "loss_mask.py"
    candidate.write_text(LEARNER_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    child = pexpect.spawn(sys.executable, ["-m", "checker", "watch", "loss_mask", "--file",
                                           str(candidate), "--only", ONE_GRADER],
                          cwd=str(tmp_path), env=env, encoding="utf-8", timeout=GRADING_TIMEOUT)
    try:
        child.expect("not implemented")
        child.expect(r"\[loss_mask: 0/1 pass\] watching .*Enter: grade now")

        candidate.write_text(SOLUTION, encoding="utf-8")
        child.expect("file changed")
        child.expect(r"\[loss_mask: selected graders pass\]")

        child.sendline("")
        child.expect("graded on request")
        child.expect(r"\[loss_mask: selected graders pass\]")

        child.sendintr()
        child.expect("Stopped watching loss_mask")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)

    assert child.exitstatus == 0
    assert "Traceback" not in child.before


def test_mock_session_start_to_report(env, tmp_path):
    learner_before = _digest(LEARNER_FILE)

    output, status = kata(env, tmp_path, "mock", "--katas", "loss_mask", "--minutes", "20",
                          "--seed", "5")
    assert status == 0, output
    assert "Mock interview" in output and "20 minutes" in output
    state = json.loads((tmp_path / "state" / "state.json").read_text(encoding="utf-8"))
    folder = Path(state["mock"]["active"]["folder"])
    assert (folder / "loss_mask.py").read_text(encoding="utf-8") == LEARNER_FILE.read_text(
        encoding="utf-8") or "NotImplementedError" in (folder / "loss_mask.py").read_text()

    output, status = kata(env, tmp_path, "hint", "loss_mask")
    assert status == 1 and "hints are locked" in output
    output, status = kata(env, tmp_path, "solution", "loss_mask", "--force")
    assert status == 1 and "solutions are locked" in output
    output, status = kata(env, tmp_path, "mock", "status")
    assert status == 0 and "left (of 20 minutes)" in output

    (folder / "loss_mask.py").write_text(SOLUTION, encoding="utf-8")
    output, status = kata(env, tmp_path, "mock", "submit", "--only", ONE_GRADER)
    assert status == 0, output
    assert "loss_mask  1/1" in output
    assert "Overtime: none" in output
    assert "Follow-up questions for the interview:" in output
    assert "Why supervise <|im_end|>" in output
    assert (folder / "report.txt").exists()

    output, status = kata(env, tmp_path, "mock", "history")
    assert status == 0 and "1/1" in output
    output, status = kata(env, tmp_path, "hint", "loss_mask")
    assert status == 0 and "Hint 1/3" in output
    assert _digest(LEARNER_FILE) == learner_before


def test_mock_session_in_chinese(env, tmp_path):
    output, status = kata(env, tmp_path, "--lang", "zh", "mock", "loss_mask", "--minutes", "5")
    assert status == 0 and "模拟面试" in output

    output, status = kata(env, tmp_path, "mock", "submit", "--only", ONE_GRADER, "--lang", "zh")

    assert status == 0, output
    assert "loss_mask  0/1" in output
    assert "未通过" in output
    assert "面试追问" in output


def test_drill_passes_and_shows_history(env, tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    two_days_ago = time.time() - 2 * 86400
    (state_dir / "state.json").write_text(json.dumps({
        "schema": 2,
        "katas": {"loss_mask": {"status": "passed", "attempts": 5, "hints_used": 1,
                                "passed_at": two_days_ago, "time_to_pass": 3000.0}},
        "drill": {"cards": {}, "current": None},
        "mock": {"active": None, "history": []},
    }), encoding="utf-8")

    output, status = kata(env, tmp_path, "drill")
    assert status == 0 and "The clock is running" in output
    scratch = state_dir / "drill" / "loss_mask.py"
    assert "NotImplementedError" in scratch.read_text(encoding="utf-8")

    scratch.write_text(SOLUTION, encoding="utf-8")
    # A drill passes only on a full grading; --only runs never count.
    output, status = kata(env, tmp_path, "drill", "check")
    assert status == 0, output
    assert "Drill passed in" in output and "comes back in 2.5 days" in output

    output, status = kata(env, tmp_path, "drill", "history")
    assert "passed within the estimate" in output
    output, status = kata(env, tmp_path, "progress")
    assert "passed" in output and "Overall: 1 of" in output


def test_interviewer_mode_reports_memory_limit(env, tmp_path):
    hog = tmp_path / "hog.py"
    hog.write_text("blocks = []\nwhile True:\n    blocks.append(bytearray(10**8))\n")

    output, status = kata(env, tmp_path, "check", "loss_mask", "--file", str(hog),
                          "--memory-limit", "1500", "--only", ONE_GRADER)

    assert status == 1
    assert "Interviewer mode" in output
    assert "MemoryError" in output
    assert "1500 MiB memory limit" in output


def test_interviewer_mode_reports_cpu_limit(env, tmp_path):
    spin = tmp_path / "spin.py"
    spin.write_text("def render_chatml(messages, add_generation_prompt=False):\n"
                    "    while True:\n        pass\n")

    output, status = kata(env, tmp_path, "check", "loss_mask", "--file", str(spin),
                          "--cpu-limit", "8", "--time-limit", "120",
                          "--only", "test_render_rejects_bad_messages")

    assert status == 1
    assert "more than 8 s of CPU time" in output
    assert not (tmp_path / "state" / "state.json").exists()
