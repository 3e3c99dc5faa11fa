"""Mutant: a token is supervised only when it lies wholly inside the reply, so a token merging the header's \n with the reply is dropped."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant", "tool")
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"


def _validate(messages: list[dict]) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"messages must be a non-empty list of dicts, got {messages!r}")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValueError(f"message {index} must be a dict with 'role' and 'content', got {message!r}")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise ValueError(
                f"message {index} needs string 'role' and 'content', got role={role!r}, "
                f"content={type(content).__name__}"
            )
        if role not in ROLES:
            raise ValueError(
                f"message {index} has unknown role {role!r}; expected one of {', '.join(ROLES)} "
                "(exact lowercase)"
            )
        if role == "system" and index != 0:
            raise ValueError(f"a system message must come first, but message {index} is one")


def render_chatml(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """Render messages as ChatML text, as Qwen models see them."""
    _validate(messages)
    parts = [f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages]
    if add_generation_prompt:
        parts.append(f"{IM_START}assistant\n")
    return "".join(parts)


def _supervised_spans(messages: list[dict], only_last_turn: bool) -> list[tuple[int, int]]:
    """Character spans [start, end) of each supervised assistant content + `<|im_end|>`."""
    spans = []
    cursor = 0
    for message in messages:
        header = f"{IM_START}{message['role']}\n"
        start = cursor + len(header)
        end = start + len(message["content"]) + len(IM_END)
        if message["role"] == "assistant":
            spans.append((start, end))
        cursor = end + 1  # the "\n" after <|im_end|>
    return spans[-1:] if only_last_turn else spans


def build_sft_example(
    messages: list[dict],
    tokenizer,
    max_length: int | None = None,
    only_last_turn: bool = False,
) -> dict:
    """Tokenize a chat and label only assistant tokens (content and `<|im_end|>`)."""
    text = render_chatml(messages)
    if max_length is not None and (not isinstance(max_length, int) or max_length <= 0):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(encoding["input_ids"])
    offsets = encoding["offset_mapping"]
    spans = _supervised_spans(messages, only_last_turn)

    labels = []
    for token_id, (start, end) in zip(input_ids, offsets):
        # A token is supervised when its characters overlap a supervised span;
        # a BPE merge across the header boundary still carries content.
        inside = any(start >= span_start and end <= span_end for span_start, span_end in spans)
        labels.append(token_id if inside else IGNORE_INDEX)

    if max_length is not None:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        raise ValueError(
            "the example has no supervised token: it needs an assistant message that "
            "survives max_length truncation"
        )
    return {"input_ids": input_ids, "labels": labels}


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy: logits [B, T, V], labels [B, T] (unshifted)."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if logits.dim() != 3 or labels.dim() != 2 or logits.shape[:2] != labels.shape:
        raise ValueError(
            f"expected logits [B, T, V] and labels [B, T], got {tuple(logits.shape)} and "
            f"{tuple(labels.shape)}"
        )
    batch, length, vocab = logits.shape
    # Position t predicts token t + 1: drop the last logit and the first label.
    shift_logits = logits[:, :-1, :].reshape(-1, vocab).float()  # [B*(T-1), V]
    shift_labels = labels[:, 1:].reshape(-1).to(logits.device)  # [B*(T-1)]
    total = F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE_INDEX, reduction="sum")
    if reduction == "sum":
        return total
    count = (shift_labels != IGNORE_INDEX).sum()
    # With no supervised token, total is 0 and still connected to the graph.
    return total / count.clamp(min=1)
