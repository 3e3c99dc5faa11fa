"""The capstone's one visible config: a dataclass, its command-line flags and its printout.

Every field has a unit or a sentinel meaning in its help text. The resolved
values are printed at the start of a run and stored in `metrics.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from checker import REPO_ROOT
from checker.i18n import tr

# LoRA ranks that `kata capstone-rank-sweep` trains by default.
DEFAULT_RANKS = (1, 2, 4, 8, 16, 64)

DEFAULT_MODEL = REPO_ROOT / "data" / "capstone" / "base"
DEFAULT_TASK = REPO_ROOT / "data" / "capstone" / "task"
QWEN3_LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class RunConfig:
    """Settings of one capstone run. Steps count optimizer steps, not micro-batches."""

    # run
    name: str = "capstone"  # folder under output_dir
    output_dir: str = str(REPO_ROOT / "runs")
    seed: int = 0
    trainer: str = "katas"  # "katas" (your train loop) or "trl" (SFTTrainer + PEFT)
    # model
    model: str = str(DEFAULT_MODEL)  # local folder or Hub id
    device: str = "auto"  # "auto", "cpu" or "cuda"
    bf16: bool | None = None  # None: bf16 autocast exactly when the device is CUDA
    gradient_checkpointing: bool = False
    # data
    train_file: str = str(DEFAULT_TASK / "train.jsonl")
    eval_file: str = str(DEFAULT_TASK / "eval.jsonl")
    train_size: int = 0  # chats used for training; 0 = all
    eval_size: int = 100  # held-out chats scored before and after; 0 = all
    max_length: int = 64  # tokens per example, longer ones are cut on the right
    packing: bool = False  # pack each micro-batch into one padding-free row
    # optimization
    batch_size: int = 16  # chats per micro-batch, per process
    grad_accum: int = 1  # micro-batches per optimizer step
    steps: int = 300  # optimizer steps
    lr: float = 5e-3  # peak learning rate
    warmup_steps: int = 20  # linear warmup, in optimizer steps
    max_grad_norm: float = 1.0  # global L2 norm limit
    weight_decay: float = 0.0
    eval_every: int = 100  # held-out loss every N steps; 0 = never
    # LoRA
    full_finetune: bool = False  # train every weight instead of LoRA adapters
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(QWEN3_LINEAR_NAMES))
    # outputs
    max_new_tokens: int = 24  # generated tokens per held-out prompt
    num_samples: int = 6  # before/after replies written to samples.md
    merge: bool = False  # also save the merged full model
    log_every: int = 25  # steps between printed log lines

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _bool_flag(group, name: str, help_en: str, help_zh: str) -> None:
    group.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                       help=tr(help_en, help_zh))


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per RunConfig field; unset flags keep the dataclass default."""
    d = RunConfig()
    s = argparse.SUPPRESS

    run = parser.add_argument_group(tr("run", "运行"))
    run.add_argument("--name", default=s, help=tr(f"run folder name under --output-dir (default {d.name})",
                                                  f"--output-dir 下的运行目录名（默认 {d.name}）"))
    run.add_argument("--output-dir", dest="output_dir", default=s,
                     help=tr("folder for run folders (default runs/)", "存放运行目录的文件夹（默认 runs/）"))
    run.add_argument("--seed", type=int, default=s, help=tr(f"random seed (default {d.seed})", f"随机种子（默认 {d.seed}）"))
    run.add_argument("--trainer", choices=["katas", "trl"], default=s,
                     help=tr("training loop: 'katas' (your train_loop kata, default) or 'trl' (SFTTrainer + PEFT)",
                             "训练循环：'katas'（你的 train_loop 题，默认）或 'trl'（SFTTrainer + PEFT）"))

    model = parser.add_argument_group(tr("model", "模型"))
    model.add_argument("--model", default=s,
                       help=tr("base model: a local folder or a Hub id such as Qwen/Qwen3-0.6B "
                               "(default: the offline tiny Qwen3 in data/capstone/base)",
                               "基座模型：本地目录或 Hub id，例如 Qwen/Qwen3-0.6B（默认：data/capstone/base 中的离线小模型）"))
    model.add_argument("--device", choices=["auto", "cpu", "cuda"], default=s,
                       help=tr("where to train (default auto: CUDA when available)", "训练设备（默认 auto：有 CUDA 就用 CUDA）"))
    _bool_flag(model, "bf16", "bf16 autocast (default: on for CUDA, off for CPU)",
               "bf16 自动混合精度（默认：CUDA 上开启，CPU 上关闭）")
    _bool_flag(model, "gradient-checkpointing", "recompute activations in backward to save memory",
               "反向传播时重算激活值以节省显存")

    data = parser.add_argument_group(tr("data", "数据"))
    data.add_argument("--train-file", dest="train_file", default=s, help=tr("training chats, JSON lines with 'messages'",
                                                                            "训练对话，每行一个含 'messages' 的 JSON"))
    data.add_argument("--eval-file", dest="eval_file", default=s, help=tr("held-out chats, same format", "留出评测对话，格式相同"))
    data.add_argument("--train-size", dest="train_size", type=int, default=s,
                      help=tr("training chats to use; 0 = all (default 0)", "使用的训练对话条数；0 表示全部（默认 0）"))
    data.add_argument("--eval-size", dest="eval_size", type=int, default=s,
                      help=tr(f"held-out chats to score; 0 = all (default {d.eval_size})",
                              f"参与评测的留出对话条数；0 表示全部（默认 {d.eval_size}）"))
    data.add_argument("--max-length", dest="max_length", type=int, default=s,
                      help=tr(f"tokens per example, cut on the right (default {d.max_length})",
                              f"每条样本的最大 token 数，超出部分从右侧截断（默认 {d.max_length}）"))
    _bool_flag(data, "packing", "pack each micro-batch into one row without padding (collate kata's pack_sequences)",
               "把每个 micro-batch 拼成一行、不做 padding（collate 题的 pack_sequences）")

    optim = parser.add_argument_group(tr("optimization", "优化"))
    optim.add_argument("--batch-size", dest="batch_size", type=int, default=s,
                       help=tr(f"chats per micro-batch per process (default {d.batch_size})",
                               f"每个进程每个 micro-batch 的对话数（默认 {d.batch_size}）"))
    optim.add_argument("--grad-accum", dest="grad_accum", type=int, default=s,
                       help=tr(f"micro-batches per optimizer step (default {d.grad_accum})",
                               f"每次优化器更新累积的 micro-batch 数（默认 {d.grad_accum}）"))
    optim.add_argument("--steps", type=int, default=s,
                       help=tr(f"optimizer steps (default {d.steps})", f"优化器更新步数（默认 {d.steps}）"))
    optim.add_argument("--lr", type=float, default=s, help=tr(f"peak learning rate (default {d.lr:g})",
                                                              f"峰值学习率（默认 {d.lr:g}）"))
    optim.add_argument("--warmup-steps", dest="warmup_steps", type=int, default=s,
                       help=tr(f"linear warmup length in optimizer steps (default {d.warmup_steps})",
                               f"线性 warmup 的优化器步数（默认 {d.warmup_steps}）"))
    optim.add_argument("--max-grad-norm", dest="max_grad_norm", type=float, default=s,
                       help=tr(f"clip the global gradient L2 norm to this (default {d.max_grad_norm:g})",
                               f"全局梯度 L2 范数的裁剪上限（默认 {d.max_grad_norm:g}）"))
    optim.add_argument("--weight-decay", dest="weight_decay", type=float, default=s,
                       help=tr(f"decoupled weight decay (default {d.weight_decay:g})", f"解耦权重衰减（默认 {d.weight_decay:g}）"))
    optim.add_argument("--eval-every", dest="eval_every", type=int, default=s,
                       help=tr(f"held-out loss every N steps; 0 = never (default {d.eval_every})",
                               f"每隔 N 步计算一次留出集损失；0 表示不计算（默认 {d.eval_every}）"))

    lora = parser.add_argument_group("LoRA")
    _bool_flag(lora, "full-finetune", "train every weight, no LoRA (for comparison)", "训练全部权重、不用 LoRA（用于对比）")
    lora.add_argument("--lora-r", dest="lora_r", type=int, default=s, help=tr(f"LoRA rank (default {d.lora_r})",
                                                                              f"LoRA 的秩（默认 {d.lora_r}）"))
    lora.add_argument("--lora-alpha", dest="lora_alpha", type=float, default=s,
                      help=tr(f"LoRA alpha; the update is scaled by alpha / r (default {d.lora_alpha:g})",
                              f"LoRA alpha；更新量乘以 alpha / r（默认 {d.lora_alpha:g}）"))
    lora.add_argument("--lora-dropout", dest="lora_dropout", type=float, default=s,
                      help=tr(f"dropout on the LoRA input (default {d.lora_dropout:g})",
                              f"LoRA 输入上的 dropout（默认 {d.lora_dropout:g}）"))
    lora.add_argument("--target-modules", dest="target_modules", nargs="+", default=s,
                      help=tr("attribute names of the nn.Linear layers to adapt (default: all seven Qwen3 projections)",
                              "要加 LoRA 的 nn.Linear 属性名（默认：Qwen3 的全部七个投影层）"))

    out = parser.add_argument_group(tr("outputs", "输出"))
    out.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=s,
                     help=tr(f"tokens generated per held-out prompt (default {d.max_new_tokens})",
                             f"每个留出提示最多生成的 token 数（默认 {d.max_new_tokens}）"))
    out.add_argument("--num-samples", dest="num_samples", type=int, default=s,
                     help=tr(f"before/after replies written to samples.md (default {d.num_samples})",
                             f"写入 samples.md 的训练前后回复条数（默认 {d.num_samples}）"))
    _bool_flag(out, "merge", "also save the model with the adapter merged in (merged/)", "另存合并了 adapter 的完整模型（merged/）")
    out.add_argument("--log-every", dest="log_every", type=int, default=s,
                     help=tr(f"steps between printed log lines (default {d.log_every})",
                             f"每隔多少步打印一行日志（默认 {d.log_every}）"))


