"""Golden transcripts of the practice commands, in English and Chinese.

The commands run in-process against a small fake course (two katas in a
temporary folder), so the transcripts do not change when katas are added
to the real course. Times, dates, session ids and temporary paths are
replaced by placeholders before comparing. To rewrite the golden files
after an intended change of wording:

    KATA_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_practice_golden.py
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from checker import catalog, cli
from checker.i18n import set_language
from checker.practice import mock as mock_practice
from checker.practice import pristine
from checker.practice.mock import KataScore
from checker.state import load_state, updating_state

GOLDEN_DIR = Path(__file__).parent / "golden" / "practice"
UPDATE = os.environ.get("KATA_UPDATE_GOLDEN") == "1"

ALPHA_STUB = '''"""Kata `alpha`: add two numbers."""


def add(a: int, b: int) -> int:
    """Return a + b."""
    # TODO: return the sum.
    raise NotImplementedError("add")
'''
ALPHA_SOLUTION = '''"""Reference solution for `alpha`."""


def add(a: int, b: int) -> int:
    """Return a + b."""
    return a + b
'''
BETA_STUB = '''"""Kata `beta`: say hello."""


def hello(name: str) -> str:
    # TODO: greet `name`.
    raise NotImplementedError("hello")
'''


def _toml(order: int, en: str, zh: str, hints: int, follow_ups: int) -> str:
    lines = [f"order = {order}", "difficulty = 1", "minutes = 10", "time_limit = 5", "",
             "[title]", f'en = "{en}"', f'zh = "{zh}"']
    for number in range(1, hints + 1):
        lines += ["", "[[hints]]", f'en = "Hint number {number} in English."',
                  f'zh = "第 {number} 条中文提示。"']
    for number in range(1, follow_ups + 1):
        lines += ["", "[[follow_ups]]", f'en = "Follow-up question {number}?"',
                  f'zh = "追问 {number}？"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A fake course with katas `alpha` (3 hints, a solution) and `beta`."""
    root = tmp_path / "course"
    for name, stub, toml in (
        ("alpha", ALPHA_STUB, _toml(1, "Add two numbers", "两数相加", 3, 2)),
        ("beta", BETA_STUB, _toml(2, "Say hello", "打招呼", 0, 0)),
    ):
        folder = root / "katas" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.py").write_text(stub, encoding="utf-8")
        (folder / "kata.toml").write_text(toml, encoding="utf-8")
    (root / "solutions").mkdir()
    (root / "solutions" / "alpha.py").write_text(ALPHA_SOLUTION, encoding="utf-8")
    hashes = tmp_path / "stub_hashes.txt"
    hashes.write_text(f"{pristine.digest(ALPHA_STUB.encode())}  alpha\n", encoding="utf-8")

    monkeypatch.setattr(catalog, "KATAS_DIR", root / "katas")
    monkeypatch.setattr(catalog, "SOLUTIONS_DIR", root / "solutions")
    monkeypatch.setattr(pristine, "HASH_LIST", hashes)
    monkeypatch.setenv("KATA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.chdir(tmp_path)
    catalog.all_katas.cache_clear()
    yield root
    catalog.all_katas.cache_clear()
    set_language(None)


class Transcript:
    """Runs `kata` commands in-process and keeps what they print."""

    def __init__(self, capsys, language: str, tmp_path: Path):
        self.capsys = capsys
        self.language = language
        self.tmp_path = tmp_path
        self.parts: list[str] = []

    def run(self, *arguments: str) -> int:
        try:
            status = cli.main(["--lang", self.language, *arguments])
        except SystemExit as exit_:
            status = exit_.code
        captured = self.capsys.readouterr()
        self.parts.append(f"$ kata {' '.join(arguments)}  [exit {status}]\n"
                          f"{captured.out}{captured.err}")
        return status

    def note(self, text: str) -> None:
        self.parts.append(f"# {text}\n")

    def text(self) -> str:
        return normalize("\n".join(self.parts), self.tmp_path)


def normalize(text: str, tmp_path: Path) -> str:
    text = text.replace(str(tmp_path), "<TMP>")
    text = re.sub(r"\d{8}-\d{6}(-\d+)?", "<ID>", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "<WHEN>", text)
    text = re.sub(r"\b\d+(d|h|m|s)( \d+[hms])?(?=\W|$)", "<DUR>", text)
    text = re.sub(r"\d+\.\d (days|天)", r"<N> \1", text)
    return text


def compare(name: str, actual: str) -> None:
    path = GOLDEN_DIR / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs; rerun with KATA_UPDATE_GOLDEN=1 if intended"


def _learning_loop(run: Transcript, course: Path) -> None:
    stub = course / "katas" / "alpha" / "alpha.py"
    run.run("progress")
    run.run("hint", "alpha")
    run.run("hint")
    run.run("hint", "alpha")
    run.run("hint", "alpha")
    run.run("hint", "beta")
    run.run("solution", "alpha")
    run.note("the learner writes an answer and passes")
    stub.write_text(ALPHA_SOLUTION.replace("return a + b", "return b + a"), encoding="utf-8")
    with updating_state() as data:
        data["katas"]["alpha"].update(status="passed", attempts=4, first_run=time.time() - 600,
                                      last_run=time.time(), passed_at=time.time(),
                                      time_to_pass=600.0)
        data["katas"]["removed_kata"] = {"status": "passed", "attempts": 1, "hints_used": 0}
    run.run("solution", "alpha")
    run.run("progress")
    run.run("reset", "alpha")
    run.run("reset", "alpha")
    run.run("reset")


def _drills(run: Transcript) -> None:
    run.run("drill")
    run.note("two days later, alpha is due")
    with updating_state() as data:
        data["katas"]["alpha"]["passed_at"] = time.time() - 2 * 86400
    run.run("drill", "status")
    run.run("drill", "beta")
    run.run("drill")
    run.run("drill", "check", "extra")
    run.run("drill", "giveup")
    run.run("drill", "history")
    run.run("drill")
    run.run("drill", "--any")
    run.run("drill", "status")


def _mock(run: Transcript, course: Path) -> None:
    run.run("mock", "status")
    run.run("mock", "--katas", "alpha,beta", "--minutes", "30", "--seed", "7")
    run.run("mock", "status")
    run.run("mock", "--count", "1")
    run.run("hint", "alpha")
    run.run("solution", "alpha")
    session = load_state()["mock"]["active"]
    assert sorted(path.name for path in Path(session["folder"]).iterdir()) == [
        "alpha.py", "beta.py", "session.json"]
    kata_alpha = catalog.find_kata("alpha")
    kata_beta = catalog.find_kata("beta")
    scores = [
        KataScore(kata_alpha, 5, 5, []),
        KataScore(kata_beta, 1, 3, ["FAIL: greets with a comma", "not implemented: hello"]),
    ]
    late = float(session["started_at"]) + 35 * 60
    report = mock_practice.format_report(session, scores, late)
    mock_practice.finish_session(session, scores, late, report)
    run.parts.append("# report of a submission five minutes over time\n" + report + "\n")
    run.run("mock", "history")
    run.run("mock", "abandon")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_practice_transcript(course, capsys, tmp_path, language):
    run = Transcript(capsys, language, tmp_path)

    _learning_loop(run, course)
    _drills(run)
    _mock(run, course)

    compare(f"transcript.{language}.txt", run.text())


def test_state_after_transcript(course, capsys, tmp_path):
    run = Transcript(capsys, "en", tmp_path)

    _learning_loop(run, course)
    _drills(run)

    data = json.loads((tmp_path / "state" / "state.json").read_text(encoding="utf-8"))
    assert data["schema"] == 2
    assert data["katas"]["alpha"]["hints_used"] == 3
    assert data["katas"]["alpha"]["solution_views"] == 1
    assert data["katas"]["alpha"]["resets"] == 1
    assert "solution_forced" not in data["katas"]["alpha"]
    card = data["drill"]["cards"]["alpha"]
    assert [item["outcome"] for item in card["history"]] == ["failed"]
    assert data["drill"]["current"]["kata"] == "alpha"
    backups = list((tmp_path / "state" / "backups").glob("alpha-*-reset.py"))
    assert len(backups) == 1
    assert "return b + a" in backups[0].read_text(encoding="utf-8")
