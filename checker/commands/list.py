"""`kata list`: every kata in course order, with the learner's status."""

from __future__ import annotations

from checker.catalog import all_katas
from checker.commands.common import add_lang_argument
from checker.i18n import tr
from checker.state import load_state

STATUS_TEXT = {
    "passed": ("passed", "已通过"),
    "in_progress": ("in progress", "进行中"),
    "not_started": ("not started", "未开始"),
}


def run(arguments) -> int:
    state = load_state()
    print(tr("  #  kata         difficulty  minutes  status        title",
             "  #  题目         难度        预计分钟  状态          标题"))
    for kata in all_katas():
        entry = state["katas"].get(kata.name, {})
        en, zh = STATUS_TEXT.get(entry.get("status", "not_started"), STATUS_TEXT["not_started"])
        stars = "★" * kata.difficulty + "☆" * (3 - kata.difficulty)
        status = tr(en, zh)
        print(f"{kata.order:>3}  {kata.name:<12} {stars:<11} {kata.minutes:>7}  {status:<12}  {kata.title}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("list", help=tr("list the katas in course order", "按课程顺序列出所有题目"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
