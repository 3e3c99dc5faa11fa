"""Mutant: treats only U+4E00-9FFF as Han, so Extension A and Compatibility Ideographs join words instead of forming bigrams."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

# Han characters: CJK Unified Ideographs, Extension A and the compatibility block.
_HAN = "\u4e00-\u9fff"
# A Han run, or a run of other alphanumeric characters ([^\W_] is str.isalnum()).
_TOKEN_RUN = re.compile(f"([{_HAN}]+)|([^\\W_{_HAN}]+)")


# ---------------------------------------------------------------- chunking


def chunk_text(text: str, chunk_size: int, overlap: int) -> list[str]:
    """Split `text` into character windows of `chunk_size` that overlap by `overlap`.

    Windows start at 0, stride, 2 * stride, ... with stride
    `chunk_size - overlap`, and the last window is the first one that
    reaches the end of the text (it may be shorter). `""` gives `[]`.

    Raises TypeError when `text` is not a str or a size is not an int, and
    ValueError when `chunk_size <= 0`, `overlap < 0` or
    `overlap >= chunk_size` (the window would never advance).

    >>> chunk_text("abcdefghij", 5, 2)
    ['abcde', 'defgh', 'ghij']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    _check_int("chunk_size", chunk_size)
    _check_int("overlap", overlap)
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if overlap < 0:
        raise ValueError(f"overlap must be 0 or more, got {overlap}")
    if overlap >= chunk_size:
        raise ValueError(
            f"overlap ({overlap}) must be smaller than chunk_size ({chunk_size}), "
            "or the window never advances"
        )

    stride = chunk_size - overlap
    chunks = []
    start = 0
    while start < len(text):
        chunks.append(text[start : start + chunk_size])
        if start + chunk_size >= len(text):
            break
        start += stride
    return chunks


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")


# ---------------------------------------------------------------- tokenizing


