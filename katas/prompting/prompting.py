"""Kata `prompting`: few-shot prompts, chain-of-thought answers, self-consistency.

A base model follows a task best when the prompt shows it a few solved
examples, and a chat model gets the same examples as earlier turns. A
chain-of-thought reply reasons first and states its answer last, so the
answer has to be found after the reasoning, and several sampled replies can
vote on it (self-consistency). This kata leaves out the model itself: every
function here works on strings.

Grade it with `make check KATA=prompting` (or `kata check prompting`).
The full task statement, with examples, is in README.md beside this file.
"""

from __future__ import annotations

from collections.abc import Callable


def build_few_shot_prompt(
    instruction: str,
    examples: list[tuple[str, str]],
    query: str,
    count_tokens: Callable[[str], int] = len,
    max_tokens: int | None = None,
) -> str:
    """Render an instruction, solved examples and an open query as one prompt.

    The prompt is made of blocks joined by one blank line ("\\n\\n"):

    - the instruction, unless it is "" (then there is no instruction block);
    - one block `Input: {input}\\nOutput: {output}` per example, in order;
    - the query block `Input: {query}\\nOutput:`, left open (no trailing
      space), so that the model writes the output next.

    With `max_tokens`, keep the longest run of leading examples whose whole
    prompt fits: add examples in order and stop at the first one that would
    push `count_tokens(prompt)` over `max_tokens`. An example is kept whole
    or dropped; the instruction and the query are always kept.

    Raises:
        TypeError: `examples` is not a list of (input, output) string pairs,
            or `instruction` / `query` is not a string.
        ValueError: `max_tokens` is not a positive int (or None), or even the
            prompt without any example exceeds `max_tokens`.

    >>> build_few_shot_prompt("Add.", [("1+1", "2")], "2+3")
    'Add.\\n\\nInput: 1+1\\nOutput: 2\\n\\nInput: 2+3\\nOutput:'
    """
    # TODO: validate, render the blocks, and keep the leading examples that fit.
    raise NotImplementedError("build_few_shot_prompt")


def few_shot_messages(system: str | None, examples: list[tuple[str, str]], query: str) -> list[dict]:
    """Return the same few-shot prompt as chat messages.

    The list is: `{"role": "system", "content": system}` unless `system` is
    None or "", then for each example a user turn with its input and an
    assistant turn with its output, then a user turn with the query. Every
    message is a dict with exactly the keys "role" and "content". Rendered
    with ChatML (`render_chatml(messages, add_generation_prompt=True)` from
    the `loss_mask` kata) it ends with the open `<|im_start|>assistant\\n`.

    Raises TypeError for the inputs `build_few_shot_prompt` rejects, or a
    `system` that is neither a string nor None.

    >>> few_shot_messages(None, [("1+1", "2")], "2+3")
    [{'role': 'user', 'content': '1+1'}, {'role': 'assistant', 'content': '2'}, {'role': 'user', 'content': '2+3'}]
    """
    # TODO: build the system turn, the example turns and the query turn.
    raise NotImplementedError("few_shot_messages")


def extract_final_answer(text: str) -> str | None:
    """Return the final answer of a chain-of-thought reply, or None.

    Answer markers, English ones in any letter case: `#### X`,
    `The answer is X`, `Answer: X` (as in "Final answer: X"), `答案是 X`,
    `答案：X` and `答案: X`. An optional colon (":" or "：") may follow
    "The answer is" and "答案是". Only the LAST marker in the text counts,
    because a reply may restate an earlier guess before it concludes.

    X is the rest of that line after the marker, with spaces and markdown
    bold (`**`) stripped from both ends. Then:

    - If X starts with a number (optionally after a sign `+ - −` and a
      currency sign `$ ¥ € £`, in either order), the answer is that number
      normalized: thousands separators removed (`1,234` -> `1234`),
      leading zeros of the integer part dropped (`007` -> `7`), no leading
      `+`, trailing zeros of the decimals and a bare decimal point dropped
      (`-3.50` -> `-3.5`, `2.0` -> `2`), and whatever follows it (units, a
      period) ignored. `-0` becomes `0`.
    - Otherwise X is cut at the first sentence end (`。！？!?`, or `.`
      followed by a space or the end), stripped, and returned; an empty
      result means None.

    Raises TypeError when `text` is not a string.

    >>> extract_final_answer("3 + 4 = 7. The answer is 7 apples.")
    '7'
    >>> extract_final_answer("所以总数是 1,234。答案：1,234 元")
    '1234'
    """
    # TODO: find the last marker, take the rest of its line, and normalize it.
    raise NotImplementedError("extract_final_answer")


def self_consistency(replies: list[str]) -> tuple[str | None, float]:
    """Take a majority vote over the final answers of several sampled replies.

    Each reply's answer comes from `extract_final_answer`. Replies without
    an answer (None) cast no vote. The winner is the answer with the most
    votes; a tie goes to the answer that appears first in `replies`. Returns
    `(winner, votes / len(replies))`: the share counts every reply, parsed
    or not. When no reply has an answer, returns `(None, 0.0)`.

    Raises ValueError for an empty list and TypeError when `replies` is not
    a list of strings.

    >>> self_consistency(["The answer is 5.", "#### 6", "Answer: 5", "no idea"])
    ('5', 0.5)
    """
    # TODO: extract each answer, count the votes, and break ties by first appearance.
    raise NotImplementedError("self_consistency")
