"""Graders for the `rag` kata.

Oracles: `rank_bm25.BM25Okapi` for BM25 scores, a faiss `IndexFlatIP` on
L2-normalized float32 vectors for dense search, and plain-loop specs for
the chunker, the tokenizer, reciprocal rank fusion, the metrics and the
prompt. No torch: these graders need numpy, rank_bm25 and faiss only.
"""

from __future__ import annotations

import math
import signal

import faiss
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from checker.grading import describe_value, explain, fail, kata_module
from checker.plugin import GraderTimeout
from checker.resolver import KataNotImplemented

rag = kata_module("rag")

# The chunker's infinite-loop case gets this many seconds, far less than the
# grader's limit, because a runaway loop that appends chunks eats memory fast.
LOOP_SECONDS = 1.0
SCORE_TOLERANCE = 1e-9
COSINE_TOLERANCE = 1e-5


def make_bm25(*args, **kwargs):
    """Build the learner's BM25; a stub's NotImplementedError ends the grader at once."""
    try:
        return rag.BM25(*args, **kwargs)
    except NotImplementedError as error:
        raise KataNotImplemented(str(error)) from error


def call_method(method, *args):
    try:
        return method(*args)
    except NotImplementedError as error:
        raise KataNotImplemented(str(error)) from error


# ---------------------------------------------------------------- plain-loop specs


def spec_chunks(text, size, overlap):
    stride = size - overlap
    chunks, start = [], 0
    while start < len(text):
        chunks.append(text[start:start + size])
        if start + size >= len(text):
            break
        start += stride
    return chunks


def is_han(char):
    code = ord(char)
    return 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF


def spec_tokenize(text):
    tokens, run, run_is_han = [], "", False

    def flush():
        if not run:
            return
        if not run_is_han:
            tokens.append(run.lower())
        elif len(run) == 1:
            tokens.append(run)
        else:
            tokens.extend(run[i:i + 2] for i in range(len(run) - 1))

    for char in text:
        if is_han(char):
            kind = "han"
        elif char.isalnum():
            kind = "word"
        else:
            kind = None
        if kind is None or (run and (kind == "han") != run_is_han):
            flush()
            run = ""
        if kind is not None:
            run += char
            run_is_han = kind == "han"
    flush()
    return tokens


def spec_rrf(rankings, k):
    scores, order = {}, []
    for ranking in rankings:
        seen = set()
        for rank, doc_id in enumerate(ranking, start=1):
            if doc_id in seen:
                continue
            seen.add(doc_id)
            if doc_id not in scores:
                scores[doc_id] = 0.0
                order.append(doc_id)
            scores[doc_id] += 1.0 / (k + rank)
    return sorted(((d, scores[d]) for d in order), key=lambda pair: -pair[1])


def first_hit_ranks(retrieved, relevant, k=None):
    ranks, seen = [], set()
    for rank, doc_id in enumerate(retrieved, start=1):
        if k is not None and rank > k:
            break
        if doc_id in relevant and doc_id not in seen:
            ranks.append(rank)
        seen.add(doc_id)
    return ranks


def spec_recall(retrieved, relevant, k):
    return len(first_hit_ranks(retrieved, relevant, k)) / len(relevant)


def spec_mrr(retrieved, relevant):
    ranks = first_hit_ranks(retrieved, relevant)
    return 1.0 / ranks[0] if ranks else 0.0


def spec_ndcg(retrieved, relevant, k):
    dcg = sum(1.0 / math.log2(r + 1) for r in first_hit_ranks(retrieved, relevant, k))
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


def faiss_search(queries, docs, k):
    """faiss IndexFlatIP on L2-normalized float32 copies; returns (scores, ids)."""
    q = np.ascontiguousarray(queries, dtype=np.float32).copy()
    d = np.ascontiguousarray(docs, dtype=np.float32).copy()
    faiss.normalize_L2(q)
    faiss.normalize_L2(d)
    index = faiss.IndexFlatIP(d.shape[1])
    index.add(d)
    return index.search(q, k)


def expect_error(error_types, call, en, zh):
    """Fail unless `call()` raises one of `error_types`."""
    try:
        result = call()
    except error_types:
        return
    except NotImplementedError as error:
        raise KataNotImplemented(str(error)) from error
    except Exception as error:
        fail(en=en, zh=zh, detail=f"raised {type(error).__name__}: {error}")
    fail(en=en, zh=zh, detail=f"returned {describe_value(result)} instead of raising")


# ---------------------------------------------------------------- strategies

words = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"])
corpora = st.lists(st.lists(words, max_size=8), min_size=1, max_size=10).filter(
    lambda docs: any(docs)
)
doc_ids = st.sampled_from(list("ABCDEFGHIJKL"))
rankings_strategy = st.lists(st.lists(doc_ids, max_size=10), max_size=4)

# Han characters come from all three blocks the README lists: CJK Unified
# Ideographs, Extension A (U+3400-4DBF) and Compatibility Ideographs
# (U+F900-FAFF). U+20000 (Extension B) is outside them, so it counts as a
# letter of a word.
_TEXT_ALPHABET = st.sampled_from(
    list("abcXYZ 019 .,_-!?") + list("检索增强生成模型，。") + list("㐀㐁䶵豈更﨎")
    + ["é", "Ⅳ", "\n", "Ｂ", "İ", "ß", "𠀀"]
)
mixed_text = st.lists(_TEXT_ALPHABET, max_size=30).map("".join)


# ---------------------------------------------------------------- chunk_text