def tokenize(text: str) -> list[str]:
    """Split text into lowercased words and Chinese character bigrams.

    A run of alphanumeric characters (`str.isalnum()`) that are not Han
    characters is one word, lowercased. A run of Han characters becomes its
    overlapping bigrams; a run of one character stays itself. Everything
    else (spaces, punctuation, `_`) separates tokens. Raises TypeError when
    `text` is not a str.

    >>> tokenize("LoRA 微调模型, rank=8")
    ['lora', '微调', '调模', '模型', 'rank', '8']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    tokens = []
    for han, word in _TOKEN_RUN.findall(text):
        if word:
            tokens.append(word.lower())
        elif len(han) == 1:
            tokens.append(han)
        else:
            tokens.extend(han[i : i + 2] for i in range(len(han) - 1))
    return tokens


# ---------------------------------------------------------------- BM25


def _check_tokens(name: str, tokens: object) -> list[str]:
    # NOTE: a str is iterable, so without this check "hello" would be scored
    # as the five tokens h, e, l, l, o.
    if isinstance(tokens, (str, bytes)):
        raise TypeError(f"{name} must be a list of tokens, got the string {tokens!r}; call tokenize() first")
    if not isinstance(tokens, Iterable):
        raise TypeError(f"{name} must be a list of tokens, got {type(tokens).__name__}")
    tokens = list(tokens)
    for token in tokens:
        if not isinstance(token, str):
            raise TypeError(f"{name} must contain str tokens, got {token!r}")
    return tokens


class BM25:
    """Okapi BM25 over tokenized documents, scored with the same formula as rank_bm25.

    idf(t) = ln(N - n_t + 0.5) - ln(n_t + 0.5) for a term in n_t of N
    documents. A negative idf (a term in more than half the documents) is
    replaced by `epsilon * mean idf`, the mean taken over every term before
    the replacement. A query term scores

        idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))

    in each document, and a document's score sums this over the query
    tokens, so a repeated query token counts again.

    The index is inverted: each term keeps the ids of the documents that
    contain it and its precomputed score in each, so a query touches only
    those postings.

    Raises TypeError when the corpus, a document or a query is a str rather
    than a list of tokens (a str would be scored character by character),
    and ValueError for an empty corpus, a corpus whose documents are all
    empty, `k1 < 0`, or `b` outside [0, 1].

    >>> bm25 = BM25([["hello", "world"], ["foo", "bar"], ["hello", "foo"]])
    >>> bm25.get_scores(["hello"]).tolist()     # idf < 0, floored to 0.25 * mean idf = 0
    [0.0, 0.0, 0.0]
    """

    def __init__(self, corpus_tokens: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75,
                 epsilon: float = 0.25):
        if isinstance(corpus_tokens, (str, bytes)) or not isinstance(corpus_tokens, Iterable):
            raise TypeError(
                f"corpus_tokens must be a list of token lists, got {type(corpus_tokens).__name__}"
            )
        documents = [_check_tokens(f"corpus_tokens[{i}]", doc) for i, doc in enumerate(corpus_tokens)]
        if not documents:
            raise ValueError("corpus_tokens is empty: BM25 needs at least one document")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"expected k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1 = k1
        self.b = b
        self.epsilon = epsilon
        self.corpus_size = len(documents)
        self.doc_len = np.array([len(doc) for doc in documents], dtype=np.float64)
        if self.doc_len.sum() == 0:
            raise ValueError(
                f"all {self.corpus_size} documents are empty: BM25 needs at least one token"
            )
        self.avgdl = self.doc_len.sum() / self.corpus_size

        # term -> (document ids, term frequencies), in order of first appearance
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for doc_id, doc in enumerate(documents):
            counts: dict[str, int] = {}
            for token in doc:
                counts[token] = counts.get(token, 0) + 1
            for token, count in counts.items():
                ids, freqs = postings.setdefault(token, ([], []))
                ids.append(doc_id)
                freqs.append(count)

        self.idf = self._idf({term: len(ids) for term, (ids, _) in postings.items()})

        self.vocabulary = {term: index for index, term in enumerate(postings)}
        lengths = np.array([len(ids) for ids, _ in postings.values()], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(lengths)])
        self._doc_ids = np.fromiter((i for ids, _ in postings.values() for i in ids), dtype=np.int64,
                                    count=int(lengths.sum()))
        freqs = np.fromiter((f for _, fs in postings.values() for f in fs), dtype=np.float64,
                            count=int(lengths.sum()))
        term_idf = np.repeat(np.array([self.idf[t] for t in postings], dtype=np.float64), lengths)
        # Same operation order as rank_bm25, so the scores agree bit for bit.
        norm = k1 * (1 - b + b * self.doc_len[self._doc_ids] / self.avgdl)
        self._weights = term_idf * (freqs * (k1 + 1) / (freqs + norm))

    def _idf(self, doc_freq: dict[str, int]) -> dict[str, float]:
        idf = {}
        negative = []
        for term, n in doc_freq.items():
            value = math.log(self.corpus_size - n + 0.5) - math.log(n + 0.5)
            idf[term] = value
            if value < 0:
                negative.append(term)
        # The mean includes the negative values, before any is replaced.
        floor = self.epsilon * (sum(idf.values()) / len(idf))
        for term in negative:
            idf[term] = floor
        return idf

    def get_scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Return the BM25 score of every document, float64 `[N]`; unknown tokens add 0."""
        query = _check_tokens("query_tokens", query_tokens)
        scores = np.zeros(self.corpus_size, dtype=np.float64)
        for token in query:
            index = self.vocabulary.get(token)
            if index is None:
                continue
            start, end = self._offsets[index], self._offsets[index + 1]
            # A document appears once per postings list, so += with fancy indexing is safe.
            scores[self._doc_ids[start:end]] += self._weights[start:end]
        return scores

    def top_k(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Return the `k` best `(doc_id, score)` pairs, score descending, ties by lower id.

        A `k` above the corpus size returns every document. Raises ValueError
        for `k <= 0`.
        """
        _check_int("k", k)
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        scores = self.get_scores(query_tokens)
        # lexsort sorts by the last key first: score descending, then id ascending.
        order = np.lexsort((np.arange(self.corpus_size), -scores))[:k]
        return [(int(i), float(scores[i])) for i in order]


# ---------------------------------------------------------------- dense


def _as_matrix(name: str, value: object) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [count, dim], got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def _inverse_norms(matrix: np.ndarray, name: str) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    if not np.isfinite(norms).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    # A zero vector gets inverse norm 0, so it scores 0 against everything.
    safe = np.where(norms > 0, norms, 1.0)
    return np.where(norms > 0, 1.0 / safe, 0.0).astype(np.float32)


def dense_top_k(queries: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine-similarity search: the `min(k, n)` best docs for each query.

    `queries` is `[q, d]`, `docs` is `[n, d]`, any float or int dtype, any
    memory layout. Returns `(scores, ids)`, float32 and int64, both
    `[q, min(k, n)]`, best first. Ids are always valid row numbers of
    `docs` (never -1); a zero vector scores 0 against everything.

    Raises ValueError when an input is not 2-D, the dimensions differ,
    `docs` is empty, `k <= 0`, or a vector holds NaN or infinity.

    >>> scores, ids = dense_top_k(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0], [3.0, 0.0], [1.0, 1.0]]), 5)
    >>> ids.tolist(), scores.dtype, ids.dtype
    ([[1, 2, 0]], dtype('float32'), dtype('int64'))
    """
    _check_int("k", k)
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    q = _as_matrix("queries", queries)
    d = _as_matrix("docs", docs)
    if q.shape[1] != d.shape[1]:
        raise ValueError(
            f"queries have dimension {q.shape[1]} but docs have {d.shape[1]}; embed both with the same model"
        )
    n = d.shape[0]
    if n == 0:
        raise ValueError("docs is empty: there is nothing to search")

    # Normalize the (few) queries, but scale the scores by 1/|doc| instead of
    # copying the (many) docs: [q, n] work instead of [n, d].
    q = q * _inverse_norms(q, "queries")[:, None]
    scores = (q @ d.T) * _inverse_norms(d, "docs")[None, :]  # [q, n]

    k = min(k, n)
    if k < n:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # [q, k], unordered
    else:
        candidates = np.broadcast_to(np.arange(n), (q.shape[0], n))
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    # Sort the k candidates: score descending, then lower id first.
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    ids = np.take_along_axis(candidates, order, axis=1).astype(np.int64)
    top = np.take_along_axis(candidate_scores, order, axis=1).astype(np.float32)
    return top, ids


# ---------------------------------------------------------------- fusion


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hashable]], k: float = 60) -> list[tuple[Hashable, float]]:
    """Fuse several rankings: each id scores the sum of 1 / (k + rank) over the lists.

    Ranks are 1-based. An id missing from a list gets nothing from it; an
    id repeated within one list counts once, at its best (first) rank.
    Returns `(id, score)` pairs, score descending; ties keep the order in
    which the ids first appear (first list first). Raises TypeError when
    `rankings` or one ranking is a str, and ValueError when `k < 0`.

    >>> reciprocal_rank_fusion([["x", "a"], ["b", "x"]], k=60)[0]
    ('x', 0.03252247488101534)
    """
    if isinstance(rankings, (str, bytes)) or not isinstance(rankings, Iterable):
        raise TypeError(f"rankings must be a list of ranked id lists, got {type(rankings).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or k < 0:
        raise ValueError(f"k must be a number >= 0, got {k!r}")
    scores: dict[Hashable, float] = {}
    for position, ranking in enumerate(rankings):
        if isinstance(ranking, (str, bytes)) or not isinstance(ranking, Iterable):
            raise TypeError(
                f"rankings[{position}] must be a list of ids, got {ranking!r}; "
                "wrap a single ranking in a list: [ranking]"
            )
        seen = set()
        for rank, doc_id in enumerate(ranking, start=1):
            if doc_id in seen:
                continue
            seen.add(doc_id)
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    # sorted() is stable and dicts keep insertion order, so ties keep first appearance.
    return sorted(scores.items(), key=lambda item: -item[1])


# ---------------------------------------------------------------- metrics


def _relevant_set(relevant: Iterable[Hashable]) -> set:
    if isinstance(relevant, (str, bytes)) or not isinstance(relevant, Iterable):
        raise TypeError(f"relevant must be a collection of ids, got {relevant!r}")
    found = set(relevant)
    if not found:
        raise ValueError("relevant is empty: the metric is undefined for a query with no relevant document")
    return found


def _ranked(retrieved: Sequence[Hashable]) -> list[Hashable]:
    if isinstance(retrieved, (str, bytes)) or not isinstance(retrieved, Iterable):
        raise TypeError(f"retrieved must be a ranked list of ids, got {retrieved!r}")
    return list(retrieved)


def _first_hits(retrieved: list[Hashable], relevant: set, k: int | None = None) -> list[int]:
    """1-based ranks at which a relevant id appears for the first time."""
    hits, seen = [], set()
    for rank, doc_id in enumerate(retrieved[:k] if k is not None else retrieved, start=1):
        if doc_id in relevant and doc_id not in seen:
            hits.append(rank)
        seen.add(doc_id)
    return hits


def _check_k(k: object) -> None:
    _check_int("k", k)
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")


def recall_at_k(retrieved: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Share of the relevant ids found in the top `k` of `retrieved`.

    A repeated id counts once; the repeat still takes up its position.
    Raises ValueError when `relevant` is empty or `k <= 0`.

    >>> recall_at_k(["a", "a", "b", "c"], {"a", "c"}, k=3)
    0.5
    """
    _check_k(k)
    relevant = _relevant_set(relevant)
    return len(_first_hits(_ranked(retrieved), relevant, k)) / len(relevant)


def mrr(retrieved: Sequence[Hashable], relevant: Iterable[Hashable]) -> float:
    """Reciprocal rank of the first relevant id (0 when none is retrieved).

    Averaged over queries this is the mean reciprocal rank. Raises
    ValueError when `relevant` is empty.

    >>> mrr(["a", "b", "c"], {"c"})
    0.3333333333333333
    """
    relevant = _relevant_set(relevant)
    hits = _first_hits(_ranked(retrieved), relevant)
    return 1.0 / hits[0] if hits else 0.0


def ndcg_at_k(retrieved: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """nDCG@k with binary relevance: DCG of the top `k` over the best possible DCG.

    DCG = sum of 1 / log2(rank + 1) over the ranks of relevant ids (each id
    once); the ideal puts min(k, len(relevant)) relevant ids first.
    Raises ValueError when `relevant` is empty or `k <= 0`.

    >>> round(ndcg_at_k(["x", "a"], {"a"}, k=10), 4)
    0.6309
    """
    _check_k(k)
    relevant = _relevant_set(relevant)
    dcg = sum(1.0 / math.log2(rank + 1) for rank in _first_hits(_ranked(retrieved), relevant, k))
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


# ---------------------------------------------------------------- prompt

RAG_INSTRUCTION = (
    "Answer the question using only the numbered passages below. "
    "Cite the passages you use by their numbers, like [1] or [2][3]. "
    "If the passages do not contain the answer, say that you do not know."
)


def build_rag_prompt(question: str, passages: Sequence[str], max_context_chars: int | None = None) -> str:
    """Build a prompt with numbered passages, an instruction to cite them, and the question.

    Passage i (1-based) is written as `[i] passage`, passages separated by a
    blank line. With `max_context_chars`, passages are kept in order while
    the total length of their `[i] passage` blocks stays within the budget;
    the first one that does not fit and every one after it are dropped
    whole, never cut. With no passage left the context reads
    `(no passages)`.

    Raises ValueError for an empty question or a negative budget, and
    TypeError when `passages` is a str or holds something other than str.

    >>> print(build_rag_prompt("What is BM25?", ["BM25 ranks documents."]))
    Answer the question using only the numbered passages below. Cite the passages you use by their numbers, like [1] or [2][3]. If the passages do not contain the answer, say that you do not know.
    <BLANKLINE>
    [1] BM25 ranks documents.
    <BLANKLINE>
    Question: What is BM25?
    Answer:
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty str, got {question!r}")
    if isinstance(passages, (str, bytes)) or not isinstance(passages, Iterable):
        raise TypeError(f"passages must be a list of str, got {passages!r}")
    passages = list(passages)
    for index, passage in enumerate(passages):
        if not isinstance(passage, str):
            raise TypeError(f"passages[{index}] must be a str, got {type(passage).__name__}")
    if max_context_chars is not None:
        _check_int("max_context_chars", max_context_chars)
        if max_context_chars < 0:
            raise ValueError(f"max_context_chars must be 0 or more (or None), got {max_context_chars}")

    blocks, used = [], 0
    for number, passage in enumerate(passages, start=1):
        block = f"[{number}] {passage}"
        if max_context_chars is not None and used + len(block) > max_context_chars:
            break
        blocks.append(block)
        used += len(block)
    context = "\n\n".join(blocks) if blocks else "(no passages)"
    return f"{RAG_INSTRUCTION}\n\n{context}\n\nQuestion: {question}\nAnswer:"
