"""The capstone's adapter loads in PEFT and reproduces the trained model's logits."""

from __future__ import annotations

import json

import pytest
import torch

from checker.capstone.config import DEFAULT_MODEL
from tests.capstone_support import TINY_RUN, run_kata

pytestmark = pytest.mark.slow

TOKENS = torch.tensor([[1, 872, 198, 90, 431, 77, 2, 198, 1, 77, 198]])


def test_peft_loads_adapter_to_merged_logits(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = run_kata(["capstone", *TINY_RUN, "--steps", "4", "--lr", "5e-3", "--merge",
                       "--output-dir", str(tmp_path), "--name", "peft"])
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "peft"

    settings = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(DEFAULT_MODEL, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(folder / "adapter")).eval()
    merged = AutoModelForCausalLM.from_pretrained(folder / "merged", dtype=torch.float32).eval()
    plain = AutoModelForCausalLM.from_pretrained(DEFAULT_MODEL, dtype=torch.float32).eval()
    with torch.no_grad():
        adapted_logits = peft_model(input_ids=TOKENS).logits
        merged_logits = merged(input_ids=TOKENS).logits
        base_logits = plain(input_ids=TOKENS).logits

    assert settings["peft_type"] == "LORA"
    assert settings["r"] == 8
    torch.testing.assert_close(adapted_logits, merged_logits, atol=1e-4, rtol=1e-4)
    assert (adapted_logits - base_logits).abs().max() > 1e-3, "the adapter changed nothing"
