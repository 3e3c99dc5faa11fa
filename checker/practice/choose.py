"""Which kata a command means when the learner names none."""

from __future__ import annotations

import argparse
import sys

from checker.catalog import Kata, all_katas
from checker.commands.common import kata_or_exit
from checker.i18n import tr


def default_kata_name(data: dict) -> str | None:
    """The kata checked most recently and not yet passed, else the first not passed."""
    names = [kata.name for kata in all_katas()]
    started = [
        (float(entry.get("last_run", 0)), name)
        for name, entry in data["katas"].items()
        if name in names and entry.get("status") == "in_progress"
    ]
    if started:
        return max(started)[1]
    for name in names:
        if data["katas"].get(name, {}).get("status") != "passed":
            return name
    return None


def kata_from_arguments(arguments: argparse.Namespace, data: dict) -> Kata:
    """The kata named on the command line, else `default_kata_name`; exit 2 when none."""
    name = getattr(arguments, "name", None) or default_kata_name(data)
    if name is None:
        print(tr("Every kata is passed; name the kata you mean, e.g. `kata hint loss_mask`.",
                 "所有题目都已通过；请指明题目，例如 `kata hint loss_mask`。"), file=sys.stderr)
        raise SystemExit(2)
    return kata_or_exit(name)
