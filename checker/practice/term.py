"""Terminal output: colour when it helps, column widths that respect CJK text.

Colour is used only when the stream is a terminal, `NO_COLOR` is unset or
empty (https://no-color.org) and `TERM` is not `dumb`; piped output is
always plain text.
"""

from __future__ import annotations

import os
import sys
import time
import unicodedata

STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "cyan": "36",
}


def use_colour(stream=None) -> bool:
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str, colour: bool) -> str:
    """Wrap `text` in the ANSI codes of `style` (names from STYLES, joined by '+')."""
    if not colour or not style:
        return text
    codes = ";".join(STYLES[name] for name in style.split("+"))
    return f"\033[{codes}m{text}\033[0m"


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: wide (CJK) characters count as two."""
    width = 0
    for character in text:
        if unicodedata.combining(character):
            continue
        width += 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1
    return width


def pad(text: str, width: int, align: str = "<") -> str:
    gap = max(0, width - display_width(text))
    return " " * gap + text if align == ">" else text + " " * gap


def table(header: list[str], rows: list[list[str]], styles: list[str] | None = None,
          colour: bool = False, align: str | None = None) -> list[str]:
    """Lay out `rows` under `header` in columns; `styles` colours whole rows.

    `align` has one character per column, `<` or `>` (default all `<`).
    """
    align = align or "<" * len(header)
    widths = [display_width(cell) for cell in header]
    for row in rows:
        widths = [max(w, display_width(cell)) for w, cell in zip(widths, row)]

    def line(cells: list[str]) -> str:
        parts = [pad(cell, width, side) for cell, width, side in zip(cells, widths, align)]
        return "  ".join(parts).rstrip()

    lines = [paint(line(header), "bold", colour)]
    for index, row in enumerate(rows):
        style = styles[index] if styles else ""
        lines.append(paint(line(row), style, colour))
    return lines


def duration(seconds: float | None) -> str:
    """`42s`, `12m 05s`, `3h 07m`, `2d 4h`; an em dash for None."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def when(timestamp: float | None) -> str:
    """Local date and time to the minute, e.g. `2025-03-01 14:05`."""
    if timestamp is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def relative_path(path) -> str:
    """`path` relative to the working folder when it lies below it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative
