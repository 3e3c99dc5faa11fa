"""The `kata` command line.

Subcommands live in `checker/commands/<name>.py`; each module defines
`register(subparsers)` that adds its parser and sets `handler` to a
function taking the parsed arguments and returning an exit status.
New commands are added by adding a module; this file does not change.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from checker import commands
from checker.i18n import set_language, tr


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kata",
        description=tr(
            "Practice the SFT pipeline of LLMs, one graded kata at a time.",
            "逐题练习大模型 SFT 流水线，每道题都有自动评分。",
        ),
    )
    parser.add_argument(
        "--lang",
        choices=["en", "zh"],
        help=tr(
            "language of every message (default: KATA_LANG, then the locale)",
            "所有提示信息的语言（默认取 KATA_LANG，其次是系统 locale）",
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def _language_from_argv(argv: list[str]) -> str | None:
    """Find `--lang` early, so that help text is already translated."""
    for index, value in enumerate(argv):
        if value == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
        if value.startswith("--lang="):
            return value.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    early = _language_from_argv(argv)
    if early in ("en", "zh"):
        set_language(early)
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.lang:
        set_language(arguments.lang)
    handler = getattr(arguments, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(arguments) or 0)
    except KeyboardInterrupt:
        print(tr("\ninterrupted", "\n已中断"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`kata list | head`): stop quietly, as shell tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
