"""`kata solution NAME`: the reference solution as a diff against the learner's file.

Shown only once the kata is passed, or with `--force` (recorded in the
progress state); never while a mock interview runs.
"""

from __future__ import annotations

import difflib
import sys
import time

from checker.commands.common import add_lang_argument, kata_or_exit
from checker.i18n import tr
from checker.practice import term
from checker.practice.mock import locked_message
from checker.state import kata_entry, load_state, updating_state


def _diff_lines(mine: str, reference: str, mine_label: str, reference_label: str,
                colour: bool) -> list[str]:
    lines = []
    for line in difflib.unified_diff(mine.splitlines(), reference.splitlines(),
                                     mine_label, reference_label, lineterm=""):
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        lines.append(term.paint(line, style, colour))
    return lines


def run(arguments) -> int:
    kata = kata_or_exit(arguments.name)
    data = load_state()
    locked = locked_message(data, "solutions", "参考答案")
    if locked:
        print(locked, file=sys.stderr)
        return 1
    passed = data["katas"].get(kata.name, {}).get("status") == "passed"
    if not passed and not arguments.force:
        print(tr(f"{kata.name} is not passed yet, so its solution stays hidden. Try "
                 f"`kata hint {kata.name}` first; `kata solution {kata.name} --force` shows it "
                 "anyway and notes that in your progress.",
                 f"{kata.name} 还没有通过，所以参考答案暂不显示。先试试 `kata hint {kata.name}`；"
                 f"`kata solution {kata.name} --force` 可以强制查看，并会记录在进度中。"),
              file=sys.stderr)
        return 1
    if not kata.solution_path.is_file():
        print(tr(f"{kata.name} has no reference solution in this checkout "
                 f"({term.relative_path(kata.solution_path)} is missing).",
                 f"当前仓库中没有 {kata.name} 的参考答案（缺少 {term.relative_path(kata.solution_path)}）。"),
              file=sys.stderr)
        return 1
    with updating_state() as state:
        entry = kata_entry(state, kata.name)
        entry["solution_views"] = int(entry.get("solution_views", 0)) + 1
        entry["solution_viewed_at"] = time.time()
        if not passed:
            entry["solution_forced"] = True
    reference = kata.solution_path.read_text(encoding="utf-8")
    reference_label = term.relative_path(kata.solution_path)
    colour = term.use_colour()
    if arguments.full or not kata.stub_path.exists():
        print(tr(f"Reference solution of {kata.name} ({reference_label}):",
                 f"{kata.name} 的参考答案（{reference_label}）："))
        print(reference.rstrip())
        return 0
    mine = kata.stub_path.read_text(encoding="utf-8", errors="replace")
    mine_label = term.relative_path(kata.stub_path)
    diff = _diff_lines(mine, reference, mine_label, reference_label, colour)
    if not diff:
        print(tr(f"Your {mine_label} is identical to the reference solution.",
                 f"你的 {mine_label} 与参考答案完全相同。"))
        return 0
    print(tr(f"Reference solution of {kata.name}, as a diff from your file "
             f"(- your lines, + the reference; `--full` prints it whole):",
             f"{kata.name} 的参考答案，以相对你的文件的 diff 显示"
             f"（- 为你的代码，+ 为参考答案；`--full` 显示完整文件）："))
    print("\n".join(diff))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "solution",
        help=tr("compare your file with the reference solution (after you pass)",
                "通过后，对比你的文件与参考答案"),
    )
    parser.add_argument("name", help=tr("kata name", "题目名"))
    parser.add_argument("--force", action="store_true",
                        help=tr("show it before passing (recorded in your progress)",
                                "未通过也显示（会记录在进度中）"))
    parser.add_argument("--full", action="store_true",
                        help=tr("print the whole solution instead of a diff", "显示完整答案而不是 diff"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
