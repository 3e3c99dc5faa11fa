"""`kata rag-eval`, the rag corpus and the offline embedder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from checker.catalog import find_kata
from checker.cli import main
from checker.commands.rag_eval import DATA_DIR, evaluate, load_data
from checker.i18n import set_language
from checker.rag_dense import HashingEmbedder
from checker.resolver import kata_module
from tests.helpers import pristine_stub


@pytest.fixture(autouse=True)
def english_by_default():
    set_language("en")
    yield
    set_language(None)


def test_hybrid_recall_at_least_best_single():
    results = evaluate(kata_module("rag", "solutions"), HashingEmbedder())

    overall = results["all"]
    best_single = max(overall["bm25"].recall, overall["dense"].recall)
    assert overall["hybrid"].recall >= best_single, overall


def test_each_retriever_wins_somewhere():
    results = evaluate(kata_module("rag", "solutions"), HashingEmbedder())

    assert results["keyword"]["bm25"].recall > results["keyword"]["dense"].recall
    assert results["cross_lingual"]["dense"].recall > results["cross_lingual"]["bm25"].recall


def test_rag_eval_prints_table(capsys):
    status = main(["rag-eval", "--impl", "solutions"])

    out = capsys.readouterr().out
    assert status == 0, out
    assert "recall@5" in out
    assert "nDCG@10" in out
    for label in ("BM25", "dense", "hybrid RRF", "cross-lingual queries"):
        assert label in out


def test_rag_eval_in_chinese(capsys):
    status = main(["--lang", "zh", "rag-eval", "rag", "--impl", "solutions", "--queries", "zh"])

    out = capsys.readouterr().out
    assert status == 0, out
    for label in ("稠密检索", "混合 RRF", "全部查询"):
        assert label in out


def test_rag_eval_names_missing_functions(tmp_path, capsys):
    stub = pristine_stub(find_kata("rag"), tmp_path)

    status = main(["rag-eval", "--impl", str(stub)])

    err = capsys.readouterr().err
    assert status == 1
    assert "BM25" in err
    assert "dense_top_k" in err
    assert "--impl solutions" in err


def test_rag_eval_rejects_other_kata(capsys):
    status = main(["rag-eval", "loss_mask"])

    assert status == 2
    assert "rag" in capsys.readouterr().err


def test_corpus_files_match_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_rag_data", DATA_DIR / "make_rag_data.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    passages, queries, qrels = script.build()

    data = load_data()
    assert data.passages == passages
    assert data.queries == queries
    assert sum(len(ids) for ids in data.relevant.values()) == len(qrels)


def test_corpus_is_bilingual_and_judged():
    data = load_data()
    passage_ids = {p["id"] for p in data.passages}

    assert len(data.passages) >= 200
    assert {p["lang"] for p in data.passages} == {"en", "zh"}
    assert {q["kind"] for q in data.queries} == {"keyword", "paraphrase", "cross_lingual"}
    for query in data.queries:
        relevant = data.relevant[query["id"]]
        assert relevant <= passage_ids, query
        if query["kind"] == "cross_lingual":
            assert all(not pid.startswith(query["lang"] + "-") for pid in relevant), query


def test_hashing_embedder_is_deterministic_and_normalized():
    texts = ["gradient accumulation over micro-batches", "梯度累积", ""]

    first = HashingEmbedder().encode(texts)
    second = HashingEmbedder().encode(texts)

    assert first.dtype == np.float32
    assert first.shape == (3, 4096)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first[:2], axis=1), 1.0, rtol=1e-5)
    assert not first[2].any()
    assert float(first[0] @ first[1]) > 0.3


def test_corpus_lines_are_json():
    for name in ("corpus.jsonl", "queries.jsonl"):
        for line in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
            assert isinstance(json.loads(line), dict)
