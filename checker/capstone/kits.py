"""Load the five implementations a capstone run uses and check that they exist.

`--impl` picks the capstone wiring and, unless `--kata-impl` says otherwise,
the four katas it wires: `loss_mask`, `collate`, `lora`, `train_loop`.
Everything goes through `checker.resolver.kata_module`, the same switch the
graders use. `find_unfinished` calls each kata once on a tiny input, so a run
that cannot work stops at once and names every kata still to solve.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from checker.resolver import (
    ImplementationLoadError,
    KataModule,
    KataNotImplemented,
    MissingFunctionError,
    kata_module,
)

KATAS_USED = ("loss_mask", "collate", "lora", "train_loop")


@dataclass
class Kits:
    """The capstone wiring module and the four kata modules it calls."""

    capstone: KataModule
    loss_mask: KataModule
    collate: KataModule
    lora: KataModule
    train_loop: KataModule


def default_kata_impl(impl: str | None) -> str | None:
    """A single .py file is the capstone wiring only; the katas then stay the learner's."""
    if impl is not None and impl.endswith(".py"):
        return "katas"
    return impl


def load_kits(impl: str | None = None, kata_impl: str | None = None) -> Kits:
    if kata_impl is None:
        kata_impl = default_kata_impl(impl)
    return Kits(
        capstone=kata_module("capstone", impl),
        **{name: kata_module(name, kata_impl) for name in KATAS_USED},
    )


@dataclass
class Unfinished:
    """A kata the run cannot use yet, and why."""

    kata: str
    reason: str  # "not_implemented", "load_error" or "error"
    detail: str
    path: Path


class _TinyLM(nn.Module):
    """A two-layer model with a `q_proj` Linear, enough to probe the katas."""

    def __init__(self, vocab: int = 8, hidden: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.q_proj = nn.Linear(hidden, vocab)

    def forward(self, input_ids, attention_mask=None, position_ids=None, **_):
        return type("Output", (), {"logits": self.q_proj(self.embed(input_ids))})()


def _probe(name: str, module: KataModule, tokenizer, packing: bool) -> None:
    """Call the functions of kata `name` that the capstone needs, on tiny inputs."""
    if name == "loss_mask":
        chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
        module.render_chatml(chat[:1], add_generation_prompt=True)
        module.build_sft_example(chat, tokenizer)
    elif name == "collate":
        features = [{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [4], "labels": [4]}]
        module.collate(features, pad_token_id=0)
        if packing:
            module.pack_sequences(features)
    elif name == "lora":
        model = _TinyLM()
        module.apply_lora(model, ["q_proj"], r=2, alpha=4)
        module.count_parameters(model)
        with tempfile.TemporaryDirectory() as folder:
            module.save_adapter(model, folder, r=2, alpha=4, target_modules=["q_proj"], base_model_name_or_path=None)
    elif name == "train_loop":
        model = _TinyLM()
        batch = {"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long),
                 "labels": torch.tensor([[1, 2, 3]])}
        config = module.TrainConfig(peak_lr=1e-3, warmup_steps=0, total_steps=1)
        module.train(model, [batch], config)


def find_unfinished(kits: Kits, tokenizer, packing: bool = False) -> list[Unfinished]:
    """Every kata among the four that is missing, unimplemented or crashes on a tiny input."""
    found = []
    for name in KATAS_USED:
        module = getattr(kits, name)
        try:
            _probe(name, module, tokenizer, packing)
        except KataNotImplemented as error:
            found.append(Unfinished(name, "not_implemented", str(error), module.path))
        except (ImplementationLoadError, MissingFunctionError) as error:
            found.append(Unfinished(name, "load_error", str(error), module.path))
        except Exception as error:  # noqa: BLE001 - any crash means the kata is not ready
            found.append(Unfinished(name, "error", f"{type(error).__name__}: {error}", module.path))
    return found
