"""Kata `rag`: chunk, retrieve, fuse, score, prompt.

Retrieval for RAG in nine small parts: a character chunker, a bilingual
tokenizer (English words, Chinese bigrams), BM25 with the same scores as
`rank_bm25.BM25Okapi`, exact cosine top-k with the same ids as a faiss
`IndexFlatIP`, reciprocal rank fusion, three ranking metrics with binary
relevance, and the prompt that hands the passages to a model.

Not covered: approximate nearest-neighbour indexes, graded relevance,
rerankers, and token-based chunking.

Grade it with `make check KATA=rag` (or `kata check rag`), then run your
retrievers on the project's corpus with `kata rag-eval`. The full task
statement, with examples, is in README.md beside this file.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np


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
    # TODO: validate the arguments, then slide a window of chunk_size by chunk_size - overlap until a window reaches the end.
    raise NotImplementedError("chunk_text")


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
    # TODO: find the word runs and the Han runs; lowercase words, split Han runs into overlapping bigrams.
    raise NotImplementedError("tokenize")


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
        # TODO: check the corpus, count document frequencies, compute the floored idf, and build the inverted index (postings per term).
        raise NotImplementedError("BM25.__init__")

    def get_scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Return the BM25 score of every document, float64 `[N]`; unknown tokens add 0."""
        # TODO: reject a str query, then add each query token's postings into a zero score vector.
        raise NotImplementedError("BM25.get_scores")

    def top_k(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Return the `k` best `(doc_id, score)` pairs, score descending, ties by lower id.

        A `k` above the corpus size returns every document. Raises ValueError
        for `k <= 0`.
        """
        # TODO: sort the scores (descending, ties by lower index) and keep k.
        raise NotImplementedError("BM25.top_k")


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
    # TODO: normalize, score every query against every doc with one matrix product, then take the top min(k, n) per row.
    raise NotImplementedError("dense_top_k")


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
    # TODO: add 1 / (k + rank) per list (1-based, each id once per list), then sort by score, ties in first-appearance order.
    raise NotImplementedError("reciprocal_rank_fusion")


def recall_at_k(retrieved: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Share of the relevant ids found in the top `k` of `retrieved`.

    A repeated id counts once; the repeat still takes up its position.
    Raises ValueError when `relevant` is empty or `k <= 0`.

    >>> recall_at_k(["a", "a", "b", "c"], {"a", "c"}, k=3)
    0.5
    """
    # TODO: count the distinct relevant ids in the first k positions.
    raise NotImplementedError("recall_at_k")


def mrr(retrieved: Sequence[Hashable], relevant: Iterable[Hashable]) -> float:
    """Reciprocal rank of the first relevant id (0 when none is retrieved).

    Averaged over queries this is the mean reciprocal rank. Raises
    ValueError when `relevant` is empty.

    >>> mrr(["a", "b", "c"], {"c"})
    0.3333333333333333
    """
    # TODO: return 1 / rank of the first relevant id, or 0.
    raise NotImplementedError("mrr")


def ndcg_at_k(retrieved: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """nDCG@k with binary relevance: DCG of the top `k` over the best possible DCG.

    DCG = sum of 1 / log2(rank + 1) over the ranks of relevant ids (each id
    once); the ideal puts min(k, len(relevant)) relevant ids first.
    Raises ValueError when `relevant` is empty or `k <= 0`.

    >>> round(ndcg_at_k(["x", "a"], {"a"}, k=10), 4)
    0.6309
    """
    # TODO: sum 1 / log2(rank + 1) over the first hit of each relevant id in the top k, divided by the ideal DCG.
    raise NotImplementedError("ndcg_at_k")


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
    # TODO: validate, keep whole passages while they fit the budget, number them [1], [2], ... and add the instruction and the question.
    raise NotImplementedError("build_rag_prompt")
