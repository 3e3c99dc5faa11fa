"""Fixtures and hypothesis strategies shared by several graders."""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

from checker import REPO_ROOT

TOKENIZER_DIR = REPO_ROOT / "data" / "tokenizer"
IGNORE_INDEX = -100


@cache
def project_tokenizer():
    """The project's byte-level BPE tokenizer, loaded offline from data/."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


# Characters that stress a chat tokenizer: ASCII, Chinese, full-width
# punctuation, spaces and newlines (which BPE merges across boundaries).
_ALPHABET = st.sampled_from(
    list("abcxyz ABC 0129 .,!?:-_()'\"#") + list("你好模型微调，。？！：") + ["\n", "\n\n", "  ", "\t", "é", "🙂"]
)

content_text = st.lists(_ALPHABET, min_size=0, max_size=12).map("".join)


# Replies that start with whitespace make byte-level BPE merge the header's
# "\n" into the first content token, which is where piecewise tokenizing and
# exact-span masks go wrong; draw them often.
_EDGE_PREFIX = st.sampled_from(["", "", "\n", "\n\n", "  ", "\t", " "])
_reply_text = st.builds(lambda prefix, text: prefix + text, _EDGE_PREFIX, content_text)


def message(role: str):
    """A message dict for `role`; shown as a plain dict in failing inputs."""
    text = _reply_text if role == "assistant" else content_text
    return st.fixed_dictionaries({"role": st.just(role), "content": text})


@st.composite
def conversations(draw, min_assistant: int = 1, max_turns: int = 6):
    """A valid chat: optional system first, then user/assistant/tool turns."""
    messages = []
    if draw(st.booleans()):
        messages.append(draw(message("system")))
    turns = draw(st.lists(st.sampled_from(["user", "assistant", "tool"]), min_size=0, max_size=max_turns))
    for role in turns:
        messages.append(draw(message(role)))
    while sum(m["role"] == "assistant" for m in messages) < min_assistant:
        position = draw(st.integers(min_value=1 if messages and messages[0]["role"] == "system" else 0,
                                    max_value=len(messages)))
        messages.insert(position, draw(message("assistant")))
    return messages
