"""`kata watch [NAME]`: grade again every time the kata's file is saved.

The file's modification time and size are polled twice a second; pressing
Enter grades at once (for editors that save in ways polling misses, or to
draw new random inputs), and Ctrl-C stops watching. Each run of the
learner's own file is recorded like `kata check`.
"""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path

from checker.commands.common import add_lang_argument
from checker.i18n import tr
from checker.practice import term
from checker.practice.choose import kata_from_arguments
from checker.report import format_result
from checker.runner import run_graders
from checker.state import load_state, passed_katas, record_check

POLL_SECONDS = 0.5
# Editors often write a file in several steps, so wait this long after a change.
SETTLE_SECONDS = 0.2


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _next_unpassed(after: str) -> str | None:
    from checker.commands.check import next_unpassed

    return next_unpassed(after=after)


class Watcher:
    def __init__(self, kata, path: Path, own_file: bool, arguments):
        self.kata = kata
        self.path = path
        self.own_file = own_file
        self.arguments = arguments
        self.colour = term.use_colour()
        self.stdin_open = sys.stdin is not None and not sys.stdin.closed
        self.seen = _signature(path)

    def grade(self, reason: str) -> None:
        # Taken before grading, so a save during the run triggers the next one.
        self.seen = _signature(self.path)
        print()
        print(term.paint(f"── {time.strftime('%H:%M:%S')} · {reason} ──", "dim", self.colour))
        if not self.path.exists():
            print(tr(f"{term.relative_path(self.path)} does not exist; waiting for it to appear.",
                     f"{term.relative_path(self.path)} 不存在；等待它出现。"))
            self.status_line(None)
            return
        print(tr(f"Grading {self.kata.name} …", f"正在评分 {self.kata.name} …"), flush=True)
        impl = None if self.own_file else str(self.path)
        result = run_graders(self.kata, impl=impl, seed=self.arguments.seed,
                             keyword=self.arguments.only)
        if self.own_file and result.records and not result.partial:
            record_check(self.kata.name, result.passed, result.not_started, result.duration)
        following = _next_unpassed(self.kata.name) if result.passed and self.own_file else None
        print(format_result(result, next_kata=following))
        self.status_line(result)

    def status_line(self, result) -> None:
        if result is None:
            state, style = tr("no file", "没有文件"), "yellow"
        elif result.passed:
            state, style = tr("PASSED", "已通过"), "green+bold"
        elif result.partial and result.all_pass:
            state, style = tr("selected graders pass", "选中的评分器全部通过"), "green"
        else:
            total = len(result.records)
            state = tr(f"{result.count('pass')}/{total} pass", f"{result.count('pass')}/{total} 通过")
            style = "yellow" if result.count("pass") else "red"
        mark = term.paint(f"[{self.kata.name}: {state}]", style, self.colour)
        keys = tr("Enter: grade now · Ctrl-C: quit", "回车：立即评分 · Ctrl-C：退出")
        if not self.stdin_open:
            keys = tr("Ctrl-C: quit", "Ctrl-C：退出")
        print(tr(f"{mark} watching {term.relative_path(self.path)} for changes · {keys}",
                 f"{mark} 正在监视 {term.relative_path(self.path)} 的改动 · {keys}"), flush=True)

    def wait(self) -> str:
        """Block until the file changes or Enter is pressed; return the reason."""
        while True:
            if self.stdin_open:
                ready, _, _ = select.select([sys.stdin], [], [], POLL_SECONDS)
                if ready:
                    line = sys.stdin.readline()
                    if line == "":
                        # stdin reached its end (not a terminal): keep watching the file only.
                        self.stdin_open = False
                    else:
                        return tr("graded on request", "手动评分")
            else:
                time.sleep(POLL_SECONDS)
            if _signature(self.path) != self.seen:
                time.sleep(SETTLE_SECONDS)
                return tr("file changed", "文件已修改")

    def loop(self) -> int:
        self.grade(tr("first run", "首次评分"))
        try:
            while True:
                self.grade(self.wait())
        except KeyboardInterrupt:
            print()
            print(tr(f"Stopped watching {self.kata.name}.", f"已停止监视 {self.kata.name}。"), flush=True)
            return 0


def run(arguments) -> int:
    data = load_state()
    kata = kata_from_arguments(arguments, data)
    if arguments.file:
        path = Path(arguments.file).expanduser()
        if not path.is_absolute():
            path = Path(os.getcwd()) / path
        own_file = False
    else:
        path = kata.stub_path
        own_file = True
    if own_file and kata.name in passed_katas():
        print(tr(f"{kata.name} is already passed; watching anyway.",
                 f"{kata.name} 已经通过；仍然继续监视。"))
    watcher = Watcher(kata, path, own_file, arguments)
    try:
        return watcher.loop()
    except KeyboardInterrupt:
        # Ctrl-C between two statements of the handler above.
        print()
        return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "watch",
        help=tr("grade a kata again every time you save it (Enter grades at once)",
                "每次保存时自动重新评分（按回车立即评分）"),
    )
    parser.add_argument("name", nargs="?",
                        help=tr("kata name (default: the kata you are working on)",
                                "题目名（默认：你正在做的题）"))
    parser.add_argument("--file", help=tr("watch and grade this file instead of yours (not recorded)",
                                          "监视并评分指定文件而不是你的文件（不记入进度）"))
    parser.add_argument("--only", metavar="EXPR",
                        help=tr("run only the graders whose names match this pytest -k expression",
                                "只运行名称匹配该 pytest -k 表达式的评分器"))
    parser.add_argument("--seed", type=int,
                        help=tr("seed for the random inputs (default: new ones every run)",
                                "随机输入的种子（默认每次都不同）"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
