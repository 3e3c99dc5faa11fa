"""Kata `loss_mask`: render a chat as ChatML and supervise only the assistant.

In SFT the model should learn to write the assistant's replies, not to
predict the user's questions. So every token gets a label: its own id when
it belongs to an assistant reply (content and the closing `<|im_end|>`),
or `IGNORE_INDEX` (-100) otherwise. The loss then shifts once and averages
over the supervised tokens only.

Grade it with `make check KATA=loss_mask` (or `kata check loss_mask`).
The full task statement, with examples, is in README.md beside this file.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant", "tool")


def render_chatml(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """Render messages as ChatML text, as Qwen models see them.

    Each message becomes `<|im_start|>{role}\\n{content}<|im_end|>\\n`, in
    order, with no default system prompt. With `add_generation_prompt`,
    `<|im_start|>assistant\\n` is appended so a model continues as the
    assistant.

    Raises ValueError (naming the message index and the problem) when
    `messages` is empty, a message is not a dict with string `role` and
    `content`, a role is not one of `system`, `user`, `assistant`, `tool`
    (exact lowercase: "SYSTEM" is an error), or a system message is not
    the first message.

    >>> render_chatml([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    '<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
    """
    # TODO: validate the messages, then render each one and the optional prompt.
    raise NotImplementedError("render_chatml")


def build_sft_example(
    messages: list[dict],
    tokenizer,
    max_length: int | None = None,
    only_last_turn: bool = False,
) -> dict:
    """Tokenize a chat and label only the assistant tokens.

    Returns `{"input_ids": list[int], "labels": list[int]}` of equal length,
    NOT shifted (the loss shifts).

    - `input_ids` equal `tokenizer(render_chatml(messages),
      add_special_tokens=False)["input_ids"]`: tokenize the whole text once,
      because BPE can merge characters across a header and the content.
    - A token is supervised (label = its id) when its characters overlap an
      assistant message's content or the `<|im_end|>` closing it; every
      other token (system, user and tool turns, the `<|im_start|>assistant\\n`
      header, the `\\n` after `<|im_end|>`) gets IGNORE_INDEX. Hint: a fast
      tokenizer returns character offsets with `return_offsets_mapping=True`.
    - `only_last_turn=True` supervises only the last assistant message.
    - `max_length` keeps the first `max_length` tokens, labels alike.

    Raises ValueError for the bad messages `render_chatml` rejects, and when
    no token is supervised (no assistant message, or all of it truncated).

    Example (token ids depend on the tokenizer):
        [user "Hi", assistant "Yo"] renders as
        "<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nYo<|im_end|>\\n"
        and only the tokens of "Yo<|im_end|>" keep their ids in `labels`.
    """
    # TODO: render, tokenize once with offsets, and label tokens by character spans.
    raise NotImplementedError("build_sft_example")


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy over supervised tokens.

    `logits` is [B, T, V] and `labels` is [B, T], unshifted. Shift once
    inside: `logits[:, :-1]` predicts `labels[:, 1:]`. Positions whose label
    is IGNORE_INDEX count for nothing.

    - `"mean"`: sum of token losses / number of supervised tokens.
    - `"sum"`: sum of token losses.
    - With no supervised token, return a zero that is still connected to
      the graph (`backward()` gives zero gradients, never NaN).

    Raises ValueError for another `reduction`.

    >>> logits = torch.zeros(1, 3, 4)            # uniform over 4 tokens
    >>> causal_lm_loss(logits, torch.tensor([[-100, 1, 2]]))  # ln 4
    tensor(1.3863)
    """
    # TODO: shift, compute cross-entropy with ignore_index, and reduce.
    raise NotImplementedError("causal_lm_loss")