@explain(
    en='chunk_text("abcdefghij", 5, 2) is ["abcde", "defgh", "ghij"], and "" gives [].',
    zh='chunk_text("abcdefghij", 5, 2) 的结果是 ["abcde", "defgh", "ghij"]，"" 的结果是 []。',
)
def test_chunk_readme_example():
    got = rag.chunk_text("abcdefghij", 5, 2)
    if got != ["abcde", "defgh", "ghij"]:
        fail(
            en="Windows start every chunk_size - overlap = 3 characters and stop at the first one that reaches the end.",
            zh="窗口每隔 chunk_size - overlap = 3 个字符开始一个，遇到第一个到达末尾的窗口就停止。",
            detail=f"got {describe_value(got)}",
        )
    empty = rag.chunk_text("", 5, 2)
    if empty != []:
        fail(en="An empty text has no chunks.", zh="空文本没有任何块。", detail=f"got {describe_value(empty)}")


@explain(
    en="Chunks cover the text, overlap by exactly `overlap` characters, and stop at the end.",
    zh="所有块覆盖整段文本，相邻块恰好重叠 overlap 个字符，并在末尾停止。",
)
@given(text=st.text(alphabet="abcdefgh模型", max_size=60), size=st.integers(1, 12), data=st.data())
def test_chunk_properties(text, size, data):
    overlap = data.draw(st.integers(0, size - 1), label="overlap")
    chunks = rag.chunk_text(text, size, overlap)
    expected = spec_chunks(text, size, overlap)
    stride = size - overlap

    if not isinstance(chunks, list) or not all(isinstance(c, str) for c in chunks):
        fail(en="chunk_text must return a list of str.", zh="chunk_text 必须返回 str 列表。",
             detail=f"got {describe_value(chunks)}")
    if any(len(c) == 0 or len(c) > size for c in chunks):
        fail(en="Every chunk must be non-empty and at most chunk_size characters.",
             zh="每个块都必须非空，且不超过 chunk_size 个字符。", detail=f"chunks {describe_value(chunks)}")
    for i in range(len(chunks) - 1):
        if chunks[i][stride:] != chunks[i + 1][:overlap] or len(chunks[i]) != size:
            fail(en=f"Chunks {i} and {i + 1} do not overlap by exactly {overlap} characters.",
                 zh=f"第 {i} 块和第 {i + 1} 块没有恰好重叠 {overlap} 个字符。",
                 detail=f"chunks {describe_value(chunks)}")
    covered = "".join([chunks[0]] + [c[overlap:] for c in chunks[1:]]) if chunks else ""
    if covered != text:
        fail(en="Joining the chunks (minus the overlaps) does not give back the text: something is lost or repeated.",
             zh="去掉重叠部分后把各块拼起来，得不到原文：有内容丢失或重复。",
             detail=f"text {text!r}, chunks {describe_value(chunks)}")
    if chunks != expected:
        fail(en="The chunks are not the windows starting at 0, stride, 2 * stride, ... up to the first that reaches the end "
             "(no extra tail chunk).",
             zh="块不是从 0、stride、2 * stride…… 开始、直到第一个到达末尾的窗口为止的那些窗口（末尾不能多出一块）。",
             detail=f"chunk_text({text!r}, {size}, {overlap})\ngot      {describe_value(chunks)}\nexpected {describe_value(expected)}")


def _run_with_short_alarm(call):
    """Run `call` under a LOOP_SECONDS alarm that ends it as a grader timeout."""

    def on_alarm(signum, frame):
        raise GraderTimeout(f"timed out after {LOOP_SECONDS:g} s", seconds=LOOP_SECONDS)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    remaining = signal.setitimer(signal.ITIMER_REAL, LOOP_SECONDS)[0]
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining > 0:
            # Give the runner's own per-grader alarm back what it had left.
            signal.setitimer(signal.ITIMER_REAL, remaining)


@explain(
    en="chunk_text raises ValueError when the window cannot advance (overlap >= chunk_size) or a size is invalid.",
    zh="窗口无法前进（overlap >= chunk_size）或大小参数非法时，chunk_text 抛出 ValueError。",
)
def test_chunk_rejects_bad_sizes():
    message = dict(
        en="chunk_text('abcdefghij', 5, 5) must raise ValueError: with overlap equal to chunk_size the window never moves.",
        zh="chunk_text('abcdefghij', 5, 5) 必须抛出 ValueError：overlap 等于 chunk_size 时窗口永远不会移动。",
    )
    expect_error(ValueError, lambda: _run_with_short_alarm(lambda: rag.chunk_text("abcdefghij", 5, 5)), **message)
    expect_error(ValueError, lambda: _run_with_short_alarm(lambda: rag.chunk_text("abcdefghij", 3, 7)),
                 en="overlap 7 with chunk_size 3 must raise ValueError.",
                 zh="overlap 为 7、chunk_size 为 3 时必须抛出 ValueError。")
    expect_error(ValueError, lambda: rag.chunk_text("abc", 0, 0),
                 en="chunk_size 0 must raise ValueError.", zh="chunk_size 为 0 时必须抛出 ValueError。")
    expect_error(ValueError, lambda: rag.chunk_text("abc", 4, -1),
                 en="A negative overlap must raise ValueError.", zh="overlap 为负数时必须抛出 ValueError。")
    expect_error(TypeError, lambda: rag.chunk_text(["abc"], 4, 1),
                 en="A text that is not a str must raise TypeError.", zh="text 不是 str 时必须抛出 TypeError。")


# ---------------------------------------------------------------- tokenize


