"""Progress state in `.kata/state.json`: schema-versioned, written atomically.

The file holds, per kata, the check history (status, attempts, hints used,
time to pass), the spaced-repetition drill cards and the mock interviews:

    {"schema": 2,
     "katas": {name: {"status", "attempts", "hints_used", "first_run",
                      "last_run", "passed_at", "time_to_pass", ...}},
     "drill": {"cards": {name: {...}}, "current": {...} | null},
     "mock": {"active": {...} | null, "history": [{...}]}}

Every write goes to a temporary file that is fsynced and then renamed over
the old one, under a file lock (`state.lock`), so two commands running at
once never lose each other's update and a crash never leaves half a file.

A corrupt file, or one from an unknown schema, is moved aside to
`state.json.corrupt-<time>` and progress starts fresh with a warning. A
schema 1 file is copied to `state.json.v1-<time>` and upgraded in place.
Entries of a wrong type are dropped (after the same kind of backup), and
katas that were renamed or removed keep their entries, which the commands
skip. None of this ever stops a command.

`KATA_STATE_DIR` moves the whole `.kata/` folder (the self-tests point it
at a temporary folder).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from checker import REPO_ROOT
from checker.i18n import tr

SCHEMA_VERSION = 2

# Fields of a kata entry and the type each must have; anything else is kept as is.
_NUMBER_FIELDS = ("attempts", "hints_used", "first_run", "last_run", "passed_at",
                  "time_to_pass", "resets", "solution_views")
_STATUSES = ("not_started", "in_progress", "passed")


def state_dir() -> Path:
    return Path(os.environ.get("KATA_STATE_DIR", REPO_ROOT / ".kata"))


def state_path() -> Path:
    return state_dir() / "state.json"


def empty_state() -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "katas": {},
        "drill": {"cards": {}, "current": None},
        "mock": {"active": None, "history": []},
    }


def _stamp() -> str:
    # Microseconds and the process id keep two backups in one second apart.
    now = time.time()
    micro = int((now % 1) * 1_000_000)
    return f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}.{micro:06d}-{os.getpid()}"


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def _move_aside(path: Path, reason: str) -> None:
    backup = path.with_name(f"{path.name}.corrupt-{_stamp()}")
    try:
        path.replace(backup)
    except OSError:
        # Another command moved it first; it already printed the warning.
        return
    _warn(tr(
        f"warning: {path} was {reason}; it was moved to {backup} and progress starts fresh.",
        f"警告：{path} {'已损坏' if reason == 'unreadable' else '来自未知版本'}，"
        f"已移至 {backup}，进度将重新记录。",
    ))


def _copy_aside(path: Path, suffix: str) -> Path | None:
    backup = path.with_name(f"{path.name}.{suffix}-{_stamp()}")
    try:
        shutil.copy2(path, backup)
    except OSError:
        return None
    return backup


def _upgrade_from_1(data: dict, path: Path) -> dict:
    """Schema 1 had only `katas`; keep them and add the drill and mock sections."""
    backup = _copy_aside(path, "v1")
    _warn(tr(
        f"note: {path} was written by an older sft-katas; it was upgraded "
        f"(the old file is kept at {backup}).",
        f"提示：{path} 由旧版 sft-katas 写入，已自动升级（旧文件保存在 {backup}）。",
    ))
    upgraded = empty_state()
    upgraded["katas"] = data["katas"]
    return upgraded


def _clean_number(value) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _repair(data: dict) -> bool:
    """Drop or reset parts of the wrong type in place; return True when anything changed."""
    changed = False
    for name in list(data["katas"]):
        entry = data["katas"][name]
        if not isinstance(entry, dict):
            del data["katas"][name]
            changed = True
            continue
        for key in _NUMBER_FIELDS:
            if key in entry and _clean_number(entry[key]) is None:
                del entry[key]
                changed = True
        if entry.get("status") not in _STATUSES:
            entry["status"] = "in_progress" if entry.get("attempts") else "not_started"
            changed = True
    drill = data.get("drill")
    if not isinstance(drill, dict):
        data["drill"] = {"cards": {}, "current": None}
        changed = changed or drill is not None
    else:
        if not isinstance(drill.get("cards"), dict):
            drill["cards"] = {}
            changed = True
        for name in list(drill["cards"]):
            if not isinstance(drill["cards"][name], dict):
                del drill["cards"][name]
                changed = True
        if drill.get("current") is not None and not isinstance(drill.get("current"), dict):
            drill["current"] = None
            changed = True
        drill.setdefault("current", None)
    mock = data.get("mock")
    if not isinstance(mock, dict):
        data["mock"] = {"active": None, "history": []}
        changed = changed or mock is not None
    else:
        if mock.get("active") is not None and not isinstance(mock.get("active"), dict):
            mock["active"] = None
            changed = True
        mock.setdefault("active", None)
        history = mock.get("history")
        if not isinstance(history, list):
            mock["history"] = []
            changed = changed or history is not None
        else:
            kept = [item for item in history if isinstance(item, dict)]
            if len(kept) != len(history):
                mock["history"] = kept
                changed = True
    return changed


def _parse(path: Path) -> dict | None:
    """Parse the file into a dict with a `katas` dict; None when it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("katas"), dict):
        return None
    return data


