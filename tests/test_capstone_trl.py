"""The framework path (TRL SFTTrainer + PEFT) agrees with the katas path."""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest

from checker.capstone.config import RunConfig
from checker.capstone.kits import load_kits
from checker.capstone.trl_path import run_trl
from checker.i18n import set_language

pytestmark = pytest.mark.slow

FIRST_STEP_TOLERANCE = 1e-4
# Long enough for both paths to learn most of the task on the tiny base.
BAND_STEPS = 120
BAND_WIDTH = 0.25


@pytest.fixture(autouse=True)
def english():
    set_language("en")
    yield
    set_language(None)


def tiny_config(tmp_path, name: str, **changes) -> RunConfig:
    settings = dict(name=name, output_dir=str(tmp_path), device="cpu", train_size=64, eval_size=4, batch_size=8,
                    steps=2, warmup_steps=1, lora_dropout=0.0, eval_every=0, max_new_tokens=4, log_every=0)
    settings.update(changes)
    return RunConfig(**settings)


@cache
def kits():
    return load_kits("solutions")


def test_first_step_loss_matches(tmp_path):
    config = tiny_config(tmp_path, "katas")

    ours = kits().capstone.run(config, kits())
    theirs = run_trl(dataclasses.replace(config, name="trl", trainer="trl"), kits())

    assert abs(ours["records"][0]["loss"] - theirs["records"][0]["loss"]) <= FIRST_STEP_TOLERANCE
    assert theirs["records"][0]["lr"] == ours["records"][0]["lr"] == 0.0


def test_both_paths_reach_the_same_band(tmp_path):
    config = tiny_config(tmp_path, "katas", steps=BAND_STEPS, warmup_steps=10, train_size=0, eval_size=40,
                         max_new_tokens=12)

    ours = kits().capstone.run(config, kits())
    theirs = run_trl(dataclasses.replace(config, name="trl", trainer="trl"), kits())

    assert ours["metric_after"] >= ours["metric_before"] + 0.3
    assert abs(ours["metric_after"] - theirs["metric_after"]) <= BAND_WIDTH, (ours["metric_after"], theirs["metric_after"])
