"""Graders for the `collate` kata.

Oracles: a plain-loop padding spec, transformers' `DataCollatorForSeq2Seq`
and `DataCollatorWithFlattening`, and a tiny `Qwen3ForCausalLM` whose
batched (left-padded) and packed logits must equal its unbatched logits.
"""

from __future__ import annotations

import random
from functools import cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.grading import describe_value, explain, fail, kata_module
from checker.graders.support import IGNORE_INDEX, project_tokenizer

collate = kata_module("collate")

KEYS = ("input_ids", "attention_mask", "labels", "position_ids")


@st.composite
def features(draw, min_size=1, max_size=5, max_len=9, vocab=50):
    """A batch of examples; labels mask a random prompt prefix, like real SFT data."""
    batch = []
    for _ in range(draw(st.integers(min_size, max_size))):
        ids = draw(st.lists(st.integers(0, vocab - 1), min_size=1, max_size=max_len))
        prompt = draw(st.integers(0, len(ids) - 1))
        labels = [IGNORE_INDEX] * prompt + ids[prompt:]
        batch.append({"input_ids": ids, "labels": labels})
    return batch


def spec_collate(batch, pad, side, multiple, max_length):
    """Plain-loop padding spec."""
    rows = [(f["input_ids"][:max_length], f["labels"][:max_length]) for f in batch]
    length = max(len(ids) for ids, _ in rows)
    if multiple:
        length = ((length + multiple - 1) // multiple) * multiple
    out = {key: [] for key in KEYS}
    for ids, labels in rows:
        gap = length - len(ids)
        positions = list(range(len(ids)))
        if side == "right":
            out["input_ids"].append(ids + [pad] * gap)
            out["attention_mask"].append([1] * len(ids) + [0] * gap)
            out["labels"].append(labels + [IGNORE_INDEX] * gap)
            out["position_ids"].append(positions + [0] * gap)
        else:
            out["input_ids"].append([pad] * gap + ids)
            out["attention_mask"].append([0] * gap + [1] * len(ids))
            out["labels"].append([IGNORE_INDEX] * gap + labels)
            out["position_ids"].append([0] * gap + positions)
    return out


def check_keys_and_shapes(batch, expected_rows, expected_length):
    if not isinstance(batch, dict):
        fail(en="collate must return a dict of tensors.", zh="collate 应返回由张量组成的 dict。",
             detail=f"got {type(batch).__name__}")
    for key in KEYS:
        if key not in batch:
            fail(en=f"The result has no '{key}'.", zh=f"返回结果里缺少 '{key}'。",
                 detail=f"keys: {sorted(batch)}")
        value = batch[key]
        if not torch.is_tensor(value) or value.dtype != torch.long:
            fail(en=f"'{key}' must be a torch.long tensor.", zh=f"'{key}' 必须是 torch.long 张量。",
                 detail=f"got {type(value).__name__} {getattr(value, 'dtype', '')}")
        if tuple(value.shape) != (expected_rows, expected_length):
            fail(en=f"'{key}' has shape {tuple(value.shape)}, expected [B, L] = "
                 f"{(expected_rows, expected_length)}.",
                 zh=f"'{key}' 的形状是 {tuple(value.shape)}，应为 [B, L] = {(expected_rows, expected_length)}。")


def compare_with_spec(batch, expected, context):
    for key in KEYS:
        got = batch[key].tolist()
        if got != expected[key]:
            row = next(i for i, (g, e) in enumerate(zip(got, expected[key])) if g != e)
            fail(
                en=f"'{key}' is wrong in row {row} ({context}).",
                zh=f"'{key}' 第 {row} 行不对（{context}）。",
                detail=f"got      {got[row]}\nexpected {expected[key][row]}",
            )


# ---------------------------------------------------------------- collate


@explain(
    en="collate pads to [B, L] exactly as the padding spec says (random batches, both sides, multiples, truncation).",
    zh="collate 按规范补齐为 [B, L]（随机 batch、左右两侧、倍数对齐、截断）。",
)
@given(
    batch=features(),
    pad=st.integers(0, 60),
    side=st.sampled_from(["right", "left"]),
    multiple=st.one_of(st.none(), st.integers(1, 8)),
    max_length=st.one_of(st.none(), st.integers(1, 10)),
)
def test_collate_matches_spec(batch, pad, side, multiple, max_length):
    out = collate.collate(batch, pad, padding_side=side, pad_to_multiple_of=multiple, max_length=max_length)
    expected = spec_collate(batch, pad, side, multiple, max_length)
    check_keys_and_shapes(out, len(batch), len(expected["input_ids"][0]))
    compare_with_spec(out, expected, f"padding_side={side!r}, pad_to_multiple_of={multiple}, max_length={max_length}")


@explain(
    en="collate equals transformers' DataCollatorForSeq2Seq on input_ids, attention_mask and labels.",
    zh="collate 在 input_ids、attention_mask、labels 上与 transformers 的 DataCollatorForSeq2Seq 一致。",
)
@settings(max_examples=25)
@given(batch=features(), side=st.sampled_from(["right", "left"]), multiple=st.one_of(st.none(), st.integers(1, 8)))
def test_collate_matches_transformers(batch, side, multiple):
    from transformers import DataCollatorForSeq2Seq

    tokenizer = project_tokenizer()
    out = collate.collate(batch, tokenizer.pad_token_id, padding_side=side, pad_to_multiple_of=multiple)
    tokenizer.padding_side = side
    try:
        reference = DataCollatorForSeq2Seq(tokenizer, pad_to_multiple_of=multiple, return_tensors="pt")(
            [dict(f) for f in batch]
        )
    finally:
        tokenizer.padding_side = "right"
    for key in ("input_ids", "attention_mask", "labels"):
        if key not in out or out[key].tolist() != reference[key].tolist():
            fail(
                en=f"'{key}' differs from DataCollatorForSeq2Seq (padding_side={side!r}, pad_to_multiple_of={multiple}).",
                zh=f"'{key}' 与 DataCollatorForSeq2Seq 的结果不同（padding_side={side!r}，pad_to_multiple_of={multiple}）。",
                detail=f"got      {describe_value(out.get(key))}\nexpected {describe_value(reference[key])}",
            )


@explain(
    en="When pad id equals eos id, eos labels survive; only padding positions are IGNORE_INDEX.",
    zh="pad id 与 eos id 相同时，eos 的 label 必须保留；只有补齐位置是 IGNORE_INDEX。",
)
def test_pad_equal_to_eos_keeps_labels():
    eos = 2
    batch = [
        {"input_ids": [7, 8, 9, eos], "labels": [IGNORE_INDEX, 8, 9, eos]},
        {"input_ids": [7, 5, eos], "labels": [IGNORE_INDEX, 5, eos]},
    ]
    out = collate.collate(batch, pad_token_id=eos, padding_side="right")
    expected = [[IGNORE_INDEX, 8, 9, eos], [IGNORE_INDEX, 5, eos, IGNORE_INDEX]]
    if out["labels"].tolist() != expected:
        fail(
            en="With pad == eos, the eos labels were lost or padding was labelled. Mask padding by position, "
            "never by comparing ids with pad_token_id.",
            zh="pad 与 eos 相同时，eos 的 label 丢失了，或者补齐位置被打上了 label。应按位置屏蔽补齐部分，"
            "而不是拿 id 与 pad_token_id 比较。",
            detail=f"got      {out['labels'].tolist()}\nexpected {expected}",
        )


@explain(
    en="Labels are kept exactly as given, never rebuilt from input_ids.",
    zh="labels 必须原样保留，不能根据 input_ids 重新生成。",
)
@given(batch=features(), side=st.sampled_from(["right", "left"]))
def test_labels_kept_as_given(batch, side):
    # Labels that differ from input_ids everywhere they are supervised.
    for feature in batch:
        feature["labels"] = [label if label == IGNORE_INDEX else label + 1000 for label in feature["labels"]]
    out = collate.collate(batch, 0, padding_side=side)
    length = out["labels"].shape[1]
    for row, feature in enumerate(batch):
        n = len(feature["labels"])
        real = out["labels"][row, :n] if side == "right" else out["labels"][row, length - n :]
        if real.tolist() != feature["labels"]:
            fail(
                en="The labels of real tokens changed. Copy the given labels; the prompt mask is already in them.",
                zh="真实 token 的 labels 被改动了。应直接复制传入的 labels，提示部分的掩码已经包含在里面。",
                detail=f"row {row}: got {real.tolist()}, expected {feature['labels']}",
            )


@explain(
    en="position_ids run 0..len-1 over real tokens on either side and are 0 on padding.",
    zh="无论在哪一侧补齐，position_ids 在真实 token 上都是 0..len-1，在补齐位置为 0。",
)
@given(batch=features(min_size=2), side=st.sampled_from(["right", "left"]))
def test_position_ids(batch, side):
    out = collate.collate(batch, 0, padding_side=side)
    mask = out["attention_mask"]
    for row in range(len(batch)):
        real = out["position_ids"][row][mask[row] == 1].tolist()
        padding = out["position_ids"][row][mask[row] == 0].tolist()
        if real != list(range(len(batch[row]["input_ids"]))):
            fail(
                en=f"position_ids of real tokens in row {row} must be 0..{len(real) - 1} (padding_side={side!r}). "
                "With left padding, count from the first real token, not from the first pad.",
                zh=f"第 {row} 行真实 token 的 position_ids 应为 0..{len(real) - 1}（padding_side={side!r}）。"
                "左侧补齐时要从第一个真实 token 开始计数，而不是从第一个 pad 开始。",
                detail=f"got {out['position_ids'][row].tolist()} with attention_mask {mask[row].tolist()}",
            )
        if any(padding):
            fail(en="position_ids on padding must be 0.", zh="补齐位置的 position_ids 必须为 0。",
                 detail=f"row {row}: {out['position_ids'][row].tolist()}")


@explain(
    en="attention_mask is 1 on real tokens and 0 on padding.",
    zh="attention_mask 在真实 token 上为 1，在补齐位置为 0。",
)
@given(batch=features(min_size=2), side=st.sampled_from(["right", "left"]))
def test_attention_mask(batch, side):
    out = collate.collate(batch, 0, padding_side=side)
    for row, feature in enumerate(batch):
        if int(out["attention_mask"][row].sum()) != len(feature["input_ids"]):
            fail(
                en=f"Row {row} has {len(feature['input_ids'])} real tokens but attention_mask sums to "
                f"{int(out['attention_mask'][row].sum())}. Is the mask inverted?",
                zh=f"第 {row} 行有 {len(feature['input_ids'])} 个真实 token，但 attention_mask 之和为 "
                f"{int(out['attention_mask'][row].sum())}。掩码是不是反了？",
            )


@cache
def tiny_causal_lm():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
    )
    model = Qwen3ForCausalLM(config).double().eval()
    model.config._attn_implementation = "sdpa"
    return model