@explain(
    en='tokenize("LoRA 微调模型, rank=8") is ["lora", "微调", "调模", "模型", "rank", "8"].',
    zh='tokenize("LoRA 微调模型, rank=8") 的结果是 ["lora", "微调", "调模", "模型", "rank", "8"]。',
)
def test_tokenize_readme_example():
    got = rag.tokenize("LoRA 微调模型, rank=8")
    if got != ["lora", "微调", "调模", "模型", "rank", "8"]:
        fail(en="Words are lowercased; a Chinese run becomes its overlapping bigrams.",
             zh="英文单词转为小写；连续的中文字符切成相互重叠的二元组。", detail=f"got {describe_value(got)}")
    single = rag.tokenize("用 BM25")
    if single != ["用", "bm25"]:
        fail(en="A lone Chinese character is a token by itself.", zh="单独一个汉字本身就是一个 token。",
             detail=f'tokenize("用 BM25") gave {describe_value(single)}, expected ["用", "bm25"]')


# Runs of three characters or more, because a run of two is its own bigram.
RARE_HAN_TEXTS = {
    "Extension A run": "\u3400\u3401\u3402",
    "Extension A block edges": "\u3400\u4dbf\u3400",
    "Compatibility Ideographs run": "\uf900\uf901\uf902",
    "Compatibility block edges": "\uf900\ufad9\uf900",
    "Unified, Extension A and Compatibility in one run": "模型\u3400\uf900",
    "Extension A next to Latin letters": "lora\u3400\u3401\u3402rank",
}


@explain(
    en="Han characters of CJK Extension A (U+3400-4DBF) and the Compatibility Ideographs (U+F900-FAFF) "
    "form bigrams like any other Han character.",
    zh="CJK 扩展 A 区（U+3400-4DBF）和兼容汉字区（U+F900-FAFF）的汉字与其他汉字一样切成二元组。",
)
@pytest.mark.parametrize("case", list(RARE_HAN_TEXTS), ids=list(RARE_HAN_TEXTS))
def test_tokenize_rare_han_blocks(case):
    text = RARE_HAN_TEXTS[case]
    got = rag.tokenize(text)
    expected = spec_tokenize(text)
    if got != expected:
        fail(en="The README counts U+3400-4DBF, U+4E00-9FFF and U+F900-FAFF as Han characters: a run of them "
             "becomes overlapping bigrams, even when the blocks mix in one run.",
             zh="README 规定 U+3400-4DBF、U+4E00-9FFF 和 U+F900-FAFF 都算汉字：这些字符组成的连续串"
             "切成相互重叠的二元组，几个区的字符混在同一个串里也一样。",
             detail=f"tokenize({text!r})\ngot      {describe_value(got)}\nexpected {describe_value(expected)}")


@explain(
    en="tokenize splits mixed English, Chinese, digits and punctuation as the docstring says.",
    zh="tokenize 按文档字符串的规则切分中英文、数字和标点混合的文本。",
)
@given(text=mixed_text)
def test_tokenize_matches_spec(text):
    got = rag.tokenize(text)
    expected = spec_tokenize(text)
    if got != expected:
        fail(en="The tokens differ from the rule: alphanumeric runs (str.isalnum, Han excluded) lowercased, "
             "Han runs as overlapping bigrams, everything else a separator.",
             zh="token 与规则不符：非汉字的字母数字连续串（str.isalnum）转小写，汉字连续串切成重叠二元组，其余字符都是分隔符。",
             detail=f"tokenize({text!r})\ngot      {describe_value(got)}\nexpected {describe_value(expected)}")


# ---------------------------------------------------------------- BM25


@explain(
    en="BM25 on 'hello world', 'foo bar', 'hello foo' scores the query 'hello' 0 everywhere (negative IDF floored).",
    zh="在 'hello world'、'foo bar'、'hello foo' 上，查询 'hello' 的 BM25 得分处处为 0（负 IDF 被替换）。",
)
def test_bm25_negative_idf_floor():
    corpus = [["hello", "world"], ["foo", "bar"], ["hello", "foo"]]
    bm25 = make_bm25(corpus)
    scores = np.asarray(call_method(bm25.get_scores, ["hello"]), dtype=np.float64)
    if scores.shape != (3,) or not np.allclose(scores, 0.0, atol=1e-12):
        fail(
            en="'hello' is in 2 of 3 documents, so ln(3 - 2 + 0.5) - ln(2 + 0.5) < 0. A negative IDF is replaced by "
            "epsilon times the mean IDF over all terms, which is 0 here, so every score is 0.",
            zh="'hello' 出现在 3 篇中的 2 篇，ln(3 - 2 + 0.5) - ln(2 + 0.5) < 0。负的 IDF 要替换为 epsilon 乘以全部词的平均 IDF，"
            "这里平均值为 0，所以每个得分都是 0。",
            detail=f"got {describe_value(scores.tolist())}",
        )


@explain(
    en="BM25.get_scores equals rank_bm25.BM25Okapi on random corpora (empty documents, repeated query tokens included).",
    zh="在随机语料上（包括空文档和重复的查询 token），BM25.get_scores 与 rank_bm25.BM25Okapi 一致。",
)
@given(
    corpus=corpora,
    query=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "zz"]), max_size=6),
    k1=st.floats(0.1, 3.0),
    b=st.floats(0.0, 0.95),
    epsilon=st.floats(0.0, 1.0),
)
def test_bm25_matches_rank_bm25(corpus, query, k1, b, epsilon):
    bm25 = make_bm25(corpus, k1=k1, b=b, epsilon=epsilon)
    got = np.asarray(call_method(bm25.get_scores, query), dtype=np.float64)
    expected = BM25Okapi(corpus, k1=k1, b=b, epsilon=epsilon).get_scores(query)
    if got.shape != expected.shape:
        fail(en=f"get_scores must return one score per document: shape {expected.shape}, got {got.shape}.",
             zh=f"get_scores 必须为每篇文档返回一个得分：形状应为 {expected.shape}，实际为 {got.shape}。")
    if not np.allclose(got, expected, rtol=SCORE_TOLERANCE, atol=SCORE_TOLERANCE):
        fail(en="Scores differ from rank_bm25.BM25Okapi. Check the IDF floor (negative IDF -> epsilon * mean IDF), "
             "avgdl over all documents (empty ones too), and that a repeated query token counts again.",
             zh="得分与 rank_bm25.BM25Okapi 不同。检查 IDF 下限（负 IDF -> epsilon * 平均 IDF）、avgdl 是否对所有文档"
             "（包括空文档）求平均，以及重复的查询 token 是否重复计分。",
             detail=f"corpus {corpus}\nquery {query}, k1={k1}, b={b}, epsilon={epsilon}\n"
             f"got      {np.round(got, 6).tolist()}\nexpected {np.round(expected, 6).tolist()}")


@explain(
    en="BM25.top_k returns (doc_id, score) pairs by score descending, ties by lower id, at most k of them.",
    zh="BM25.top_k 按得分降序返回 (doc_id, score)，同分时 id 小的在前，最多 k 个。",
)
@given(corpus=corpora, query=st.lists(words, min_size=1, max_size=4), k=st.integers(1, 12))
def test_bm25_top_k_order(corpus, query, k):
    bm25 = make_bm25(corpus)
    got = call_method(bm25.top_k, query, k)
    scores = BM25Okapi(corpus).get_scores(query)
    expected_ids = sorted(range(len(corpus)), key=lambda i: (-scores[i], i))[:k]
    got_ids = [int(i) for i, _ in got]
    if got_ids != expected_ids:
        fail(en="top_k order is wrong: sort by score descending, break ties by the lower document id, keep min(k, N).",
             zh="top_k 的顺序不对：按得分降序，同分时文档 id 小的在前，保留 min(k, N) 个。",
             detail=f"corpus {corpus}, query {query}, k={k}\ngot ids {got_ids}\nexpected {expected_ids}")
    if not np.allclose([s for _, s in got], scores[expected_ids], atol=SCORE_TOLERANCE):
        fail(en="top_k scores differ from get_scores.", zh="top_k 返回的得分与 get_scores 不一致。",
             detail=f"got {describe_value(got)}")


@explain(
    en="BM25 rejects a str query (TypeError) instead of scoring it character by character.",
    zh="BM25 遇到 str 查询要抛出 TypeError，而不是逐个字符打分。",
)
def test_bm25_rejects_string_query():
    bm25 = make_bm25([["hello", "world"], ["help", "me"], ["low", "hello"]])
    expect_error(TypeError, lambda: call_method(bm25.get_scores, "hello"),
                 en="get_scores('hello') must raise TypeError: a str is iterable, so it would be scored as the "
                 "tokens h, e, l, l, o. Tokenize the query first.",
                 zh="get_scores('hello') 必须抛出 TypeError：str 可以迭代，会被当作 h、e、l、l、o 这几个 token 来打分。"
                 "应先对查询分词。")
    expect_error(TypeError, lambda: call_method(bm25.top_k, "hello", 2),
                 en="top_k('hello', 2) must raise TypeError for the same reason.",
                 zh="top_k('hello', 2) 同样必须抛出 TypeError。")
    expect_error(TypeError, lambda: make_bm25(["hello world", "foo bar"]),
                 en="BM25(['hello world', 'foo bar']) must raise TypeError: each document must be a list of tokens.",
                 zh="BM25(['hello world', 'foo bar']) 必须抛出 TypeError：每篇文档都必须是 token 列表。")


@explain(
    en="BM25 raises ValueError for an empty corpus or one whose documents are all empty.",
    zh="语料为空，或所有文档都为空时，BM25 抛出 ValueError。",
)
def test_bm25_rejects_empty_corpus():
    expect_error(ValueError, lambda: make_bm25([]),
                 en="BM25([]) must raise ValueError.", zh="BM25([]) 必须抛出 ValueError。")
    expect_error(ValueError, lambda: make_bm25([[], []]),
                 en="BM25([[], []]) must raise ValueError: the average document length would be 0.",
                 zh="BM25([[], []]) 必须抛出 ValueError：平均文档长度会是 0。")
    bm25 = make_bm25([[], ["a"], []])
    scores = np.asarray(call_method(bm25.get_scores, ["a"]), dtype=np.float64)
    expected = BM25Okapi([[], ["a"], []]).get_scores(["a"])
    if not np.allclose(scores, expected, atol=SCORE_TOLERANCE):
        fail(en="A corpus with some empty documents is valid and scores like rank_bm25.",
             zh="含有部分空文档的语料是合法的，得分应与 rank_bm25 一致。",
             detail=f"got {scores.tolist()}, expected {expected.tolist()}")


# ---------------------------------------------------------------- dense_top_k


