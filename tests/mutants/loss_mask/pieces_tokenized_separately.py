"""Mutant: header and content are tokenized separately and concatenated."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant", "tool")


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
    render_chatml(messages)
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant") if any(
        m["role"] == "assistant" for m in messages) else -1
    input_ids, labels = [], []
    for index, message in enumerate(messages):
        header = tokenizer(f"<|im_start|>{message['role']}\n", add_special_tokens=False)["input_ids"]
        body = tokenizer(message["content"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        tail = tokenizer("\n", add_special_tokens=False)["input_ids"]
        supervised = message["role"] == "assistant" and (not only_last_turn or index == last)
        input_ids += header + body + tail
        labels += [IGNORE_INDEX] * len(header) + (body if supervised else [IGNORE_INDEX] * len(body))
        labels += [IGNORE_INDEX] * len(tail)
    if max_length is not None:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        raise ValueError("no supervised token")
    return {"input_ids": input_ids, "labels": labels}


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