def config_from_arguments(arguments: argparse.Namespace, **overrides) -> RunConfig:
    """Build a RunConfig from parsed flags (only those given) and explicit overrides."""
    names = {f.name for f in dataclasses.fields(RunConfig)}
    given = {key: value for key, value in vars(arguments).items() if key in names}
    config = RunConfig(**{**given, **overrides})
    validate_config(config)
    return config


def validate_config(config: RunConfig) -> None:
    """Raise ValueError naming the field, its value and the fix."""
    positive = ("batch_size", "grad_accum", "steps", "max_length", "max_new_tokens", "lora_r")
    for name in positive:
        value = getattr(config, name)
        if value <= 0:
            raise ValueError(tr(f"--{name.replace('_', '-')} must be > 0, got {value}",
                                f"--{name.replace('_', '-')} 必须大于 0，当前为 {value}"))
    for name in ("train_size", "eval_size", "warmup_steps", "eval_every", "num_samples", "weight_decay"):
        value = getattr(config, name)
        if value < 0:
            raise ValueError(tr(f"--{name.replace('_', '-')} must be >= 0, got {value}",
                                f"--{name.replace('_', '-')} 不能为负数，当前为 {value}"))
    if config.warmup_steps > config.steps:
        raise ValueError(tr(f"--warmup-steps ({config.warmup_steps}) must not exceed --steps ({config.steps})",
                            f"--warmup-steps（{config.warmup_steps}）不能超过 --steps（{config.steps}）"))
    if config.trainer not in ("katas", "trl"):
        raise ValueError(tr(f"--trainer must be 'katas' or 'trl', got {config.trainer!r}",
                            f"--trainer 只能是 'katas' 或 'trl'，当前为 {config.trainer!r}"))


def format_config(config: RunConfig) -> str:
    """Format the resolved config, one `name = value` per line, in dataclass order."""
    width = max(len(f.name) for f in dataclasses.fields(config))
    lines = [tr("config (resolved):", "配置（解析后）：")]
    for f in dataclasses.fields(config):
        lines.append(f"  {f.name:<{width}} = {getattr(config, f.name)!r}")
    return "\n".join(lines)
