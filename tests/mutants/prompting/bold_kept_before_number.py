"""Mutant: strips spaces but not '**' before reading the number, so '**1,234**' keeps its separator."""

from __future__ import annotations

import re
from collections.abc import Callable

# English markers match in any letter case; `\b` keeps "answer" inside
# another word from counting, while "Final answer:" still ends in "answer:".
ANSWER_MARKER = re.compile(
    r"####|\bthe answer is\b\s*[:：]?|\banswer\s*[:：]|答案是\s*[:：]?|答案\s*[:：]",
    re.IGNORECASE,
)
# NOTE: [0-9] rather than \d, which would also accept full-width and other
# Unicode digits that int() reads but a reader would not expect.
LEADING_NUMBER = re.compile(
    r"(?P<sign>[+\-\u2212]?)[$¥€£]?(?P<sign_after>[+\-\u2212]?)"
    r"(?P<integer>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?P<fraction>\.[0-9]+)?"
)
SENTENCE_END = re.compile(r"[。！？!?]|\.(?=\s|$)")


def _check_examples(examples) -> list[tuple[str, str]]:
    if not isinstance(examples, (list, tuple)):
        raise TypeError(f"examples must be a list of (input, output) pairs, got {type(examples).__name__}")
    pairs = []
    for index, example in enumerate(examples):
        if (
            not isinstance(example, (list, tuple))
            or len(example) != 2
            or not all(isinstance(part, str) for part in example)
        ):
            raise TypeError(
                f"examples[{index}] must be an (input, output) pair of strings, got {example!r}"
            )
        pairs.append((example[0], example[1]))
    return pairs


def _check_string(name: str, value) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}: {value!r}")


def _render(instruction: str, examples: list[tuple[str, str]], query: str) -> str:
    blocks = [instruction] if instruction else []
    blocks += [f"Input: {source}\nOutput: {target}" for source, target in examples]
    blocks.append(f"Input: {query}\nOutput:")
    return "\n\n".join(blocks)


def _count(count_tokens: Callable[[str], int], text: str) -> int:
    count = count_tokens(text)
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count_tokens must return an int, got {type(count).__name__}: {count!r}")
    return count


def build_few_shot_prompt(
    instruction: str,
    examples: list[tuple[str, str]],
    query: str,
    count_tokens: Callable[[str], int] = len,
    max_tokens: int | None = None,
) -> str:
    """Render an instruction, solved examples and an open query as one prompt."""
    _check_string("instruction", instruction)
    _check_string("query", query)
    pairs = _check_examples(examples)
    if not callable(count_tokens):
        raise TypeError(f"count_tokens must be a function from str to int, got {count_tokens!r}")
    if max_tokens is None:
        return _render(instruction, pairs, query)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
        raise ValueError(f"max_tokens must be a positive int or None, got {max_tokens!r}")

    prompt = _render(instruction, [], query)
    needed = _count(count_tokens, prompt)
    if needed > max_tokens:
        raise ValueError(
            f"the instruction and the query alone take {needed} tokens, over max_tokens={max_tokens}; "
            "raise max_tokens or shorten the instruction or the query"
        )
    # Measure the whole prompt each time: separators and the merges a BPE
    # tokenizer makes across block boundaries count too.
    for kept in range(1, len(pairs) + 1):
        candidate = _render(instruction, pairs[:kept], query)
        if _count(count_tokens, candidate) > max_tokens:
            break
        prompt = candidate
    return prompt


def few_shot_messages(system: str | None, examples: list[tuple[str, str]], query: str) -> list[dict]:
    """Return the few-shot prompt as chat messages: system, example turns, query."""
    if system is not None:
        _check_string("system", system)
    _check_string("query", query)
    pairs = _check_examples(examples)
    messages = [{"role": "system", "content": system}] if system else []
    for source, target in pairs:
        messages.append({"role": "user", "content": source})
        messages.append({"role": "assistant", "content": target})
    messages.append({"role": "user", "content": query})
    return messages


def _normalize_number(match: re.Match) -> str:
    negative = "-" in (match["sign"] + match["sign_after"]).replace("\u2212", "-")
    integer = str(int(match["integer"].replace(",", "")))
    fraction = (match["fraction"] or "").rstrip("0").rstrip(".")
    if integer == "0" and not fraction:
        negative = False
    return ("-" if negative else "") + integer + fraction


def extract_final_answer(text: str) -> str | None:
    """Return the final answer of a chain-of-thought reply, or None."""
    _check_string("text", text)
    last = None
    for last in ANSWER_MARKER.finditer(text):
        pass
    if last is None:
        return None
    answer = text[last.end():].split("\n", 1)[0].strip(" \t")
    number = LEADING_NUMBER.match(answer)
    if number:
        return _normalize_number(number)
    end = SENTENCE_END.search(answer)
    if end:
        answer = answer[: end.start()]
    answer = answer.strip(" *\t")
    return answer or None


def self_consistency(replies: list[str]) -> tuple[str | None, float]:
    """Take a majority vote over the final answers of several sampled replies."""
    if not isinstance(replies, (list, tuple)):
        raise TypeError(f"replies must be a list of strings, got {type(replies).__name__}")
    if not replies:
        raise ValueError("replies is empty; pass at least one sampled reply")
    votes: dict[str, int] = {}  # insertion order = first appearance
    for index, reply in enumerate(replies):
        if not isinstance(reply, str):
            raise TypeError(f"replies[{index}] must be a string, got {type(reply).__name__}: {reply!r}")
        answer = extract_final_answer(reply)
        if answer is not None:
            votes[answer] = votes.get(answer, 0) + 1
    if not votes:
        return None, 0.0
    winner, count = None, 0
    for answer, answer_votes in votes.items():
        if answer_votes > count:  # strictly more, so a tie keeps the earlier answer
            winner, count = answer, answer_votes
    return winner, count / len(replies)
