"""Shared helpers for the self-tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from checker import REPO_ROOT
from checker.catalog import Kata, all_katas
from checker.runner import CheckResult, run_graders

MUTANTS_DIR = REPO_ROOT / "tests" / "mutants"


def kata_names() -> list[str]:
    return [kata.name for kata in all_katas()]


def pristine_stub(kata: Kata, scratch: Path) -> Path:
    """The stub as committed, so a learner's edits never change the verdict.

    Outside a git checkout (a downloaded archive) the working file is used.
    """
    relative = kata.stub_path.relative_to(REPO_ROOT).as_posix()
    shown = subprocess.run(
        ["git", "show", f"HEAD:{relative}"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    if shown.returncode != 0:
        return kata.stub_path
    path = scratch / f"{kata.name}.py"
    path.write_text(shown.stdout, encoding="utf-8")
    return path


def mutant_files() -> list[tuple[str, Path]]:
    found = []
    for kata in all_katas():
        for path in sorted((MUTANTS_DIR / kata.name).glob("*.py")):
            found.append((kata.name, path))
    return found


def summarize(result: CheckResult) -> str:
    """One line per grader, for assertion messages."""
    lines = []
    for record in result.records:
        lines.append(f"{record['status']:>16}  {record['name']}  {record.get('detail') or ''}"[:300])
    if result.collect_error:
        lines.append(result.collect_error)
    return "\n".join(lines)


__all__ = ["kata_names", "pristine_stub", "mutant_files", "summarize", "run_graders"]
