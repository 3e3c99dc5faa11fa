"""Write the capstone's SFT task: reverse the order of a few words.

The user asks, in English or Chinese, for a short list of words in reverse
order; the assistant replies with exactly those words, reversed. The base
model never saw this instruction, so it fails; a LoRA adapter learns it in
a few hundred steps on a CPU. Exact match on held-out word lists is the
task metric, so the score measures a learned rule, not memorized pairs.

Words are whole tokens of the project tokenizer taken from the project's
own facts, so every reply is a short, unambiguous token sequence. Held-out
lists share no (words, order) pair with the training lists.

    python data/capstone/make_task_data.py
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(DATA / "scripts"))

from facts import FACTS  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

OUTPUT = DATA / "capstone" / "task"
SEED = 0
TRAIN_SIZE = 3000
EVAL_SIZE = 200
MIN_WORDS, MAX_WORDS = 3, 5
PROMPTS_EN = ["Reverse the order of these words: {words}", "Write these words in reverse order: {words}"]
PROMPTS_ZH = ["把这些词倒序排列：{words}", "请按相反顺序写出这些词：{words}"]


def task_words(tokenizer) -> list[str]:
    """Lowercase words of the facts that the tokenizer keeps as one token after a space."""
    vocabulary = tokenizer.get_vocab()
    found = set()
    for _, english, _ in FACTS:
        for word in re.findall(r"[a-z]{4,}", english):
            if "Ġ" + word in vocabulary:
                found.add(word)
    return sorted(found)


def make_chat(rng: random.Random, words: list[str]) -> dict:
    chosen = rng.sample(words, rng.randint(MIN_WORDS, MAX_WORDS))
    chinese = rng.random() < 0.5
    template = rng.choice(PROMPTS_ZH if chinese else PROMPTS_EN)
    return {
        "language": "zh" if chinese else "en",
        "messages": [
            {"role": "user", "content": template.format(words=" ".join(chosen))},
            {"role": "assistant", "content": " ".join(reversed(chosen))},
        ],
    }


def main() -> None:
    tokenizer = AutoTokenizer.from_pretrained(DATA / "tokenizer")
    words = task_words(tokenizer)
    rng = random.Random(SEED)
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {"eval": [], "train": []}
    # Held-out first, so that no training list repeats a held-out one.
    for split, size in (("eval", EVAL_SIZE), ("train", TRAIN_SIZE)):
        while len(splits[split]) < size:
            chat = make_chat(rng, words)
            reply = chat["messages"][1]["content"]
            if reply in seen:
                continue
            seen.add(reply)
            splits[split].append(chat)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with (OUTPUT / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for index, row in enumerate(rows):
                handle.write(json.dumps({"id": index, **row}, ensure_ascii=False) + "\n")
    print(f"{len(words)} words; wrote {TRAIN_SIZE} train and {EVAL_SIZE} eval chats to {OUTPUT}")


if __name__ == "__main__":
    main()
