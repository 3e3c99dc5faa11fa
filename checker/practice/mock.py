"""Timed mock interviews: choosing katas, the session folder, the score report.

A session lives in `.kata/mock/<id>/`: a fresh stub of every chosen kata
(`<name>.py`, so the folder works as `--impl`), `session.json`, and after
submitting `report.txt`. The learner's own files in `katas/` are never
touched. The running session is `state["mock"]["active"]`; submitted and
abandoned ones are appended to `state["mock"]["history"]`. While a session
is active, `kata hint` and `kata solution` refuse to run.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from checker.catalog import Kata
from checker.i18n import tr
from checker.practice import term
from checker.practice.pristine import write_fresh_stub
from checker.runner import CheckResult
from checker.state import state_dir, updating_state

# The capstone wires several earlier katas together; a fresh stub of it
# alone cannot pass, so a random draw leaves it out (naming it still works).
NOT_DRAWN = frozenset({"capstone"})
DEFAULT_COUNT = 2
FAILURES_SHOWN = 5


class MockError(Exception):
    """A mock command cannot go on; the message is already translated."""


@dataclass
class KataScore:
    kata: Kata
    passed: int
    total: int
    failures: list[str]          # one-line summaries of graders that did not pass

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total


def mock_root() -> Path:
    return state_dir() / "mock"


def active_session(data: dict) -> dict | None:
    session = data["mock"].get("active")
    return session if isinstance(session, dict) and session.get("id") else None


def seconds_left(session: dict, now: float) -> float:
    """Seconds until the deadline; negative once the session runs over."""
    return float(session.get("deadline", now)) - now


def locked_message(data: dict, what_en: str, what_zh: str) -> str | None:
    """The refusal to print while a mock interview runs, or None when none runs."""
    session = active_session(data)
    if session is None:
        return None
    left = seconds_left(session, time.time())
    if left >= 0:
        clock = tr(f"{term.duration(left)} left", f"剩余 {term.duration(left)}")
    else:
        clock = tr(f"{term.duration(-left)} over time", f"已超时 {term.duration(-left)}")
    return tr(
        f"A mock interview is running ({clock}): {what_en} are locked until you "
        "finish it with `kata mock submit` (or `kata mock abandon`).",
        f"模拟面试进行中（{clock}）：在用 `kata mock submit` 提交"
        f"（或 `kata mock abandon` 放弃）之前，{what_zh}不可用。",
    )


def choose_katas(pool: list[Kata], count: int, seed: int, named: list[Kata]) -> list[Kata]:
    """The named katas, or `count` drawn with `seed` from `pool`, in course order."""
    if named:
        chosen = list(dict.fromkeys(named))
    else:
        candidates = [kata for kata in pool if kata.name not in NOT_DRAWN]
        if not candidates:
            raise MockError(tr("There is no kata to draw for a mock interview.",
                               "没有可以抽取的题目来进行模拟面试。"))
        count = max(1, min(count, len(candidates)))
        chosen = random.Random(seed).sample(candidates, count)
    return sorted(chosen, key=lambda kata: (kata.order, kata.name))


def _new_id(now: float) -> str:
    base = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    identifier, counter = base, 2
    while (mock_root() / identifier).exists():
        identifier = f"{base}-{counter}"
        counter += 1
    return identifier


def start_session(katas: list[Kata], minutes: int, seed: int) -> dict:
    """Create the session folder with fresh stubs and mark the session active."""
    now = time.time()
    with updating_state() as data:
        running = active_session(data)
        if running is not None:
            raise MockError(tr(
                f"Mock interview {running['id']} is still running. Finish it with "
                "`kata mock submit` or `kata mock abandon` before starting another.",
                f"模拟面试 {running['id']} 还在进行中。请先用 `kata mock submit` 提交"
                "或用 `kata mock abandon` 放弃，再开始新的一场。",
            ))
        identifier = _new_id(now)
        folder = mock_root() / identifier
        folder.mkdir(parents=True)
        missing = []
        for kata in katas:
            if write_fresh_stub(kata, folder / f"{kata.name}.py") is None:
                missing.append(kata.name)
        if missing:
            shutil.rmtree(folder)   # only fresh stubs, nothing the learner wrote
            raise MockError(tr(
                f"No pristine stub found for {', '.join(missing)}; see `kata reset --help`.",
                f"找不到 {', '.join(missing)} 的初始文件；参见 `kata reset --help`。",
            ))
        session = {
            "id": identifier,
            "katas": [kata.name for kata in katas],
            "minutes": minutes,
            "seed": seed,
            "started_at": now,
            "deadline": now + minutes * 60,
            "folder": str(folder),
        }
        (folder / "session.json").write_text(
            json.dumps(session, ensure_ascii=False, indent=2), encoding="utf-8")
        data["mock"]["active"] = session
    return session


def finish_session(session: dict, scores: list[KataScore] | None, now: float,
                   report: str | None) -> dict:
    """Move the session from active to history; `scores` None means abandoned."""
    used = now - float(session["started_at"])
    summary = dict(session)
    summary.update(
        finished_at=now,
        used_seconds=used,
        overtime_seconds=max(0.0, used - float(session["minutes"]) * 60),
        outcome="abandoned" if scores is None else "submitted",
    )
    if scores is not None:
        summary["scores"] = {score.kata.name: [score.passed, score.total] for score in scores}
    folder = Path(session["folder"])
    if folder.is_dir():
        (folder / "session.json").write_text(
            json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        if report is not None:
            (folder / "report.txt").write_text(report + "\n", encoding="utf-8")
    with updating_state() as data:
        current = active_session(data)
        if current is not None and current["id"] == session["id"]:
            data["mock"]["active"] = None
        data["mock"]["history"].append(summary)
    return summary


def score_result(kata: Kata, result: CheckResult) -> KataScore:
    """Count passed graders and summarize those that did not pass."""
    from checker.report import LABELS

    failures = []
    for record in result.records:
        if record["status"] == "pass":
            continue
        explain = record.get("explain") or {}
        summary = tr(explain.get("en") or record["name"], explain.get("zh") or record["name"])
        en, zh = LABELS.get(record["status"], (record["status"], record["status"]))
        failures.append(f"{tr(en, zh)}: {summary}")
    if result.collect_error is not None:
        failures.append(tr("the graders could not start", "评分器无法启动"))
    return KataScore(kata=kata, passed=result.count("pass"), total=len(result.records),
                     failures=failures)


def format_report(session: dict, scores: list[KataScore], now: float) -> str:
    """The score report printed by `kata mock submit` and kept as report.txt."""
    used = now - float(session["started_at"])
    allowed = float(session["minutes"]) * 60
    over = used - allowed
    lines = [
        tr(f"Mock interview {session['id']}: score report",
           f"模拟面试 {session['id']}：成绩报告"),
        "",
        tr(f"Time used: {term.duration(used)} of {term.duration(allowed)}",
           f"用时：{term.duration(used)}（限时 {term.duration(allowed)}）"),
    ]
    if over > 0:
        lines.append(tr(f"Overtime: {term.duration(over)}", f"超时：{term.duration(over)}"))
    else:
        lines.append(tr("Overtime: none", "超时：无"))
    lines.append("")
    header = [tr("kata", "题目"), tr("graders passed", "通过的评分器"), tr("result", "结果")]
    rows = []
    for score in scores:
        verdict = tr("passed", "通过") if score.all_passed else tr("not passed", "未通过")
        rows.append([score.kata.name, f"{score.passed}/{score.total}", verdict])
    lines.extend("  " + line for line in term.table(header, rows))
    passed = sum(score.passed for score in scores)
    total = sum(score.total for score in scores)
    percent = round(100 * passed / total) if total else 0
    solved = sum(score.all_passed for score in scores)
    lines += ["", tr(
        f"Score: {passed}/{total} graders ({percent}%), {solved} of {len(scores)} katas passed.",
        f"得分：{passed}/{total} 个评分器（{percent}%），{len(scores)} 道题中通过 {solved} 道。",
    )]
    failing = [score for score in scores if score.failures]
    if failing:
        lines += ["", tr("Graders that did not pass:", "未通过的评分器：")]
        for score in failing:
            lines.append(f"  {score.kata.name}")
            for failure in score.failures[:FAILURES_SHOWN]:
                lines.append(f"    - {failure}")
            hidden = len(score.failures) - FAILURES_SHOWN
            if hidden > 0:
                lines.append(tr(f"    … and {hidden} more", f"    …… 另有 {hidden} 个"))
    lines += ["", tr("Follow-up questions for the interview:", "面试追问：")]
    for score in scores:
        lines.append(f"  {score.kata.name} — {score.kata.title}")
        if not score.kata.follow_ups:
            lines.append(tr("    (this kata lists no follow-up questions)", "    （这道题没有列出追问）"))
        for number, question in enumerate(score.kata.follow_ups, start=1):
            lines.append(f"    {number}. {question}")
    lines += ["", tr(
        f"The session is kept in {term.relative_path(session['folder'])} with this report "
        "(report.txt); `kata mock history` lists every session.",
        f"本场面试保存在 {term.relative_path(session['folder'])}，报告见其中的 report.txt；"
        "`kata mock history` 可查看所有场次。",
    )]
    return "\n".join(lines)
