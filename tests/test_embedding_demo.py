"""`kata embedding-demo` raises recall@5 on the held-out RAG queries."""

from __future__ import annotations

from checker.cli import main
from checker.commands.embedding_demo import DemoConfig, train_and_evaluate
from checker.resolver import kata_module

# 80 steps of 16 pairs take about 10 s on 2 busy CPU cores; the default
# 300 steps of 32 pairs are what `kata embedding-demo` runs.
SMALL = DemoConfig(steps=80, batch_size=16, log_every=0)
MIN_GAIN = 0.05


def test_small_run_raises_recall():
    lines = []

    result = train_and_evaluate(
        kata_module("embedding", "solutions"), kata_module("rag", "solutions"), SMALL, echo=lines.append
    )

    assert 0.0 <= result.before.overall <= 1.0
    assert result.after.overall >= result.before.overall + MIN_GAIN, "\n".join(lines)
    assert any(line.startswith("before | recall@5") for line in lines), lines
    assert any(line.startswith("after  | recall@5") for line in lines), lines


def test_stub_run_reports_not_finished(tmp_path, capsys):
    stub = tmp_path / "embedding.py"
    stub.write_text("def mean_pool(*args):\n    raise NotImplementedError('mean_pool')\n"
                    "def embed_texts(*args, **kwargs):\n    raise NotImplementedError('embed_texts')\n"
                    "def info_nce_loss(*args, **kwargs):\n    raise NotImplementedError('info_nce_loss')\n")

    status = main(["--lang", "en", "embedding-demo", "--impl", str(stub), "--steps", "1"])

    assert status == 1
    assert "not finished" in capsys.readouterr().out


def test_other_kata_name_rejected(capsys):
    status = main(["--lang", "en", "embedding-demo", "lora"])

    assert status == 2
    assert "trains the embedding kata" in capsys.readouterr().out
