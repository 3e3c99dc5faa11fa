"""Kata `embedding`: sentence embeddings and contrastive training.

A dense retriever turns each text into one vector: run an encoder, average
the hidden states of the real tokens (mean pooling), and scale the result
to unit length, so a dot product is a cosine similarity. It learns from
pairs with the InfoNCE loss: each query must score its own document above
every other document in the batch, and above hard negatives mined for it.
This kata leaves out the encoder itself (any transformers model works) and
the index that searches the vectors (that is the `rag` kata).

Grade it with `make check KATA=embedding` (or `kata check embedding`).
Watch it train: `make embedding-demo`. The full task statement, with
examples, is in README.md beside this file.
"""

from __future__ import annotations

import numpy as np
import torch


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the hidden states of the real tokens of each row.

    `last_hidden_state` is [B, T, H]; `attention_mask` is [B, T] with 1 (or
    True) for a real token and 0 for padding, which may sit on either side.
    Returns [B, H], in the dtype of `last_hidden_state`: row b is the mean
    of `last_hidden_state[b, t]` over the real tokens t only, so adding
    padding never changes a row. A row with no real token gives zeros,
    never NaN.

    Raises TypeError for a non-tensor and ValueError when the shapes are not
    [B, T, H] and [B, T].

    >>> hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])   # [1, 3, 2]
    >>> mean_pool(hidden, torch.tensor([[1, 1, 0]]))                     # the 9s are padding
    tensor([[2., 3.]])
    """
    # TODO: zero the padding, sum over T, and divide by each row's count of real tokens.
    raise NotImplementedError("mean_pool")


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each vector along the last dimension to unit L2 norm.

    Returns `x / max(||x||, eps)` with the norm taken over the last
    dimension, so a zero vector stays zero (no NaN); the same as
    `torch.nn.functional.normalize(x, dim=-1, eps=eps)`. Gradients flow
    through the norm too.

    Raises TypeError for a non-tensor and ValueError for `eps <= 0`.

    >>> l2_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    """
    # TODO: divide by the norm over the last dimension, clamped below at eps.
    raise NotImplementedError("l2_normalize")


def info_nce_loss(
    query_emb: torch.Tensor,
    doc_emb: torch.Tensor,
    temperature: float = 0.05,
    symmetric: bool = False,
) -> torch.Tensor:
    """InfoNCE with in-batch negatives.

    `query_emb` and `doc_emb` are [B, H]; query i's positive is doc i and
    every other doc in the batch is a negative. Normalize both with
    `l2_normalize`, build logits = q @ d.T / temperature ([B, B], cosine
    similarities divided by the temperature), and return the mean
    cross-entropy of each row against its diagonal entry. With
    `symmetric=True`, return the average of that loss and the same loss in
    the doc-to-query direction (the columns of the same logits).

    Returns a 0-dim tensor connected to the graph of both inputs.

    Raises TypeError for a non-tensor, ValueError when the shapes are not
    both [B, H] with B >= 1, or when `temperature` is not positive.

    >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> info_nce_loss(q, q, temperature=1.0)     # log(1 + e^-1)
    tensor(0.3133)
    """
    # TODO: normalize, compute the [B, B] logits, and take cross-entropy with diagonal labels.
    raise NotImplementedError("info_nce_loss")


def info_nce_with_hard_negatives(
    query_emb: torch.Tensor,
    pos_emb: torch.Tensor,
    neg_emb: torch.Tensor,
    temperature: float = 0.05,
) -> torch.Tensor:
    """InfoNCE over in-batch positives plus each query's own hard negatives.

    `query_emb` and `pos_emb` are [B, H]; `neg_emb` is [B, N, H], the N hard
    negatives mined for each query (N may be 0). After normalizing all three,
    query i scores, divided by the temperature, its positive `pos_emb[i]`
    (the label), every other in-batch positive `pos_emb[j]`, and its own
    negatives `neg_emb[i, :]` only: the negatives of query j never enter the
    softmax of query i. Returns the mean cross-entropy over the B queries;
    with N = 0 it equals `info_nce_loss(query_emb, pos_emb, temperature)`.

    Raises TypeError for a non-tensor and ValueError for mismatched shapes
    or a temperature that is not positive.

    >>> q = torch.tensor([[1.0, 0.0]])
    >>> info_nce_with_hard_negatives(q, q, torch.tensor([[[0.0, 1.0]]]), temperature=1.0)
    tensor(0.3133)
    """
    # TODO: build [B, B] in-batch logits and [B, N] own-negative logits, concatenate, cross-entropy.
    raise NotImplementedError("info_nce_with_hard_negatives")


def embed_texts(
    texts: list[str],
    model,
    tokenizer,
    batch_size: int = 32,
    max_length: int = 256,
) -> np.ndarray:
    """Encode texts with a transformers encoder into unit-length vectors.

    Tokenize `batch_size` texts at a time with padding and truncation to
    `max_length` tokens (`tokenizer(batch, padding=True, truncation=True,
    max_length=max_length, return_tensors="pt")`), run `model(**batch)` in
    eval mode (dropout off) without gradients, then `mean_pool` the
    `last_hidden_state` with the batch's attention mask and `l2_normalize`.
    The model's train/eval mode is restored afterwards.

    Returns a float32 numpy array [len(texts), H] whose row i embeds
    texts[i], whatever the batching: sorting by length to save padding is
    fine only if the rows are put back in input order.

    Raises TypeError when `texts` is a single string or not a list of
    strings, and ValueError for an empty list or a `batch_size` or
    `max_length` that is not a positive int.

    Example (values depend on the model):
        embed_texts(["LoRA adds a low-rank update.", "什么是 LoRA？"], model, tokenizer)
        -> array of shape (2, H), dtype float32, each row of norm 1
    """
    # TODO: batch, tokenize, encode without gradients, pool, normalize, and keep input order.
    raise NotImplementedError("embed_texts")
