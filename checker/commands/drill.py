"""`kata drill`: spaced repetition over passed katas, on a fresh scratch stub.

    kata drill [NAME] [--any]     start (or resume) the due drill, or NAME's
    kata drill check [--only E]   grade the scratch copy; a pass ends the drill
    kata drill giveup             end the drill as failed (it comes back sooner)
    kata drill status             when each passed kata is due
    kata drill history [NAME]     time to pass of every drill, oldest first

The scratch copy is `.kata/drill/<name>.py`; an older copy that differs from
the stub is backed up first. Scheduling rules: `checker.practice.schedule`.
"""

from __future__ import annotations

import sys
import time

from checker.catalog import all_katas, find_kata
from checker.commands.common import add_lang_argument, kata_or_exit
from checker.i18n import tr
from checker.practice import term
from checker.practice.backups import backup_file
from checker.practice.pristine import find_pristine, normalized, write_fresh_stub
from checker.practice.schedule import (
    DAY,
    apply_outcome,
    card_for,
    outcome_for,
    pass_times,
    schedule,
)
from checker.report import format_result
from checker.runner import run_graders
from checker.state import load_state, state_dir, updating_state

ACTIONS = ("start", "check", "giveup", "status", "history")
OUTCOME_TEXT = {
    "fast": ("passed within the estimate", "在预计时间内通过"),
    "slow": ("passed, slower than the estimate", "通过，但慢于预计时间"),
    "failed": ("gave up", "放弃"),
}


def scratch_path(name: str):
    return state_dir() / "drill" / f"{name}.py"


def _current(data: dict) -> dict | None:
    current = data["drill"].get("current")
    return current if isinstance(current, dict) and current.get("kata") else None


def _best(data: dict, name: str) -> float | None:
    card = data["drill"]["cards"].get(name)
    times = pass_times(card) if isinstance(card, dict) else []
    first = data["katas"].get(name, {}).get("time_to_pass")
    if isinstance(first, (int, float)):
        times.append(float(first))
    return min(times) if times else None


def _resume(current: dict) -> int:
    elapsed = time.time() - float(current["started_at"])
    print(tr(f"Drill of {current['kata']} in progress for {term.duration(elapsed)}: "
             f"edit {term.relative_path(current['path'])}, then `kata drill check` "
             "(or `kata drill giveup`).",
             f"{current['kata']} 的复习已进行 {term.duration(elapsed)}：编辑 "
             f"{term.relative_path(current['path'])}，然后运行 `kata drill check`"
             "（或 `kata drill giveup` 放弃）。"))
    return 0


def start(arguments, names: list[str]) -> int:
    data = load_state()
    current = _current(data)
    if current is not None:
        if names and names[0] != current["kata"]:
            print(tr(f"error: the drill of {current['kata']} is still running; finish it with "
                     "`kata drill check` or `kata drill giveup` first.",
                     f"错误：{current['kata']} 的复习尚未结束；请先用 `kata drill check` 完成"
                     "或用 `kata drill giveup` 放弃。"), file=sys.stderr)
            return 1
        return _resume(current)
    catalog = [kata.name for kata in all_katas()]
    due = schedule(data, catalog)
    now = time.time()
    if names:
        kata = kata_or_exit(names[0])
        if kata.name not in {item.name for item in due}:
            print(tr(f"error: drills are for passed katas, and {kata.name} is not passed yet. "
                     f"Pass it first with `kata check {kata.name}`.",
                     f"错误：复习只针对已通过的题目，而 {kata.name} 还没有通过。"
                     f"请先用 `kata check {kata.name}` 通过它。"), file=sys.stderr)
            return 1
    elif not due:
        print(tr("No kata is passed yet, so nothing is due. Drills bring back the katas you "
                 "have passed; start with `kata check`.",
                 "还没有通过任何题目，所以没有需要复习的内容。复习会让你重做已通过的题目；"
                 "先从 `kata check` 开始。"))
        return 0
    elif due[0].due_at > now and not arguments.any:
        soonest = due[0]
        print(tr(f"Nothing is due. Next: {soonest.name} on {term.when(soonest.due_at)} "
                 f"(in {term.duration(soonest.due_at - now)}). `kata drill --any` drills it now.",
                 f"目前没有到期的复习。下一道：{soonest.name}，{term.when(soonest.due_at)} 到期"
                 f"（{term.duration(soonest.due_at - now)} 后）。`kata drill --any` 可以现在就复习它。"))
        return 0
    else:
        kata = find_kata(due[0].name)
    target = scratch_path(kata.name)
    if target.exists():
        pristine = find_pristine(kata)
        if pristine is None or normalized(target.read_bytes()) != pristine.text:
            backup = backup_file(target, kata.name, "drill")
            print(tr(f"Your previous drill copy was backed up to {term.relative_path(backup)}",
                     f"上一次的复习文件已备份到 {term.relative_path(backup)}"))
    if write_fresh_stub(kata, target) is None:
        print(tr(f"error: the original stub of {kata.name} was not found; see `kata reset --help`.",
                 f"错误：找不到 {kata.name} 的初始文件；参见 `kata reset --help`。"), file=sys.stderr)
        return 1
    with updating_state() as state:
        state["drill"]["current"] = {"kata": kata.name, "path": str(target),
                                     "started_at": time.time(), "checks": 0}
    best = _best(data, kata.name)
    print(tr(f"Drill: {kata.name} — {kata.title}. The clock is running.",
             f"复习：{kata.name} — {kata.title}。开始计时。"))
    print(tr(f"  edit   {term.relative_path(target)} (a fresh stub; your katas/ file is untouched)",
             f"  编辑   {term.relative_path(target)}（全新的题目文件；不影响你在 katas/ 中的文件）"))
    print(tr(f"  grade  kata drill check        best time so far: {term.duration(best)}",
             f"  评分   kata drill check        目前最快：{term.duration(best)}"))
    return 0


