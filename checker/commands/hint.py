"""`kata hint [NAME]`: the next staged hint of a kata (concept, then API, then detail)."""

from __future__ import annotations

import sys
import textwrap

from checker.commands.common import add_lang_argument
from checker.i18n import current_language, tr
from checker.practice.choose import kata_from_arguments
from checker.practice.mock import locked_message
from checker.state import load_state, record_hint

# The three stages kata.toml hints follow, in order.
STAGES = (("concept", "思路"), ("API", "API"), ("detail", "细节"))


def _stage(number: int, total: int) -> str:
    if total == len(STAGES):
        en, zh = STAGES[number - 1]
        return tr(f" ({en})", f"（{zh}）")
    return ""


def _body(text: str) -> str:
    if current_language() == "zh":
        return textwrap.indent(text, "  ")
    return textwrap.fill(text, width=78, initial_indent="  ", subsequent_indent="  ")


def run(arguments) -> int:
    data = load_state()
    kata = kata_from_arguments(arguments, data)
    locked = locked_message(data, "hints", "提示")
    if locked:
        print(locked, file=sys.stderr)
        return 1
    hints = kata.hints
    total = len(hints)
    if total == 0:
        print(tr(f"{kata.name} has no hints. Its README states the task in full.",
                 f"{kata.name} 没有提示。题目说明 README 中已有完整描述。"))
        return 0
    used = int(data["katas"].get(kata.name, {}).get("hints_used", 0))
    if used >= total:
        print(tr(f"All {total} hints of {kata.name} are used. Here they are again:",
                 f"{kata.name} 的 {total} 条提示已全部用完。再看一遍："))
        for number, hint in enumerate(hints, start=1):
            print()
            print(tr(f"Hint {number}/{total}{_stage(number, total)}:",
                     f"提示 {number}/{total}{_stage(number, total)}："))
            print(_body(str(hint)))
        print()
        print(tr(f"After you pass, `kata solution {kata.name}` compares your file with the reference.",
                 f"通过之后，可以用 `kata solution {kata.name}` 对比你的文件和参考答案。"))
        return 0
    number = record_hint(kata.name, total)
    print(tr(f"Hint {number}/{total} for {kata.name}{_stage(number, total)}:",
             f"{kata.name} 的提示 {number}/{total}{_stage(number, total)}："))
    print(_body(str(hints[number - 1])))
    print()
    if number < total:
        print(tr(f"Still stuck? `kata hint {kata.name}` again gives a more specific hint "
                 f"({total - number} left).",
                 f"还是卡住？再运行 `kata hint {kata.name}` 会得到更具体的提示（还剩 {total - number} 条）。"))
    else:
        print(tr("That was the last hint.", "这是最后一条提示。"))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "hint",
        help=tr("show the next hint of a kata, from concept to detail",
                "显示一道题的下一条提示，从思路到细节逐步深入"),
    )
    parser.add_argument("name", nargs="?",
                        help=tr("kata name (default: the kata you are working on)",
                                "题目名（默认：你正在做的题）"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
