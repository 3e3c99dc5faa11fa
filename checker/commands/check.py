"""`kata check [NAME]`: grade one kata and print the feedback report."""

from __future__ import annotations

import argparse
import sys

from checker.catalog import all_katas
from checker.commands.common import add_lang_argument, kata_or_exit
from checker.i18n import tr
from checker.report import format_result
from checker.runner import run_graders
from checker.state import passed_katas, record_check


def next_unpassed(after: str | None = None) -> str | None:
    """The first kata in course order not yet passed (after `after`, if given)."""
    done = passed_katas()
    names = [kata.name for kata in all_katas()]
    if after is not None and after in names:
        names = names[names.index(after) + 1 :]
    for name in names:
        if name not in done:
            return name
    return None


def run(arguments: argparse.Namespace) -> int:
    name = arguments.name or next_unpassed()
    if name is None:
        print(tr("Every kata is passed. Try `kata mock` for a timed interview.",
                 "所有题目都已通过。试试 `kata mock` 进行限时模拟面试。"))
        return 0
    kata = kata_or_exit(name)
    impl = arguments.impl
    if arguments.file:
        impl = arguments.file
    print(tr(f"Grading {kata.name} …", f"正在评分 {kata.name} …"), flush=True)
    result = run_graders(
        kata, impl=impl, seed=arguments.seed, time_limit=arguments.time_limit,
        keyword=arguments.only,
    )
    own_file = impl in (None, "katas")
    if own_file and result.records:
        record_check(kata.name, result.passed, result.not_started, result.duration)
    following = next_unpassed(after=kata.name) if result.passed else None
    print(format_result(result, next_kata=following))
    sys.stdout.flush()
    return 0 if result.passed else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help=tr("grade a kata (default: the first one not yet passed)",
                "为一道题评分（默认：第一道尚未通过的题）"),
    )
    parser.add_argument("name", nargs="?", help=tr("kata name, e.g. loss_mask", "题目名，例如 loss_mask"))
    parser.add_argument(
        "--impl",
        help=tr("what to grade: 'katas' (your files, default), 'solutions', or a path to a .py file or folder",
                "评分对象：'katas'（你的文件，默认）、'solutions'（参考答案），或某个 .py 文件/文件夹的路径"),
    )
    parser.add_argument("--file", help=tr("grade this file instead of yours (same as --impl PATH)",
                                          "为指定文件评分而不是你的文件（等同于 --impl PATH）"))
    parser.add_argument("--seed", type=int,
                        help=tr("seed for the random inputs, to reproduce an earlier run",
                                "随机输入的种子，用于复现之前的运行"))
    parser.add_argument("--time-limit", type=float, dest="time_limit",
                        help=tr("seconds each grader may run (default: from kata.toml)",
                                "每个评分器的时间上限，单位秒（默认取 kata.toml）"))
    parser.add_argument("--only", metavar="EXPR",
                        help=tr("run only the graders whose names match this pytest -k expression",
                                "只运行名称匹配该 pytest -k 表达式的评分器"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
