"""Kata `capstone`: LoRA SFT of a Qwen3 model, wired from your own katas.

This file is a training script with the pipeline already laid out in
`run()`. What is left to you is the wiring: six small functions that call
the katas you solved before.

    loss_mask   chats -> supervised examples   (build_examples, evaluate)
    collate     examples -> micro-batches      (make_batches)
    lora        Qwen3 -> Qwen3 with adapters   (wrap_model, export_adapter)
    train_loop  warmup + cosine, accumulation, clipping, AdamW   (train_model)

Each kata arrives as a module argument (`loss_mask`, `collate`, ...), so
call `loss_mask.build_sft_example(...)`, not an import. The run config
(`RunConfig`, printed at the start of every run) gives the settings.

Grade the wiring:  make check KATA=capstone      (seconds, a tiny model)
Run it:            make capstone                 (a few minutes on a CPU)
The task statement, with the expected numbers, is in README.md beside this file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from checker.capstone.config import RunConfig
from checker.capstone.generation import exact_match, generate_replies
from checker.capstone.session import start_run


def build_examples(rows: list[dict], tokenizer, loss_mask, max_length: int | None) -> list[dict]:
    """Turn chats into supervised examples with the loss_mask kata.

    `rows` are dicts with a `messages` list (ChatML roles). Returns one
    `{"input_ids": list[int], "labels": list[int]}` per row, in order, equal
    to `loss_mask.build_sft_example(row["messages"], tokenizer,
    max_length=max_length)`: only the assistant replies are supervised, and
    `max_length` tokens at most are kept.

    Example: [user "Hi", assistant "Yo"] gives labels that are -100 except
    on the tokens of "Yo<|im_end|>".
    """
    # TODO: build one supervised example per chat with loss_mask.build_sft_example.
    raise NotImplementedError("build_examples")


def make_batches(examples: list[dict], collate, *, batch_size: int, pad_token_id: int,
                 packing: bool = False) -> list[dict]:
    """Cut the examples, in order, into micro-batches with the collate kata.

    Consecutive groups of `batch_size` examples (the last group may be
    smaller; nothing is dropped or reordered) become one micro-batch each:
    `collate.collate(group, pad_token_id=pad_token_id)` with padding, or
    `collate.pack_sequences(group)` when `packing` is true.

    Example: 5 examples, batch_size 2 -> 3 micro-batches with 2, 2 and 1 rows.
    """
    # TODO: group the examples and collate (or pack) each group.
    raise NotImplementedError("make_batches")


def wrap_model(model: torch.nn.Module, lora, *, r: int, alpha: float, dropout: float,
               target_modules: list[str]) -> list[str]:
    """Add LoRA adapters with the lora kata; return the wrapped module paths.

    Every `nn.Linear` whose attribute name is in `target_modules` gets a
    rank-`r` adapter scaled by `alpha / r`, with `dropout` on its input;
    every other weight is frozen. The model's output is unchanged right
    after wrapping (lora_B starts at zero).

    Example: target_modules ["q_proj"] on a 4-layer Qwen3 returns
    ["model.layers.0.self_attn.q_proj", ..., "model.layers.3.self_attn.q_proj"].
    """
    # TODO: call lora.apply_lora with the settings above.
    raise NotImplementedError("wrap_model")


def train_model(model: torch.nn.Module, batches: list[dict], train_loop, config: RunConfig,
                eval_batches: list[dict] | None = None) -> list[dict]:
    """Train with the train_loop kata; return its per-step records.

    Build a `train_loop.TrainConfig` from the run config: `config.lr` is
    the peak rate, `config.warmup_steps` and `config.steps` are optimizer
    steps, `config.grad_accum` micro-batches make one step,
    `config.max_grad_norm` clips, `config.weight_decay` decays, and
    `config.seed` seeds. Evaluate every `config.eval_every` steps when
    `eval_batches` are given (else never). Then call `train_loop.train`.

    Example: steps 300, grad_accum 2 -> 300 records, 600 micro-batches read.
    """
    # TODO: translate the run config into a TrainConfig and call train_loop.train.
    raise NotImplementedError("train_model")


@torch.no_grad()
def evaluate(model: torch.nn.Module, tokenizer, rows: list[dict], loss_mask, *, max_new_tokens: int) -> dict:
    """Greedy replies to the held-out prompts and their exact-match rate.

    For each row the prompt is every message but the last, rendered with
    `loss_mask.render_chatml(..., add_generation_prompt=True)`, so the model
    continues as the assistant, exactly as at inference. The last message
    is the reference. Put the model in eval mode (no dropout), then use
    `generate_replies(model, tokenizer, prompts, max_new_tokens=...)` and
    `exact_match(reply, reference)`.

    Returns `{"exact_match": float in [0, 1], "predictions": list[str]}`,
    predictions in row order.

    Example: 4 rows, 3 replies equal to their reference -> exact_match 0.75.
    """
    # TODO: eval mode, render the prompts, generate, score against the references.
    raise NotImplementedError("evaluate")


def export_adapter(model: torch.nn.Module, folder: str | Path, lora, config: RunConfig) -> None:
    """Save the adapter in PEFT's format with the lora kata.

    `folder` receives `adapter_config.json` and `adapter_model.safetensors`
    that `peft.PeftModel.from_pretrained(base_model, folder)` loads to the
    same logits. Pass the LoRA settings of the run config and
    `config.model` as the base model's name.
    """
    # TODO: call lora.save_adapter with the run's LoRA settings.
    raise NotImplementedError("export_adapter")


def run(config: RunConfig, katas) -> dict:
    """The whole run: data, base score, LoRA, training, new score, outputs."""
    session = start_run(config)  # prints the config, seeds, joins torchrun's group
    tokenizer = session.tokenizer

    # 1. chats -> supervised examples -> micro-batches
    examples = build_examples(session.train_rows, tokenizer, katas.loss_mask, config.max_length)
    batches = make_batches(examples, katas.collate, batch_size=config.batch_size,
                           pad_token_id=tokenizer.pad_token_id, packing=config.packing)
    eval_examples = build_examples(session.eval_rows, tokenizer, katas.loss_mask, config.max_length)
    eval_batches = make_batches(eval_examples, katas.collate, batch_size=config.batch_size,
                                pad_token_id=tokenizer.pad_token_id)

    # 2. score the base model, then add the adapters
    model = session.load_model()
    before = evaluate(model, tokenizer, session.eval_rows, katas.loss_mask, max_new_tokens=config.max_new_tokens)
    session.say(f"exact match before training: {before['exact_match']:.1%}",
                f"训练前 exact match：{before['exact_match']:.1%}")
    if not config.full_finetune:
        wrap_model(model, katas.lora, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                   target_modules=config.target_modules)
    trainable, total = katas.lora.count_parameters(model)

    # 3. train; the session shards batches across processes and shows progress
    with session.training(model, batches, katas.train_loop) as (model_to_train, my_batches):
        records = train_model(model_to_train, my_batches, katas.train_loop, config, eval_batches)

    # 4. score again and save the adapter
    after = evaluate(model, tokenizer, session.eval_rows, katas.loss_mask, max_new_tokens=config.max_new_tokens)
    if session.is_main and not config.full_finetune:
        export_adapter(model, session.run_dir / "adapter", katas.lora, config)
    return session.finish(records=records, before=before, after=after, trainable=trainable, total=total,
                          model=model, lora=katas.lora)