def check_dense_result(queries, docs, k, scores, ids):
    n = docs.shape[0]
    want = min(k, n)
    scores = np.asarray(scores)
    ids = np.asarray(ids)
    if ids.shape != (queries.shape[0], want) or scores.shape != ids.shape:
        fail(en=f"Expected scores and ids of shape [q, min(k, n)] = {(queries.shape[0], want)}.",
             zh=f"scores 和 ids 的形状应为 [q, min(k, n)] = {(queries.shape[0], want)}。",
             detail=f"got scores {scores.shape}, ids {ids.shape}")
    if scores.dtype != np.float32 or ids.dtype != np.int64:
        fail(en="scores must be float32 and ids int64.", zh="scores 必须是 float32，ids 必须是 int64。",
             detail=f"got {scores.dtype} and {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        fail(en="Every id must be a valid row of docs: never -1, even when k > n.",
             zh="每个 id 都必须是 docs 的合法行号：即使 k > n 也绝不能是 -1。",
             detail=f"ids {describe_value(ids.tolist())}")
    for row in ids:
        if len(set(row.tolist())) != len(row):
            fail(en="A document appears twice in one query's results.", zh="同一个查询的结果中某篇文档出现了两次。",
                 detail=f"ids {describe_value(ids.tolist())}")


def exact_cosine(queries, docs):
    q = np.asarray(queries, dtype=np.float64)
    d = np.asarray(docs, dtype=np.float64)
    qn = np.linalg.norm(q, axis=1, keepdims=True)
    dn = np.linalg.norm(d, axis=1, keepdims=True)
    q = np.divide(q, qn, out=np.zeros_like(q), where=qn > 0)
    d = np.divide(d, dn, out=np.zeros_like(d), where=dn > 0)
    return q @ d.T


@st.composite
def dense_inputs(draw):
    q = draw(st.integers(1, 5))
    n = draw(st.integers(1, 40))
    dim = draw(st.integers(1, 16))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Norms spread over three orders of magnitude, so a raw dot product ranks differently.
    queries = rng.normal(size=(q, dim)) * rng.uniform(0.01, 10, size=(q, 1))
    docs = rng.normal(size=(n, dim)) * rng.uniform(0.01, 10, size=(n, 1))
    layout = draw(st.sampled_from(["float32", "float64", "transposed", "strided"]))
    if layout == "float32":
        queries, docs = queries.astype(np.float32), docs.astype(np.float32)
    elif layout == "transposed":
        queries, docs = np.asfortranarray(queries), np.asfortranarray(docs)
    elif layout == "strided":
        queries = np.repeat(queries, 2, axis=1)[:, ::2]
        docs = np.repeat(docs, 2, axis=0)[::2]
    k = draw(st.integers(1, 50))
    return queries, docs, k, layout


@explain(
    en="dense_top_k returns the same ids as faiss IndexFlatIP on normalized float32 vectors (float64, non-contiguous, k > n).",
    zh="dense_top_k 与 faiss IndexFlatIP 在归一化 float32 向量上返回相同的 id（含 float64、非连续数组、k > n）。",
)
@given(inputs=dense_inputs())
def test_dense_matches_faiss(inputs):
    queries, docs, k, layout = inputs
    scores, ids = rag.dense_top_k(queries, docs, k)
    check_dense_result(queries, docs, k, scores, ids)

    want = min(k, docs.shape[0])
    faiss_scores, faiss_ids = faiss_search(queries, docs, want)
    cosine = exact_cosine(queries, docs)
    for row in range(queries.shape[0]):
        ours, theirs = np.asarray(ids)[row], faiss_ids[row]
        # Ids may differ only where two documents are tied within float32 noise.
        same = ours == theirs
        tied = np.abs(cosine[row, ours] - cosine[row, theirs]) < COSINE_TOLERANCE
        if not np.all(same | tied):
            fail(en="The ids differ from faiss IndexFlatIP on L2-normalized vectors. Rank by cosine similarity "
                 "(normalize both sides), not by the raw dot product.",
                 zh="id 与 faiss IndexFlatIP（L2 归一化之后）不同。要按余弦相似度排序（两边都归一化），而不是原始点积。",
                 detail=f"layout {layout}, q={queries.shape[0]}, n={docs.shape[0]}, k={k}, query {row}\n"
                 f"got      {ours.tolist()}\nexpected {theirs.tolist()}")
    if not np.allclose(np.asarray(scores), faiss_scores, atol=COSINE_TOLERANCE):
        fail(en="The scores are not the cosine similarities, best first.", zh="得分不是按从高到低排列的余弦相似度。",
             detail=f"got {np.round(np.asarray(scores), 5).tolist()}\nexpected {np.round(faiss_scores, 5).tolist()}")


@explain(
    en="Three vectors with k=5 give three results and no -1 id.",
    zh="只有 3 个向量而 k=5 时，返回 3 个结果，且没有 -1。",
)
def test_dense_k_larger_than_corpus():
    docs = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    queries = np.array([[0.0, 1.0]])
    scores, ids = rag.dense_top_k(queries, docs, 5)
    ids = np.asarray(ids)
    if ids.shape != (1, 3) or sorted(ids[0].tolist()) != [0, 1, 2]:
        fail(en="Return min(k, n) = 3 results per query, each document once. faiss pads with -1 here, and "
             "docs[-1] would silently be the last document.",
             zh="每个查询返回 min(k, n) = 3 个结果，每篇文档一次。faiss 在这里会用 -1 填充，"
             "而 docs[-1] 会悄无声息地变成最后一篇文档。",
             detail=f"got ids {describe_value(ids.tolist())}")
    if ids[0].tolist() != [1, 2, 0]:
        fail(en="Order by cosine similarity: [1, 2, 0] here.", zh="按余弦相似度排序：这里应为 [1, 2, 0]。",
             detail=f"got ids {ids.tolist()}")


