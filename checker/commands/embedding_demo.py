"""`kata embedding-demo`: contrastive training of a small encoder, recall@k before and after.

Trains a 2-layer BERT-style encoder (random weights from a fixed seed, the
project tokenizer) with the `embedding` kata's `mean_pool` and
`info_nce_loss`. Before and after training, its `embed_texts` embeds the
passages of `data/rag/corpus.jsonl` and the queries of
`data/rag/queries.jsonl`, and the `rag` kata's `recall_at_k` scores the
top passages against `data/rag/qrels.tsv`.

Training pairs come from the corpus alone: a passage with its twin in the
other language (the same `fact`), and a short span of a passage with the
whole passage. No query is trained on, so the rise in recall is measured
on held-out queries. It leaves out hard negatives and pretrained weights.

    kata embedding-demo                      # your katas/embedding/embedding.py
    kata embedding-demo --impl solutions     # the reference solutions
    make embedding-demo IMPL=solutions ARGS="--steps 100"
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from checker import REPO_ROOT
from checker.commands.common import add_lang_argument
from checker.i18n import tr

RAG_DIR = REPO_ROOT / "data" / "rag"
TOKENIZER_DIR = REPO_ROOT / "data" / "tokenizer"


@dataclass
class DemoConfig:
    steps: int = 300  # optimizer steps
    batch_size: int = 32  # pairs per step, so batch_size - 1 in-batch negatives
    lr: float = 1e-3  # AdamW learning rate
    temperature: float = 0.05  # InfoNCE temperature
    span_share: float = 0.7  # share of span pairs in a batch; the rest are translation pairs
    hidden_size: int = 64
    layers: int = 2
    max_length: int = 64  # tokens per text in training and evaluation
    k: int = 5  # recall@k
    log_every: int = 50  # steps between progress lines; 0 = none
    seed: int = 0
    threads: int = 1  # torch CPU threads


@dataclass
class Recall:
    overall: float
    by_kind: dict[str, float]


@dataclass
class DemoResult:
    before: Recall
    after: Recall
    seconds: float


# ---------------------------------------------------------------- data


def load_rag_data(folder: Path = RAG_DIR) -> tuple[list[dict], list[dict], dict[str, set[str]]]:
    """Passages, queries and the relevant passage ids of each query."""
    passages = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line]
    queries = [json.loads(line) for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line]
    relevant: dict[str, set[str]] = defaultdict(set)
    for line in (folder / "qrels.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            query_id, _, doc_id, grade = line.split("\t")
            if int(grade) > 0:
                relevant[query_id].add(doc_id)
    return passages, queries, relevant


def translation_pairs(passages: list[dict]) -> list[tuple[str, str]]:
    """(passage, its twin in the other language), both ways, for every fact stated twice."""
    by_fact: dict[str, list[str]] = defaultdict(list)
    for passage in passages:
        by_fact[passage["fact"]].append(passage["text"])
    pairs = []
    for texts in by_fact.values():
        if len(texts) == 2:
            pairs += [(texts[0], texts[1]), (texts[1], texts[0])]
    return pairs


def span_pair(passage: dict, rng: random.Random) -> tuple[str, str]:
    """(a short span of the passage, the passage): a pseudo-query drawn from the corpus itself."""
    text = passage["text"]
    if passage["lang"] == "zh":
        # Chinese has no spaces between words, so the span is counted in characters.
        size = rng.randint(4, 10)
        start = rng.randint(0, max(0, len(text) - size))
        return text[start:start + size], text
    words = text.split()
    size = rng.randint(2, 6)
    start = rng.randint(0, max(0, len(words) - size))
    return " ".join(words[start:start + size]), text


def sample_batch(passages, translations, config: DemoConfig, rng: random.Random) -> list[tuple[str, str]]:
    batch = []
    for _ in range(config.batch_size):
        if not translations or rng.random() < config.span_share:
            batch.append(span_pair(rng.choice(passages), rng))
        else:
            batch.append(rng.choice(translations))
    return batch


# ---------------------------------------------------------------- model and metrics


def build_encoder(config: DemoConfig):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    bert_config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, num_hidden_layers=config.layers,
        num_attention_heads=4, intermediate_size=2 * config.hidden_size, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = BertModel(bert_config, add_pooling_layer=False)
    return model, tokenizer


def evaluate(embedding, rag, model, tokenizer, passages, queries, relevant, config: DemoConfig) -> Recall:
    """Mean recall@k of every query against the whole corpus, overall and per query kind."""
    import numpy as np

    doc_vectors = embedding.embed_texts([p["text"] for p in passages], model, tokenizer,
                                        batch_size=64, max_length=config.max_length)
    query_vectors = embedding.embed_texts([q["text"] for q in queries], model, tokenizer,
                                          batch_size=64, max_length=config.max_length)
    scores = query_vectors @ doc_vectors.T  # [queries, passages], cosine similarities
    ids = [p["id"] for p in passages]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for row, query in enumerate(queries):
        top = np.argsort(-scores[row], kind="stable")[: config.k]
        by_kind[query["kind"]].append(float(rag.recall_at_k([ids[i] for i in top], relevant[query["id"]], config.k)))
    every = [value for values in by_kind.values() for value in values]
    return Recall(sum(every) / len(every), {kind: sum(v) / len(v) for kind, v in by_kind.items()})


def describe_recall(label: str, recall: Recall, k: int) -> str:
    kinds = " | ".join(f"{kind} {value:.3f}" for kind, value in sorted(recall.by_kind.items()))
    return f"{label} | recall@{k} {recall.overall:.3f} | {kinds}"


# ---------------------------------------------------------------- training


def train_and_evaluate(embedding, rag, config: DemoConfig, echo=print) -> DemoResult:
    """Measure recall@k, train with InfoNCE on corpus pairs, and measure again."""
    import torch

    torch.set_num_threads(config.threads)
    passages, queries, relevant = load_rag_data()
    translations = translation_pairs(passages)
    model, tokenizer = build_encoder(config)
    parameters = sum(p.numel() for p in model.parameters())
    echo(tr(
        f"config | steps {config.steps} | batch {config.batch_size} | lr {config.lr:.1e} | "
        f"temperature {config.temperature} | encoder BERT {config.layers}x{config.hidden_size} "
        f"({parameters / 1e6:.2f}M params) | threads {config.threads} | seed {config.seed}",
        f"配置 | 步数 {config.steps} | batch {config.batch_size} | 学习率 {config.lr:.1e} | "
        f"temperature {config.temperature} | 编码器 BERT {config.layers}x{config.hidden_size}"
        f"（{parameters / 1e6:.2f}M 参数）| 线程 {config.threads} | 种子 {config.seed}",
    ))
    echo(tr(
        f"data | {len(translations)} translation pairs and span pairs from {len(passages)} passages | "
        f"evaluated on {len(queries)} queries, none of them trained on",
        f"数据 | {len(translations)} 个中英对照样本对，以及从 {len(passages)} 个段落中截取的片段样本对 | "
        f"在 {len(queries)} 个查询上评测，它们都没有参与训练",
    ))

    before = evaluate(embedding, rag, model, tokenizer, passages, queries, relevant, config)
    echo(describe_recall(tr("before", "训练前"), before, config.k))

    rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    model.train()
    start = time.monotonic()
    for step in range(1, config.steps + 1):
        batch = sample_batch(passages, translations, config, rng)
        encoded = [
            tokenizer(list(side), padding=True, truncation=True, max_length=config.max_length, return_tensors="pt")
            for side in zip(*batch)
        ]
        # [B, H] each: the query side and the document side of the pairs
        queries_emb, docs_emb = (
            embedding.mean_pool(model(**e).last_hidden_state, e["attention_mask"]) for e in encoded
        )
        loss = embedding.info_nce_loss(queries_emb, docs_emb, temperature=config.temperature, symmetric=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if config.log_every and (step % config.log_every == 0 or step == config.steps):
            pace = (time.monotonic() - start) / step
            echo(tr(f"step {step:>4}/{config.steps} | loss {loss.item():.4f} | {pace:.2f} s/step",
                    f"第 {step:>4}/{config.steps} 步 | 损失 {loss.item():.4f} | {pace:.2f} 秒/步"))
    seconds = time.monotonic() - start

    after = evaluate(embedding, rag, model, tokenizer, passages, queries, relevant, config)
    echo(describe_recall(tr("after ", "训练后"), after, config.k))
    return DemoResult(before=before, after=after, seconds=seconds)


# ---------------------------------------------------------------- command


def shown_path(path: Path) -> str:
    """`path` relative to the repository when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def pick_metrics(impl: str):
    """Choose the `rag` module whose recall_at_k scores the demo; the note says when it is not the requested one."""
    from checker.resolver import kata_module, resolve_path

    # A path to one .py file implements the embedding kata only; rag then comes from solutions.
    single_file = resolve_path("rag", impl) == resolve_path("embedding", impl)
    if impl == "solutions" or single_file:
        return kata_module("rag", "solutions"), None
    rag = kata_module("rag", impl)
    try:
        sane = rag.recall_at_k(["a", "b"], {"b"}, 1) == 0.0 and rag.recall_at_k(["a", "b"], {"b"}, 2) == 1.0
    except BaseException:  # noqa: BLE001 - a stub raises a BaseException subclass; any failure means "not ready"
        sane = False
    if sane:
        return rag, None
    note = tr(
        f"note: recall_at_k in {shown_path(resolve_path('rag', impl))} is not implemented or gives wrong values, "
        "so the reference solutions/rag.py scores this run",
        f"提示：{shown_path(resolve_path('rag', impl))} 中的 recall_at_k 尚未实现或结果不对，本次改用参考实现 solutions/rag.py 计算指标",
    )
    return kata_module("rag", "solutions"), note


