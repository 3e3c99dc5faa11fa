"""Kata `lora`: low-rank adapters (LoRA) written by hand, saved in PEFT's format.

Full fine-tuning updates every weight W [out, in]. LoRA freezes W and learns
a low-rank update instead: two small matrices A [r, in] and B [out, r] with
r much smaller than in and out, so the layer computes

    y = W x + b + scaling * B (A dropout(x)),   scaling = alpha / r

B starts at zero, so the wrapped layer equals the base layer at init, and
only A and B (r * (in + out) numbers per layer) are trained. After training
the update can be merged into W, and the layer costs nothing at inference.

Levels:
  1. `LoRALinear` (init, forward, merge / unmerge) and `lora_backward`.
  2. `apply_lora`, `count_parameters`, `lora_state_dict`, `save_adapter`,
     `merge_lora`: wrap a transformers model and save an adapter that
     `peft.PeftModel.from_pretrained` loads.
  3. (optional) DoRA: `use_dora=True` in `LoRALinear` and `apply_lora`.

Grade it with `make check KATA=lora` (or `kata check lora`).
The full task statement, with examples, is in README.md beside this file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable low-rank update.

    Args:
        base: the `nn.Linear` to wrap, weight W [out, in], optional bias.
        r: the rank, a positive int.
        alpha: a positive number; `scaling = alpha / r`, or
            `alpha / sqrt(r)` when `use_rslora` is True (rank-stabilized LoRA).
        dropout: probability in [0, 1) of dropping inputs of the LoRA branch
            only (never the base path); active in training mode only.
        use_rslora: use the rank-stabilized scaling `alpha / sqrt(r)`.
        use_dora: level 3 (optional), see README.md.

    After `__init__` the module has these attributes:
        base: the same `nn.Linear`, with weight and bias frozen
            (`requires_grad == False`).
        lora_A: `nn.Parameter` [r, in], Kaiming-uniform with a=sqrt(5)
            (`nn.init.kaiming_uniform_(A, a=math.sqrt(5))`).
        lora_B: `nn.Parameter` [out, r], zeros.
        scaling: the float described above.
        merged: False; True while the update is folded into `base.weight`.
        A and B have the dtype and device of `base.weight`.
        With use_dora: `lora_magnitude_vector`, `nn.Parameter` [out].

    Raises TypeError when `base` is not an `nn.Linear`, ValueError when
    `r <= 0`, `alpha <= 0` or `dropout` is outside [0, 1).

    >>> layer = LoRALinear(nn.Linear(4, 3), r=2, alpha=4)
    >>> layer.lora_A.shape, layer.lora_B.shape, layer.scaling
    (torch.Size([2, 4]), torch.Size([3, 2]), 2.0)
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int,
        alpha: float,
        dropout: float = 0.0,
        use_rslora: bool = False,
        use_dora: bool = False,
    ):
        super().__init__()
        # TODO: check the arguments, freeze the base, create lora_A, lora_B, scaling and merged.
        raise NotImplementedError("LoRALinear.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return `base(x) + (dropout(x) @ A.T @ B.T) * scaling` for x [..., in].

        Once merged, `base(x)` alone (the update is already in the weight).
        """
        # TODO: add the scaled low-rank branch to the base output.
        raise NotImplementedError("LoRALinear.forward")

    def merge(self) -> None:
        """Add `scaling * B @ A` into `base.weight`.

        Compute the update in float32 and cast the sum back to the weight's
        dtype (a bf16 product loses the small update). Calling it again
        while merged does nothing.
        """
        # TODO: fold the update into the base weight once, and set merged.
        raise NotImplementedError("LoRALinear.merge")

    def unmerge(self) -> None:
        """Subtract `scaling * B @ A` from `base.weight`; does nothing unless merged."""
        # TODO: take the update back out of the base weight, and clear merged.
        raise NotImplementedError("LoRALinear.unmerge")


