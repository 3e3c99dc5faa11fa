"""Write `data/sft/chat.jsonl`: a small bilingual SFT set in messages format.

Every conversation is generated here from `facts.py` and templates, so the
set is reproducible and copies no public data set. It mixes single- and
multi-turn chats, system prompts, long answers and code with blank lines.

    python data/scripts/make_sft_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from facts import FACTS

OUTPUT = Path(__file__).resolve().parents[1] / "sft" / "chat.jsonl"
SEED = 0

SYSTEM_PROMPTS = [
    "You are a concise tutor for LLM fine-tuning.",
    "You are a helpful assistant. Answer in the user's language.",
    "你是一名大模型微调方向的助教，回答要简洁准确。",
    "你是一个乐于助人的助手。",
]

EN_QUESTIONS = ["What is {term}?", "Explain {term} in one sentence.", "Why does {term} matter in SFT?",
                "Can you describe {term}?"]
ZH_QUESTIONS = ["什么是 {term}？", "用一句话解释 {term}。", "{term} 在 SFT 中为什么重要？", "请介绍一下 {term}。"]

CODE_SNIPPETS = [
    ("Write a Python function that counts the supervised tokens in a list of labels.",
     "写一个 Python 函数，统计 labels 列表中有监督的 token 数量。",
     "def count_supervised(labels, ignore_index=-100):\n    count = 0\n\n    for label in labels:\n"
     "        if label != ignore_index:\n            count += 1\n\n    return count\n"),
    ("Write a Python function that right-pads a list of token ids.",
     "写一个 Python 函数，在右侧把 token id 列表补齐到指定长度。",
     "def pad_right(ids, length, pad_id):\n    if len(ids) >= length:\n        return ids[:length]\n\n"
     "    padding = [pad_id] * (length - len(ids))\n\n    return ids + padding\n"),
    ("Write a Python function for linear warmup of the learning rate.",
     "写一个 Python 函数，实现学习率的线性 warmup。",
     "def warmup_lr(step, warmup_steps, peak_lr):\n    if warmup_steps == 0:\n        return peak_lr\n\n"
     "    fraction = min(step / warmup_steps, 1.0)\n\n    return peak_lr * fraction\n"),
    ("Write a Python function that splits text into overlapping chunks.",
     "写一个 Python 函数，把文本切成有重叠的片段。",
     "def chunks(text, size, overlap):\n    step = size - overlap\n    pieces = []\n\n"
     "    for start in range(0, len(text), step):\n        pieces.append(text[start:start + size])\n"
     "        if start + size >= len(text):\n            break\n\n    return pieces\n"),
]


def concept_chat(rng: random.Random) -> dict:
    term, english, chinese = rng.choice(FACTS)
    chinese_turn = rng.random() < 0.5
    question = rng.choice(ZH_QUESTIONS if chinese_turn else EN_QUESTIONS).format(term=term)
    messages = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    messages.append({"role": "user", "content": question})
    messages.append({"role": "assistant", "content": chinese if chinese_turn else english})
    return {"kind": "concept", "messages": messages}


def multi_turn_chat(rng: random.Random) -> dict:
    first, second = rng.sample(FACTS, 2)
    messages = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}]
    messages.append({"role": "user", "content": f"What is {first[0]}?"})
    messages.append({"role": "assistant", "content": first[1]})
    messages.append({"role": "user", "content": "请用中文再说一遍。"})
    messages.append({"role": "assistant", "content": first[2]})
    messages.append({"role": "user", "content": f"And how does it relate to {second[0]}?"})
    messages.append({"role": "assistant", "content": f"{second[1]} Both are steps of the same SFT pipeline."})
    return {"kind": "multi_turn", "messages": messages}


def long_answer_chat(rng: random.Random) -> dict:
    chosen = rng.sample(FACTS, 6)
    chinese = rng.random() < 0.5
    if chinese:
        question = "请系统地讲讲 SFT 流水线中的关键环节。"
        body = "\n\n".join(f"{index}. {fact[0]}：{fact[2]}" for index, fact in enumerate(chosen, 1))
    else:
        question = "Give me an overview of the key steps in an SFT pipeline."
        body = "\n\n".join(f"{index}. {fact[0]}: {fact[1]}" for index, fact in enumerate(chosen, 1))
    return {"kind": "long_answer", "messages": [
        {"role": "user", "content": question},
        {"role": "assistant", "content": body},
    ]}


def code_chat(rng: random.Random) -> dict:
    english, chinese, code = rng.choice(CODE_SNIPPETS)
    use_chinese = rng.random() < 0.5
    intro = "下面是实现：" if use_chinese else "Here is an implementation:"
    return {"kind": "code", "messages": [
        {"role": "user", "content": chinese if use_chinese else english},
        {"role": "assistant", "content": f"{intro}\n\n```python\n{code}```\n"},
    ]}


def arithmetic_chat(rng: random.Random) -> dict:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    if rng.random() < 0.5:
        question, answer = f"What is {a} + {b}?", f"{a} + {b} = {a + b}. The answer is {a + b}."
    else:
        question, answer = f"{a} 乘以 {b} 等于多少？", f"{a} × {b} = {a * b}，答案是 {a * b}。"
    return {"kind": "arithmetic", "messages": [
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]}


def main() -> None:
    rng = random.Random(SEED)
    makers = [concept_chat] * 4 + [multi_turn_chat, long_answer_chat, code_chat, arithmetic_chat, arithmetic_chat]
    rows = [rng.choice(makers)(rng) for _ in range(400)]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    with OUTPUT.open("w", encoding="utf-8") as handle:
        for index, row in enumerate(rows):
            handle.write(json.dumps({"id": index, **row}, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} conversations to {OUTPUT}")


if __name__ == "__main__":
    main()
