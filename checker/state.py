"""Progress state in `.kata/state.json`: schema-versioned, written atomically.

A corrupt or unreadable file is moved aside to `state.json.corrupt-<time>`
and rebuilt empty with a warning; it never stops a command. Katas that were
renamed or removed simply keep their old entries, which nothing reads.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from checker import REPO_ROOT
from checker.i18n import tr

SCHEMA_VERSION = 1


def state_dir() -> Path:
    return Path(os.environ.get("KATA_STATE_DIR", REPO_ROOT / ".kata"))


def state_path() -> Path:
    return state_dir() / "state.json"


def empty_state() -> dict:
    return {"schema": SCHEMA_VERSION, "katas": {}}


def _move_aside(path: Path, reason: str) -> None:
    backup = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        path.replace(backup)
    except OSError:
        return
    print(
        tr(
            f"warning: {path} was {reason}; it was moved to {backup} and progress starts fresh.",
            f"警告：{path} {'已损坏' if reason == 'unreadable' else '版本不兼容'}，"
            f"已移至 {backup}，进度将重新记录。",
        ),
        file=sys.stderr,
    )


def load_state() -> dict:
    """Read the state, rebuilding it when missing, corrupt or of another schema."""
    path = state_path()
    if not path.exists():
        return empty_state()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        _move_aside(path, "unreadable")
        return empty_state()
    if not isinstance(data, dict) or not isinstance(data.get("katas"), dict):
        _move_aside(path, "unreadable")
        return empty_state()
    if data.get("schema") != SCHEMA_VERSION:
        _move_aside(path, "from another version")
        return empty_state()
    return data


def save_state(data: dict) -> None:
    """Write the state atomically: a temporary file, fsync, then rename."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".state-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def updating_state():
    """Load, let the caller change, then save the state under a file lock."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name("state.lock")
    with lock.open("a") as handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX systems
            pass
        data = load_state()
        yield data
        save_state(data)


def kata_entry(data: dict, name: str) -> dict:
    return data["katas"].setdefault(
        name, {"status": "not_started", "attempts": 0, "hints_used": 0}
    )


def record_check(name: str, passed: bool, not_started: bool, duration: float) -> None:
    """Record one graded attempt at the learner's own file."""
    now = time.time()
    with updating_state() as data:
        entry = kata_entry(data, name)
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        entry["last_run"] = now
        entry.setdefault("first_run", now)
        if passed:
            if entry.get("status") != "passed":
                entry["passed_at"] = now
                entry["time_to_pass"] = now - float(entry.get("first_run", now))
            entry["status"] = "passed"
        elif entry.get("status") != "passed":
            entry["status"] = "not_started" if not_started else "in_progress"


def passed_katas() -> set[str]:
    data = load_state()
    return {name for name, entry in data["katas"].items() if entry.get("status") == "passed"}
