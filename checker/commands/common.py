"""Argument helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import sys

from checker.catalog import Kata, all_katas, find_kata
from checker.i18n import tr


def add_lang_argument(parser: argparse.ArgumentParser) -> None:
    """Accept `--lang` after the subcommand too (`kata check --lang zh`)."""
    parser.add_argument("--lang", choices=["en", "zh"], default=argparse.SUPPRESS,
                        help=tr("language of every message", "所有提示信息的语言"))


def kata_or_exit(name: str) -> Kata:
    """Return the kata called `name`, or print the known names and exit 2."""
    try:
        return find_kata(name)
    except KeyError:
        known = ", ".join(kata.name for kata in all_katas())
        print(tr(f"error: no kata named {name!r}. Known katas: {known}",
                 f"错误：没有名为 {name!r} 的题目。现有题目：{known}"), file=sys.stderr)
        raise SystemExit(2) from None
