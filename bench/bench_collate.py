"""Benchmark `collate` and `pack_sequences` against transformers' collators,
and the wall time of `kata check` against the bare import of torch and
transformers.

Both collators see the same 10k examples (lengths 16-512, a log-normal mix
like chat data) in batches of 32; outputs are checked equal before timing.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time

import torch

from bench.common import Row, best_time
from checker import REPO_ROOT
from checker.catalog import all_katas
from checker.resolver import kata_module

BATCH_SIZE = 32


def make_examples(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        length = min(512, max(16, int(rng.lognormvariate(5, 0.6))))
        ids = [rng.randrange(3, 2500) for _ in range(length)]
        prompt = rng.randrange(1, length)
        examples.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return examples


def batches_of(examples: list[dict]) -> list[list[dict]]:
    return [examples[i : i + BATCH_SIZE] for i in range(0, len(examples), BATCH_SIZE)]


def collator_rows(quick: bool) -> list[Row]:
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq, DataCollatorWithFlattening

    collate = kata_module("collate", "solutions")
    tokenizer = AutoTokenizer.from_pretrained(REPO_ROOT / "data" / "tokenizer")
    count = 1000 if quick else 10_000
    batches = batches_of(make_examples(count))
    seq2seq = DataCollatorForSeq2Seq(tokenizer, return_tensors="pt")
    flatten = DataCollatorWithFlattening(return_tensors="pt")

    first = batches[0]
    ours, theirs = collate.collate(first, tokenizer.pad_token_id), seq2seq([dict(f) for f in first])
    padding_equal = all(torch.equal(ours[k], theirs[k]) for k in ("input_ids", "attention_mask", "labels"))
    ours, theirs = collate.pack_sequences(first), flatten([dict(f) for f in first])
    packing_equal = all(torch.equal(ours[k], theirs[k]) for k in ("input_ids", "labels", "position_ids"))

    repeat = 3 if quick else 5
    ours_pad = best_time(lambda: [collate.collate(b, tokenizer.pad_token_id) for b in batches], repeat)
    # The transformers collator may modify its input dicts, so it gets copies;
    # copying is timed on our side too to keep the comparison fair.
    theirs_pad = best_time(lambda: [seq2seq([dict(f) for f in b]) for b in batches], repeat)
    ours_pack = best_time(lambda: [collate.pack_sequences([dict(f) for f in b]) for b in batches], repeat)
    theirs_pack = best_time(lambda: [flatten([dict(f) for f in b]) for b in batches], repeat)
    return [
        Row(f"pad {count} examples, batches of {BATCH_SIZE}", "collate", "DataCollatorForSeq2Seq",
            ours_pad, theirs_pad, "ratio ≤ 1.0", ours_pad <= theirs_pad,
            f"equal outputs: {padding_equal}"),
        Row(f"pack {count} examples, batches of {BATCH_SIZE}", "pack_sequences", "DataCollatorWithFlattening",
            ours_pack, theirs_pack, "", None, f"equal outputs: {packing_equal}"),
    ]


def run_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, capture_output=True, check=False)
    return time.perf_counter() - start


def check_time_rows(quick: bool) -> list[Row]:
    baseline_command = [sys.executable, "-c", "import torch, transformers"]
    baseline = min(run_seconds(baseline_command) for _ in range(2 if quick else 3))
    rows = []
    for kata in all_katas():
        if not kata.solution_path.exists():
            continue
        command = [sys.executable, "-m", "checker", "check", kata.name, "--impl", "solutions", "--seed", "0"]
        seconds = min(run_seconds(command) for _ in range(1 if quick else 2))
        rows.append(Row(
            f"kata check {kata.name} (reference solution)", "kata check", "import torch, transformers",
            seconds, baseline, "≤ baseline + 3 s", seconds <= baseline + 3.0,
            f"difference {seconds - baseline:+.1f} s",
        ))
    return rows


def run(quick: bool) -> list[Row]:
    return collator_rows(quick) + check_time_rows(quick)
