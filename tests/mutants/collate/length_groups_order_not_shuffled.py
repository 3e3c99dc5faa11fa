"""Mutant: the batches are never shuffled, so they come out longest first within each chunk."""

from __future__ import annotations

import random

import numpy as np
import torch

IGNORE_INDEX = -100
PADDING_SIDES = ("right", "left")


def _validate_features(features: list[dict]) -> None:
    if not isinstance(features, (list, tuple)) or len(features) == 0:
        raise ValueError(f"features must be a non-empty list of dicts, got {features!r}")
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or "input_ids" not in feature or "labels" not in feature:
            raise ValueError(f"feature {index} must be a dict with 'input_ids' and 'labels'")
        ids, labels = feature["input_ids"], feature["labels"]
        if len(ids) != len(labels):
            raise ValueError(
                f"feature {index} has {len(ids)} input_ids but {len(labels)} labels; "
                "they must have the same length"
            )


def collate(
    features: list[dict],
    pad_token_id: int,
    padding_side: str = "right",
    pad_to_multiple_of: int | None = None,
    max_length: int | None = None,
) -> dict[str, torch.Tensor]:
    """Pad a batch to `[B, L]` tensors: input_ids, attention_mask, labels, position_ids."""
    _validate_features(features)
    if padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0):
        raise ValueError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}")
    if max_length is not None and (not isinstance(max_length, int) or max_length <= 0):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")

    rows = [(f["input_ids"][:max_length], f["labels"][:max_length]) for f in features]
    length = max(len(ids) for ids, _ in rows)
    if pad_to_multiple_of is not None:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of  # round up

    batch = len(rows)
    input_ids = np.full((batch, length), pad_token_id, dtype=np.int64)
    labels = np.full((batch, length), IGNORE_INDEX, dtype=np.int64)
    attention_mask = np.zeros((batch, length), dtype=np.int64)
    position_ids = np.zeros((batch, length), dtype=np.int64)
    positions = np.arange(length, dtype=np.int64)

    for row, (ids, row_labels) in enumerate(rows):
        n = len(ids)
        # Real tokens sit at [0, n) with right padding and at [L - n, L) with left.
        start = 0 if padding_side == "right" else length - n
        input_ids[row, start : start + n] = ids
        labels[row, start : start + n] = row_labels  # kept exactly as given
        attention_mask[row, start : start + n] = 1
        position_ids[row, start : start + n] = positions[:n]

    return {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(attention_mask),
        "labels": torch.from_numpy(labels),
        "position_ids": torch.from_numpy(position_ids),
    }


def pack_sequences(features: list[dict]) -> dict[str, torch.Tensor]:
    """Concatenate a batch into one row `[1, N]` without padding."""
    _validate_features(features)
    input_ids: list[int] = []
    labels: list[int] = []
    position_ids: list[int] = []
    boundaries = [0]
    for feature in features:
        ids = list(feature["input_ids"])
        if not ids:
            continue
        input_ids += ids
        # The first label of each sequence is ignored: the previous token
        # belongs to another example and must not learn to predict it.
        labels += [IGNORE_INDEX] + list(feature["labels"][1:])
        position_ids += range(len(ids))
        boundaries.append(boundaries[-1] + len(ids))
    if len(boundaries) == 1:
        raise ValueError("pack_sequences got only empty sequences; nothing to pack")
    return {
        "input_ids": torch.tensor([input_ids], dtype=torch.long),
        "labels": torch.tensor([labels], dtype=torch.long),
        "position_ids": torch.tensor([position_ids], dtype=torch.long),
        "cu_seq_lens": torch.tensor(boundaries, dtype=torch.int32),
    }


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int = 0) -> list[list[int]]:
    """Group indices of similar length into batches, in a seeded random order."""
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if any((not isinstance(n, (int, np.integer))) or n < 0 for n in lengths):
        raise ValueError("lengths must be non-negative ints")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    # Sort within mega-batches of 50 batches: similar lengths end up together,
    # yet the data order stays random across mega-batches.
    mega = batch_size * 50
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return batches