def lora_backward(
    x: torch.Tensor,
    weight: torch.Tensor,
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    scaling: float,
    grad_output: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hand-derived gradients of `y = x @ W.T + scaling * x @ A.T @ B.T` (no autograd).

    Args:
        x: [..., in], any number of leading dims (e.g. [B, T, in]).
        weight: W [out, in]. lora_A: [r, in]. lora_B: [out, r].
        scaling: the LoRA scaling factor.
        grad_output: dL/dy, [..., out] with the leading dims of x.

    Returns:
        (grad_x [..., in], grad_A [r, in], grad_B [out, r]); grad_A and
        grad_B sum over every leading dim. Never call `.backward()` or
        `torch.autograd` here.

    Raises ValueError when the shapes do not fit together.

    >>> x, W = torch.ones(1, 2), torch.ones(3, 2)
    >>> A, B, g = torch.ones(1, 2), torch.zeros(3, 1), torch.ones(1, 3)
    >>> [t.tolist() for t in lora_backward(x, W, A, B, 2.0, g)]
    [[[3.0, 3.0]], [[0.0, 0.0]], [[4.0], [4.0], [4.0]]]
    """
    # TODO: check the shapes, flatten the leading dims, and apply the chain rule.
    raise NotImplementedError("lora_backward")


def apply_lora(
    model: nn.Module,
    target_modules: Iterable[str],
    r: int,
    alpha: float,
    dropout: float = 0.0,
    use_rslora: bool = False,
    use_dora: bool = False,
) -> list[str]:
    """Replace each `nn.Linear` whose attribute name is in `target_modules` by a `LoRALinear`.

    The attribute name is the last part of the module path: `"q_proj"`
    matches `model.layers.0.self_attn.q_proj`, and `"proj"` matches nothing
    in a Qwen3 model. Every parameter outside the new `lora_*` ones is
    frozen (embeddings, norms, other linears, biases).

    Returns the replaced module paths, in `model.named_modules()` order.

    Raises TypeError when `target_modules` is a single string (pass a list),
    ValueError when no `nn.Linear` matches, and the errors of `LoRALinear`.

    >>> apply_lora(model, ["q_proj", "v_proj"], r=8, alpha=16)
    ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', ...]
    """
    # TODO: find the matching linears, freeze everything, then swap in LoRALinear layers.
    raise NotImplementedError("apply_lora")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """Return `(trainable, total)` parameter counts; a tied weight counts once.

    >>> count_parameters(nn.Linear(4, 3))
    (15, 15)
    """
    # TODO: sum numel over the model's parameters.
    raise NotImplementedError("count_parameters")


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return only the adapter tensors, under the key names PEFT saves.

    For a `LoRALinear` at module path `<path>` the keys are
    `base_model.model.<path>.lora_A.weight` and
    `base_model.model.<path>.lora_B.weight` (level 3 adds
    `base_model.model.<path>.lora_magnitude_vector`). No base weights.

    Raises ValueError when the model has no `LoRALinear`.

    >>> sorted(lora_state_dict(model))[:2]
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
     'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight']
    """
    # TODO: walk the LoRALinear layers and collect their tensors under PEFT names.
    raise NotImplementedError("lora_state_dict")


def save_adapter(
    model: nn.Module,
    path: str | Path,
    *,
    r: int,
    alpha: float,
    target_modules: Iterable[str],
    base_model_name_or_path: str | None,
) -> None:
    """Write a PEFT adapter folder that `peft.PeftModel.from_pretrained` loads.

    `path/adapter_config.json` holds at least `peft_type` ("LORA"), `r`,
    `lora_alpha`, `target_modules`, `lora_dropout`, `use_rslora`,
    `use_dora`, `bias` ("none") and `base_model_name_or_path`.
    `path/adapter_model.safetensors` holds `lora_state_dict(model)`
    (`safetensors.torch.save_file`). The folder is created if missing.

    Raises ValueError when the model has no `LoRALinear`, or when `r` or
    `alpha` differ from the values its layers were built with.

    >>> save_adapter(model, "out/adapter", r=8, alpha=16,
    ...              target_modules=["q_proj", "v_proj"], base_model_name_or_path="Qwen/Qwen3-0.6B")
    """
    # TODO: write adapter_config.json and adapter_model.safetensors.
    raise NotImplementedError("save_adapter")


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every `LoRALinear` by a plain `nn.Linear` holding the merged weight.

    Returns the model; in eval mode its outputs equal those before the
    merge. Raises ValueError when the model has no `LoRALinear`.

    >>> model = merge_lora(model)   # no LoRALinear left, same logits
    """
    # TODO: merge each LoRALinear and put a plain nn.Linear in its place.
    raise NotImplementedError("merge_lora")