def _grading_lines(result) -> str:
    """Format the check report without its closing advice, which is about `kata check`."""
    text = format_result(result)
    marker = "\n\n" + tr(f"{result.count('pass')}/{len(result.records)} graders pass",
                         f"{result.count('pass')}/{len(result.records)} 个评分器通过")
    cut = text.find(marker)
    if cut < 0:
        return text
    end = text.find("\n", cut + len(marker))
    return text if end < 0 else text[:end]


def _finish(name: str, started_at: float, checks: int, passed: bool) -> tuple[float, float, str]:
    """Record the drill's outcome; return (seconds, new interval in days, outcome)."""
    now = time.time()
    seconds = now - started_at
    try:
        estimate = find_kata(name).minutes
    except KeyError:
        estimate = 30
    outcome = outcome_for(passed, seconds, estimate)
    with updating_state() as data:
        card = card_for(data, name)
        card["history"].append({"started_at": started_at, "finished_at": now,
                                "seconds": seconds, "outcome": outcome, "checks": checks})
        interval = apply_outcome(card, outcome, now)
        data["drill"]["current"] = None
    return seconds, interval, outcome


def check(arguments) -> int:
    data = load_state()
    current = _current(data)
    if current is None:
        print(tr("No drill is running. Start one with `kata drill`.",
                 "当前没有进行中的复习。用 `kata drill` 开始。"), file=sys.stderr)
        return 1
    name = current["kata"]
    kata = kata_or_exit(name)
    previous_best = _best(data, name)
    print(tr(f"Grading your drill of {name} …", f"正在为 {name} 的复习评分 …"), flush=True)
    result = run_graders(kata, impl=current["path"], seed=arguments.seed, keyword=arguments.only)
    print(_grading_lines(result))
    print()
    if not result.passed:
        with updating_state() as state:
            running = _current(state)
            if running is not None and running["kata"] == name:
                running["checks"] = int(running.get("checks", 0)) + 1
        elapsed = time.time() - float(current["started_at"])
        print(tr(f"Not yet; the clock keeps running ({term.duration(elapsed)} so far). Fix "
                 f"{term.relative_path(current['path'])} and run `kata drill check` again, or "
                 "`kata drill giveup`.",
                 f"还没通过；计时继续（已用 {term.duration(elapsed)}）。修改 "
                 f"{term.relative_path(current['path'])} 后再次运行 `kata drill check`，"
                 "或用 `kata drill giveup` 放弃。"))
        return 1
    seconds, interval, outcome = _finish(name, float(current["started_at"]),
                                         int(current.get("checks", 0)) + 1, True)
    comparison = ""
    if previous_best is not None:
        comparison = tr(f" (best before: {term.duration(previous_best)})",
                        f"（此前最快：{term.duration(previous_best)}）")
    print(tr(f"Drill passed in {term.duration(seconds)}{comparison}. "
             f"{name} comes back in {interval:.1f} days ({term.when(time.time() + interval * DAY)}).",
             f"复习通过，用时 {term.duration(seconds)}{comparison}。"
             f"{name} 将在 {interval:.1f} 天后再次复习（{term.when(time.time() + interval * DAY)}）。"))
    if outcome == "slow":
        print(tr(f"That was slower than the {kata.minutes}-minute estimate, so the interval grew less.",
                 f"这次慢于预计的 {kata.minutes} 分钟，所以间隔增长得少一些。"))
    return 0


