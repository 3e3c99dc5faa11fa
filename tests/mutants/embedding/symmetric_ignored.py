"""Mutant: returns only the query-to-doc loss when symmetric=True."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _check_tensor(name: str, value, dims: int) -> None:
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dim() != dims:
        raise ValueError(f"{name} must have {dims} dimensions, got shape {tuple(value.shape)}")


def _check_temperature(temperature) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states of real tokens: [B, T, H] and [B, T] -> [B, H]."""
    _check_tensor("last_hidden_state", last_hidden_state, 3)
    _check_tensor("attention_mask", attention_mask, 2)
    if attention_mask.shape != last_hidden_state.shape[:2]:
        raise ValueError(
            f"attention_mask must be [B, T] = {tuple(last_hidden_state.shape[:2])}, "
            f"got {tuple(attention_mask.shape)}"
        )
    real = attention_mask.bool().unsqueeze(-1)  # [B, T, 1]
    # masked_fill rather than a product, so inf or NaN in padding stays out.
    summed = last_hidden_state.masked_fill(~real, 0.0).sum(dim=1)  # [B, H]
    counts = real.sum(dim=1).clamp(min=1).to(last_hidden_state.dtype)  # [B, 1]; an empty row sums to 0
    return summed / counts


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each vector along the last dimension to unit L2 norm."""
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    norms = x.norm(p=2, dim=-1, keepdim=True).clamp(min=eps)  # [..., 1]
    return x / norms


def info_nce_loss(
    query_emb: torch.Tensor,
    doc_emb: torch.Tensor,
    temperature: float = 0.05,
    symmetric: bool = False,
) -> torch.Tensor:
    """InfoNCE with in-batch negatives: query i's positive is doc i."""
    _check_tensor("query_emb", query_emb, 2)
    _check_tensor("doc_emb", doc_emb, 2)
    if query_emb.shape != doc_emb.shape or query_emb.shape[0] == 0:
        raise ValueError(
            f"query_emb and doc_emb must both be [B, H] with B >= 1, got {tuple(query_emb.shape)} "
            f"and {tuple(doc_emb.shape)}"
        )
    _check_temperature(temperature)
    queries = l2_normalize(query_emb)
    docs = l2_normalize(doc_emb)
    logits = queries @ docs.T / temperature  # [B, B]; row i scores query i against every doc
    labels = torch.arange(logits.shape[0], device=logits.device)  # the positive sits on the diagonal
    loss = F.cross_entropy(logits, labels)
    return loss


def info_nce_with_hard_negatives(
    query_emb: torch.Tensor,
    pos_emb: torch.Tensor,
    neg_emb: torch.Tensor,
    temperature: float = 0.05,
) -> torch.Tensor:
    """InfoNCE over in-batch positives plus each query's own hard negatives."""
    _check_tensor("query_emb", query_emb, 2)
    _check_tensor("pos_emb", pos_emb, 2)
    _check_tensor("neg_emb", neg_emb, 3)
    batch, hidden = query_emb.shape
    if pos_emb.shape != query_emb.shape or batch == 0:
        raise ValueError(
            f"query_emb and pos_emb must both be [B, H] with B >= 1, got {tuple(query_emb.shape)} "
            f"and {tuple(pos_emb.shape)}"
        )
    if neg_emb.shape[0] != batch or neg_emb.shape[2] != hidden:
        raise ValueError(f"neg_emb must be [B, N, H] = [{batch}, N, {hidden}], got {tuple(neg_emb.shape)}")
    _check_temperature(temperature)
    queries = l2_normalize(query_emb)
    positives = l2_normalize(pos_emb)
    negatives = l2_normalize(neg_emb)
    in_batch = queries @ positives.T  # [B, B]
    # Each query meets only its own negatives: a batched dot product, not a matrix product.
    hard = torch.einsum("bh,bnh->bn", queries, negatives)  # [B, N]
    logits = torch.cat([in_batch, hard], dim=1) / temperature  # [B, B + N]
    labels = torch.arange(batch, device=logits.device)
    return F.cross_entropy(logits, labels)


def embed_texts(
    texts: list[str],
    model,
    tokenizer,
    batch_size: int = 32,
    max_length: int = 256,
) -> np.ndarray:
    """Encode texts in batches: mean-pooled, L2-normalized, float32 [len(texts), H]."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, got a single str; wrap it: [text]")
    if not isinstance(texts, (list, tuple)) or not all(isinstance(text, str) for text in texts):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
    if not texts:
        raise ValueError("texts is empty; pass at least one text")
    for name, value in (("batch_size", batch_size), ("max_length", max_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")

    was_training = model.training
    model.eval()  # dropout off: the same text must always give the same vector
    device = next(model.parameters()).device
    pieces = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = list(texts[start:start + batch_size])
                encoded = tokenizer(batch, padding=True, truncation=True, max_length=max_length,
                                    return_tensors="pt").to(device)
                output = model(**encoded)
                pooled = mean_pool(output.last_hidden_state, encoded["attention_mask"])  # [b, H]
                pieces.append(l2_normalize(pooled).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(pieces).numpy().astype(np.float32, copy=False)
