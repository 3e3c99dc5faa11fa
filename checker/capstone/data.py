"""Load the capstone's chats, tokenizer and base model, offline by default."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from checker.i18n import tr


def load_chats(path: str | Path, limit: int = 0) -> list[dict]:
    """Read a JSON-lines file of `{"messages": [...]}` rows with `datasets`; `limit` 0 keeps all."""
    import datasets
    from datasets import load_dataset

    datasets.disable_progress_bars()  # the capstone prints its own one-line summary

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(tr(f"no data file at {path}", f"找不到数据文件 {path}"))
    # keep_in_memory: a few thousand rows need no Arrow cache folder next to the data.
    dataset = load_dataset("json", data_files=str(path), split="train", keep_in_memory=True)
    if "messages" not in dataset.column_names:
        raise ValueError(tr(f"{path} has no 'messages' column; columns are {dataset.column_names}",
                            f"{path} 没有 'messages' 列；现有列为 {dataset.column_names}"))
    if limit:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return [{"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}
            for row in dataset]


def is_local(model: str) -> bool:
    return Path(model).expanduser().exists()


def load_tokenizer(model: str):
    """The model's own tokenizer; pad falls back to eos for models that define none."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def resolve_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(tr("--device cuda was requested but torch sees no CUDA device; use --device cpu",
                              "指定了 --device cuda，但 torch 没有检测到 CUDA 设备；请改用 --device cpu"))
    return torch.device(choice)


def load_model(model: str, device: torch.device, gradient_checkpointing: bool = False):
    """Load a causal LM in float32 weights (bf16 comes from autocast), with KV cache off for training."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    if not is_local(model) and os.environ.get("HF_HUB_OFFLINE") == "1":
        raise FileNotFoundError(tr(f"{model} is not a local folder and HF_HUB_OFFLINE=1 forbids downloads",
                                   f"{model} 不是本地目录，而 HF_HUB_OFFLINE=1 禁止下载"))
    loaded = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    loaded.to(device)
    if gradient_checkpointing:
        # Non-reentrant checkpointing needs no input gradients, so frozen embeddings are fine.
        loaded.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return loaded
