"""Everything around the kata calls of a capstone run: setup, training context, outputs.

`start_run` prints the resolved config, seeds every generator, joins the
process group under torchrun and loads the tokenizer and chats.
`RunSession.training` shards the micro-batches across processes, wraps the
model in DDP, turns on bf16 autocast on CUDA and shows progress.
`RunSession.finish` writes the run folder (rank 0 only) and prints the summary.
"""

from __future__ import annotations

import contextlib
import copy
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from checker.capstone import data, report
from checker.capstone.config import RunConfig, format_config
from checker.capstone.distributed import Distributed
from checker.capstone.tracking import TrainingTracker
from checker.i18n import tr


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_memory(device: torch.device) -> tuple[float, str]:
    """Peak memory in MB: CUDA allocations on a GPU, the process's peak RSS on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "CUDA max allocated"
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return rss_kb / 1024, "process peak RSS"


@dataclass
class RunSession:
    config: RunConfig
    device: torch.device
    distributed: Distributed
    tokenizer: object
    train_rows: list[dict]
    eval_rows: list[dict]
    started: float = field(default_factory=time.perf_counter)
    train_seconds: float = 0.0
    tracker: TrainingTracker | None = None

    @property
    def is_main(self) -> bool:
        return self.distributed.is_main

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir

    @property
    def use_bf16(self) -> bool:
        return self.config.bf16 if self.config.bf16 is not None else self.device.type == "cuda"

    def say(self, en: str, zh: str) -> None:
        if self.is_main:
            print(tr(en, zh), flush=True)

    def load_model(self):
        self.say(f"loading model {self.config.model} …", f"正在加载模型 {self.config.model} …")
        return data.load_model(self.config.model, self.device, self.config.gradient_checkpointing)

    def autocast(self):
        if self.use_bf16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def training(self, model: torch.nn.Module, batches: list[dict], train_loop):
        """Yield `(model_to_train, this_rank_batches)`; time, watch and distribute the run."""
        config = self.config
        mine = self.distributed.shard(batches, config.grad_accum)
        wrapped = self.distributed.wrap(model)

        def lr_at(step: int) -> float:
            return train_loop.cosine_lr(step, peak_lr=config.lr, warmup_steps=config.warmup_steps,
                                        total_steps=config.steps)

        self.say(f"training {config.steps} steps on {len(mine)} micro-batches per process "
                 f"({self.distributed.world_size} process(es)) …",
                 f"开始训练 {config.steps} 步，每个进程 {len(mine)} 个 micro-batch（共 {self.distributed.world_size} 个进程）…")
        tracker = TrainingTracker(model, mine, grad_accum=config.grad_accum, total_steps=config.steps,
                                  lr_at=lr_at, log_every=config.log_every, distributed=self.distributed)
        start = time.perf_counter()
        with tracker, self.autocast():
            yield wrapped, mine
        self.train_seconds = time.perf_counter() - start
        self.tracker = tracker

    def finish(self, *, records: list[dict], before: dict, after: dict, trainable: int, total: int,
               model: torch.nn.Module, lora=None, tokens_per_second: float | None = None) -> dict:
        """Write the run folder on rank 0, print the summary, return the metrics."""
        config = self.config
        tracker = self.tracker
        step_losses = tracker.global_step_losses() if tracker is not None else [r["loss"] for r in records]
        if tokens_per_second is None:
            tokens_per_second = tracker.tokens_per_second() if tracker is not None else float("nan")
        memory_mb, memory_kind = peak_memory(self.device)
        adapter_dir = self.run_dir / "adapter"
        metrics = {
            "metric": "exact_match",
            "metric_before": before["exact_match"],
            "metric_after": after["exact_match"],
            "eval_size": len(self.eval_rows),
            "train_size": len(self.train_rows),
            "loss_first": step_losses[0] if step_losses else float("nan"),
            "loss_last": step_losses[-1] if step_losses else float("nan"),
            "step_losses": step_losses,
            "records": records,
            "trainable_params": trainable,
            "total_params": total,
            "tokens_per_second": tokens_per_second,
            "peak_memory_mb": memory_mb,
            "peak_memory_kind": memory_kind,
            "train_seconds": self.train_seconds,
            "total_seconds": time.perf_counter() - self.started,
            "world_size": self.distributed.world_size,
            "device": str(self.device),
            "bf16": self.use_bf16,
            "trainer": config.trainer,
            "run_dir": str(self.run_dir),
            "adapter_dir": str(adapter_dir) if (adapter_dir / "adapter_config.json").exists() else None,
            "merged_dir": None,
            "config": config.as_dict(),
        }
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if config.merge and (config.full_finetune or lora is not None):
                merged_dir = self.run_dir / "merged"
                # Full fine-tuning has nothing to merge: its weights are saved as they are.
                merged = model if config.full_finetune else lora.merge_lora(copy.deepcopy(model))
                merged.save_pretrained(merged_dir)
                self.tokenizer.save_pretrained(merged_dir)
                metrics["merged_dir"] = str(merged_dir)
            report.write_json(self.run_dir / "config.json", config.as_dict())
            report.plot_loss(self.run_dir / "loss.png", records)
            report.plot_lr(self.run_dir / "lr.png", records)
            report.write_samples(self.run_dir / "samples.md", self.eval_rows, before["predictions"],
                                 after["predictions"], config.num_samples)
            metrics["total_seconds"] = time.perf_counter() - self.started
            report.write_json(self.run_dir / "metrics.json", metrics)
            print(report.format_summary(metrics), flush=True)
        self.distributed.barrier()
        return metrics


def start_run(config: RunConfig) -> RunSession:
    """Resolve the device, join torchrun's process group, seed, load tokenizer and chats."""
    device = data.resolve_device(config.device)
    distributed = Distributed.from_environment(device)
    if distributed.is_main:
        print(format_config(config), flush=True)
    seed_everything(config.seed)
    tokenizer = data.load_tokenizer(config.model)
    train_rows = data.load_chats(config.train_file, config.train_size)
    eval_rows = data.load_chats(config.eval_file, config.eval_size)
    session = RunSession(config=config, device=distributed.device, distributed=distributed, tokenizer=tokenizer,
                         train_rows=train_rows, eval_rows=eval_rows)
    session.say(f"{len(train_rows)} training chats, {len(eval_rows)} held-out chats",
                f"训练对话 {len(train_rows)} 条，留出评测对话 {len(eval_rows)} 条")
    sys.stdout.flush()
    return session
