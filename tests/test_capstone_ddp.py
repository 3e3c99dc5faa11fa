"""Data parallel capstone: 2 processes equal 1 process with doubled accumulation."""

from __future__ import annotations

import json

import pytest
import torch

from tests.capstone_support import TINY_RUN, load_tensors, run_kata

pytestmark = pytest.mark.slow


def test_two_processes_match_doubled_accumulation(tmp_path):
    common = [*TINY_RUN, "--output-dir", str(tmp_path)]

    parallel = run_kata(["capstone", *common, "--name", "ddp", "--grad-accum", "1"], torchrun_processes=2)
    single = run_kata(["capstone", *common, "--name", "single", "--grad-accum", "2"])

    assert parallel.returncode == 0, parallel.stdout[-3000:] + parallel.stderr[-3000:]
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-3000:]
    ddp_metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    single_metrics = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert ddp_metrics["world_size"] == 2
    torch.testing.assert_close(
        torch.tensor(ddp_metrics["step_losses"]), torch.tensor(single_metrics["step_losses"]), atol=1e-5, rtol=0
    )
    ddp_adapter = load_tensors(tmp_path / "ddp" / "adapter")
    single_adapter = load_tensors(tmp_path / "single" / "adapter")
    assert ddp_adapter.keys() == single_adapter.keys()
    for key in ddp_adapter:
        torch.testing.assert_close(ddp_adapter[key], single_adapter[key], atol=2e-5, rtol=1e-4, msg=key)


def test_only_rank_zero_writes(tmp_path):
    result = run_kata(["capstone", *TINY_RUN, "--output-dir", str(tmp_path), "--name", "ddp"], torchrun_processes=2)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("capstone summary") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]
