"""Oracles and reply tables for the `prompting` graders.

Nothing here imports torch or transformers: `kata check prompting` stays
as fast as bare pytest unless the learner's own code imports them. The
project tokenizer is loaded with the light `tokenizers` library.
"""

from __future__ import annotations

from functools import cache

from checker.graders.support import TOKENIZER_DIR


@cache
def _project_tokenizer():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(TOKENIZER_DIR / "tokenizer.json"))


def count_project_tokens(text: str) -> int:
    """Number of tokens of `text` under the project's byte-level BPE tokenizer."""
    return len(_project_tokenizer().encode(text, add_special_tokens=False).ids)


def render_prompt(instruction: str, examples: list[tuple[str, str]], query: str) -> str:
    """The literal few-shot layout the kata README states."""
    blocks = [instruction] if instruction else []
    blocks += [f"Input: {source}\nOutput: {target}" for source, target in examples]
    blocks.append(f"Input: {query}\nOutput:")
    return "\n\n".join(blocks)


def render_chatml(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The literal ChatML layout of the `loss_mask` kata."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def expected_few_shot_chatml(system: str | None, examples: list[tuple[str, str]], query: str) -> str:
    """The ChatML text a few-shot chat renders to, written out turn by turn."""
    text = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
    for source, target in examples:
        text += f"<|im_start|>user\n{source}<|im_end|>\n"
        text += f"<|im_start|>assistant\n{target}<|im_end|>\n"
    return text + f"<|im_start|>user\n{query}<|im_end|>\n<|im_start|>assistant\n"


def normalized_number(sign: str, integer: int, decimals: str) -> str:
    """The normalized form of a number: no separators, no `+`, no trailing zeros."""
    fraction = decimals.rstrip("0")
    body = str(integer) + (f".{fraction}" if fraction else "")
    return "-" + body if sign in ("-", "\u2212") and body != "0" else body


# (reply, expected final answer). Written like the chain-of-thought replies
# of chat models: reasoning first, the answer marker near the end.
ENGLISH_REPLIES = [
    ("Natalia sold 48 clips in April and half as many in May: 48 / 2 = 24.\n"
     "In total 48 + 24 = 72.\n#### 72", "72"),
    ("Each box holds 12 eggs and there are 3 boxes, so 12 * 3 = 36. The answer is 36.", "36"),
    ("Let's think step by step. 1,200 + 34 = 1,234.\nThe answer is 1,234.", "1234"),
    ("The temperature went from 2 to -5 degrees, a change of -7.\nAnswer: -7 degrees", "-7"),
    ("She pays $3.50 per pound for 3 pounds: 3 * 3.50 = 10.50. The answer is $10.50.", "10.5"),
    ("The city grew by 500,000 people to 2,500,000.\nFinal answer: 2,500,000", "2500000"),
    ("One of the four outcomes is a win.\n\n**Answer:** 0.25", "0.25"),
    ("Both steps add up. The answer is: +8.", "8"),
    ("so the answer is 42", "42"),
    ("Step 1: 5 + 5 = 10.\nStep 2: 10 * 2 = 20.\nTHE ANSWER IS 20", "20"),
    ("It drives at 60 km/h for 2.5 hours, 150 km in all. Answer: 150 km.", "150"),
    ("Half of 80 is 40.\n#### 40.0", "40"),
    ("The loss went down by 12 points. The answer is \u221212.", "-12"),
    ("The capital of France is Paris. The answer is Paris.", "Paris"),
    ("Option (B) is the only one that keeps the sum even. The answer is (B).", "(B)"),
    ("The answer is **Paris**.", "Paris"),
    ("Answer: Node.js is the runtime.", "Node.js is the runtime"),
    ("The answer is version 3.11 of Python. It added faster startup.", "version 3.11 of Python"),
]

CHINESE_REPLIES = [
    ("小明有 5 个苹果，又买了 3 个，一共 5 + 3 = 8 个。答案是 8。", "8"),
    ("每本书 12.50 元，买 4 本共 50 元。\n答案：50 元", "50"),
    ("总人口为 1,234,567 人。\n答案：1,234,567", "1234567"),
    ("温度从 3 度降到 -2 度。答案是：-2 度。", "-2"),
    ("概率是一半。答案: 0.50", "0.5"),
    ("两件商品合计 1,000 元，所以最终答案是 ¥1,000。", "1000"),
    ("北京是中国的首都，答案是北京。", "北京"),
    ("逐步计算：6 × 7 = 42。\n\n最终答案：**42**", "42"),
    ("先算括号：(2 + 3) × 4 = 20。答案：20。", "20"),
]

# Numbers that each normalization rule of the README changes: bold around
# a number with separators or a sign, leading zeros, and negative zero.
NUMBER_EDGE_REPLIES = [
    ("Answer: **1,234**", "1234"),
    ("最终答案：**-3.50** 元", "-3.5"),
    ("The answer is **+2,000.0**.", "2000"),
    ("#### 007", "7"),
    ("The answer is 00.50 kg.", "0.5"),
    ("Answer: -0", "0"),
    ("#### -0.00", "0"),
    ("The answer is \u22120.", "0"),
    ("答案是 -$0.0 元", "0"),
]

LAST_MARKER_REPLIES = [
    ("At first I thought the answer is 12. Checking again, 3 * 5 = 15, so the answer is 15.", "15"),
    ("Answer: 7\nWait, I misread the question: 7 + 1 = 8.\n#### 8", "8"),
    ("The answer is 3. Hmm, no: 4 is right.\nAnswer: 4", "4"),
    ("答案是 5？不对，重新算：2 × 3 = 6。答案：6", "6"),
    ("答案：1,000。复核后发现漏算了一项，The answer is 1,200.", "1200"),
]

UNANSWERED_REPLIES = [
    "I am not sure how to solve this.",
    "The problem asks for the sum of 3 and 4, which we compute step by step.",
    "",
    "这道题我不会。",
    "42",
    "The answer is",
    "答案：",
]