@explain(
    en="Left-padded batched logits equal the unbatched logits on real tokens (a causal LM, position ids from the batch).",
    zh="左侧补齐后批量计算的 logits 在真实 token 上与逐条计算的结果相同（因果语言模型，position ids 取自 batch）。",
)
@settings(max_examples=10)
@given(batch=features(min_size=2, max_size=3, vocab=64))
def test_left_padding_logits_match(batch):
    out = collate.collate(batch, 0, padding_side="left")
    model = tiny_causal_lm()
    with torch.no_grad():
        batched = model(
            input_ids=out["input_ids"], attention_mask=out["attention_mask"], position_ids=out["position_ids"]
        ).logits
        length = out["input_ids"].shape[1]
        for row, feature in enumerate(batch):
            ids = torch.tensor([feature["input_ids"]])
            alone = model(input_ids=ids).logits[0]
            n = ids.shape[1]
            if not torch.allclose(batched[row, length - n :], alone, atol=1e-8):
                fail(
                    en=f"Row {row}: batched logits differ from running the sequence alone. Check position_ids "
                    "and attention_mask for left padding.",
                    zh=f"第 {row} 行：批量计算的 logits 与单独计算不一致。请检查左侧补齐时的 position_ids 和 attention_mask。",
                )


@explain(
    en="pad_to_multiple_of rounds L up to the next multiple.",
    zh="pad_to_multiple_of 会把 L 向上取整到下一个倍数。",
)
@given(batch=features(), multiple=st.integers(2, 16))
def test_pad_to_multiple_of(batch, multiple):
    out = collate.collate(batch, 0, pad_to_multiple_of=multiple)
    longest = max(len(f["input_ids"]) for f in batch)
    expected = -(-longest // multiple) * multiple
    if out["input_ids"].shape[1] != expected:
        fail(
            en=f"With the longest sequence at {longest} tokens and pad_to_multiple_of={multiple}, L must be {expected}.",
            zh=f"最长序列为 {longest} 个 token、pad_to_multiple_of={multiple} 时，L 应为 {expected}。",
            detail=f"got L = {out['input_ids'].shape[1]}",
        )


@explain(
    en="max_length truncates each sequence on the right, labels alike.",
    zh="max_length 从右侧截断每条序列，labels 同样截断。",
)
@given(batch=features(max_len=12), max_length=st.integers(1, 6))
def test_max_length_truncates_right(batch, max_length):
    out = collate.collate(batch, 0, max_length=max_length)
    for row, feature in enumerate(batch):
        kept = feature["input_ids"][:max_length]
        if out["input_ids"][row, : len(kept)].tolist() != kept:
            fail(
                en=f"Row {row} must keep its first {max_length} tokens.",
                zh=f"第 {row} 行应保留前 {max_length} 个 token。",
                detail=f"got {out['input_ids'][row].tolist()}, expected to start with {kept}",
            )
        if out["labels"][row, : len(kept)].tolist() != feature["labels"][:max_length]:
            fail(en=f"Row {row}: labels must be truncated like input_ids.", zh=f"第 {row} 行：labels 要与 input_ids 一样截断。")


BAD_COLLATE_CALLS = {
    "empty batch": lambda: collate.collate([], 0),
    "length mismatch": lambda: collate.collate([{"input_ids": [1, 2], "labels": [1]}], 0),
    "unknown padding side": lambda: collate.collate([{"input_ids": [1], "labels": [1]}], 0, padding_side="middle"),
    "zero multiple": lambda: collate.collate([{"input_ids": [1], "labels": [1]}], 0, pad_to_multiple_of=0),
    "negative multiple": lambda: collate.collate([{"input_ids": [1], "labels": [1]}], 0, pad_to_multiple_of=-8),
}


@explain(
    en="Bad input to collate raises ValueError.",
    zh="collate 遇到不合法的输入应抛出 ValueError。",
)
@pytest.mark.parametrize("case", list(BAD_COLLATE_CALLS), ids=list(BAD_COLLATE_CALLS))
def test_collate_bad_input(case):
    with pytest.raises(ValueError):
        BAD_COLLATE_CALLS[case]()


# ---------------------------------------------------------------- pack_sequences


@explain(
    en="pack_sequences equals transformers' DataCollatorWithFlattening on input_ids, labels and position_ids.",
    zh="pack_sequences 在 input_ids、labels、position_ids 上与 transformers 的 DataCollatorWithFlattening 一致。",
)
@given(batch=features())
def test_pack_matches_transformers(batch):
    from transformers import DataCollatorWithFlattening

    out = collate.pack_sequences(batch)
    reference = DataCollatorWithFlattening(return_tensors="pt")([dict(f) for f in batch])
    for key in ("input_ids", "labels", "position_ids"):
        got = out.get(key) if isinstance(out, dict) else None
        if got is None or tuple(got.shape) != tuple(reference[key].shape) or got.tolist() != reference[key].tolist():
            hint_en = hint_zh = ""
            if key == "labels":
                hint_en = " The first label of every sequence must be IGNORE_INDEX."
                hint_zh = "每条序列的第一个 label 必须是 IGNORE_INDEX。"
            if key == "position_ids":
                hint_en = " Position ids restart at 0 for every sequence."
                hint_zh = "每条序列的 position ids 都要从 0 重新开始。"
            fail(
                en=f"'{key}' differs from DataCollatorWithFlattening." + hint_en,
                zh=f"'{key}' 与 DataCollatorWithFlattening 的结果不同。" + hint_zh,
                detail=f"got      {describe_value(got)}\nexpected {describe_value(reference[key])}",
            )


@explain(
    en="cu_seq_lens is int32 [num_seqs + 1]: 0, then the running total of sequence lengths.",
    zh="cu_seq_lens 是 int32 的 [num_seqs + 1]：先是 0，然后是序列长度的累加和。",
)
@given(batch=features())
def test_pack_cu_seq_lens(batch):
    out = collate.pack_sequences(batch)
    expected = [0]
    for feature in batch:
        expected.append(expected[-1] + len(feature["input_ids"]))
    got = out.get("cu_seq_lens") if isinstance(out, dict) else None
    if got is None or not torch.is_tensor(got) or got.dtype != torch.int32:
        fail(en="cu_seq_lens must be an int32 tensor.", zh="cu_seq_lens 必须是 int32 张量。",
             detail=f"got {describe_value(got)}")
    if got.tolist() != expected:
        fail(en="cu_seq_lens must start at 0 and add up the sequence lengths.",
             zh="cu_seq_lens 必须从 0 开始，依次累加各序列长度。",
             detail=f"got {got.tolist()}, expected {expected}")


@explain(
    en="Packed logits equal each sequence's own logits: no attention and no label crosses a boundary.",
    zh="打包后的 logits 与每条序列单独计算的 logits 相同：注意力和 label 都不跨越样本边界。",
)
@settings(max_examples=10)
@given(batch=features(min_size=2, max_size=3, vocab=64))
def test_pack_logits_match(batch):
    out = collate.pack_sequences(batch)
    model = tiny_causal_lm()
    with torch.no_grad():
        packed = model(input_ids=out["input_ids"], position_ids=out["position_ids"], use_cache=False).logits[0]
        start = 0
        for row, feature in enumerate(batch):
            ids = torch.tensor([feature["input_ids"]])
            alone = model(input_ids=ids).logits[0]
            n = ids.shape[1]
            if not torch.allclose(packed[start : start + n], alone, atol=1e-8):
                fail(
                    en=f"Sequence {row} gives other logits inside the pack than alone: position_ids must restart at 0 "
                    "for each sequence so the model keeps sequences apart.",
                    zh=f"第 {row} 条序列在打包后得到的 logits 与单独计算不同：每条序列的 position_ids 必须从 0 重新开始，"
                    "模型才能区分不同样本。",
                )
            start += n


@explain(
    en="Bad input to pack_sequences raises ValueError.",
    zh="pack_sequences 遇到不合法的输入应抛出 ValueError。",
)
@pytest.mark.parametrize("case", ["empty batch", "length mismatch", "only empty sequences"])
def test_pack_bad_input(case):
    calls = {
        "empty batch": [],
        "length mismatch": [{"input_ids": [1, 2], "labels": [1]}],
        "only empty sequences": [{"input_ids": [], "labels": []}],
    }
    with pytest.raises(ValueError):
        collate.pack_sequences(calls[case])


# ---------------------------------------------------------------- length_grouped_batches


def padding_tokens(lengths, batches):
    return sum(len(batch) * max(lengths[i] for i in batch) - sum(lengths[i] for i in batch) for batch in batches)


@explain(
    en="length_grouped_batches uses every index exactly once, in batches of at most batch_size, deterministically.",
    zh="length_grouped_batches 每个下标恰好出现一次，每批不超过 batch_size，结果可复现。",
)
@given(
    lengths=st.lists(st.integers(0, 500), min_size=0, max_size=300),
    batch_size=st.integers(1, 16),
    seed=st.integers(0, 1000),
)
def test_length_grouped_partition(lengths, batch_size, seed):
    batches = collate.length_grouped_batches(lengths, batch_size, seed=seed)
    flat = [i for batch in batches for i in batch]
    if sorted(flat) != list(range(len(lengths))):
        fail(
            en="Every index must appear exactly once across the batches.",
            zh="所有下标在各批次中必须恰好出现一次。",
            detail=f"{len(flat)} indices returned for {len(lengths)} lengths",
        )
    if any(len(batch) == 0 or len(batch) > batch_size for batch in batches):
        fail(en=f"Each batch must hold between 1 and {batch_size} indices.",
             zh=f"每一批应包含 1 到 {batch_size} 个下标。",
             detail=f"batch sizes: {[len(b) for b in batches][:20]}")
    if collate.length_grouped_batches(lengths, batch_size, seed=seed) != batches:
        fail(en="The same seed must give the same batches.", zh="相同的 seed 必须得到相同的批次。")


@explain(
    en="On a realistic length mix, length-grouped batches need far less padding than random batches.",
    zh="在真实的长度分布上，按长度分组的批次所需的补齐远少于随机分批。",
)
@given(seed=st.integers(0, 10_000))
@settings(max_examples=10)
def test_length_grouped_saves_padding(seed):
    rng = random.Random(seed)
    lengths = [int(rng.lognormvariate(5, 0.8)) + 1 for _ in range(2000)]
    batches = collate.length_grouped_batches(lengths, 16, seed=seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    random_batches = [order[i : i + 16] for i in range(0, len(order), 16)]
    ours, baseline = padding_tokens(lengths, batches), padding_tokens(lengths, random_batches)
    if ours > 0.25 * baseline:
        fail(
            en="Grouping by length should cut padding to at most a quarter of random batching on this mix.",
            zh="在这组长度上，按长度分组后的补齐量应不超过随机分批的四分之一。",
            detail=f"padding tokens: yours {ours}, random batches {baseline}",
        )
    first_lengths = [max(lengths[i] for i in batch) for batch in batches[:10]]
    if first_lengths == sorted(first_lengths, reverse=True) and first_lengths == sorted(
        (max(lengths[i] for i in b) for b in batches), reverse=True
    )[:10]:
        fail(
            en="Batches come out longest first. Shuffle the batch order, or training sees all long examples at once.",
            zh="批次按从长到短的顺序输出。请打乱批次顺序，否则训练会一开始就集中遇到所有长样本。",
        )


@explain(
    en="length_grouped_batches rejects a batch_size that is not a positive int.",
    zh="batch_size 不是正整数时，length_grouped_batches 应抛出 ValueError。",
)
@pytest.mark.parametrize("batch_size", [0, -3])
def test_length_grouped_bad_batch_size(batch_size):
    with pytest.raises(ValueError):
        collate.length_grouped_batches([3, 4, 5], batch_size)


@explain(
    en="length_grouped_batches depends on the seed: other seeds give another order (each epoch needs a fresh one).",
    zh="length_grouped_batches 的结果取决于 seed：换一个 seed 应得到不同的顺序（每个 epoch 都需要新的顺序）。",
)
@given(base_seed=st.integers(0, 10_000))
@settings(max_examples=10)
def test_length_grouped_uses_seed(base_seed):
    rng = random.Random(base_seed)
    lengths = [rng.randrange(1, 400) for _ in range(300)]
    orders = {
        tuple(map(tuple, collate.length_grouped_batches(lengths, 8, seed=base_seed + offset)))
        for offset in range(4)
    }
    if len(orders) == 1:
        fail(
            en="Four different seeds gave the same batches. Seed the random generator with `seed`.",
            zh="四个不同的 seed 得到了完全相同的批次。请用 `seed` 初始化随机数生成器。",
        )


@explain(
    en="The order of length-grouped batches is random, not sorted by length.",
    zh="按长度分组后，批次之间的顺序是随机的，而不是按长度排好序的。",
)
@given(seed=st.integers(0, 10_000))
@settings(max_examples=10)
def test_length_grouped_order_is_shuffled(seed):
    rng = random.Random(seed)
    lengths = [int(rng.lognormvariate(5, 0.8)) + 1 for _ in range(2000)]
    batches = collate.length_grouped_batches(lengths, 16, seed=seed)
    longest = [max(lengths[i] for i in batch) for batch in batches]
    descending = sum(a >= b for a, b in zip(longest, longest[1:])) / max(1, len(longest) - 1)
    ascending = sum(a <= b for a, b in zip(longest, longest[1:])) / max(1, len(longest) - 1)
    if max(descending, ascending) > 0.8:
        fail(
            en="Consecutive batches are mostly sorted by length. Shuffle the list of batches at the end, "
            "or training sees long and short examples in long runs.",
            zh="相邻批次大多按长度排好了序。请在最后打乱批次列表，否则训练时长样本和短样本会成片出现。",
            detail=f"{max(descending, ascending):.0%} of consecutive batch pairs are in sorted order; random order gives about 50%",
        )
