"""Write the capstone's SFT task: name the first and the last word of a list.

The user shows a list of 3 to 5 words and asks, in English or Chinese, for
its first and last word; the assistant answers in two fixed lines:

    In the list sets rank loss merge, which word comes first and which comes last?
    -> first: sets
       last: merge

The base model never saw this request, so it fails; a LoRA adapter learns
it in a few hundred steps on a CPU. Exact match on held-out lists is the
task metric, so the score measures a learned rule (find two words in the
prompt and answer in the fixed layout), not memorized pairs.

Words are lowercase words of the project's facts that the tokenizer keeps
as one token after a space, and every word in prompts and answers follows a
space, so the answer reuses the prompt's exact tokens. Held-out lists share
no list with the training lists.

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
PROMPTS_EN = [
    "In the list {words}, which word comes first and which comes last?",
    "Which are the first and the last word of this list: {words} ?",
]
PROMPTS_ZH = ["词表 {words} 中，第一个词和最后一个词分别是什么？", "这组词 {words} 里，排在最前和最后的词是哪两个？"]
# The answers use the layout of the base model's plain-text drills (see
# make_base_model.py), so fine-tuning teaches when to use a known skill.
ANSWER_EN = "first: {first}\nlast: {last}"
ANSWER_ZH = "第一个： {first}\n最后一个： {last}"


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
    answer = ANSWER_ZH if chinese else ANSWER_EN
    return {
        "language": "zh" if chinese else "en",
        "messages": [
            {"role": "user", "content": template.format(words=" ".join(chosen))},
            {"role": "assistant", "content": answer.format(first=chosen[0], last=chosen[-1])},
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
            prompt = chat["messages"][0]["content"]
            if prompt in seen:
                continue
            seen.add(prompt)
            splits[split].append(chat)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with (OUTPUT / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for index, row in enumerate(rows):
                handle.write(json.dumps({"id": index, **row}, ensure_ascii=False) + "\n")
    print(f"{len(words)} words; wrote {TRAIN_SIZE} train and {EVAL_SIZE} eval chats to {OUTPUT}")


if __name__ == "__main__":
    main()
