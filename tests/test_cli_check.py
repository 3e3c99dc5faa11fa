"""Golden-output tests of `kata check`: what a learner sees for each kind of result.

Regenerate the golden files after an intended change of wording with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_cli_check.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from checker import REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "golden" / "check"
FIXTURES = "tests/fixtures/check"
MUTANTS = "tests/mutants/loss_mask"

CASES = {
    "pass": ["loss_mask", "--impl", "solutions", "--only", "render"],
    "not_started": ["loss_mask", "--impl", "katas", "--only", "header or reduction"],
    "fail": ["loss_mask", "--impl", f"{MUTANTS}/header_supervised.py", "--only", "header", "--seed", "1"],
    "fail_zh": ["loss_mask", "--impl", f"{MUTANTS}/header_supervised.py", "--only", "header",
                "--seed", "1", "--lang", "zh"],
    "error_in_learner_code": ["loss_mask", "--impl", f"{FIXTURES}/raises_index_error.py", "--only",
                              "header or end_of_turn", "--seed", "1"],
    "timeout": ["loss_mask", "--impl", f"{FIXTURES}/infinite_loop.py", "--only", "header",
                "--time-limit", "1", "--seed", "1"],
    "syntax_error": ["loss_mask", "--impl", f"{FIXTURES}/syntax_error.py", "--only", "header or reduction"],
    "syntax_error_zh": ["loss_mask", "--impl", f"{FIXTURES}/syntax_error.py", "--only", "header",
                        "--lang", "zh"],
    "missing_function": ["loss_mask", "--impl", f"{FIXTURES}/missing_function.py", "--only",
                         "bad_reduction", "--seed", "1"],
    "hypothesis_failure": ["loss_mask", "--impl", f"{MUTANTS}/no_shift.py", "--only", "shifts_once",
                           "--seed", "1"],
    "printed_output": ["loss_mask", "--impl", f"{FIXTURES}/prints_a_lot.py", "--only", "header",
                       "--seed", "1"],
}
EXIT_CODES = {"pass": 0}


def run_kata(arguments: list[str], state_dir: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KATA_", "LC_"))}
    env.update(LANG="C.UTF-8", KATA_STATE_DIR=str(state_dir), PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "checker", "check", *arguments],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_check_output_matches_golden(case, tmp_path):
    done = run_kata(CASES[case], tmp_path)
    output = done.stdout + done.stderr
    golden = GOLDEN / f"{case}.txt"

    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(output, encoding="utf-8")

    assert done.returncode == EXIT_CODES.get(case, 1), output
    assert output == golden.read_text(encoding="utf-8")


def test_check_never_shows_grader_source(tmp_path):
    done = run_kata(CASES["fail"], tmp_path)

    assert "def test_" not in done.stdout
    assert "supervised_text(" not in done.stdout
    assert "checker/graders" not in done.stdout


def test_timeout_is_reported_within_the_limit(tmp_path):
    done = run_kata(CASES["timeout"], tmp_path)

    assert "timed out" in done.stdout
    assert done.returncode == 1


def test_unknown_kata_lists_known_names(tmp_path):
    done = run_kata(["no_such_kata"], tmp_path)

    assert done.returncode == 2
    assert "no kata named 'no_such_kata'" in done.stderr
    assert "loss_mask" in done.stderr


def test_reference_run_is_not_recorded_as_progress(tmp_path):
    run_kata(["loss_mask", "--impl", "solutions", "--only", "render"], tmp_path)

    assert not (tmp_path / "state.json").exists()


def test_own_file_run_is_recorded(tmp_path):
    run_kata(["loss_mask"], tmp_path)

    assert '"loss_mask"' in (tmp_path / "state.json").read_text(encoding="utf-8")


def test_partial_run_is_not_recorded(tmp_path):
    done = run_kata(["loss_mask", "--impl", "solutions", "--only", "render"], tmp_path)

    assert done.returncode == 0
    assert "never counts as passing" in done.stdout
    assert not (tmp_path / "state.json").exists()


def test_learner_code_ending_the_process_names_the_grader(tmp_path):
    exiting = tmp_path / "exiting.py"
    exiting.write_text(
        "import os\n\n\ndef render_chatml(messages, add_generation_prompt=False):\n    os._exit(3)\n",
        encoding="utf-8",
    )

    done = run_kata(["loss_mask", "--impl", str(exiting), "--only", "render_layout or header"], tmp_path)

    assert "The grading process ended while this grader ran" in done.stdout
    assert "not run" in done.stdout
    assert done.returncode == 1


def test_invalid_impl_is_a_usage_error(tmp_path):
    done = run_kata(["loss_mask", "--impl", "solution"], tmp_path)

    assert done.returncode == 2
    assert "no file to grade" in done.stderr