@explain(
    en="dense_top_k ranks by cosine: a long vector pointing elsewhere does not beat a short aligned one.",
    zh="dense_top_k 按余弦排序：方向不同的长向量不能胜过方向一致的短向量。",
)
def test_dense_uses_cosine_not_dot():
    docs = np.array([[0.1, 0.0], [30.0, 30.0]])
    queries = np.array([[1.0, 0.0]])
    scores, ids = rag.dense_top_k(queries, docs, 2)
    if np.asarray(ids)[0].tolist() != [0, 1]:
        fail(en="Document 0 points the same way as the query (cosine 1.0); document 1 only has a larger norm "
             "(cosine 0.707). Normalize before the dot product.",
             zh="文档 0 与查询方向相同（余弦 1.0）；文档 1 只是范数更大（余弦 0.707）。做点积之前要先归一化。",
             detail=f"got ids {np.asarray(ids).tolist()}, scores {np.asarray(scores).tolist()}")
    if not np.allclose(np.asarray(scores)[0], [1.0, math.sqrt(0.5)], atol=1e-5):
        fail(en="Scores must be cosine similarities: [1.0, 0.7071].", zh="得分必须是余弦相似度：[1.0, 0.7071]。",
             detail=f"got {np.asarray(scores).tolist()}")


@explain(
    en="Zero vectors score 0 (never NaN).",
    zh="零向量的得分为 0（绝不能是 NaN）。",
)
def test_dense_zero_vectors():
    docs = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    queries = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    scores, ids = rag.dense_top_k(queries, docs, 3)
    scores = np.asarray(scores)
    if not np.all(np.isfinite(scores)):
        fail(en="A zero vector made a NaN score: guard the norm so a zero vector stays zero.",
             zh="零向量导致得分出现 NaN：要给范数加保护，让零向量保持为零。", detail=f"scores {scores.tolist()}")
    if not np.allclose(scores[1], 0.0) or not np.isclose(scores[0][-1], 0.0):
        fail(en="A zero vector scores 0 against everything.", zh="零向量与任何向量的得分都是 0。",
             detail=f"scores {scores.tolist()}, ids {np.asarray(ids).tolist()}")


@explain(
    en="dense_top_k raises ValueError for mismatched dimensions, non-2-D input, an empty docs array or k <= 0.",
    zh="维度不匹配、输入不是二维、docs 为空或 k <= 0 时，dense_top_k 抛出 ValueError。",
)
def test_dense_rejects_bad_input():
    expect_error(ValueError, lambda: rag.dense_top_k(np.ones((2, 3)), np.ones((4, 5)), 2),
                 en="Queries of dimension 3 against docs of dimension 5 must raise ValueError.",
                 zh="3 维查询对 5 维文档时必须抛出 ValueError。")
    expect_error(ValueError, lambda: rag.dense_top_k(np.ones(3), np.ones((4, 3)), 2),
                 en="A 1-D query must raise ValueError (pass queries[None, :]).",
                 zh="一维的查询必须抛出 ValueError（请传 queries[None, :]）。")
    expect_error(ValueError, lambda: rag.dense_top_k(np.ones((1, 3)), np.ones((0, 3)), 2),
                 en="An empty docs array must raise ValueError.", zh="docs 为空时必须抛出 ValueError。")
    expect_error(ValueError, lambda: rag.dense_top_k(np.ones((1, 3)), np.ones((4, 3)), 0),
                 en="k = 0 must raise ValueError.", zh="k = 0 时必须抛出 ValueError。")


# ---------------------------------------------------------------- reciprocal_rank_fusion


@explain(
    en="RRF, k=60: dense [X, a, Y] and sparse [b, c, Y] give Y (0.0317), then X and b (0.0164), then a and c (0.0161).",
    zh="RRF（k=60）：稠密 [X, a, Y] 与稀疏 [b, c, Y] 融合后依次为 Y（0.0317）、X 和 b（0.0164）、a 和 c（0.0161）。",
)
def test_rrf_readme_example():
    got = rag.reciprocal_rank_fusion([["X", "a", "Y"], ["b", "c", "Y"]], k=60)
    expected = [("Y", 2 / 63), ("X", 1 / 61), ("b", 1 / 61), ("a", 1 / 62), ("c", 1 / 62)]
    got_ids = [doc_id for doc_id, _ in got]
    if got_ids != [doc_id for doc_id, _ in expected]:
        fail(en="Expected the order Y, X, b, a, c: ranks start at 1, and ties keep first-appearance order.",
             zh="期望顺序为 Y、X、b、a、c：名次从 1 开始，同分时保持首次出现的顺序。",
             detail=f"got {describe_value(got)}")
    if not np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-12):
        fail(en="Each id scores the sum of 1 / (60 + rank) with 1-based ranks: Y = 2/63, X = b = 1/61, a = c = 1/62.",
             zh="每个 id 的得分是 1 / (60 + rank) 之和，名次从 1 开始：Y = 2/63，X = b = 1/61，a = c = 1/62。",
             detail=f"got {describe_value(got)}")


@explain(
    en="reciprocal_rank_fusion matches the plain definition on random rankings (duplicates and missing ids included).",
    zh="在随机排序列表上（包括重复 id 和缺失 id），reciprocal_rank_fusion 与定义一致。",
)
@given(rankings=rankings_strategy, k=st.sampled_from([0, 1, 10, 60]))
def test_rrf_matches_spec(rankings, k):
    got = rag.reciprocal_rank_fusion(rankings, k=k)
    expected = spec_rrf(rankings, k)
    got = [(doc_id, float(score)) for doc_id, score in got]
    if [d for d, _ in got] != [d for d, _ in expected] or not np.allclose(
        [s for _, s in got], [s for _, s in expected], atol=1e-12
    ):
        fail(en="Fusion differs from sum of 1 / (k + rank) per list: ranks are 1-based, an id missing from a list gets "
             "nothing from it, a repeat within one list counts once, ties keep first-appearance order.",
             zh="融合结果与「每个列表累加 1 / (k + rank)」不一致：名次从 1 开始，不在某列表中的 id 不从该列表得分，"
             "同一列表内的重复只算一次，同分时保持首次出现的顺序。",
             detail=f"rankings {rankings}, k={k}\ngot      {describe_value(got)}\nexpected {describe_value(expected)}")


