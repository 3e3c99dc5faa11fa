"""Discover the katas and read their `kata.toml` metadata.

Each kata lives in `katas/<name>/` with a `kata.toml` like:

    order = 1
    difficulty = 2          # 1 = warm-up, 2 = interview standard, 3 = hard
    minutes = 40            # estimated time to pass, for a prepared learner
    time_limit = 30         # seconds each grader may run before "timed out"
    [title]
    en = "..."
    zh = "..."
    [[hints]]               # three, staged: concept, then API, then detail
    en = "..."
    zh = "..."
    [[follow_ups]]          # questions an interviewer asks after a pass
    en = "..."
    zh = "..."
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from checker import REPO_ROOT
from checker.i18n import current_language

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 fallback
    import tomli as tomllib

KATAS_DIR = REPO_ROOT / "katas"
SOLUTIONS_DIR = REPO_ROOT / "solutions"
GRADERS_DIR = REPO_ROOT / "checker" / "graders"
DEFAULT_TIME_LIMIT = 30.0


@dataclass(frozen=True)
class Text:
    """One piece of learner-facing text in both languages."""

    en: str
    zh: str

    def __str__(self) -> str:
        return self.zh if current_language() == "zh" else self.en


@dataclass(frozen=True)
class Kata:
    name: str
    order: int
    title: Text
    difficulty: int
    minutes: int
    time_limit: float
    hints: tuple[Text, ...] = field(default_factory=tuple)
    follow_ups: tuple[Text, ...] = field(default_factory=tuple)

    @property
    def folder(self) -> Path:
        return KATAS_DIR / self.name

    @property
    def stub_path(self) -> Path:
        return self.folder / f"{self.name}.py"

    @property
    def solution_path(self) -> Path:
        return SOLUTIONS_DIR / f"{self.name}.py"

    @property
    def grader_path(self) -> Path:
        return GRADERS_DIR / f"test_{self.name}.py"


def _text(table: dict, where: str) -> Text:
    try:
        return Text(en=str(table["en"]), zh=str(table["zh"]))
    except (KeyError, TypeError) as error:
        raise ValueError(f"{where} needs both 'en' and 'zh' text") from error


def load_kata(folder: Path) -> Kata:
    """Read one `kata.toml`; raise ValueError naming the file when it is malformed."""
    path = folder / "kata.toml"
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    try:
        return Kata(
            name=folder.name,
            order=int(data["order"]),
            title=_text(data["title"], f"{path} [title]"),
            difficulty=int(data.get("difficulty", 2)),
            minutes=int(data.get("minutes", 30)),
            time_limit=float(data.get("time_limit", DEFAULT_TIME_LIMIT)),
            hints=tuple(_text(h, f"{path} [[hints]]") for h in data.get("hints", [])),
            follow_ups=tuple(_text(q, f"{path} [[follow_ups]]") for q in data.get("follow_ups", [])),
        )
    except KeyError as error:
        raise ValueError(f"{path} is missing the key {error.args[0]!r}") from error


@cache
def all_katas() -> tuple[Kata, ...]:
    """Every kata with a `kata.toml`, in course order."""
    found = [load_kata(path.parent) for path in sorted(KATAS_DIR.glob("*/kata.toml"))]
    return tuple(sorted(found, key=lambda kata: (kata.order, kata.name)))


def find_kata(name: str) -> Kata:
    """Return the kata called `name`; raise KeyError listing the known names."""
    for kata in all_katas():
        if kata.name == name:
            return kata
    known = ", ".join(k.name for k in all_katas())
    raise KeyError(f"no kata named {name!r}; known katas: {known}")