def run(arguments: argparse.Namespace) -> int:
    from checker.resolver import (
        ImplementationLoadError,
        KataNotImplemented,
        MissingFunctionError,
        kata_module,
        resolve_path,
    )

    if arguments.name not in (None, "embedding"):
        print(tr(f"error: embedding-demo trains the embedding kata, not {arguments.name!r}; "
                 "run `kata embedding-demo` or `kata embedding-demo embedding`",
                 f"错误：embedding-demo 训练的是 embedding 题，而不是 {arguments.name!r}；"
                 "请运行 `kata embedding-demo` 或 `kata embedding-demo embedding`"))
        return 2
    impl = arguments.impl or "katas"
    config = DemoConfig(
        steps=arguments.steps, batch_size=arguments.batch_size, lr=arguments.lr,
        temperature=arguments.temperature, k=arguments.k, seed=arguments.seed, threads=arguments.threads,
    )
    embedding = kata_module("embedding", impl)
    rag, note = pick_metrics(impl)
    shown_embedding, shown_rag = shown_path(resolve_path("embedding", impl)), shown_path(rag.path)
    print(tr(f"embedding-demo | embedding: {shown_embedding} | metrics: {shown_rag}",
             f"embedding-demo | embedding：{shown_embedding} | 指标：{shown_rag}"), flush=True)
    if note:
        print(note)
    try:
        result = train_and_evaluate(embedding, rag, config, echo=lambda line: print(line, flush=True))
    except KataNotImplemented as error:
        print(tr(f"Your embedding kata is not finished: {error} raises NotImplementedError. "
                 "Pass `kata check embedding` first, or watch the reference: kata embedding-demo --impl solutions",
                 f"你的 embedding 题还没有完成：{error} 抛出了 NotImplementedError。"
                 "请先通过 `kata check embedding`，或者先看参考实现：kata embedding-demo --impl solutions"))
        return 1
    except (ImplementationLoadError, MissingFunctionError) as error:
        print(tr(f"error: cannot use the embedding implementation: {error}",
                 f"错误：无法使用该 embedding 实现：{error}"))
        return 1
    gain = result.after.overall - result.before.overall
    print(tr(
        f"recall@{config.k} {result.before.overall:.3f} -> {result.after.overall:.3f} ({gain:+.3f}) | "
        f"trained in {result.seconds:.0f} s",
        f"recall@{config.k} {result.before.overall:.3f} -> {result.after.overall:.3f}（{gain:+.3f}）| "
        f"训练用时 {result.seconds:.0f} 秒",
    ))
    return 0


