"""Graders for the `loss_mask` kata.

Oracles: the plain ChatML layout, the project tokenizer's own chat
template, transformers' `apply_chat_template(return_assistant_tokens_mask=True)`
with a generation-tagged ChatML template, and transformers' causal-LM
loss (`ForCausalLMLoss`) plus a float64 loop.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from checker.grading import describe_value, explain, fail, kata_module
from checker.graders.support import (
    IGNORE_INDEX,
    REPO_ROOT,
    conversations,
    project_tokenizer,
)

loss_mask = kata_module("loss_mask")

# ChatML with `{% generation %}` around what must be supervised. `last_only`
# and `last_index` are extra template variables for `only_last_turn`.
TAGGED_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' and (not last_only or loop.index0 == last_index) %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
)


def plain_chatml(messages, add_generation_prompt=False):
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def oracle_labels(messages, tokenizer, only_last_turn=False):
    last_index = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    out = tokenizer.apply_chat_template(
        messages,
        chat_template=TAGGED_TEMPLATE,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        last_only=only_last_turn,
        last_index=last_index,
    )
    ids = list(out["input_ids"])
    mask = list(out["assistant_masks"])
    return ids, [t if m else IGNORE_INDEX for t, m in zip(ids, mask)]


def label_mismatch(tokenizer, ids, got, expected) -> str:
    """Describe the first position where the labels differ, with its token."""
    for position, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            token = tokenizer.decode([ids[position]]) if position < len(ids) else "?"
            want = "supervised (its own id)" if e != IGNORE_INDEX else "IGNORE_INDEX (-100)"
            return (
                f"first difference at token {position} {token!r}: expected {want}, got {g}\n"
                f"tokens around it: {[tokenizer.decode([i]) for i in ids[max(0, position - 3):position + 4]]!r}"
            )
    return f"lengths differ: got {len(got)} labels, expected {len(expected)}"


def supervised_text(tokenizer, example) -> str:
    return "".join(
        tokenizer.decode([t]) for t, l in zip(example["input_ids"], example["labels"]) if l != IGNORE_INDEX
    )


# ---------------------------------------------------------------- render_chatml


@explain(
    en="render_chatml writes <|im_start|>role\\ncontent<|im_end|>\\n per message, plus the generation prompt on request.",
    zh="render_chatml 对每条消息输出 <|im_start|>role\\ncontent<|im_end|>\\n，需要时追加生成提示。",
)
@given(messages=conversations(min_assistant=0), add_prompt=st.booleans())
def test_render_layout(messages, add_prompt):
    assume(messages)
    got = loss_mask.render_chatml(messages, add_generation_prompt=add_prompt)
    expected = plain_chatml(messages, add_prompt)
    if got != expected:
        fail(
            en="The rendered text does not follow the ChatML layout.",
            zh="渲染结果不符合 ChatML 格式。",
            detail=f"got      {describe_value(got)}\nexpected {describe_value(expected)}",
        )


@explain(
    en="render_chatml equals the tokenizer's own ChatML chat template.",
    zh="render_chatml 与分词器自带的 ChatML 对话模板结果一致。",
)
@given(messages=conversations(min_assistant=0), add_prompt=st.booleans())
def test_render_matches_tokenizer_template(messages, add_prompt):
    assume(messages)
    tokenizer = project_tokenizer()
    got = loss_mask.render_chatml(messages, add_generation_prompt=add_prompt)
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_prompt)
    if got != expected:
        fail(
            en="Your text differs from tokenizer.apply_chat_template(...) on the same messages.",
            zh="你的结果与 tokenizer.apply_chat_template(...) 在相同消息上的输出不同。",
            detail=f"got      {describe_value(got)}\nexpected {describe_value(expected)}",
        )


# ---------------------------------------------------------------- build_sft_example


@explain(
    en="input_ids come from tokenizing the whole rendered chat once (BPE merges across pieces).",
    zh="input_ids 必须对整段渲染文本一次性分词得到（BPE 会跨片段合并）。",
)
@given(messages=conversations())
def test_input_ids_tokenize_whole_text(messages):
    tokenizer = project_tokenizer()
    example = loss_mask.build_sft_example(messages, tokenizer)
    expected = tokenizer(plain_chatml(messages), add_special_tokens=False)["input_ids"]
    if list(example["input_ids"]) != list(expected):
        fail(
            en="input_ids differ from tokenizing the whole rendered text. Tokenizing each piece "
            "separately and concatenating breaks BPE merges, e.g. the header's \\n with a reply that starts with \\n.",
            zh="input_ids 与对整段渲染文本分词的结果不同。把各片段分别分词再拼接会破坏 BPE 合并，"
            "例如 header 的 \\n 与以 \\n 开头的回复会合并成一个 token。",
        )


@explain(
    en="labels have the same length as input_ids and are not shifted (each is -100 or the id at its own position).",
    zh="labels 与 input_ids 等长且不做错位（每个 label 要么是 -100，要么等于同一位置的 token id）。",
)
@given(messages=conversations())
def test_labels_unshifted_same_length(messages):
    tokenizer = project_tokenizer()
    example = loss_mask.build_sft_example(messages, tokenizer)
    ids, labels = list(example["input_ids"]), list(example["labels"])
    if len(ids) != len(labels):
        fail(en=f"len(labels) is {len(labels)} but len(input_ids) is {len(ids)}.",
             zh=f"len(labels) 为 {len(labels)}，但 len(input_ids) 为 {len(ids)}。")
    for position, (token, label) in enumerate(zip(ids, labels)):
        if label not in (IGNORE_INDEX, token):
            fail(
                en=f"labels[{position}] is {label}, which is neither -100 nor input_ids[{position}] = {token}. "
                "Do not shift labels here: causal_lm_loss shifts.",
                zh=f"labels[{position}] 为 {label}，既不是 -100 也不等于 input_ids[{position}] = {token}。"
                "这里不要错位：错位由 causal_lm_loss 完成。",
            )


@explain(
    en="Exactly the assistant content and its <|im_end|> are supervised (same as transformers' assistant mask).",
    zh="只有 assistant 的内容及其 <|im_end|> 参与监督（与 transformers 的 assistant mask 一致）。",
)
@given(messages=conversations())
def test_labels_match_assistant_mask(messages):
    tokenizer = project_tokenizer()
    example = loss_mask.build_sft_example(messages, tokenizer)
    ids, expected = oracle_labels(messages, tokenizer)
    if list(example["labels"]) != expected:
        fail(
            en="The labels do not supervise exactly the assistant replies and their <|im_end|>.",
            zh="labels 没有恰好监督 assistant 回复及其 <|im_end|>。",
            detail=label_mismatch(tokenizer, ids, list(example["labels"]), expected),
        )


EDGE_REPLIES = ["\nabc", "\n\nabc", "  abc", "\tabc", "\n"]


@explain(
    en="A reply that starts with whitespace: the token that merges the header's \\n with it is supervised, "
    "and input_ids still come from the whole text.",
    zh="回复以空白字符开头时：header 的 \\n 与回复开头合并成的 token 要参与监督，input_ids 仍须来自整段文本。",
)
@pytest.mark.parametrize("reply", EDGE_REPLIES, ids=[repr(r) for r in EDGE_REPLIES])
def test_reply_starting_with_whitespace(reply):
    tokenizer = project_tokenizer()
    messages = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": reply}]
    example = loss_mask.build_sft_example(messages, tokenizer)
    ids, expected = oracle_labels(messages, tokenizer)
    if list(example["input_ids"]) != ids:
        fail(
            en="input_ids differ from tokenizing the whole rendered text: the header's \\n and the reply's "
            "leading whitespace form one token only when the text is tokenized in one piece.",
            zh="input_ids 与对整段渲染文本分词的结果不同：只有整段一次性分词时，header 的 \\n 才会与回复开头的空白合并成一个 token。",
            detail=f"reply {reply!r}",
        )
    if list(example["labels"]) != expected:
        fail(
            en="A token that overlaps the reply is supervised even when it also covers the header's \\n.",
            zh="只要 token 与回复有重叠就要参与监督，即使它同时覆盖了 header 的 \\n。",
            detail=label_mismatch(tokenizer, ids, list(example["labels"]), expected),
        )


@explain(
    en="The <|im_start|>assistant\\n header is prompt: IGNORE_INDEX.",
    zh="<|im_start|>assistant\\n 这个 header 属于提示部分，label 应为 IGNORE_INDEX。",
)
def test_header_is_prompt():
    tokenizer = project_tokenizer()
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}]
    example = loss_mask.build_sft_example(messages, tokenizer)
    text = supervised_text(tokenizer, example)
    if "<|im_start|>" in text or "assistant" in text:
        fail(
            en="Header tokens are supervised. The model would learn to predict its own role tag.",
            zh="header 的 token 被纳入了监督，模型会去学习预测自己的角色标记。",
            detail=f"supervised text: {text!r}",
        )


@explain(
    en="The <|im_end|> closing each reply is supervised, and the \\n after it is not.",
    zh="每条回复结尾的 <|im_end|> 要参与监督，其后的 \\n 不参与。",
)
def test_end_of_turn_supervised():
    tokenizer = project_tokenizer()
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    example = loss_mask.build_sft_example(messages, tokenizer)
    text = supervised_text(tokenizer, example)
    if "<|im_end|>" not in text:
        fail(
            en="<|im_end|> after the reply is not supervised, so the model never learns to stop.",
            zh="回复后的 <|im_end|> 没有参与监督，模型将学不会停止生成。",
            detail=f"supervised text: {text!r}",
        )
    if text != "Hello<|im_end|>":
        fail(
            en="Only 'Hello<|im_end|>' should be supervised here; the \\n after <|im_end|> belongs to the template.",
            zh="这里只应监督 'Hello<|im_end|>'；<|im_end|> 之后的 \\n 属于模板。",
            detail=f"supervised text: {text!r}",
        )


@explain(
    en="A user turn after an assistant turn is not supervised.",
    zh="assistant 之后的 user 轮次不参与监督。",
)
def test_user_after_assistant_not_supervised():
    tokenizer = project_tokenizer()
    messages = [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "user message"},
        {"role": "assistant", "content": "B"},
    ]
    example = loss_mask.build_sft_example(messages, tokenizer)
    text = supervised_text(tokenizer, example)
    if "user" in text:
        fail(
            en="Tokens of the user turn after an assistant reply are supervised.",
            zh="assistant 回复之后的 user 轮次的 token 被纳入了监督。",
            detail=f"supervised text: {text!r}",
        )
    if text != "A<|im_end|>B<|im_end|>":
        fail(
            en="Every assistant turn (and only those) is supervised by default.",
            zh="默认情况下每个 assistant 轮次都要监督，且只监督它们。",
            detail=f"supervised text: {text!r}, expected 'A<|im_end|>B<|im_end|>'",
        )


@explain(
    en="only_last_turn=True supervises only the last assistant reply.",
    zh="only_last_turn=True 时只监督最后一条 assistant 回复。",
)
@given(messages=conversations(min_assistant=2))
def test_only_last_turn(messages):
    tokenizer = project_tokenizer()
    example = loss_mask.build_sft_example(messages, tokenizer, only_last_turn=True)
    ids, expected = oracle_labels(messages, tokenizer, only_last_turn=True)
    if list(example["labels"]) != expected:
        fail(
            en="With only_last_turn=True the labels must cover the last assistant reply alone.",
            zh="only_last_turn=True 时 labels 只能覆盖最后一条 assistant 回复。",
            detail=label_mismatch(tokenizer, ids, list(example["labels"]), expected),
        )


@explain(
    en="max_length truncates on the right; labels of surviving assistant tokens stay supervised.",
    zh="max_length 从右侧截断；截断后留下的 assistant token 仍然参与监督。",
)
@given(messages=conversations(), cut=st.integers(min_value=0, max_value=6))
def test_truncation_keeps_labels(messages, cut):
    tokenizer = project_tokenizer()
    ids, expected = oracle_labels(messages, tokenizer)
    max_length = len(ids) - cut
    assume(max_length > 0 and any(label != IGNORE_INDEX for label in expected[:max_length]))
    example = loss_mask.build_sft_example(messages, tokenizer, max_length=max_length)
    if list(example["input_ids"]) != ids[:max_length]:
        fail(
            en=f"With max_length={max_length}, input_ids must be the first {max_length} tokens.",
            zh=f"max_length={max_length} 时，input_ids 应为前 {max_length} 个 token。",
        )
    if list(example["labels"]) != expected[:max_length]:
        fail(
            en=f"With max_length={max_length}, labels must be the first {max_length} labels of the full example.",
            zh=f"max_length={max_length} 时，labels 应为完整样本 labels 的前 {max_length} 个。",
            detail=label_mismatch(tokenizer, ids, list(example["labels"]), expected[:max_length]),
        )


@explain(
    en="A long assistant reply cut by max_length keeps its surviving tokens supervised.",
    zh="被 max_length 截断的长回复，留下的部分仍然参与监督。",
)
def test_truncated_reply_stays_supervised():
    tokenizer = project_tokenizer()
    messages = [
        {"role": "user", "content": "Explain LoRA."},
        {"role": "assistant", "content": "LoRA freezes the base weight and learns a low-rank update. " * 4},
    ]
    full = loss_mask.build_sft_example(messages, tokenizer)
    supervised = [i for i, label in enumerate(full["labels"]) if label != IGNORE_INDEX]
    max_length = supervised[0] + 5
    example = loss_mask.build_sft_example(messages, tokenizer, max_length=max_length)
    kept = sum(label != IGNORE_INDEX for label in example["labels"])
    if len(example["labels"]) != max_length or kept != 5:
        fail(
            en=f"After truncation to {max_length} tokens, the 5 surviving reply tokens must stay supervised.",
            zh=f"截断到 {max_length} 个 token 后，留下的 5 个回复 token 必须仍然参与监督。",
            detail=f"got {len(example['labels'])} labels, {kept} supervised",
        )


@explain(
    en="Truncating away every assistant token raises ValueError (an example with nothing to learn).",
    zh="截断后没有任何 assistant token 时应抛出 ValueError（样本没有可学习的内容）。",
)
def test_truncated_away_raises():
    tokenizer = project_tokenizer()
    messages = [{"role": "user", "content": "a long question " * 5}, {"role": "assistant", "content": "yes"}]
    with pytest.raises(ValueError):
        loss_mask.build_sft_example(messages, tokenizer, max_length=4)


BAD_MESSAGES = {
    "empty list": ([], None),
    "no assistant": ([{"role": "user", "content": "hi"}], None),
    "missing content": ([{"role": "user"}, {"role": "assistant", "content": "x"}], "content"),
    "missing role": ([{"content": "hi"}, {"role": "assistant", "content": "x"}], "role"),
    "content not a string": ([{"role": "user", "content": ["hi"]}, {"role": "assistant", "content": "x"}], "content"),
    "uppercase role": ([{"role": "SYSTEM", "content": "s"}, {"role": "user", "content": "q"},
                        {"role": "assistant", "content": "a"}], "SYSTEM"),
    "unknown role": ([{"role": "bot", "content": "q"}, {"role": "assistant", "content": "a"}], "bot"),
    "system not first": ([{"role": "user", "content": "q"}, {"role": "system", "content": "s"},
                          {"role": "assistant", "content": "a"}], "system"),
    "message not a dict": ([("user", "q"), {"role": "assistant", "content": "a"}], None),
}


@explain(
    en="Bad messages raise ValueError whose message names the problem (never dropped silently).",
    zh="不合法的消息应抛出 ValueError，并在错误信息中指明问题（不能悄悄丢弃）。",
)
@pytest.mark.parametrize("case", list(BAD_MESSAGES), ids=list(BAD_MESSAGES))
def test_bad_messages_raise(case):
    messages, named = BAD_MESSAGES[case]
    tokenizer = project_tokenizer()
    try:
        loss_mask.build_sft_example(messages, tokenizer)
    except ValueError as error:
        if named is not None and named not in str(error):
            fail(
                en=f"The ValueError for '{case}' should name {named!r} so the user can find the bad message.",
                zh=f"'{case}' 的 ValueError 应在信息中包含 {named!r}，方便用户定位出错的消息。",
                detail=f"message was: {error}",
            )
        return
    fail(
        en=f"build_sft_example accepted bad input ({case}) instead of raising ValueError.",
        zh=f"build_sft_example 接受了不合法的输入（{case}），应抛出 ValueError。",
        detail=f"messages={describe_value(messages)}",
    )


@explain(
    en="render_chatml rejects bad messages too.",
    zh="render_chatml 同样要拒绝不合法的消息。",
)
@pytest.mark.parametrize("case", ["empty list", "uppercase role", "unknown role", "system not first"])
def test_render_rejects_bad_messages(case):
    messages, _ = BAD_MESSAGES[case]
    with pytest.raises(ValueError):
        loss_mask.render_chatml(messages)


@explain(
    en="The mask works for any tokenizer: nothing may depend on hard-coded token ids or strings.",
    zh="掩码要适用于任何分词器：不能依赖写死的 token id 或字符串。",
)
@given(messages=conversations())
def test_other_tokenizer(messages):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(REPO_ROOT / "data" / "tokenizer_alt")
    example = loss_mask.build_sft_example(messages, tokenizer)
    ids, expected = oracle_labels(messages, tokenizer)
    if list(example["input_ids"]) != ids or list(example["labels"]) != expected:
        fail(
            en="With a second tokenizer (other vocabulary, other special-token ids) the labels are wrong. "
            "Ask the tokenizer for ids and offsets; never hard-code them.",
            zh="换一个分词器（词表和特殊 token id 都不同）后 labels 出错。id 和偏移量应从分词器获取，不能写死。",
            detail=label_mismatch(tokenizer, ids, list(example["labels"]), expected),
        )


# ---------------------------------------------------------------- causal_lm_loss


@st.composite
def logits_and_labels(draw, allow_all_masked=True):
    batch = draw(st.integers(1, 3))
    length = draw(st.integers(1, 7))
    vocab = draw(st.integers(2, 11))
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, length, vocab, generator=generator) * 3
    labels = torch.randint(0, vocab, (batch, length), generator=generator)
    mask = torch.rand(batch, length, generator=generator) < draw(st.floats(0.0, 0.9))
    labels[mask] = IGNORE_INDEX
    if not allow_all_masked:
        assume(bool((labels[:, 1:] != IGNORE_INDEX).any()))
    return logits, labels


def float64_loss(logits, labels, reduction):
    """Plain-loop spec: position t predicts labels[t + 1]."""
    total, count = 0.0, 0
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            target = int(labels[b, t + 1])
            if target == IGNORE_INDEX:
                continue
            row = logits[b, t].double()
            total += float(torch.logsumexp(row, 0) - row[target])
            count += 1
    if reduction == "sum":
        return total
    return total / count if count else 0.0


@explain(
    en="causal_lm_loss equals transformers' causal-LM loss (shift once, ignore -100, mean over supervised tokens).",
    zh="causal_lm_loss 与 transformers 的因果语言模型损失一致（错位一次、忽略 -100、对有监督 token 取平均）。",
)
@given(data=logits_and_labels(allow_all_masked=False))
def test_loss_matches_transformers(data):
    from transformers.loss.loss_utils import ForCausalLMLoss

    logits, labels = data
    got = loss_mask.causal_lm_loss(logits, labels)
    expected = ForCausalLMLoss(logits, labels, vocab_size=logits.shape[-1])
    if not torch.is_tensor(got) or got.dim() != 0:
        fail(en="causal_lm_loss must return a 0-dim tensor.", zh="causal_lm_loss 应返回 0 维张量。",
             detail=f"got {describe_value(got)}")
    if not math.isclose(float(got), float(expected), rel_tol=1e-5, abs_tol=1e-6):
        spec_unshifted = float64_loss(torch.cat([logits[:, :1], logits], 1)[:, :-1], labels, "mean")
        hint_en = hint_zh = ""
        if math.isclose(float(got), spec_unshifted, rel_tol=1e-5):
            hint_en, hint_zh = " It matches the loss without any shift.", "它与完全不错位时的损失相同。"
        fail(
            en="The loss differs from transformers' causal-LM loss on random logits and labels." + hint_en,
            zh="在随机 logits 和 labels 上，你的损失与 transformers 的因果语言模型损失不同。" + hint_zh,
            detail=f"got {float(got):.6f}, expected {float(expected):.6f} "
            f"(logits {tuple(logits.shape)}, labels {labels.tolist()})",
        )


@explain(
    en='reduction="mean" divides by the supervised tokens only; reduction="sum" returns the sum (float64 spec).',
    zh='reduction="mean" 只除以有监督 token 的数量；reduction="sum" 返回总和（按 float64 规范核对）。',
)
@given(data=logits_and_labels(allow_all_masked=False), reduction=st.sampled_from(["mean", "sum"]))
def test_loss_reductions(data, reduction):
    logits, labels = data
    got = float(loss_mask.causal_lm_loss(logits, labels, reduction=reduction))
    expected = float64_loss(logits, labels, reduction)
    if not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-5):
        fail(
            en=f'reduction="{reduction}" gives {got:.6f}, the float64 spec gives {expected:.6f}.',
            zh=f'reduction="{reduction}" 得到 {got:.6f}，float64 规范值为 {expected:.6f}。',
            detail=f"labels {labels.tolist()}",
        )


@explain(
    en="A batch with no supervised token gives loss 0 with zero gradients, never NaN.",
    zh="没有任何有监督 token 的 batch 损失为 0，梯度为 0，绝不能出现 NaN。",
)
def test_loss_all_masked():
    logits = torch.randn(2, 5, 7, requires_grad=True)
    labels = torch.full((2, 5), IGNORE_INDEX)
    labels[:, 0] = 3  # position 0 is never a target after the shift
    loss = loss_mask.causal_lm_loss(logits, labels)
    if not torch.is_tensor(loss) or torch.isnan(loss).any() or float(loss) != 0.0:
        fail(en="The loss of an all-masked batch must be exactly 0.", zh="全部被掩码的 batch 损失必须恰好为 0。",
             detail=f"got {describe_value(loss)}")
    if not loss.requires_grad:
        fail(en="The zero loss must stay connected to the graph (loss.backward() must work).",
             zh="这个 0 损失必须仍连接在计算图上（要能调用 loss.backward()）。")
    loss.backward()
    if logits.grad is None or torch.isnan(logits.grad).any() or logits.grad.abs().sum() != 0:
        fail(en="Gradients of an all-masked batch must be zeros, not NaN.",
             zh="全部被掩码的 batch 的梯度必须为 0，不能是 NaN。")


@explain(
    en="Labels are shifted exactly once: a model that predicts the next token perfectly gets a loss near 0.",
    zh="labels 只错位一次：完美预测下一个 token 的模型损失应接近 0。",
)
@given(length=st.integers(2, 9), vocab=st.integers(3, 9), seed=st.integers(0, 999))
def test_loss_shifts_once(length, vocab, seed):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab, (1, length), generator=generator)
    logits = torch.full((1, length, vocab), -30.0)
    for t in range(length - 1):
        logits[0, t, tokens[0, t + 1]] = 30.0  # position t is sure of token t + 1
    loss = float(loss_mask.causal_lm_loss(logits, tokens.clone()))
    if loss > 1e-3:
        fail(
            en="A perfect next-token predictor should have loss ≈ 0. Are the labels shifted twice, or not at all?",
            zh="完美预测下一个 token 的模型损失应约为 0。labels 是否错位了两次，或者完全没有错位？",
            detail=f"got {loss:.4f} for tokens {tokens.tolist()}",
        )


@explain(
    en="An unknown reduction raises ValueError.",
    zh="未知的 reduction 应抛出 ValueError。",
)
def test_loss_bad_reduction():
    with pytest.raises(ValueError):
        loss_mask.causal_lm_loss(torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.long), reduction="avg")
