"""Copies of the learner's files, taken before anything overwrites them.

Backups go to `.kata/backups/<kata>-<YYYYmmdd-HHMMSS>-<reason>.py` and are
never deleted by sft-katas; the name gets `-2`, `-3`, ... when two backups
land in the same second.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from checker.state import state_dir


def backups_dir() -> Path:
    return state_dir() / "backups"


def backup_file(source: Path, kata_name: str, reason: str) -> Path:
    """Copy `source` into the backups folder and return the copy's path.

    Raises OSError when the copy fails, so callers stop before overwriting.
    """
    folder = backups_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{kata_name}-{time.strftime('%Y%m%d-%H%M%S')}-{reason}"
    target = folder / f"{stem}.py"
    counter = 2
    while True:
        try:
            # O_EXCL reserves the name, so two commands never share a backup file.
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            target = folder / f"{stem}-{counter}.py"
            counter += 1
    os.close(descriptor)
    try:
        shutil.copy2(source, target)
    except OSError:
        target.unlink(missing_ok=True)
        raise
    return target