def register(subparsers) -> None:
    defaults = DemoConfig()
    parser = subparsers.add_parser(
        "embedding-demo",
        help=tr("train a small encoder with your InfoNCE and print recall@5 before and after",
                "用你的 InfoNCE 训练一个小编码器，并打印训练前后的 recall@5"),
    )
    parser.add_argument("name", nargs="?", help=tr("the kata to use; only 'embedding'", "使用的题目，只能是 'embedding'"))
    parser.add_argument("--impl", help=tr(
        "what to run: 'katas' (your files, default), 'solutions', or a path to a .py file or folder",
        "运行哪个实现：'katas'（你的文件，默认）、'solutions'（参考答案），或某个 .py 文件/文件夹的路径"))
    parser.add_argument("--steps", type=int, default=defaults.steps,
                        help=tr("optimizer steps (default %(default)s)", "优化器步数（默认 %(default)s）"))
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, dest="batch_size",
                        help=tr("pairs per step (default %(default)s)", "每步的样本对数（默认 %(default)s）"))
    parser.add_argument("--lr", type=float, default=defaults.lr,
                        help=tr("AdamW learning rate (default %(default)s)", "AdamW 学习率（默认 %(default)s）"))
    parser.add_argument("--temperature", type=float, default=defaults.temperature,
                        help=tr("InfoNCE temperature (default %(default)s)", "InfoNCE 的 temperature（默认 %(default)s）"))
    parser.add_argument("--k", type=int, default=defaults.k,
                        help=tr("cutoff of recall@k (default %(default)s)", "recall@k 的截断位置 k（默认 %(default)s）"))
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help=tr("seed of the weights and the batches (default %(default)s)",
                                "权重初始化与 batch 采样的随机种子（默认 %(default)s）"))
    parser.add_argument("--threads", type=int, default=defaults.threads,
                        help=tr("torch CPU threads (default %(default)s: the model is small, and extra threads "
                                "on a busy machine slow it down)",
                                "torch 的 CPU 线程数（默认 %(default)s：模型很小，机器繁忙时多线程反而更慢）"))
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
