"""Kata `collate`: turn tokenized examples into training batches.

Examples have different lengths; a batch is a rectangle. `collate` pads
them into `[B, L]` tensors, `pack_sequences` concatenates them into one row
without any padding, and `length_grouped_batches` puts examples of similar
length together so there is little padding to begin with.

Grade it with `make check KATA=collate` (or `kata check collate`).
The full task statement, with examples, is in README.md beside this file.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100


def collate(
    features: list[dict],
    pad_token_id: int,
    padding_side: str = "right",
    pad_to_multiple_of: int | None = None,
    max_length: int | None = None,
) -> dict[str, torch.Tensor]:
    """Pad a batch into `[B, L]` long tensors.

    `features` is a list of dicts with `input_ids` and `labels` (lists of
    int of equal length, labels already masked with IGNORE_INDEX). Returns
    `input_ids`, `attention_mask`, `labels` and `position_ids`, each `[B, L]`:

    - `L` is the longest sequence after `max_length` right-truncation,
      rounded up to a multiple of `pad_to_multiple_of` when given.
    - `padding_side="right"` puts padding after the tokens, `"left"` before.
    - `input_ids` are padded with `pad_token_id`; `attention_mask` is 1 on
      real tokens and 0 on padding; `labels` are padded with IGNORE_INDEX
      and otherwise kept exactly as given (never rebuilt from input_ids and
      never masked by comparing with `pad_token_id`: pad may equal eos).
    - `position_ids` count 0, 1, ..., len-1 over the real tokens on either
      padding side, and are 0 on padding.

    Raises ValueError for an empty batch, a feature whose input_ids and
    labels differ in length, an unknown `padding_side`, or a
    `pad_to_multiple_of` / `max_length` that is not a positive int.

    >>> collate([{"input_ids": [5, 6], "labels": [-100, 6]},
    ...          {"input_ids": [7], "labels": [7]}], pad_token_id=0, padding_side="left")
    {'input_ids': tensor([[5, 6], [0, 7]]), 'attention_mask': tensor([[1, 1], [0, 1]]),
     'labels': tensor([[-100, 6], [-100, 7]]), 'position_ids': tensor([[0, 1], [0, 0]])}
    """
    # TODO: validate, truncate, choose L, then fill the four tensors row by row.
    raise NotImplementedError("collate")


def pack_sequences(features: list[dict]) -> dict[str, torch.Tensor]:
    """Concatenate a batch into one row with no padding (padding-free packing).

    Returns `input_ids`, `labels`, `position_ids` of shape `[1, N]` (N = total
    tokens) and `cu_seq_lens`, int32 `[num_seqs + 1]`: the cumulative
    sequence lengths starting at 0. Position ids restart at 0 for each
    sequence, and the first label of each sequence is IGNORE_INDEX, so no
    token learns to predict across a boundary. Empty sequences are skipped.
    Same `input_ids`, `labels`, `position_ids` as transformers'
    `DataCollatorWithFlattening`.

    Raises ValueError for an empty batch, mismatched lengths, or a batch of
    only empty sequences.

    >>> pack_sequences([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
    ...                 {"input_ids": [8, 9], "labels": [8, 9]}])
    {'input_ids': tensor([[5, 6, 7, 8, 9]]), 'labels': tensor([[-100, 6, 7, -100, 9]]),
     'position_ids': tensor([[0, 1, 2, 0, 1]]), 'cu_seq_lens': tensor([0, 3, 5], dtype=torch.int32)}
    """
    # TODO: concatenate, mask each sequence's first label, restart positions, record boundaries.
    raise NotImplementedError("pack_sequences")


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int = 0) -> list[list[int]]:
    """Split indices `0..len(lengths)-1` into batches of similar length.

    Every index appears exactly once; each batch holds at most `batch_size`
    indices; the result is the same for the same `seed`; and on realistic
    length mixes the batches need far less padding than random batches.
    The order of batches should still be random (a fixed longest-first
    order biases training). Raises ValueError for a `batch_size` that is not
    a positive int or a negative length.

    >>> sorted(map(sorted, length_grouped_batches([3, 90, 4, 88], batch_size=2)))
    [[0, 2], [1, 3]]
    """
    # TODO: shuffle with the seed, sort by length within large chunks, cut into batches, shuffle them.
    raise NotImplementedError("length_grouped_batches")
