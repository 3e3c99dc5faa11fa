"""Capstone benchmarks: our train loop vs TRL's SFTTrainer, and LoRA vs full fine-tuning memory.

Each configuration runs as its own `kata capstone` process on the CPU, so
import costs and peak RSS do not leak from one into another. Training time
is the wall time of the training call only, without loading or scoring.
Both paths train on the same chats, in the same order, for the same steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Row

REPO = Path(__file__).resolve().parent.parent


def _run(arguments: list[str], folder: Path, name: str) -> dict:
    env = dict(os.environ, KATA_LANG="en", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", "checker", "capstone", "--impl", "solutions", "--device", "cpu",
               "--output-dir", str(folder), "--name", name, "--log-every", "0", *arguments]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"capstone run {name} failed:\n{done.stderr[-2000:]}")
    return json.loads((folder / name / "metrics.json").read_text())


def run(quick: bool) -> list[Row]:
    steps = 20 if quick else 100
    shared = ["--steps", str(steps), "--warmup-steps", "2", "--train-size", "320" if quick else "0",
              "--eval-size", "8", "--max-new-tokens", "8", "--eval-every", "0"]
    with tempfile.TemporaryDirectory(prefix="bench-capstone-") as scratch:
        folder = Path(scratch)
        ours = _run(shared, folder, "katas")
        trl = _run([*shared, "--trainer", "trl"], folder, "trl")
        full = _run([*shared, "--full-finetune", "--lr", "5e-4"], folder, "full")

    rows = [
        Row(
            name=f"capstone training, {steps} steps x 16 chats, tiny Qwen3 LoRA r=8 (CPU)",
            ours="train_loop kata (reference)",
            peer="trl SFTTrainer + peft",
            ours_seconds=ours["train_seconds"],
            peer_seconds=trl["train_seconds"],
            target="ratio ≤ 1.0",
            met=ours["train_seconds"] <= trl["train_seconds"],
            note=f"{ours['tokens_per_second']:,.0f} vs {trl['tokens_per_second']:,.0f} tok/s; "
            f"first-step loss {ours['records'][0]['loss']:.4f} vs {trl['records'][0]['loss']:.4f}",
        ),
        Row(
            name=f"capstone peak memory, {steps} steps (CPU, process peak RSS)",
            ours="LoRA r=8",
            peer="full fine-tuning",
            ours_seconds=ours["peak_memory_mb"],
            peer_seconds=full["peak_memory_mb"],
            target="",
            met=None,
            note=f"these two columns are MB, not seconds; trainable parameters {ours['trainable_params']:,} "
            f"vs {full['trainable_params']:,} (gradients + AdamW moments: "
            f"{ours['trainable_params'] * 12 / 2**20:.1f} vs {full['trainable_params'] * 12 / 2**20:.1f} MB)",
        ),
    ]
    return rows
