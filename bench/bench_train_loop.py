"""Benchmark the `train_loop` solution against torch's AdamW and transformers' Trainer.

    python -m bench --only train_loop [--quick]

Two rows:

- one `AdamW.step()` of our optimizer against `torch.optim.AdamW(foreach=True)`
  on the same parameters and gradients;
- a whole `train()` run against `transformers.Trainer.train()` on the same
  tiny Qwen3 model, data, schedule, accumulation and clipping, reported as
  tokens per second. Both runs see equal-length rows, so there is no padding
  and both process exactly the same tokens.

Both sides run in this process on one torch thread: the models are tiny,
and on a shared CPU a second thread mostly adds waiting that swamps the
difference being measured.
"""

from __future__ import annotations

import tempfile
import time

import torch

from bench.common import Row, best_time
from checker.resolver import kata_module

IGNORE_INDEX = -100


def _adamw_row(quick: bool) -> Row:
    train_loop = kata_module("train_loop", "solutions")
    # A transformer-like mix: a few large matrices and many small vectors.
    width, layers = (256, 4) if quick else (512, 6)
    shapes = [(4 * width, width)]
    for _ in range(layers):
        shapes += [(width, width)] * 4 + [(4 * width, width), (width, 4 * width), (width,), (width,)]
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(shape, generator=generator) for shape in shapes]
    grads = [torch.randn(shape, generator=generator) * 1e-2 for shape in shapes]
    count = sum(t.numel() for t in start)

    def prepare(factory):
        params = [t.clone().requires_grad_(True) for t in start]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        return params, factory(params)

    ours_params, ours = prepare(lambda p: train_loop.AdamW(p, lr=1e-3, weight_decay=0.01))
    peer_params, peer = prepare(lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01, foreach=True))
    repeat = 5 if quick else 10
    ours_seconds = best_time(ours.step, repeat=repeat)
    peer_seconds = best_time(peer.step, repeat=repeat)
    # Both took the same number of steps on the same gradients.
    gap = max(float((a - b).detach().abs().max()) for a, b in zip(ours_params, peer_params))
    return Row(
        name=f"AdamW.step, {count / 1e6:.1f}M params in {len(shapes)} tensors",
        ours="train_loop.AdamW",
        peer="torch.optim.AdamW(foreach=True)",
        ours_seconds=ours_seconds,
        peer_seconds=peer_seconds,
        target="ratio ≤ 1.5",
        met=ours_seconds <= 1.5 * peer_seconds,
        note=f"1 torch thread; max |param difference| after {repeat + 1} steps: {gap:.1e}",
    )


def _tiny_qwen(seed: int):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, use_cache=False,
    )
    torch.manual_seed(seed)
    return Qwen3ForCausalLM(config)


def _examples(count: int, length: int) -> list[dict]:
    """Equal-length rows with the first quarter masked, like a prompt."""
    generator = torch.Generator().manual_seed(1)
    rows = []
    for _ in range(count):
        ids = torch.randint(1, 512, (length,), generator=generator)
        labels = ids.clone()
        labels[: length // 4] = IGNORE_INDEX
        rows.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    return rows


def _train_row(quick: bool) -> Row:
    from transformers import PrinterCallback, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    train_loop = kata_module("train_loop", "solutions")
    batch_size, length, accum = 4, 64, 2
    steps = 8 if quick else 30
    examples = _examples(batch_size * accum * steps, length)
    micro_batches = [
        {key: torch.stack([row[key] for row in examples[i:i + batch_size]]) for key in examples[0]}
        for i in range(0, len(examples), batch_size)
    ]
    tokens = steps * accum * batch_size * length
    settings = dict(peak_lr=1e-3, warmup_steps=2, total_steps=steps, grad_accum_steps=accum,
                    max_grad_norm=1.0, weight_decay=0.0, seed=0)

    model = _tiny_qwen(0)
    start = time.perf_counter()
    records = train_loop.train(model, micro_batches, train_loop.TrainConfig(**settings))
    ours_seconds = time.perf_counter() - start

    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as output_dir:
        arguments = TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=batch_size, gradient_accumulation_steps=accum,
            max_steps=steps, learning_rate=settings["peak_lr"], lr_scheduler_type="cosine",
            warmup_steps=settings["warmup_steps"], max_grad_norm=settings["max_grad_norm"],
            weight_decay=settings["weight_decay"], logging_steps=steps, save_strategy="no", report_to="none",
            use_cpu=True, dataloader_num_workers=0, disable_tqdm=True, seed=0,
        )
        trainer = Trainer(model=_tiny_qwen(0), args=arguments, train_dataset=examples)
        trainer.remove_callback(PrinterCallback)  # it prints every logged dict to stdout
        start = time.perf_counter()
        result = trainer.train()
        peer_seconds = time.perf_counter() - start

    return Row(
        name=f"train, tiny Qwen3, {steps} steps x {accum} x {batch_size} x {length} tokens",
        ours="train_loop.train",
        peer="transformers.Trainer.train",
        ours_seconds=ours_seconds,
        peer_seconds=peer_seconds,
        target="ratio ≤ 1.0",
        met=ours_seconds <= peer_seconds,
        note=f"1 torch thread; {tokens / ours_seconds:,.0f} vs {tokens / peer_seconds:,.0f} tokens/s; "
        f"mean training loss {sum(r['loss'] for r in records) / len(records):.3f} vs "
        f"{result.training_loss:.3f} (Trainer shuffles the rows)",
    )


def run(quick: bool) -> list[Row]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [_adamw_row(quick), _train_row(quick)]
    finally:
        torch.set_num_threads(threads)
