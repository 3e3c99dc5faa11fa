"""Greedy generation for scoring, and the task metric (exact match)."""

from __future__ import annotations

import unicodedata

import torch


def normalize_reply(text: str) -> str:
    """NFKC, trimmed, inner whitespace collapsed: formatting noise is not an error."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def exact_match(prediction: str, reference: str) -> bool:
    return normalize_reply(prediction) == normalize_reply(reference)


@torch.no_grad()
def generate_replies(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int = 32) -> list[str]:
    """Greedy replies to already-rendered prompts, decoded without special tokens.

    Prompts are tokenized with `add_special_tokens=False` (the text already
    holds the template) and left-padded so that every row ends where its
    reply starts. Generation stops at the tokenizer's eos (`<|im_end|>` for
    ChatML models). The caller chooses train or eval mode.
    """
    device = next(model.parameters()).device
    replies: list[str] = []
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            encoded = tokenizer(chunk, add_special_tokens=False, padding=True, return_tensors="pt").to(device)
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )  # [B, prompt_len + new]
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            replies += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = previous_side
    return replies
