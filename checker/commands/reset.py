"""`kata reset NAME` / `kata reset --all`: back up the learner's file, then restore the stub.

The stub comes from `checker.practice.pristine` (snapshot, committed hash
list, git history), so a reset works even after the learner committed
their edits. The learner's file is copied to `.kata/backups/` first; a
file identical to the stub is left alone.
"""

from __future__ import annotations

import sys

from checker.catalog import Kata, all_katas
from checker.commands.common import add_lang_argument, kata_or_exit
from checker.i18n import tr
from checker.practice import term
from checker.practice.backups import backup_file
from checker.practice.pristine import find_pristine, normalized
from checker.state import kata_entry, updating_state


SOURCE_TEXT = {
    "snapshot": ("the snapshot in .kata/pristine/", ".kata/pristine/ 中的快照"),
    "git HEAD": ("git HEAD", "git HEAD"),
    "git upstream": ("the upstream branch in git", "git 上游分支"),
}


def _source(name: str) -> str:
    # Older commits are named "git <short hash>" and need no translation.
    en, zh = SOURCE_TEXT.get(name, (name, name))
    return tr(en, zh)


def reset_one(kata: Kata) -> bool:
    """Restore one stub; return False when it could not be found or written."""
    stub = term.relative_path(kata.stub_path)
    pristine = find_pristine(kata)
    if pristine is None:
        print(tr(f"error: the original stub of {kata.name} was not found (no snapshot in "
                 f".kata/pristine/, no listed version in git); {stub} was left as it is.",
                 f"错误：找不到 {kata.name} 的初始文件（.kata/pristine/ 中没有快照，git 中也没有"
                 f"登记过的版本）；{stub} 保持不变。"), file=sys.stderr)
        return False
    current = kata.stub_path.read_bytes() if kata.stub_path.exists() else None
    if current is not None and normalized(current) == pristine.text:
        print(tr(f"{kata.name}: {stub} is already the original stub; nothing to do.",
                 f"{kata.name}：{stub} 已经是初始文件，无需重置。"))
        return True
    if current is not None:
        try:
            backup = backup_file(kata.stub_path, kata.name, "reset")
        except OSError as error:
            print(tr(f"error: could not back up {stub} ({error}); it was left as it is.",
                     f"错误：无法备份 {stub}（{error}），文件保持不变。"), file=sys.stderr)
            return False
        print(tr(f"{kata.name}: your file was backed up to {term.relative_path(backup)}",
                 f"{kata.name}：你的文件已备份到 {term.relative_path(backup)}"))
    kata.stub_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = kata.stub_path.with_name(f".{kata.stub_path.name}.reset")
    temporary.write_bytes(pristine.text)
    temporary.replace(kata.stub_path)
    note = "" if pristine.verified else tr(
        " (unverified: no hash in checker/practice/stub_hashes.txt matches it)",
        "（未经校验：checker/practice/stub_hashes.txt 中没有与之匹配的哈希）")
    print(tr(f"{kata.name}: {stub} is the original stub again, taken from {_source(pristine.source)}{note}.",
             f"{kata.name}：{stub} 已恢复为初始文件，来源：{_source(pristine.source)}{note}。"))
    with updating_state() as data:
        entry = kata_entry(data, kata.name)
        entry["resets"] = int(entry.get("resets", 0)) + 1
        if entry.get("status") == "in_progress":
            entry["status"] = "not_started"
    return True


def run(arguments) -> int:
    if arguments.all == bool(arguments.name):
        print(tr("error: name one kata (`kata reset loss_mask`) or use --all.",
                 "错误：请指定一道题（`kata reset loss_mask`）或使用 --all。"), file=sys.stderr)
        return 2
    katas = list(all_katas()) if arguments.all else [kata_or_exit(arguments.name)]
    results = [reset_one(kata) for kata in katas]
    return 0 if all(results) else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reset",
        help=tr("restore a kata's stub, backing up your file to .kata/backups/ first",
                "把题目文件恢复为初始状态，恢复前先把你的文件备份到 .kata/backups/"),
        description=tr(
            "Restore the stub of a kata. Your file is always copied to .kata/backups/ first. "
            "The stub is found in .kata/pristine/ (a snapshot taken the first time any kata "
            "command ran) or in git history, and verified against checker/practice/stub_hashes.txt.",
            "把题目文件恢复为初始状态。恢复前总会先把你的文件复制到 .kata/backups/。"
            "初始文件取自 .kata/pristine/（首次运行任何 kata 命令时保存的快照）或 git 历史，"
            "并用 checker/practice/stub_hashes.txt 中的哈希校验。"),
    )
    parser.add_argument("name", nargs="?", help=tr("kata name", "题目名"))
    parser.add_argument("--all", action="store_true", help=tr("reset every kata", "重置所有题目"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
