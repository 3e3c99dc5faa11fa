"""Train the project's byte-level BPE tokenizer into `data/tokenizer/`.

The training text is this project's own SFT set and facts, so the
tokenizer is small (4,096 tokens) and needs no download. The
pre-tokenizer uses the same split pattern as Qwen2/Qwen3 tokenizers, so
BPE merges across a ChatML header and the content that follows it behave
as they do in Qwen models. Special tokens: `<|endoftext|>` (pad),
`<|im_start|>`, `<|im_end|>` (eos).

    python data/scripts/make_tokenizer.py
    # then, offline: AutoTokenizer.from_pretrained("data/tokenizer")
"""

from __future__ import annotations

import json
from pathlib import Path

from facts import FACTS
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

DATA = Path(__file__).resolve().parents[1]
OUTPUT = DATA / "tokenizer"
VOCAB_SIZE = 4096
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# A second, smaller tokenizer whose special tokens have other ids: graders
# use it to catch code that hard-codes token ids instead of asking the
# tokenizer.
ALT_OUTPUT = DATA / "tokenizer_alt"
ALT_VOCAB_SIZE = 1200
ALT_SPECIAL_TOKENS = ["<|reserved_0|>", "<|reserved_1|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# ChatML as Qwen models write it, without a default system prompt.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def training_text() -> list[str]:
    lines = []
    for term, english, chinese in FACTS:
        lines += [term, english, chinese]
    with (DATA / "sft" / "chat.jsonl").open(encoding="utf-8") as handle:
        for row in handle:
            for message in json.loads(row)["messages"]:
                lines.append(f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>\n")
    extra = DATA / "scripts" / "extra_text.txt"
    if extra.exists():
        lines += extra.read_text(encoding="utf-8").splitlines()
    return lines


def train(vocab_size: int, special_tokens: list[str], output: Path) -> None:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_text(), trainer=trainer)
    extra = [token for token in special_tokens if token not in ("<|im_end|>", "<|endoftext|>")]
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=extra,
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    output.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(output)
    print(f"wrote a {len(wrapped)}-token tokenizer to {output}")


def main() -> None:
    train(VOCAB_SIZE, SPECIAL_TOKENS, OUTPUT)
    train(ALT_VOCAB_SIZE, ALT_SPECIAL_TOKENS, ALT_OUTPUT)


if __name__ == "__main__":
    main()