def _read(path: Path, fix: bool) -> dict | None:
    """Read the state; with `fix`, also move aside, upgrade or repair the file.

    Without `fix`, returns None when the file needs any of that, so that the
    caller can take the lock first: the fix must happen once, not once per
    reader.
    """
    if not path.exists():
        return empty_state()
    data = _parse(path)
    if data is None:
        if fix:
            _move_aside(path, "unreadable")
            return empty_state()
        return None
    if data.get("schema") == 1:
        if not fix:
            return None
        data = _upgrade_from_1(data, path)
        save_state(data)
    elif data.get("schema") != SCHEMA_VERSION:
        if fix:
            _move_aside(path, "from another version")
            return empty_state()
        return None
    if _repair(data):
        if not fix:
            return None
        backup = _copy_aside(path, "repaired")
        _warn(tr(
            f"warning: {path} had entries of the wrong type; they were dropped "
            f"(the file as it was is kept at {backup}).",
            f"警告：{path} 中有类型错误的条目，已被丢弃（原文件保存在 {backup}）。",
        ))
        save_state(data)
    return data


def load_state() -> dict:
    """Read the state, rebuilding it when missing, corrupt or of an unknown schema.

    Also takes the snapshot of pristine stubs the first time any command
    runs (see `checker.practice.pristine`).
    """
    _snapshot_stubs()
    path = state_path()
    if _lock_depth:
        return _read(path, fix=True)
    data = _read(path, fix=False)
    if data is not None:
        return data
    with _state_lock():
        return _read(path, fix=True)


def _snapshot_stubs() -> None:
    # Imported here: the practice package imports this module.
    try:
        from checker.practice.pristine import ensure_snapshots

        ensure_snapshots()
    except (OSError, ValueError) as error:
        # A missing snapshot is recovered later from the hash list and git;
        # it must never stop the command that is running now.
        _warn(tr(f"warning: could not snapshot the kata stubs: {error}",
                 f"警告：无法保存题目初始文件的快照：{error}"))


def save_state(data: dict) -> None:
    """Write the state atomically: a temporary file, fsync, then rename."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data["schema"] = SCHEMA_VERSION
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


_lock_depth = 0


@contextmanager
def _state_lock():
    """Hold the exclusive lock on `state.lock` (reentrant within one process)."""
    global _lock_depth
    if _lock_depth:
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1
        return
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name("state.lock").open("a") as handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX systems
            pass
        _lock_depth = 1
        try:
            yield
        finally:
            _lock_depth = 0


@contextmanager
def updating_state():
    """Load, let the caller change, then save the state under a file lock.

    Do not nest it with another update of the state (such as `record_check`):
    the inner save would be overwritten by the outer one. If the block
    raises, nothing is saved.
    """
    with _state_lock():
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


def record_hint(name: str, available: int) -> int:
    """Count one more hint used for `name` (at most `available`); return the new count."""
    with updating_state() as data:
        entry = kata_entry(data, name)
        used = min(available, int(entry.get("hints_used", 0)) + 1)
        entry["hints_used"] = used
        entry["last_hint_at"] = time.time()
    return used


def passed_katas() -> set[str]:
    data = load_state()
    return {name for name, entry in data["katas"].items() if entry.get("status") == "passed"}
