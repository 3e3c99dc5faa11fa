"""Write a capstone run folder and print its summary.

    runs/<name>/
        config.json      the resolved RunConfig
        metrics.json     metric before/after, losses, tokens/s, memory, timings
        loss.png         training loss per step (and held-out loss where measured)
        lr.png           learning rate per step
        samples.md       held-out prompts with the replies before and after training
        adapter/         PEFT-format LoRA adapter (adapter_config.json + adapter_model.safetensors)
        merged/          with --merge: the full model with the adapter merged in
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from checker.i18n import tr


def _plot(path: Path, xs, series: list[tuple[str, list, list]], ylabel: str, title: str, log_y: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display is needed or wanted
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.6), dpi=110)
    for label, x, y in series:
        axis.plot(x, y, label=label, marker="o" if len(x) < 12 else None, markersize=3)
    axis.set_xlabel("optimizer step")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    if log_y:
        axis.set_yscale("log")
    axis.grid(alpha=0.3)
    if len(series) > 1:
        axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_loss(path: Path, records: list[dict]) -> None:
    steps = [r["step"] for r in records]
    series = [("train", steps, [r["loss"] for r in records])]
    evals = [(r["step"], r["eval_loss"]) for r in records if "eval_loss" in r]
    if evals:
        series.append(("held-out", [s for s, _ in evals], [v for _, v in evals]))
    _plot(path, steps, series, "token-mean loss", "loss", log_y=True)


def plot_lr(path: Path, records: list[dict]) -> None:
    steps = [r["step"] for r in records]
    _plot(path, steps, [("lr", steps, [r["lr"] for r in records])], "learning rate", "learning rate")


def write_samples(path: Path, rows: list[dict], before: list[str], after: list[str], count: int) -> None:
    lines = ["# Samples: held-out prompts, greedy replies before and after fine-tuning", ""]
    for index, row in enumerate(rows[:count]):
        prompt = row["messages"][:-1]
        reference = row["messages"][-1]["content"]
        lines += [
            f"## {index + 1}",
            "",
            "**prompt** (ChatML):",
            "",
            "```",
            "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in prompt) + "<|im_start|>assistant\n",
            "```",
            "",
        ]
        for label, text in (("reference", reference), ("before", before[index]), ("after", after[index])):
            lines += [f"{label}:", "", "```text", text, "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_json(path: Path, data: dict) -> None:
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    path.write_text(json.dumps(clean(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def format_summary(metrics: dict) -> str:
    """Format the summary table printed at the end of a run."""
    before, after = metrics["metric_before"], metrics["metric_after"]
    rows = [
        (tr("exact match, held-out", "留出集 exact match"),
         f"{before:.1%} → {after:.1%}  ({metrics['eval_size']} {tr('chats', '条')})"),
        (tr("training loss, first → last step", "训练损失，首步 → 末步"),
         f"{metrics['loss_first']:.4f} → {metrics['loss_last']:.4f}"),
        (tr("trainable parameters", "可训练参数"),
         f"{metrics['trainable_params']:,} / {metrics['total_params']:,} ({metrics['trainable_params'] / max(metrics['total_params'], 1):.2%})"),
        (tr("throughput", "吞吐"), f"{metrics['tokens_per_second']:,.0f} tok/s ({metrics['trainer']})"),
        (tr("peak memory", "峰值内存"), f"{metrics['peak_memory_mb']:,.0f} MB ({metrics['peak_memory_kind']})"),
        (tr("time: training / whole run", "耗时：训练 / 整个运行"),
         f"{metrics['train_seconds']:.0f} s / {metrics['total_seconds']:.0f} s"),
        (tr("run folder", "运行目录"), str(metrics["run_dir"])),
    ]
    files = ["metrics.json", "loss.png", "lr.png", "samples.md"]
    if metrics.get("adapter_dir"):
        files.append("adapter/ (PEFT)")
    if metrics.get("merged_dir"):
        files.append("merged/")
    rows.append((tr("files", "文件"), ", ".join(files)))
    width = max(len(label) for label, _ in rows)
    rule = "-" * (width + 50)
    lines = [rule, tr("capstone summary", "capstone 运行总结"), rule]
    lines += [f"{label:<{width}}  {value}" for label, value in rows]
    verdict = after > before
    lines += [rule, tr("the tuned model learned the task" if verdict else "no gain on the held-out metric: check the run",
                       "微调后的模型学会了这个任务" if verdict else "留出集指标没有提升：请检查这次运行")]
    return "\n".join(lines)