def giveup(arguments) -> int:
    data = load_state()
    current = _current(data)
    if current is None:
        print(tr("No drill is running.", "当前没有进行中的复习。"))
        return 0
    name = current["kata"]
    _, interval, _ = _finish(name, float(current["started_at"]), int(current.get("checks", 0)), False)
    print(tr(f"Drill of {name} ended as not passed. It comes back sooner: in {interval:.1f} days "
             f"({term.when(time.time() + interval * DAY)}). Your copy stays at "
             f"{term.relative_path(current['path'])}.",
             f"{name} 的复习记为未通过，会更早再来：{interval:.1f} 天后"
             f"（{term.when(time.time() + interval * DAY)}）。你的文件保留在 "
             f"{term.relative_path(current['path'])}。"))
    return 0


def status(arguments) -> int:
    data = load_state()
    now = time.time()
    due = schedule(data, [kata.name for kata in all_katas()])
    if not due:
        print(tr("No kata is passed yet, so no drill is scheduled.",
                 "还没有通过任何题目，所以没有安排复习。"))
        return 0
    header = [tr("kata", "题目"), tr("due", "到期"), tr("interval", "间隔"),
              tr("drills", "复习次数"), tr("best time", "最快通过")]
    rows, styles = [], []
    for item in due:
        is_due = item.due_at <= now
        rows.append([item.name, tr("now", "现在") if is_due else term.when(item.due_at),
                     tr(f"{item.interval_days:.1f} d", f"{item.interval_days:.1f} 天"),
                     str(item.reps), term.duration(_best(data, item.name))])
        styles.append("yellow" if is_due else "")
    print("\n".join(term.table(header, rows, styles, term.use_colour())))
    current = _current(data)
    if current is not None:
        print()
        _resume(current)
    return 0


def history(arguments, names: list[str]) -> int:
    data = load_state()
    wanted = names or sorted(data["drill"]["cards"])
    shown = False
    for name in wanted:
        card = data["drill"]["cards"].get(name)
        if not isinstance(card, dict) or not card.get("history"):
            continue
        shown = True
        print(name)
        first = data["katas"].get(name, {}).get("time_to_pass")
        if isinstance(first, (int, float)):
            print(tr(f"  first pass        {term.duration(first)}", f"  首次通过          {term.duration(first)}"))
        for item in card["history"]:
            en, zh = OUTCOME_TEXT.get(item.get("outcome"), ("?", "?"))
            print(f"  {term.when(item.get('finished_at'))}  {term.duration(item.get('seconds')):>8}  {tr(en, zh)}")
        times = pass_times(card)
        if len(times) >= 2:
            change = times[-1] - times[0]
            if change < 0:
                print(tr(f"  time to pass fell by {term.duration(-change)} since the first drill",
                         f"  与第一次复习相比，通过用时缩短了 {term.duration(-change)}"))
            else:
                print(tr(f"  time to pass rose by {term.duration(change)} since the first drill",
                         f"  与第一次复习相比，通过用时增加了 {term.duration(change)}"))
    if not shown:
        print(tr("No drill finished yet. `kata drill` starts one when a passed kata is due.",
                 "还没有完成过复习。有已通过的题目到期时，`kata drill` 会开始复习。"))
    return 0


def run(arguments) -> int:
    words = list(arguments.words)
    action = words.pop(0) if words and words[0] in ACTIONS else "start"
    if action == "start":
        return start(arguments, words)
    if action == "history":
        return history(arguments, words)
    if words:
        print(tr(f"error: `kata drill {action}` takes no kata name.",
                 f"错误：`kata drill {action}` 不接受题目名。"), file=sys.stderr)
        return 2
    return {"check": check, "giveup": giveup, "status": status}[action](arguments)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "drill",
        help=tr("redo passed katas when they are due (spaced repetition)",
                "按间隔重复的节奏重做已通过的题目"),
        description=tr(
            "Spaced repetition over the katas you passed: `kata drill` opens the most overdue "
            "one as a fresh stub in .kata/drill/ and times you; `kata drill check` grades it. "
            "A quick pass pushes the next drill further out, giving up brings it closer.",
            "对已通过的题目做间隔重复：`kata drill` 把最该复习的题目以全新文件放到 .kata/drill/ 并开始计时；"
            "`kata drill check` 评分。通过得快，下次复习就推得更远；放弃则会更早再来。"),
    )
    parser.add_argument("words", nargs="*", metavar="ACTION|NAME",
                        help=tr("start (default), check, giveup, status or history, "
                                "optionally followed by a kata name",
                                "start（默认）、check、giveup、status 或 history，后面可跟题目名"))
    parser.add_argument("--any", action="store_true",
                        help=tr("start the soonest drill even if it is not due yet",
                                "即使还没到期，也开始最近的一次复习"))
    parser.add_argument("--only", metavar="EXPR",
                        help=tr("with check: run only graders matching this pytest -k expression",
                                "配合 check：只运行名称匹配该 pytest -k 表达式的评分器"))
    parser.add_argument("--seed", type=int,
                        help=tr("with check: seed for the random inputs", "配合 check：随机输入的种子"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
