"""`kata capstone-rank-sweep`: LoRA ranks 1-64 and full fine-tuning on the capstone task.

    kata capstone-rank-sweep --impl solutions
    kata capstone-rank-sweep --impl solutions --ranks 1 4 16 --steps 200

Writes runs/<name>/rank_sweep.{json,png} and spectrum.png; see
`checker/capstone/sweep.py` for what they show.
"""

from __future__ import annotations

import argparse
import sys

from checker.commands.common import add_lang_argument
from checker.i18n import tr


def run(arguments: argparse.Namespace) -> int:
    from checker.capstone import data
    from checker.capstone.config import config_from_arguments
    from checker.capstone.kits import find_unfinished, load_kits
    from checker.capstone.sweep import run_sweep
    from checker.commands.capstone import _print_unfinished

    overrides = {} if "name" in vars(arguments) else {"name": "rank-sweep"}
    try:
        config = config_from_arguments(arguments, **overrides)
    except ValueError as error:
        print(tr(f"error: {error}", f"错误：{error}"), file=sys.stderr)
        return 2
    kits = load_kits(arguments.impl, arguments.kata_impl)
    unfinished = find_unfinished(kits, data.load_tokenizer(config.model), packing=config.packing)
    if unfinished:
        _print_unfinished(unfinished, arguments.impl)
        return 1
    run_sweep(config, kits, ranks=tuple(arguments.ranks), full_lr=arguments.full_lr)
    return 0


def register(subparsers) -> None:
    from checker.capstone.config import add_config_arguments
    from checker.capstone.config import DEFAULT_RANKS
    from checker.commands.capstone import add_impl_arguments

    parser = subparsers.add_parser(
        "capstone-rank-sweep",
        help=tr("train LoRA ranks 1-64 and full fine-tuning on the capstone task; plot metric vs parameters",
                "在 capstone 任务上训练秩 1-64 的 LoRA 和全参数微调，画出指标与参数量的关系"),
    )
    add_impl_arguments(parser)
    parser.add_argument("--ranks", type=int, nargs="+", default=list(DEFAULT_RANKS),
                        help=tr("LoRA ranks to train (default 1 2 4 8 16 64)", "要训练的 LoRA 秩（默认 1 2 4 8 16 64）"))
    parser.add_argument("--full-lr", dest="full_lr", type=float, default=5e-4,
                        help=tr("peak learning rate of full fine-tuning (default 5e-4)", "全参数微调的峰值学习率（默认 5e-4）"))
    add_config_arguments(parser)
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
