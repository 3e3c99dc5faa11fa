"""Format a `CheckResult` for the terminal, in the current language.

The report never shows grader source. Expected values appear only in the
messages graders write, a falsifying input only when it is small, and for
errors only the frames from the learner's file.
"""

from __future__ import annotations

import os
import textwrap
import unicodedata

from checker.i18n import current_language, tr
from checker.runner import CheckResult

LABELS = {
    "pass": ("pass", "通过"),
    "fail": ("FAIL", "未通过"),
    "not_implemented": ("not implemented", "未实现"),
    "error": ("ERROR", "出错"),
    "timeout": ("timed out", "超时"),
    "not_run": ("not run", "未运行"),
}
MARKS = {"pass": "✓", "fail": "✗", "not_implemented": "·", "error": "!", "timeout": "⏱", "not_run": "-"}


OUTPUT_LINES = 15


def _label(status: str) -> str:
    en, zh = LABELS[status]
    return tr(en, zh)


def _pad(text: str, width: int) -> str:
    """Left-justify by terminal columns: CJK characters take two."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def _cap_lines(text: str, total_lines: int) -> str:
    """Keep the first OUTPUT_LINES lines, noting how many were printed in all."""
    lines = text.rstrip().splitlines()[:OUTPUT_LINES]
    if total_lines > len(lines):
        lines.append(tr(f"… ({total_lines} lines in all)", f"……（共 {total_lines} 行）"))
    return "\n".join(lines)


def _pick(pair: dict | None) -> str | None:
    if not pair:
        return None
    return pair.get("zh") if current_language() == "zh" else pair.get("en")


def _indent(text: str, prefix: str = "      ") -> str:
    return textwrap.indent(text.rstrip(), prefix)


def _relative(path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _title_line(result: CheckResult) -> str:
    kata = result.kata
    where = _relative(result.impl_path)
    return f"{kata.name} — {kata.title}   " + tr(f"(file: {where})", f"（文件：{where}）")


def _record_lines(record: dict, time_limit: float) -> list[str]:
    status = record["status"]
    explained = _pick(record.get("explain"))
    summary = explained or record["name"]
    if explained and "[" in record["name"]:
        # A parametrized grader: name the case, e.g. "[uppercase role]".
        summary += " [" + record["name"].split("[", 1)[1]
    lines = [f"  {MARKS[status]} {_pad(_label(status), 16)}{summary}"]
    if status == "fail":
        message = _pick(record.get("message"))
        if message:
            lines.append(_indent(message))
        if record.get("detail"):
            lines.append(_indent(record["detail"]))
    elif status == "error":
        kind = record.get("kind")
        if kind == "missing":
            lines.append(_indent(tr(
                f"Your file has no `{record.get('missing')}`. The graders call it by exactly "
                "this name: check the spelling and that it is defined at module level.",
                f"你的文件里没有 `{record.get('missing')}`。评分器按这个名字调用它："
                "请检查拼写，并确认它定义在模块顶层。",
            )))
        elif kind == "skipped":
            lines.append(_indent(tr(
                "The grader was skipped, which proves nothing: it counts as an error.",
                "评分器被跳过，什么也证明不了，因此记为出错。",
            )))
        else:
            if kind in ("crash", "exit"):
                lines.append(_indent(tr(
                    "The grading process ended while this grader ran: the code under test called "
                    "os._exit() or raised KeyboardInterrupt, or native code crashed. The graders "
                    "after it did not run.",
                    "运行这个评分器时评分进程提前结束了：被测代码调用了 os._exit() 或抛出了 "
                    "KeyboardInterrupt，或者原生代码崩溃。之后的评分器都没有运行。",
                )))
            if record.get("detail"):
                lines.append(_indent(record["detail"]))
            frames = record.get("frames") or []
            if frames:
                lines.append(_indent(tr("In your code:", "出错位置（你的代码）：")))
                lines.extend(_indent(frame, "        ") for frame in frames)
    elif status == "timeout":
        time_limit = record.get("seconds") or time_limit
        lines.append(_indent(tr(
            f"Stopped after {time_limit:g} s. Look for a loop whose condition never changes, or "
            "work that grows much faster than the input. A slow failing grader can also run out of "
            "time while it searches for the smallest failing input: run it alone with --only NAME.",
            f"运行超过 {time_limit:g} 秒被终止。检查是否有条件永远不变的循环，或者计算量随输入增长过快。"
            "失败的评分器在寻找最小反例时也可能耗尽时间：可以用 --only NAME 单独运行它。",
        )))
    example = record.get("example")
    if example and status in ("fail", "error"):
        lines.append(_indent(tr("Failing input:", "触发问题的输入：")))
        lines.append(_indent(example, "        "))
    output = record.get("output")
    if output and status != "pass":
        lines.append(_indent(tr("Your code printed:", "你的代码输出了：")))
        total = record.get("output_lines", len(output.splitlines()))
        lines.append(_indent(_cap_lines(output, total), "        "))
    return lines


def _load_error_lines(result: CheckResult) -> list[str] | None:
    """Format one block for a file that failed to import, instead of one per grader."""
    loads = [r for r in result.records if r.get("kind") == "load"]
    if not loads or len(loads) != len(result.records):
        return None
    record = loads[0]
    lines = [tr(
        f"  ! Your file could not be imported, so no grader could run ({len(loads)} graders).",
        f"  ! 你的文件无法导入，所有评分器都无法运行（共 {len(loads)} 个）。",
    )]
    lines.append(_indent(record.get("detail") or ""))
    for frame in record.get("frames") or []:
        lines.append(_indent(frame, "        "))
    return lines


def _summary_lines(result: CheckResult, next_kata: str | None) -> list[str]:
    total = len(result.records)
    passed = result.count("pass")
    parts = [tr(f"{passed}/{total} graders pass", f"{passed}/{total} 个评分器通过")]
    for status in ("fail", "error", "timeout", "not_implemented", "not_run"):
        count = result.count(status)
        if count:
            parts.append(tr(f"{count} {_label(status)}", f"{count} 个{_label(status)}"))
    lines = ["", " · ".join(parts)]
    stub = _relative(result.impl_path)
    name = result.kata.name
    # Rerun hints must grade the same file again, not the learner's default.
    is_own_file = result.impl_path.resolve() == result.kata.stub_path.resolve()
    again = "`make check`" if is_own_file else f"`kata check {name} --impl {stub}`"
    if result.partial and result.all_pass:
        lines.append(tr(
            f"Every selected grader passes. Run without --only to grade the whole of {name}; "
            "a partial run never counts as passing the kata.",
            f"选中的评分器全部通过。去掉 --only 才会对 {name} 做完整评分；只运行部分评分器不算通过这道题。",
        ))
    elif result.passed:
        if next_kata:
            lines.append(tr(
                f"Passed {name}. Next: `make check KATA={next_kata}` (or `kata check {next_kata}`).",
                f"{name} 已通过。下一题：`make check KATA={next_kata}`（或 `kata check {next_kata}`）。",
            ))
        else:
            lines.append(tr(
                f"Passed {name}. That was the last kata on the course map.",
                f"{name} 已通过。这是课程路线上的最后一题。",
            ))
    elif any(r.get("kind") == "load" for r in result.records):
        lines.append(tr(
            f"Next: fix the error above in {stub} so that the file imports, then run {again} again.",
            f"下一步：先修正 {stub} 中上面指出的错误，让文件能够正常导入，然后再次运行 {again}。",
        ))
    elif result.not_started:
        lines.append(tr(
            f"{name} is not started yet. Next: open {stub}, read the docstrings, "
            f"replace each `raise NotImplementedError` at a `# TODO:`, and run {again} again.",
            f"{name} 还没有开始。下一步：打开 {stub}，阅读 docstring，"
            f"把每个 `# TODO:` 处的 `raise NotImplementedError` 换成你的实现，然后再次运行 {again}。",
        ))
    else:
        lines.append(tr(
            f"Next: fix the first grader that does not pass in {stub}, then run {again} again. "
            f"Stuck? `kata hint {name}`.",
            f"下一步：在 {stub} 中修正第一个没有通过的评分器对应的问题，然后再次运行 {again}。"
            f"卡住了？运行 `kata hint {name}`。",
        ))
    rerun_impl = "" if is_own_file else f" --impl {stub}"
    randomized_failure = any(
        r.get("randomized") and r["status"] != "pass" and r.get("kind") != "load"
        for r in result.records
    )
    if result.seed is not None and randomized_failure and not result.not_started:
        lines.append(tr(
            f"Random inputs came from seed {result.seed}; rerun them with `kata check {name}{rerun_impl} --seed {result.seed}`.",
            f"本次随机输入的种子是 {result.seed}；用 `kata check {name}{rerun_impl} --seed {result.seed}` 可复现。",
        ))
    return lines


def format_result(result: CheckResult, next_kata: str | None = None) -> str:
    """Render the whole report for one kata."""
    lines = [_title_line(result), ""]
    if result.usage_error is not None:
        lines.append(tr(
            f"  The --only expression is not valid pytest -k syntax: {result.usage_error}",
            f"  --only 表达式不是合法的 pytest -k 语法：{result.usage_error}",
        ))
        return "\n".join(lines)
    if result.nothing_selected:
        lines.append(tr(
            "  No grader name matches the --only expression; run without --only to see them all.",
            "  没有评分器的名称匹配 --only 表达式；去掉 --only 即可看到全部评分器。",
        ))
        return "\n".join(lines)
    if result.collect_error is not None:
        lines.append(tr(
            "  ! The graders could not start. This is a problem in sft-katas itself, not in "
            "your code; please report it with the output below.",
            "  ! 评分器无法启动。这是 sft-katas 自身的问题，与你的代码无关；请附上下面的输出报告问题。",
        ))
        lines.append(_indent(result.collect_error))
        return "\n".join(lines)
    block = _load_error_lines(result)
    if block is not None:
        lines.extend(block)
    else:
        for record in result.records:
            lines.extend(_record_lines(record, result.time_limit))
    lines.extend(_summary_lines(result, next_kata))
    return "\n".join(lines)
