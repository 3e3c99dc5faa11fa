"""`kata react-demo` runs the agent end to end with a scripted model."""

from __future__ import annotations

import pytest

from checker.catalog import find_kata
from checker.cli import main
from checker.i18n import set_language
from tests.helpers import pristine_stub


@pytest.fixture(autouse=True)
def english_by_default():
    set_language(None)
    yield
    set_language(None)


def test_demo_prints_full_trace(capsys):
    status = main(["react-demo", "--impl", "solutions", "--lang", "en"])
    out = capsys.readouterr().out

    assert status == 0, out
    for expected in ("Thought:", "Action: search", "Action: calculator", "Observation: 2.0",
                     "Observation: 1024", "Final Answer:", "stop_reason=final_answer"):
        assert expected in out, f"{expected!r} missing from:\n{out}"


def test_demo_shows_model_misbehaviour(capsys):
    main(["react-demo", "--impl", "solutions", "--lang", "en"])
    out = capsys.readouterr().out

    assert "made up an Observation" in out
    assert "failed to parse" in out
    assert "Observation: Error:" in out  # the injection attempt is rejected, not run


def test_demo_answer_cites_a_passage(capsys):
    main(["react-demo", "--impl", "solutions", "--lang", "en"])
    out = capsys.readouterr().out

    assert "give a scaling of 2.0 (source: en-" in out


def test_demo_in_chinese(capsys):
    status = main(["react-demo", "react", "--impl", "solutions", "--lang", "zh"])
    out = capsys.readouterr().out

    assert status == 0, out
    assert "问题 1" in out
    assert "缩放系数是 2.0" in out
    assert "stop_reason=final_answer" in out


def test_demo_rejects_other_kata(capsys):
    status = main(["react-demo", "judge", "--impl", "solutions"])

    assert status == 2
    assert "react" in capsys.readouterr().err


def test_demo_on_untouched_stub(capsys, tmp_path):
    stub = pristine_stub(find_kata("react"), tmp_path)

    status = main(["react-demo", "--impl", str(stub), "--lang", "en"])
    out = capsys.readouterr().out

    assert status == 1
    assert "not implemented yet" in out
    assert "reference BM25" in out  # a file without BM25 falls back to the reference search
