"""`kata capstone [NAME]`: a LoRA SFT run of a Qwen3 model built from your own katas.

    kata capstone                         # your katas, offline tiny Qwen3, CPU
    kata capstone --impl solutions        # the reference katas
    kata capstone --trainer trl           # the same run through TRL's SFTTrainer + PEFT
    torchrun --nproc_per_node 2 -m checker capstone --impl solutions   # data parallel

The optional NAME is accepted for `make capstone KATA=...` and must be
`capstone` when given. Every flag of the run config is listed by `--help`.
"""

from __future__ import annotations

import argparse
import sys

from checker.commands.common import add_lang_argument
from checker.i18n import tr


def _print_unfinished(unfinished, impl: str | None) -> None:
    lines = [tr("The capstone needs these katas, which are not ready yet:",
                "capstone 需要以下题目，但它们还没有完成：")]
    reasons = {
        "not_implemented": ("still raises NotImplementedError", "仍在抛出 NotImplementedError"),
        "load_error": ("cannot be imported", "无法导入"),
        "error": ("crashes on a tiny input", "在一个极小的输入上崩溃"),
    }
    for item in unfinished:
        en, zh = reasons[item.reason]
        lines.append(f"  - {item.kata:<11} {tr(en, zh)}: {item.detail}  ({item.path})")
    names = " ".join(item.kata for item in unfinished)
    lines += [
        "",
        tr(f"Solve them first (e.g. `make check KATA={unfinished[0].kata}`), or fall back to the reference code:",
           f"请先完成它们（例如 `make check KATA={unfinished[0].kata}`），或者改用参考实现："),
        "  kata capstone --kata-impl solutions      " + tr("(your capstone wiring, reference katas)",
                                                          "（你的 capstone 接线 + 参考题解）"),
        "  kata capstone --impl solutions           " + tr("(everything from solutions/)", "（全部使用 solutions/）"),
        tr(f"Katas to finish: {names}", f"待完成的题目：{names}"),
    ]
    print("\n".join(lines), file=sys.stderr)


def _print_wiring_missing(function: str) -> None:
    print(tr(
        f"The capstone wiring function {function!r} is not implemented yet (katas/capstone/capstone.py).\n"
        "Grade your wiring with `make check KATA=capstone`, or run the reference wiring: kata capstone --impl solutions",
        f"capstone 的接线函数 {function!r} 还没有实现（katas/capstone/capstone.py）。\n"
        "用 `make check KATA=capstone` 为你的接线评分，或运行参考接线：kata capstone --impl solutions",
    ), file=sys.stderr)


def run(arguments: argparse.Namespace) -> int:
    from checker.capstone import data
    from checker.capstone.config import config_from_arguments
    from checker.capstone.kits import find_unfinished, load_kits
    from checker.resolver import ImplementationLoadError, KataNotImplemented, MissingFunctionError

    if arguments.kata_name not in (None, "", "capstone"):
        print(tr(f"error: `kata capstone` runs the capstone only, got {arguments.kata_name!r}",
                 f"错误：`kata capstone` 只运行 capstone，收到的是 {arguments.kata_name!r}"), file=sys.stderr)
        return 2
    try:
        config = config_from_arguments(arguments)
    except ValueError as error:
        print(tr(f"error: {error}", f"错误：{error}"), file=sys.stderr)
        return 2

    kits = load_kits(arguments.impl, arguments.kata_impl)
    tokenizer = data.load_tokenizer(config.model)
    if config.trainer == "katas":
        unfinished = find_unfinished(kits, tokenizer, packing=config.packing)
    else:  # the TRL path only needs the chat template and scoring from the katas
        unfinished = [u for u in find_unfinished(kits, tokenizer) if u.kata == "loss_mask"]
    if unfinished:
        _print_unfinished(unfinished, arguments.impl)
        return 1

    try:
        if config.trainer == "trl":
            from checker.capstone.trl_path import run_trl

            run_trl(config, kits)
        else:
            kits.capstone.run(config, kits)
    except KataNotImplemented as error:
        _print_wiring_missing(str(error) or "?")
        return 1
    except (ImplementationLoadError, MissingFunctionError) as error:
        print(tr(f"error: cannot use the capstone wiring: {error}", f"错误：无法使用 capstone 接线：{error}"),
              file=sys.stderr)
        return 1
    return 0


def add_impl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kata_name", nargs="?", metavar="NAME",
                        help=tr("optional, must be 'capstone'", "可选，只能是 'capstone'"))
    parser.add_argument(
        "--impl",
        help=tr("code to run: 'katas' (your files, default), 'solutions', a folder with <kata>.py files, "
                "or a .py file with the capstone wiring",
                "运行哪份代码：'katas'（你的文件，默认）、'solutions'、含 <kata>.py 的文件夹，或 capstone 接线的 .py 文件"),
    )
    parser.add_argument(
        "--kata-impl", dest="kata_impl",
        help=tr("where the four katas come from, if not from --impl (e.g. solutions)",
                "四道基础题的实现来源，默认同 --impl（例如 solutions）"),
    )


def register(subparsers) -> None:
    from checker.capstone.config import add_config_arguments

    parser = subparsers.add_parser(
        "capstone",
        help=tr("LoRA SFT of a Qwen3 model built from your katas (offline, CPU by default)",
                "用你自己的题解对 Qwen3 模型做 LoRA SFT（默认离线、CPU）"),
        description=tr("LoRA SFT of a Qwen3-architecture model wired from your loss_mask, collate, lora and "
                       "train_loop katas; writes runs/<name>/.",
                       "用你的 loss_mask、collate、lora、train_loop 题解对 Qwen3 架构模型做 LoRA SFT；结果写入 runs/<name>/。"),
    )
    add_impl_arguments(parser)
    add_config_arguments(parser)
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
