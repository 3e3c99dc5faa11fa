"""`kata capstone` end to end on a tiny config, and its message for unsolved katas."""

from __future__ import annotations

import json
import shutil

import pytest

from checker import REPO_ROOT
from checker.catalog import find_kata
from tests.capstone_support import TINY_RUN, run_kata
from tests.helpers import pristine_stub

pytestmark = pytest.mark.slow

RUN_FILES = ["adapter", "config.json", "loss.png", "lr.png", "metrics.json", "samples.md"]


def test_run_writes_the_run_folder(tmp_path):
    result = run_kata(["capstone", *TINY_RUN, "--output-dir", str(tmp_path), "--name", "tiny", "--log-every", "2"])

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = tmp_path / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == RUN_FILES
    assert sorted(p.name for p in (folder / "adapter").iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert len(metrics["records"]) == 6
    assert 0.0 <= metrics["metric_before"] <= 1.0
    assert 0.0 <= metrics["metric_after"] <= 1.0
    assert metrics["tokens_per_second"] > 0
    assert metrics["peak_memory_mb"] > 0
    assert metrics["trainable_params"] < metrics["total_params"]
    assert "config (resolved):" in result.stdout
    assert "capstone summary" in result.stdout
    assert "step    2/6 | loss" in result.stdout
    assert "before:" in (folder / "samples.md").read_text()


def test_summary_in_chinese(tmp_path):
    result = run_kata(["capstone", *TINY_RUN, "--output-dir", str(tmp_path), "--lang", "zh", "--steps", "2"])

    assert result.returncode == 0, result.stderr[-3000:]
    assert "capstone 运行总结" in result.stdout
    assert "训练前 exact match" in result.stdout


def test_unsolved_katas_are_named(tmp_path):
    folder = tmp_path / "impl"
    folder.mkdir()
    for name in ("capstone", "loss_mask", "collate"):
        shutil.copy(REPO_ROOT / "solutions" / f"{name}.py", folder / f"{name}.py")
    for name in ("lora", "train_loop"):
        shutil.copy(pristine_stub(find_kata(name), tmp_path), folder / f"{name}.py")

    result = run_kata(["capstone", "--impl", str(folder), "--output-dir", str(tmp_path)], timeout=300)

    assert result.returncode == 1
    assert "lora" in result.stderr
    assert "train_loop" in result.stderr
    assert "collate " not in result.stderr
    assert "--impl solutions" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "capstone").exists()


def test_unwired_capstone_is_named(tmp_path):
    stub = pristine_stub(find_kata("capstone"), tmp_path)

    result = run_kata(["capstone", *TINY_RUN[2:], "--impl", str(stub), "--kata-impl", "solutions",
                       "--output-dir", str(tmp_path)], timeout=300)

    assert result.returncode == 1
    assert "build_examples" in result.stderr
    assert "Traceback" not in result.stderr


def test_other_kata_name_is_rejected():
    result = run_kata(["capstone", "lora"], timeout=120)

    assert result.returncode == 2
    assert "capstone only" in result.stderr


def test_packing_gives_padded_losses(tmp_path):
    shared = [*TINY_RUN, "--steps", "3", "--output-dir", str(tmp_path)]

    padded = run_kata(["capstone", *shared, "--name", "padded"])
    packed = run_kata(["capstone", *shared, "--name", "packed", "--packing"])

    assert padded.returncode == 0, padded.stderr[-3000:]
    assert packed.returncode == 0, packed.stderr[-3000:]
    padded_losses = json.loads((tmp_path / "padded" / "metrics.json").read_text())["step_losses"]
    packed_losses = json.loads((tmp_path / "packed" / "metrics.json").read_text())["step_losses"]
    assert packed_losses == pytest.approx(padded_losses, abs=1e-4)
