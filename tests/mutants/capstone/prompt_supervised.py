"""Mutant: build_examples supervises the prompt too: labels are a copy of input_ids."""

from __future__ import annotations

from pathlib import Path

import torch

from checker.capstone.config import RunConfig
from checker.capstone.generation import exact_match, generate_replies
from checker.capstone.session import start_run


def build_examples(rows: list[dict], tokenizer, loss_mask, max_length: int | None) -> list[dict]:
    """Turn chats into supervised examples with the loss_mask kata."""
    examples = []
    for row in rows:
        example = loss_mask.build_sft_example(row["messages"], tokenizer, max_length=max_length)
        examples.append({"input_ids": example["input_ids"], "labels": list(example["input_ids"])})
    return examples


def make_batches(examples: list[dict], collate, *, batch_size: int, pad_token_id: int,
                 packing: bool = False) -> list[dict]:
    """Cut the examples, in order, into micro-batches with the collate kata."""
    batches = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        if packing:
            batches.append(collate.pack_sequences(chunk))
        else:
            batches.append(collate.collate(chunk, pad_token_id=pad_token_id))
    return batches


def wrap_model(model: torch.nn.Module, lora, *, r: int, alpha: float, dropout: float,
               target_modules: list[str]) -> list[str]:
    """Add LoRA adapters with the lora kata; return the wrapped module paths."""
    return lora.apply_lora(model, target_modules, r=r, alpha=alpha, dropout=dropout)


def train_model(model: torch.nn.Module, batches: list[dict], train_loop, config: RunConfig,
                eval_batches: list[dict] | None = None) -> list[dict]:
    """Train with the train_loop kata; return its per-step records."""
    train_config = train_loop.TrainConfig(
        peak_lr=config.lr,
        warmup_steps=config.warmup_steps,
        total_steps=config.steps,
        grad_accum_steps=config.grad_accum,
        max_grad_norm=config.max_grad_norm,
        weight_decay=config.weight_decay,
        eval_every=config.eval_every if eval_batches else 0,
        seed=config.seed,
    )
    return train_loop.train(model, batches, train_config, eval_batches=eval_batches)


@torch.no_grad()
def evaluate(model: torch.nn.Module, tokenizer, rows: list[dict], loss_mask, *, max_new_tokens: int) -> dict:
    """Greedy replies to the held-out prompts and their exact-match rate."""
    model.eval()
    prompts = [loss_mask.render_chatml(row["messages"][:-1], add_generation_prompt=True) for row in rows]
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    hits = [exact_match(reply, row["messages"][-1]["content"]) for reply, row in zip(replies, rows)]
    return {"exact_match": sum(hits) / max(len(hits), 1), "predictions": replies}


def export_adapter(model: torch.nn.Module, folder: str | Path, lora, config: RunConfig) -> None:
    """Save the adapter in PEFT's format with the lora kata."""
    lora.save_adapter(model, folder, r=config.lora_r, alpha=config.lora_alpha,
                      target_modules=config.target_modules, base_model_name_or_path=config.model)


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
