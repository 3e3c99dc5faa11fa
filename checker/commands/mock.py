"""`kata mock`: a timed mock interview on fresh stubs, graded at the end.

    kata mock [NAME ...] [--minutes M] [--count N] [--seed S]   start one
    kata mock status                                            time left
    kata mock submit                                            grade, report
    kata mock abandon                                           stop, no grade
    kata mock history                                           past sessions

See `checker.practice.mock` for where sessions live.
"""

from __future__ import annotations

import random
import sys
import time

from checker.catalog import all_katas, find_kata
from checker.commands.common import add_lang_argument, kata_or_exit
from checker.i18n import current_language, tr
from checker.practice import term
from checker.practice.limits import ResourceLimits
from checker.practice.mock import (
    DEFAULT_COUNT,
    MockError,
    active_session,
    choose_katas,
    finish_session,
    format_report,
    score_result,
    seconds_left,
    start_session,
)
from checker.runner import run_graders
from checker.state import load_state

ACTIONS = ("start", "status", "submit", "abandon", "history")


def _clock(session: dict, now: float) -> str:
    left = seconds_left(session, now)
    if left >= 0:
        return tr(f"{term.duration(left)} left", f"剩余 {term.duration(left)}")
    return tr(f"time is up: {term.duration(-left)} over", f"时间已到：超时 {term.duration(-left)}")


def _readme(kata) -> str:
    name = "README.zh-CN.md" if current_language() == "zh" else "README.md"
    path = kata.folder / name
    if not path.exists():
        path = kata.folder / "README.md"
    return term.relative_path(path)


def start(arguments, names: list[str]) -> int:
    named = [kata_or_exit(name) for name in names]
    named += [kata_or_exit(name.strip()) for name in (arguments.katas or "").split(",") if name.strip()]
    seed = arguments.seed if arguments.seed is not None else random.randrange(10**6)
    try:
        katas = choose_katas(list(all_katas()), arguments.count, seed, named)
        minutes = arguments.minutes or sum(kata.minutes for kata in katas)
        session = start_session(katas, minutes, seed)
    except MockError as error:
        print(tr(f"error: {error}", f"错误：{error}"), file=sys.stderr)
        return 1
    folder = term.relative_path(session["folder"])
    print(tr(f"Mock interview {session['id']} started: {len(katas)} kata(s), {minutes} minutes "
             f"(seed {seed}).",
             f"模拟面试 {session['id']} 已开始：共 {len(katas)} 道题，限时 {minutes} 分钟（种子 {seed}）。"))
    print(tr("Hints and solutions are locked until you submit. Your own files in katas/ are untouched.",
             "提交之前提示和参考答案都不可用。你在 katas/ 中的文件不受影响。"))
    print()
    for kata in katas:
        print(f"  {kata.name} — {kata.title}")
        print(tr(f"    edit  {folder}/{kata.name}.py", f"    编辑  {folder}/{kata.name}.py"))
        print(tr(f"    task  {_readme(kata)}", f"    题目  {_readme(kata)}"))
    print()
    print(tr("`kata mock status` shows the time left; `kata mock submit` grades your answers.",
             "`kata mock status` 查看剩余时间；`kata mock submit` 提交并评分。"))
    return 0


def status(arguments) -> int:
    data = load_state()
    session = active_session(data)
    if session is None:
        print(tr("No mock interview is running. Start one with `kata mock`.",
                 "当前没有进行中的模拟面试。用 `kata mock` 开始一场。"))
        return 0
    now = time.time()
    folder = term.relative_path(session["folder"])
    print(tr(f"Mock interview {session['id']}: {_clock(session, now)} "
             f"(of {session['minutes']} minutes).",
             f"模拟面试 {session['id']}：{_clock(session, now)}（限时 {session['minutes']} 分钟）。"))
    for name in session["katas"]:
        print(f"  {folder}/{name}.py")
    print(tr("Submit with `kata mock submit`.", "用 `kata mock submit` 提交。"))
    return 0


