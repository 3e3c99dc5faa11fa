"""The progress state survives corruption, old schemas and concurrent commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checker import REPO_ROOT
from checker.state import (
    SCHEMA_VERSION,
    kata_entry,
    load_state,
    passed_katas,
    record_check,
    record_hint,
    state_path,
    updating_state,
)

WORKERS = 6
CHECKS_EACH = 5


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KATA_STATE_DIR", str(tmp_path))
    return tmp_path


def _write(text: str) -> None:
    state_path().parent.mkdir(parents=True, exist_ok=True)
    state_path().write_text(text, encoding="utf-8")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"schema": 2}', "\udcff".encode(
    "utf-8", "surrogateescape").decode("latin-1")])
def test_corrupt_file_is_moved_aside(state_dir, capsys, text):
    _write(text)

    data = load_state()

    assert data["katas"] == {}
    assert not state_path().exists()
    assert len(list(state_dir.glob("state.json.corrupt-*"))) == 1
    assert "moved to" in capsys.readouterr().err


def test_unknown_schema_is_moved_aside(state_dir, capsys):
    _write(json.dumps({"schema": 99, "katas": {"loss_mask": {"status": "passed"}}}))

    data = load_state()

    assert data["katas"] == {}
    assert len(list(state_dir.glob("state.json.corrupt-*"))) == 1
    assert "another version" in capsys.readouterr().err


def test_schema_1_is_upgraded_once(state_dir, capsys):
    _write(json.dumps({"schema": 1, "katas": {"loss_mask": {"status": "passed", "attempts": 3}}}))

    first = load_state()
    second = load_state()

    assert first["katas"]["loss_mask"]["attempts"] == 3
    assert second == first
    assert json.loads(state_path().read_text())["schema"] == SCHEMA_VERSION
    assert len(list(state_dir.glob("state.json.v1-*"))) == 1
    assert capsys.readouterr().err.count("older sft-katas") == 1


def test_entries_of_wrong_type_are_dropped(state_dir, capsys):
    _write(json.dumps({
        "schema": SCHEMA_VERSION,
        "katas": {"loss_mask": {"status": "passed", "attempts": "many"}, "collate": 7},
        "drill": {"cards": {"loss_mask": [1]}, "current": "yes"},
        "mock": {"active": 3, "history": [{"id": "a"}, "junk"]},
    }))

    data = load_state()

    assert data["katas"] == {"loss_mask": {"status": "passed"}}
    assert data["drill"] == {"cards": {}, "current": None}
    assert data["mock"] == {"active": None, "history": [{"id": "a"}]}
    assert len(list(state_dir.glob("state.json.repaired-*"))) == 1
    assert "wrong type" in capsys.readouterr().err


def test_missing_sections_are_added_silently(capsys):
    _write(json.dumps({"schema": SCHEMA_VERSION, "katas": {}}))

    data = load_state()

    assert data["drill"]["cards"] == {}
    assert data["mock"]["history"] == []
    assert capsys.readouterr().err == ""


def test_record_check_tracks_first_pass():
    record_check("loss_mask", passed=False, not_started=True, duration=1.0)
    record_check("loss_mask", passed=False, not_started=False, duration=1.0)
    record_check("loss_mask", passed=True, not_started=False, duration=1.0)
    record_check("loss_mask", passed=False, not_started=False, duration=1.0)

    entry = load_state()["katas"]["loss_mask"]
    assert entry["attempts"] == 4
    assert entry["status"] == "passed"
    assert entry["time_to_pass"] >= 0
    assert passed_katas() == {"loss_mask"}


def test_record_hint_stops_at_available():
    counts = [record_hint("loss_mask", 2) for _ in range(3)]

    assert counts == [1, 2, 2]


def test_failed_update_saves_nothing():
    with updating_state() as data:
        kata_entry(data, "loss_mask")["attempts"] = 1

    with pytest.raises(RuntimeError), updating_state() as data:
        kata_entry(data, "loss_mask")["attempts"] = 99
        raise RuntimeError("stop")

    assert load_state()["katas"]["loss_mask"]["attempts"] == 1


def test_write_leaves_no_temporary_files(state_dir):
    record_check("loss_mask", passed=False, not_started=True, duration=1.0)

    assert sorted(path.name for path in state_dir.iterdir() if path.is_file()) == [
        "state.json", "state.lock"]


def test_concurrent_checks_lose_no_update(state_dir):
    script = (
        "from checker.state import record_check\n"
        f"for _ in range({CHECKS_EACH}):\n"
        "    record_check('loss_mask', False, False, 0.1)\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT)
        for _ in range(WORKERS)
    ]

    codes = [worker.wait(timeout=120) for worker in workers]

    assert codes == [0] * WORKERS
    assert load_state()["katas"]["loss_mask"]["attempts"] == WORKERS * CHECKS_EACH


def test_concurrent_readers_of_corrupt_file_never_crash(state_dir):
    _write("{broken")
    script = "from checker.state import load_state\nassert load_state()['katas'] == {}\n"
    workers = [
        subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]

    results = [worker.communicate(timeout=120) for worker in workers]

    assert [worker.returncode for worker in workers] == [0] * 4
    assert all("Traceback" not in err for _, err in results)
    assert len(list(state_dir.glob("state.json.corrupt-*"))) == 1
