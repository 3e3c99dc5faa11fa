"""`kata check [NAME]`: grade one kata and print the feedback report."""

from __future__ import annotations

import argparse
import os
import sys

from checker.catalog import all_katas
from checker.commands.common import add_lang_argument, kata_or_exit
from checker.i18n import tr
from checker.practice.limits import DEFAULT_CPU_SECONDS, DEFAULT_MEMORY_MIB, ResourceLimits, hit_memory_limit
from checker.report import format_result
from checker.runner import run_graders
from checker.resolver import resolve_path
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


def _invalid_arguments(kata, impl: str | None, time_limit: float | None) -> str | None:
    """Return an error message for a file or limit that cannot work, else None."""
    choice = impl if impl is not None else os.environ.get("KATA_IMPL", "katas")
    path = resolve_path(kata.name, choice)
    if time_limit is not None and time_limit <= 0:
        return tr(f"error: --time-limit must be a positive number of seconds, got {time_limit:g}.",
                  f"错误：--time-limit 必须是正数（单位秒），收到的是 {time_limit:g}。")
    if not path.is_file():
        hint = tr("Use 'katas', 'solutions', a .py file or a folder that holds "
                  f"{kata.name}.py.",
                  f"可以用 'katas'、'solutions'、某个 .py 文件，或包含 {kata.name}.py 的文件夹。")
        return tr(f"error: no file to grade at {path} (from --impl {choice}). {hint}",
                  f"错误：{path} 处没有可评分的文件（来自 --impl {choice}）。{hint}")
    if path.suffix != ".py":
        return tr(f"error: {path} is not a Python file; --impl needs a .py file or a folder.",
                  f"错误：{path} 不是 Python 文件；--impl 需要 .py 文件或文件夹。")
    return None


def run(arguments: argparse.Namespace) -> int:
    name = arguments.name or next_unpassed()
    if name is None:
        print(tr("Every kata is passed. Try `kata mock` for a timed interview.",
                 "所有题目都已通过。试试 `kata mock` 进行限时模拟面试。"))
        return 0
    kata = kata_or_exit(name)
    impl = arguments.impl
    limits = None
    if arguments.file:
        impl = arguments.file
        # Interviewer mode: a candidate's file runs under CPU and memory limits.
        limits = ResourceLimits(cpu_seconds=arguments.cpu_limit, memory_mib=arguments.memory_limit)
    problem = _invalid_arguments(kata, impl, arguments.time_limit)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    print(tr(f"Grading {kata.name} …", f"正在评分 {kata.name} …"), flush=True)
    if limits is not None:
        print(tr(f"Interviewer mode: {arguments.file} runs in a separate process limited to "
                 f"{limits.describe()}.",
                 f"面试官模式：{arguments.file} 在独立进程中运行，限制为{limits.describe()}。"), flush=True)
    result = run_graders(
        kata, impl=impl, seed=arguments.seed, time_limit=arguments.time_limit,
        keyword=arguments.only, limits=limits,
    )
    # Only a full run of the learner's own file is progress; a reference,
    # a candidate's file or an --only subset is not.
    own_file = result.impl_path.resolve() == kata.stub_path.resolve()
    if own_file and result.records and not result.partial:
        record_check(kata.name, result.passed, result.not_started, result.duration)
    following = next_unpassed(after=kata.name) if result.passed else None
    print(format_result(result, next_kata=following))
    if limits is not None and hit_memory_limit(result.records):
        print(tr(f"Note: the code under test ran out of its {limits.memory_mib} MiB memory limit "
                 "(--memory-limit); the graders that hit it are reported as errors above.",
                 f"注意：被测代码超出了 {limits.memory_mib} MiB 的内存限制（--memory-limit），"
                 "触发限制的评分器在上面记为出错。"))
    sys.stdout.flush()
    return 0 if result.all_pass else 1


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
    parser.add_argument("--cpu-limit", type=int, default=DEFAULT_CPU_SECONDS, metavar="SECONDS",
                        help=tr(f"with --file: CPU seconds the grading process may use (default {DEFAULT_CPU_SECONDS})",
                                f"配合 --file：评分进程可用的 CPU 时间，单位秒（默认 {DEFAULT_CPU_SECONDS}）"))
    parser.add_argument("--memory-limit", type=int, default=DEFAULT_MEMORY_MIB, metavar="MIB",
                        help=tr(f"with --file: memory the grading process may map, in MiB (default {DEFAULT_MEMORY_MIB})",
                                f"配合 --file：评分进程可映射的内存，单位 MiB（默认 {DEFAULT_MEMORY_MIB}）"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