def submit(arguments) -> int:
    data = load_state()
    session = active_session(data)
    if session is None:
        print(tr("No mock interview is running, so there is nothing to submit. "
                 "`kata mock history` lists past sessions.",
                 "当前没有进行中的模拟面试，无可提交。`kata mock history` 可查看过去的场次。"),
              file=sys.stderr)
        return 1
    # The clock stops at submission, not after grading.
    submitted_at = time.time()
    limits = ResourceLimits()
    scores = []
    for name in session["katas"]:
        try:
            kata = find_kata(name)
        except KeyError:
            print(tr(f"note: {name} is no longer in the course; it is left out of the score.",
                     f"提示：{name} 已不在课程中，不计入成绩。"), file=sys.stderr)
            continue
        print(tr(f"Grading {name} …", f"正在评分 {name} …"), flush=True)
        if arguments.only:
            print(tr("note: --only grades a subset, so this score covers only those graders.",
                     "提示：--only 只运行部分评分器，本次成绩只统计这些评分器。"), file=sys.stderr)
        result = run_graders(kata, impl=session["folder"], seed=session.get("seed"),
                             keyword=arguments.only, limits=limits)
        scores.append(score_result(kata, result))
    report = format_report(session, scores, submitted_at)
    finish_session(session, scores, submitted_at, report)
    print()
    print(report)
    return 0


def abandon(arguments) -> int:
    data = load_state()
    session = active_session(data)
    if session is None:
        print(tr("No mock interview is running.", "当前没有进行中的模拟面试。"))
        return 0
    finish_session(session, None, time.time(), None)
    print(tr(f"Mock interview {session['id']} abandoned without grading; its files stay in "
             f"{term.relative_path(session['folder'])}.",
             f"模拟面试 {session['id']} 已放弃，未评分；文件保留在 {term.relative_path(session['folder'])}。"))
    return 0


def history(arguments) -> int:
    data = load_state()
    sessions = data["mock"]["history"]
    if not sessions:
        print(tr("No mock interview yet. Start one with `kata mock`.",
                 "还没有模拟面试记录。用 `kata mock` 开始一场。"))
        return 0
    header = [tr("session", "场次"), tr("katas", "题目"), tr("score", "得分"),
              tr("time used", "用时"), tr("overtime", "超时")]
    rows = []
    for item in sessions:
        scores = item.get("scores") or {}
        if item.get("outcome") == "submitted":
            got = sum(int(pair[0]) for pair in scores.values())
            out_of = sum(int(pair[1]) for pair in scores.values())
            score = f"{got}/{out_of}"
        else:
            score = tr("abandoned", "已放弃")
        over = float(item.get("overtime_seconds") or 0)
        rows.append([str(item.get("id", "?")), ", ".join(item.get("katas", [])), score,
                     term.duration(item.get("used_seconds")), term.duration(over) if over else "—"])
    print("\n".join(term.table(header, rows, colour=term.use_colour())))
    return 0


def run(arguments) -> int:
    words = list(arguments.words)
    action = words.pop(0) if words and words[0] in ACTIONS else "start"
    if action != "start" and words:
        print(tr(f"error: `kata mock {action}` takes no kata names.",
                 f"错误：`kata mock {action}` 不接受题目名。"), file=sys.stderr)
        return 2
    handlers = {"status": status, "submit": submit, "abandon": abandon, "history": history}
    if action == "start":
        return start(arguments, words)
    return handlers[action](arguments)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mock",
        help=tr("timed mock interview: start, status, submit, abandon, history",
                "限时模拟面试：start、status、submit、abandon、history"),
        description=tr(
            "Start a timed mock interview on fresh stubs in .kata/mock/<id>/ (your files in "
            "katas/ are untouched), check the time left, then submit for a score report with "
            "follow-up questions.",
            "在 .kata/mock/<id>/ 中用全新的题目文件开始限时模拟面试（不影响你在 katas/ 中的文件），"
            "随时查看剩余时间，最后提交得到成绩报告和面试追问。"),
    )
    parser.add_argument("words", nargs="*", metavar="ACTION|NAME",
                        help=tr("start (default), status, submit, abandon or history; "
                                "with start, the katas to use",
                                "start（默认）、status、submit、abandon 或 history；"
                                "start 之后可以列出要考的题目"))
    parser.add_argument("--minutes", type=int,
                        help=tr("time allowed in minutes (default: the katas' estimates added up)",
                                "限时，单位分钟（默认：所选题目预计用时之和）"))
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT,
                        help=tr(f"how many katas to draw (default {DEFAULT_COUNT})",
                                f"随机抽取的题目数（默认 {DEFAULT_COUNT}）"))
    parser.add_argument("--seed", type=int,
                        help=tr("seed for drawing the katas and for the graders' random inputs",
                                "抽题和评分器随机输入所用的种子"))
    parser.add_argument("--katas", metavar="A,B",
                        help=tr("comma-separated katas to use instead of a draw",
                                "用逗号分隔的题目列表，代替随机抽取"))
    parser.add_argument("--only", metavar="EXPR",
                        help=tr("with submit: run only graders matching this pytest -k expression",
                                "配合 submit：只运行名称匹配该 pytest -k 表达式的评分器"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