@explain(
    en="reciprocal_rank_fusion rejects a bare string ranking (TypeError) and a negative k (ValueError).",
    zh="reciprocal_rank_fusion 拒绝字符串形式的排序列表（TypeError）和负的 k（ValueError）。",
)
def test_rrf_rejects_bad_input():
    expect_error(TypeError, lambda: rag.reciprocal_rank_fusion(["abc", "cab"]),
                 en="rankings=['abc', 'cab'] must raise TypeError: a ranking is a list of ids, not a str.",
                 zh="rankings=['abc', 'cab'] 必须抛出 TypeError：排序列表是 id 的列表，而不是 str。")
    expect_error(ValueError, lambda: rag.reciprocal_rank_fusion([["a"]], k=-1),
                 en="k = -1 must raise ValueError.", zh="k = -1 时必须抛出 ValueError。")


# ---------------------------------------------------------------- metrics

retrieved_lists = st.lists(doc_ids, max_size=12)
relevant_sets = st.sets(doc_ids, min_size=1, max_size=5)


@explain(
    en="recall_at_k, mrr and ndcg_at_k give the documented values on the README examples.",
    zh="recall_at_k、mrr 和 ndcg_at_k 在 README 示例上给出文档中写明的值。",
)
def test_metrics_readme_examples():
    cases = [
        ("recall_at_k(['a', 'a', 'b', 'c'], {'a', 'c'}, k=3)", lambda: rag.recall_at_k(["a", "a", "b", "c"], {"a", "c"}, 3), 0.5),
        ("mrr(['a', 'b', 'c'], {'c'})", lambda: rag.mrr(["a", "b", "c"], {"c"}), 1 / 3),
        ("ndcg_at_k(['x', 'a'], {'a'}, k=10)", lambda: rag.ndcg_at_k(["x", "a"], {"a"}, 10), 1 / math.log2(3)),
        ("recall_at_k(['a', 'a'], {'a', 'b'}, k=2)", lambda: rag.recall_at_k(["a", "a"], {"a", "b"}, 2), 0.5),
    ]
    for text, call, expected in cases:
        got = call()
        if not math.isclose(got, expected, abs_tol=1e-12):
            fail(en=f"{text} should be {expected:.4f}. A repeated id counts once.",
                 zh=f"{text} 应为 {expected:.4f}。重复的 id 只算一次。", detail=f"got {got!r}")


@explain(
    en="recall_at_k matches its definition on random rankings with duplicates (never above 1).",
    zh="在带重复 id 的随机排序上，recall_at_k 与定义一致（绝不超过 1）。",
)
@given(retrieved=retrieved_lists, relevant=relevant_sets, k=st.integers(1, 12))
def test_recall_matches_spec(retrieved, relevant, k):
    got = rag.recall_at_k(retrieved, relevant, k)
    expected = spec_recall(retrieved, relevant, k)
    if not math.isclose(got, expected, abs_tol=1e-12):
        fail(en="recall@k is the number of distinct relevant ids in the first k positions over len(relevant).",
             zh="recall@k 等于前 k 个位置中不重复的相关 id 个数除以 len(relevant)。",
             detail=f"retrieved {retrieved}, relevant {sorted(relevant)}, k={k}: got {got}, expected {expected}")


@explain(
    en="mrr is 1 / rank of the first relevant id, or 0 when none is retrieved.",
    zh="mrr 是第一个相关 id 名次的倒数；没有检索到相关 id 时为 0。",
)
@given(retrieved=retrieved_lists, relevant=relevant_sets)
def test_mrr_matches_spec(retrieved, relevant):
    got = rag.mrr(retrieved, relevant)
    expected = spec_mrr(retrieved, relevant)
    if not math.isclose(got, expected, abs_tol=1e-12):
        fail(en="mrr must be 1 / (1-based rank of the first relevant id), or 0.",
             zh="mrr 必须等于 1 /（第一个相关 id 从 1 开始的名次），否则为 0。",
             detail=f"retrieved {retrieved}, relevant {sorted(relevant)}: got {got}, expected {expected}")


@explain(
    en="ndcg_at_k matches binary-relevance nDCG with log2(rank + 1) discounts and a repeat counted once.",
    zh="ndcg_at_k 与二元相关性的 nDCG 一致：折扣为 log2(rank + 1)，重复 id 只算一次。",
)
@given(retrieved=retrieved_lists, relevant=relevant_sets, k=st.integers(1, 12))
def test_ndcg_matches_spec(retrieved, relevant, k):
    got = rag.ndcg_at_k(retrieved, relevant, k)
    expected = spec_ndcg(retrieved, relevant, k)
    if not math.isclose(got, expected, abs_tol=1e-12):
        fail(en="nDCG@k = DCG / ideal DCG, DCG = sum of 1 / log2(rank + 1) over the first hit of each relevant id in "
             "the top k, ideal = min(k, len(relevant)) hits at ranks 1, 2, ...",
             zh="nDCG@k = DCG / 理想 DCG，其中 DCG 是前 k 个位置中每个相关 id 第一次命中的 1 / log2(rank + 1) 之和，"
             "理想 DCG 是把 min(k, len(relevant)) 个命中放在名次 1、2…… 上。",
             detail=f"retrieved {retrieved}, relevant {sorted(relevant)}, k={k}: got {got}, expected {expected}")


