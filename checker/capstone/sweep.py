"""Why low rank works: train several LoRA ranks and full fine-tuning on the same task.

For each rank r the adapter's alpha is 2r, so `alpha / r` (the scale of
the update) stays the same across ranks. Full fine-tuning trains every
weight at its own, lower learning rate. Outputs, in `runs/<name>/`:

    rank_sweep.json   per run: trainable parameters, exact match, loss
    rank_sweep.png    exact match against trainable parameters (log x)
    spectrum.png      singular values of the weight update of one layer:
                      full fine-tuning's W_after - W_before vs LoRA's scaling * B @ A
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from checker.capstone import report
from checker.capstone.config import DEFAULT_RANKS, RunConfig
from checker.i18n import tr



def _load_state(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state = {}
    for path in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(path)))
    return state


def full_update(base_dir: Path, tuned_dir: Path, module_path: str) -> torch.Tensor:
    """W_after - W_before of one Linear layer, in float32."""
    before, after = _load_state(base_dir), _load_state(tuned_dir)
    key = f"{module_path}.weight"
    return after[key].float() - before[key].float()


def lora_update(adapter_dir: Path, module_path: str) -> torch.Tensor:
    """scaling * B @ A of one layer from a PEFT adapter folder."""
    settings = json.loads((adapter_dir / "adapter_config.json").read_text())
    state = _load_state(adapter_dir)
    prefix = f"base_model.model.{module_path}"
    lora_a, lora_b = state[f"{prefix}.lora_A.weight"].float(), state[f"{prefix}.lora_B.weight"].float()
    scaling = settings["lora_alpha"] / settings["r"]
    return scaling * lora_b @ lora_a  # [out, in]


def energy_in_top(singular_values: torch.Tensor, k: int) -> float:
    """Share of the squared Frobenius norm held by the k largest singular values."""
    squares = singular_values.double() ** 2
    return float(squares[:k].sum() / squares.sum()) if squares.sum() > 0 else float("nan")


def plot_sweep(path: Path, results: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.8), dpi=110)
    lora_runs = [r for r in results if r["kind"] == "lora"]
    axis.plot([r["trainable_params"] for r in lora_runs], [r["metric_after"] for r in lora_runs], "o-", label="LoRA")
    for run in lora_runs:
        axis.annotate(f"r={run['r']}", (run["trainable_params"], run["metric_after"]), textcoords="offset points",
                      xytext=(4, -10), fontsize=8)
    for run in results:
        if run["kind"] == "full":
            axis.plot([run["trainable_params"]], [run["metric_after"]], "s", color="C3", label="full fine-tuning")
    axis.axhline(results[0]["metric_before"], color="gray", linestyle=":", label="base model")
    axis.set_xscale("log")
    axis.set_xlabel("trainable parameters")
    axis.set_ylabel("held-out exact match")
    axis.set_ylim(-0.02, 1.02)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_spectrum(path: Path, spectra: dict[str, torch.Tensor], module_path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.8), dpi=110)
    for label, values in spectra.items():
        normalized = values / values[0]
        axis.plot(range(1, len(values) + 1), normalized.numpy(), label=label)
    axis.set_yscale("log")
    axis.set_xlabel("singular value index")
    axis.set_ylabel("σ_i / σ_1")
    axis.set_title(f"spectrum of the weight update, {module_path}")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def run_sweep(base: RunConfig, kits, ranks=DEFAULT_RANKS, full_lr: float = 5e-4,
              module_path: str = "model.layers.1.self_attn.q_proj") -> dict:
    """Train every rank and full fine-tuning with `base`'s other settings; write the plots."""
    sweep_dir = base.run_dir
    results = []
    for r in ranks:
        config = dataclasses.replace(base, name=f"{base.name}/r{r}", lora_r=r, lora_alpha=2.0 * r,
                                     full_finetune=False, merge=False)
        print(tr(f"\n=== LoRA r={r} ===", f"\n=== LoRA r={r} ==="), flush=True)
        metrics = kits.capstone.run(config, kits)
        results.append({"kind": "lora", "r": r, "name": config.name, **_summary(metrics)})
    full = dataclasses.replace(base, name=f"{base.name}/full", full_finetune=True, lr=full_lr, merge=True)
    print(tr("\n=== full fine-tuning ===", "\n=== 全参数微调 ==="), flush=True)
    metrics = kits.capstone.run(full, kits)
    results.append({"kind": "full", "r": None, "name": full.name, **_summary(metrics)})

    spectra, energy = {}, {}
    base_dir = Path(base.model)
    update = full_update(base_dir, full.run_dir / "merged", module_path)
    spectra["full fine-tuning"] = torch.linalg.svdvals(update)
    for r in (8, max(ranks)):
        if r in ranks:
            adapter = Path(base.output_dir) / f"{base.name}/r{r}" / "adapter"
            spectra[f"LoRA r={r}"] = torch.linalg.svdvals(lora_update(adapter, module_path))
    for label, values in spectra.items():
        energy[label] = {f"top{k}": energy_in_top(values, k) for k in (1, 4, 8, 16)}

    sweep_dir.mkdir(parents=True, exist_ok=True)
    plot_sweep(sweep_dir / "rank_sweep.png", results)
    plot_spectrum(sweep_dir / "spectrum.png", spectra, module_path)
    summary = {"results": results, "spectrum_module": module_path, "energy_in_top_k": energy,
               "singular_values": {k: v.tolist() for k, v in spectra.items()}}
    report.write_json(sweep_dir / "rank_sweep.json", summary)
    print(format_sweep(summary), flush=True)
    return summary


def _summary(metrics: dict) -> dict:
    keys = ("metric_before", "metric_after", "trainable_params", "total_params", "loss_last", "train_seconds")
    return {key: metrics[key] for key in keys}


def format_sweep(summary: dict) -> str:
    lines = [tr("rank sweep: held-out exact match after training", "秩扫描：训练后留出集 exact match"),
             f"{'run':<18}{'trainable':>12}{'exact match':>14}{'last loss':>12}"]
    for run in summary["results"]:
        label = f"LoRA r={run['r']}" if run["kind"] == "lora" else tr("full fine-tuning", "全参数微调")
        lines.append(f"{label:<18}{run['trainable_params']:>12,}{run['metric_after']:>14.1%}{run['loss_last']:>12.4f}")
    lines.append(tr(f"share of ||ΔW||² in the top-k singular values ({summary['spectrum_module']}):",
                    f"ΔW 的 Frobenius 范数平方落在前 k 个奇异值上的比例（{summary['spectrum_module']}）："))
    for label, shares in summary["energy_in_top_k"].items():
        lines.append(f"  {label:<18} " + "  ".join(f"{k} {v:.1%}" for k, v in shares.items()))
    return "\n".join(lines)
