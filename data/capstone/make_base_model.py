"""Pretrain the capstone's tiny Qwen3 base model into `data/capstone/base/`.

The base is a `transformers.Qwen3ForCausalLM` (4 layers, hidden size 128,
about 1.1M parameters) trained as a plain language model on two kinds of
text written by this project:

- the bilingual chat set `data/sft/chat.jsonl`, rendered as ChatML;
- plain-text word drills: a list of words, then either the same list
  again or its first and last word, after a plain cue (`words: ...` then
  `again: ...` or `first: ... / last: ...`, or the Chinese `词语：`,
  `再写一遍：`, `第一个：`, `最后一个：`).

So the base can find words in its context and copy them, but only after
the plain-text cues. It has never seen such a request in a chat. Asked in
ChatML, it replies with chat-like text, so its score on the capstone task
is near zero. Supervised fine-tuning then teaches it to answer the request
in the chat format, in a fixed sentence. That is what SFT mostly does for
real models too: it elicits and formats skills that pretraining gave them.

It is saved in bfloat16 (about 2 MB) together with a copy of the project
tokenizer, so the folder loads like a Hub checkpoint:
`AutoModelForCausalLM.from_pretrained("data/capstone/base")`.

    python data/capstone/make_base_model.py          # about 6 min on 2 idle CPU cores
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

DATA = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(DATA / "capstone"))

from make_task_data import MAX_WORDS, MIN_WORDS, task_words  # noqa: E402

OUTPUT = DATA / "capstone" / "base"
CHATS = DATA / "sft" / "chat.jsonl"

MODEL_SHAPE = {
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "max_position_embeddings": 512,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
}


DRILLS = 8000


def word_drill(rng: random.Random, words: list[str]) -> str:
    """Write one plain-text drill: a word list, then the list again or its first and last word.

    Every word follows a space, so the copy reuses the list's exact tokens.
    """
    chosen = rng.sample(words, rng.randint(MIN_WORDS, MAX_WORDS))
    listed = " ".join(chosen)
    chinese = rng.random() < 0.5
    if rng.random() < 0.5:
        return f"词语： {listed}\n再写一遍： {listed}\n" if chinese else f"words: {listed}\nagain: {listed}\n"
    if chinese:
        return f"词语： {listed}\n第一个： {chosen[0]}\n最后一个： {chosen[-1]}\n"
    return f"words: {listed}\nfirst: {chosen[0]}\nlast: {chosen[-1]}\n"


def token_stream(tokenizer, seed: int) -> torch.Tensor:
    """Chats (ChatML) and word drills, shuffled, tokenized and joined by `<|endoftext|>`."""
    texts = [tokenizer.apply_chat_template(json.loads(line)["messages"], tokenize=False)
             for line in CHATS.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    words = task_words(tokenizer)
    texts += [word_drill(rng, words) for _ in range(DRILLS)]
    rng.shuffle(texts)
    ids: list[int] = []
    for text in texts:
        ids += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.pad_token_id]
    return torch.tensor(ids)  # [N]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per step")
    parser.add_argument("--block-size", type=int, default=96, help="tokens per sequence")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    torch.manual_seed(arguments.seed)
    tokenizer = AutoTokenizer.from_pretrained(DATA / "tokenizer")
    stream = token_stream(tokenizer, arguments.seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **MODEL_SHAPE,
    )
    model = Qwen3ForCausalLM(config)
    total = sum(p.numel() for p in model.parameters())
    print(f"{len(stream)} tokens of text, {total:,} parameters, {arguments.steps} steps")

    optimizer = torch.optim.AdamW(model.parameters(), lr=arguments.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, arguments.steps // 20)
    start = time.perf_counter()
    for step in range(arguments.steps):
        progress = max(0.0, (step - warmup) / max(1, arguments.steps - warmup))
        lr = arguments.lr * min(1.0, (step + 1) / warmup) * 0.5 * (1.0 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr
        offsets = torch.randint(0, len(stream) - arguments.block_size, (arguments.batch_size,))
        batch = torch.stack([stream[i : i + arguments.block_size] for i in offsets])  # [B, T]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == arguments.steps - 1:
            print(f"step {step:5d} | loss {loss.item():.4f} | lr {lr:.2e} | {time.perf_counter() - start:.0f} s", flush=True)

    model.to(torch.bfloat16).save_pretrained(OUTPUT)
    tokenizer.save_pretrained(OUTPUT)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