@explain(
    en="The metrics raise ValueError for an empty relevant set and for k <= 0.",
    zh="相关集合为空或 k <= 0 时，各项指标抛出 ValueError。",
)
def test_metrics_reject_bad_input():
    for name, call in [
        ("recall_at_k(['a'], set(), 5)", lambda: rag.recall_at_k(["a"], set(), 5)),
        ("mrr(['a'], set())", lambda: rag.mrr(["a"], set())),
        ("ndcg_at_k(['a'], set(), 5)", lambda: rag.ndcg_at_k(["a"], set(), 5)),
        ("recall_at_k(['a'], {'a'}, 0)", lambda: rag.recall_at_k(["a"], {"a"}, 0)),
        ("ndcg_at_k(['a'], {'a'}, 0)", lambda: rag.ndcg_at_k(["a"], {"a"}, 0)),
    ]:
        expect_error(ValueError, call, en=f"{name} must raise ValueError.", zh=f"{name} 必须抛出 ValueError。")


# ---------------------------------------------------------------- build_rag_prompt

passage_text = st.text(alphabet="abcdefgh xyz检索模型。", min_size=1, max_size=20)


def numbered_blocks(prompt, passages):
    """How many leading passages appear as `[i] passage` in the prompt, checked in order."""
    kept, position = 0, 0
    for number, passage in enumerate(passages, start=1):
        block = f"[{number}] {passage}"
        found = prompt.find(block, position)
        if found < 0:
            break
        kept, position = number, found + len(block)
    return kept


@explain(
    en="build_rag_prompt numbers every passage as [1], [2], ..., asks to cite them, and includes the question.",
    zh="build_rag_prompt 把每个段落编号为 [1]、[2]……，要求引用编号，并包含问题本身。",
)
@given(question=st.text(alphabet="abc? 什么", min_size=1, max_size=15).filter(str.strip),
       passages=st.lists(passage_text, max_size=5))
def test_prompt_numbers_passages(question, passages):
    prompt = rag.build_rag_prompt(question, passages)
    if not isinstance(prompt, str):
        fail(en="build_rag_prompt must return a str.", zh="build_rag_prompt 必须返回 str。",
             detail=f"got {type(prompt).__name__}")
    if numbered_blocks(prompt, passages) != len(passages):
        fail(en="Every passage must appear whole and in order as '[i] passage' (numbers start at 1).",
             zh="每个段落都必须完整、按顺序地以 '[i] 段落' 的形式出现（编号从 1 开始）。",
             detail=f"passages {passages}\nprompt {describe_value(prompt)}")
    if question not in prompt:
        fail(en="The question is missing from the prompt.", zh="提示中缺少问题本身。", detail=f"prompt {describe_value(prompt)}")
    if "cite" not in prompt.lower():
        fail(en="The prompt must ask the model to cite the passages by number (use the word 'cite').",
             zh="提示必须要求模型按编号引用段落（使用 cite 这个词）。", detail=f"prompt {describe_value(prompt)}")


@explain(
    en="With max_context_chars, build_rag_prompt keeps whole passages while they fit and drops the rest, never cutting one.",
    zh="设置 max_context_chars 时，build_rag_prompt 在预算内保留完整段落，丢弃其余段落，绝不截断段落。",
)
@given(passages=st.lists(passage_text, min_size=1, max_size=6), budget=st.integers(0, 120))
def test_prompt_budget_drops_whole_passages(passages, budget):
    prompt = rag.build_rag_prompt("What is BM25?", passages, max_context_chars=budget)
    used, expected = 0, 0
    for number, passage in enumerate(passages, start=1):
        size = len(f"[{number}] {passage}")
        if used + size > budget:
            break
        used, expected = used + size, number
    kept = numbered_blocks(prompt, passages)
    # A passage cut to fit would still start with "[i] " and its first character.
    cut = expected < len(passages) and f"[{expected + 1}] {passages[expected][:1]}" in prompt
    if kept != expected or cut:
        fail(en="Keep passages in order while the total length of their '[i] passage' blocks stays within "
             "max_context_chars; drop the first that does not fit and all after it, whole.",
             zh="按顺序保留段落，只要它们 '[i] 段落' 块的总长度不超过 max_context_chars；第一个放不下的段落及其后所有段落整段丢弃。",
             detail=f"budget {budget}, passages {passages}\nexpected {expected} passages, found {kept}\n"
             f"prompt {describe_value(prompt)}")


@explain(
    en="build_rag_prompt rejects an empty question, a str in place of the passage list, and a negative budget.",
    zh="build_rag_prompt 拒绝空问题、用 str 代替段落列表，以及负的预算。",
)
def test_prompt_rejects_bad_input():
    expect_error(ValueError, lambda: rag.build_rag_prompt("", ["p"]),
                 en="An empty question must raise ValueError.", zh="问题为空时必须抛出 ValueError。")
    expect_error(TypeError, lambda: rag.build_rag_prompt("q?", "one passage"),
                 en="passages='one passage' must raise TypeError: pass a list of passages.",
                 zh="passages='one passage' 必须抛出 TypeError：应传入段落列表。")
    expect_error(ValueError, lambda: rag.build_rag_prompt("q?", ["p"], max_context_chars=-1),
                 en="max_context_chars=-1 must raise ValueError.", zh="max_context_chars=-1 时必须抛出 ValueError。")

