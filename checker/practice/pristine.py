"""Find the pristine stub of a kata, even after the learner edited and committed it.

`kata reset`, `kata mock` and `kata drill` all need the stub exactly as the
kata's author wrote it. Three sources are combined:

1. A hash list committed beside this file, `stub_hashes.txt`: one line
   `<sha256>  <kata name>` per published version of each stub. It is what
   makes a candidate *verified*. Kata authors refresh it after changing a
   stub with `python -m checker.practice.pristine --update`; old lines stay,
   so a snapshot of an older version still verifies.
2. A snapshot of every stub in `.kata/pristine/`, taken the first time any
   `kata` command runs (`checker.state.load_state` calls
   `ensure_snapshots`), and for a kata added later, the first time a command
   runs after it appears.
3. Git: the stub at `HEAD`, at the upstream branch, and every earlier
   committed version, newest first.

A candidate whose hash is listed wins, in the order: `HEAD`, snapshot,
upstream, history. When no candidate is listed (a kata newer than the list,
or a list not refreshed after a stub change), the first candidate that
still looks like a stub (as many `raise NotImplementedError` as `# TODO:`
lines, at least one) is used and reported as unverified.

Hashes are taken over the text with CRLF turned into LF, so a checkout with
`core.autocrlf` still verifies.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from checker.catalog import Kata, all_katas
from checker.state import state_dir

HASH_LIST = Path(__file__).with_name("stub_hashes.txt")
MAX_HISTORY = 50


@dataclass(frozen=True)
class Pristine:
    """One candidate text of a stub and where it came from."""

    text: bytes
    source: str          # "git HEAD", "snapshot", "git upstream", "git 1a2b3c4"
    verified: bool


def normalized(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def digest(data: bytes) -> str:
    return hashlib.sha256(normalized(data)).hexdigest()


def listed_hashes(path: Path | None = None) -> dict[str, set[str]]:
    """Read the hash list: kata name -> every published digest of its stub."""
    path = HASH_LIST if path is None else path
    found: dict[str, set[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            found.setdefault(parts[1], set()).add(parts[0])
    return found


def looks_like_stub(data: bytes) -> bool:
    text = normalized(data).decode("utf-8", errors="replace")
    todos = len(re.findall(r"#\s*TODO:", text))
    raises = len(re.findall(r"raise NotImplementedError", text))
    return todos >= 1 and raises == todos


def snapshot_path(kata: Kata) -> Path:
    return state_dir() / "pristine" / f"{kata.name}.py"


def _git(kata: Kata, *arguments: str) -> bytes | None:
    """Run git in the kata's folder; None when git or the repository is missing."""
    if not kata.folder.is_dir():
        return None
    try:
        done = subprocess.run(["git", *arguments], cwd=kata.folder, capture_output=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _git_file(kata: Kata, revision: str) -> bytes | None:
    # `<rev>:./<file>` is resolved relative to the folder git runs in.
    return _git(kata, "show", f"{revision}:./{kata.stub_path.name}")


def _untracked(kata: Kata) -> bool:
    """True when git works here but the stub is not committed yet (still being written)."""
    if _git(kata, "rev-parse", "--is-inside-work-tree") is None:
        return False
    return _git(kata, "ls-files", "--error-unmatch", kata.stub_path.name) is None


def _history(kata: Kata) -> Iterator[tuple[str, bytes]]:
    """Every committed version of the stub, newest first (capped at MAX_HISTORY)."""
    log = _git(kata, "log", f"--max-count={MAX_HISTORY}", "--format=%H", "--",
               kata.stub_path.name)
    for commit in (log or b"").decode().split():
        text = _git_file(kata, commit)
        if text is not None:
            yield f"git {commit[:7]}", text


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _candidates(kata: Kata, with_working: bool) -> Iterator[tuple[str, bytes]]:
    """Candidate texts in order of preference, each read only when needed."""
    if with_working:
        working = _read(kata.stub_path)
        if working is not None:
            yield "working file", working
    head = _git_file(kata, "HEAD")
    if head is not None:
        yield "git HEAD", head
    if not with_working:
        snapshot = _read(snapshot_path(kata))
        if snapshot is not None:
            yield "snapshot", snapshot
    upstream = _git_file(kata, "@{upstream}")
    if upstream is not None:
        yield "git upstream", upstream
    yield from _history(kata)


def _choose(kata: Kata, with_working: bool) -> Pristine | None:
    listed = listed_hashes().get(kata.name, set())
    seen: list[tuple[str, bytes]] = []
    for source, text in _candidates(kata, with_working):
        if digest(text) in listed:
            return Pristine(text=normalized(text), source=source, verified=True)
        seen.append((source, text))
    # Nothing verifies: take the first candidate that still looks untouched.
    for source, text in seen:
        if looks_like_stub(text):
            return Pristine(text=normalized(text), source=source, verified=False)
    # Nor does any look like a stub (an unusual kata): the earliest evidence
    # wins, which is the working file at snapshot time and the snapshot later.
    fallback = "working file" if with_working else "snapshot"
    for source, text in seen:
        if source == fallback:
            return Pristine(text=normalized(text), source=source, verified=False)
    return None


def find_pristine(kata: Kata) -> Pristine | None:
    """Return the stub as its author wrote it, or None when no source has it."""
    return _choose(kata, with_working=False)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def ensure_snapshots(katas: tuple[Kata, ...] | None = None) -> list[str]:
    """Snapshot every kata that has none yet; return the names snapshotted."""
    taken = []
    for kata in all_katas() if katas is None else katas:
        target = snapshot_path(kata)
        if target.exists() or _untracked(kata):
            continue
        chosen = _choose(kata, with_working=True)
        if chosen is None:
            continue
        _write_atomically(target, chosen.text)
        taken.append(kata.name)
    return taken


def write_fresh_stub(kata: Kata, target: Path) -> Pristine | None:
    """Write the pristine stub of `kata` to `target`; None (and no file) when unknown."""
    found = find_pristine(kata)
    if found is not None:
        _write_atomically(target, found.text)
    return found


def update_hash_list(path: Path | None = None) -> list[str]:
    """Add the digest of every committed stub (at HEAD) to the list; return the new lines."""
    path = HASH_LIST if path is None else path
    listed = listed_hashes(path)
    added = []
    for kata in all_katas():
        text = _git_file(kata, "HEAD")
        if text is None:
            continue
        value = digest(text)
        if value not in listed.get(kata.name, set()):
            listed.setdefault(kata.name, set()).add(value)
            added.append(f"{value}  {kata.name}")
    if added:
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        if existing and not existing.endswith("\n"):
            existing += "\n"
        path.write_text(existing + "\n".join(added) + "\n", encoding="utf-8")
    return added


def unlisted_katas(path: Path | None = None) -> list[str]:
    """Katas whose committed stub (at HEAD) is missing from the hash list."""
    listed = listed_hashes(path)
    missing = []
    for kata in all_katas():
        text = _git_file(kata, "HEAD")
        if text is not None and digest(text) not in listed.get(kata.name, set()):
            missing.append(kata.name)
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m checker.practice.pristine",
        description="Maintain the list of published stub hashes (stub_hashes.txt).",
    )
    parser.add_argument("--update", action="store_true",
                        help="append the hash of every committed stub not listed yet")
    arguments = parser.parse_args(argv)
    if arguments.update:
        for line in update_hash_list():
            print(f"added {line}")
        return 0
    missing = unlisted_katas()
    for name in missing:
        print(f"{name}: the committed stub is not in {HASH_LIST.name}; run with --update")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
