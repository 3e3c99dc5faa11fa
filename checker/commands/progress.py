"""`kata progress`: every kata with its status, attempts, hints and best time."""

from __future__ import annotations

import time

from checker.catalog import all_katas
from checker.commands.common import add_lang_argument
from checker.i18n import tr
from checker.practice import term
from checker.practice.mock import active_session, seconds_left
from checker.practice.schedule import pass_times, schedule
from checker.state import load_state

STATUS_TEXT = {
    "passed": ("passed", "已通过", "green"),
    "in_progress": ("in progress", "进行中", "yellow"),
    "not_started": ("not started", "未开始", "dim"),
}
BAR_WIDTH = 20


def best_time(data: dict, name: str) -> float | None:
    """Return the shortest time to pass: the first pass, or any drill since."""
    entry = data["katas"].get(name, {})
    times = []
    if entry.get("status") == "passed" and isinstance(entry.get("time_to_pass"), (int, float)):
        times.append(float(entry["time_to_pass"]))
    card = data["drill"]["cards"].get(name)
    if isinstance(card, dict):
        times.extend(pass_times(card))
    return min(times) if times else None


def progress_lines(data: dict, colour: bool, now: float) -> list[str]:
    katas = all_katas()
    header = ["#", tr("kata", "题目"), tr("status", "状态"), tr("attempts", "评分次数"),
              tr("hints", "提示"), tr("best time", "最快通过"), tr("last run", "最近评分")]
    rows, styles = [], []
    for kata in katas:
        entry = data["katas"].get(kata.name, {})
        en, zh, style = STATUS_TEXT.get(entry.get("status"), STATUS_TEXT["not_started"])
        hints = f"{int(entry.get('hints_used', 0))}/{len(kata.hints)}"
        last = entry.get("last_run")
        rows.append([str(kata.order), kata.name, tr(en, zh), str(int(entry.get("attempts", 0))),
                     hints, term.duration(best_time(data, kata.name)),
                     term.when(last) if isinstance(last, (int, float)) else "—"])
        styles.append(style)
    lines = term.table(header, rows, styles, colour, align="><<>>><")
    passed = sum(1 for kata in katas if data["katas"].get(kata.name, {}).get("status") == "passed")
    total = len(katas)
    filled = round(BAR_WIDTH * passed / total) if total else 0
    bar = term.paint("█" * filled, "green", colour) + "░" * (BAR_WIDTH - filled)
    percent = round(100 * passed / total) if total else 0
    lines += ["", tr(f"Overall: {passed} of {total} katas passed ({percent}%)  {bar}",
                     f"总进度：{total} 道题中已通过 {passed} 道（{percent}%）  {bar}")]
    names = [kata.name for kata in katas]
    due = [item for item in schedule(data, names) if item.due_at <= now]
    if due:
        lines.append(tr(f"Drills due: {', '.join(item.name for item in due)}. Start one with `kata drill`.",
                        f"到期的复习：{'、'.join(item.name for item in due)}。用 `kata drill` 开始。"))
    session = active_session(data)
    if session is not None:
        left = seconds_left(session, now)
        clock = term.duration(abs(left))
        lines.append(tr(
            f"Mock interview {session['id']} is running ({clock} {'left' if left >= 0 else 'over time'}).",
            f"模拟面试 {session['id']} 进行中（{'剩余' if left >= 0 else '已超时'} {clock}）。"))
    submitted = [item for item in data["mock"]["history"] if item.get("outcome") == "submitted"]
    if submitted:
        last = submitted[-1]
        scores = last.get("scores") or {}
        got = sum(int(pair[0]) for pair in scores.values())
        out_of = sum(int(pair[1]) for pair in scores.values())
        lines.append(tr(f"Mock interviews submitted: {len(submitted)}; the last scored {got}/{out_of} graders.",
                        f"已提交的模拟面试：{len(submitted)} 场；最近一场得分 {got}/{out_of} 个评分器。"))
    gone = sorted(name for name in data["katas"] if name not in names)
    if gone:
        lines.append(term.paint(tr(
            f"Progress is also kept for katas no longer in the course: {', '.join(gone)}.",
            f"以下题目已不在课程中，但进度仍然保留：{'、'.join(gone)}。"), "dim", colour))
    return lines


def run(arguments) -> int:
    data = load_state()
    print("\n".join(progress_lines(data, term.use_colour(), time.time())))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "progress",
        help=tr("show status, attempts, hints and best time of every kata",
                "显示每道题的状态、评分次数、提示用量和最快通过时间"),
    )
    # `make progress KATA=x` passes a name; the table always shows every kata.
    parser.add_argument("name", nargs="?", help=tr("ignored: every kata is shown", "忽略：总是显示全部题目"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
