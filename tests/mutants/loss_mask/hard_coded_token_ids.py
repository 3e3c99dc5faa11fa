"""Mutant: the mask searches for hard-coded token ids (1 = <|im_start|>, 2 = <|im_end|>)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant", "tool")
IM_START_ID, IM_END_ID = 1, 2


def render_chatml(messages, add_generation_prompt=False):
    if not messages:
        raise ValueError("messages must not be empty")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or not isinstance(
            message.get("content"), str
        ):
            raise ValueError(f"message {index} needs string 'role' and 'content'")
        if message["role"] not in ROLES:
            raise ValueError(f"unknown role {message['role']!r}")
        if message["role"] == "system" and index:
            raise ValueError("system must come first")
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def build_sft_example(messages, tokenizer, max_length=None, only_last_turn=False):
    text = render_chatml(messages)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoding["input_ids"])
    offsets = encoding["offset_mapping"]
    labels = [IGNORE_INDEX] * len(ids)
    roles = iter([m["role"] for m in messages])
    index = 0
    while index < len(ids):
        if ids[index] == IM_START_ID:
            role = next(roles, None)
            # skip the header: everything up to the first "\n" character
            header_end = text.index("\n", offsets[index][1])
            index += 1
            while index < len(ids) and offsets[index][1] <= header_end:
                index += 1
            while index < len(ids):
                if role == "assistant":
                    labels[index] = ids[index]
                if ids[index] == IM_END_ID:
                    break
                index += 1
        index += 1
    if only_last_turn:
        starts = [i for i, t in enumerate(ids) if t == IM_START_ID]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        cutoff = starts[last]
        labels = [IGNORE_INDEX if i < cutoff else label for i, label in enumerate(labels)]
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        raise ValueError("no supervised token")
    return {"input_ids": ids, "labels": labels}


def causal_lm_loss(logits, labels, reduction="mean"):
    if reduction not in ("mean", "sum"):
        raise ValueError(f"bad reduction {reduction!r}")
    vocab = logits.shape[-1]
    shift_logits = logits[:, :-1].reshape(-1, vocab).float()
    shift_labels = labels[:, 1:].reshape(-1)
    total = F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE_INDEX, reduction="sum")
    if reduction == "sum":
        return total
    return total / (shift_labels != IGNORE_INDEX).sum().clamp(min=1)
