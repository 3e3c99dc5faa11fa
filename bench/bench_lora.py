"""Benchmark the reference `LoRALinear` against PEFT's `lora.Linear`.

Both layers wrap copies of one float32 `nn.Linear`, hold the same A and B
(B non-zero, as after training), and run one forward and one backward
pass on the same input with `requires_grad=True`, as a layer inside a
network sees it. Outputs and gradients are checked equal before timing.

    python -m bench --only lora [--quick]
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bench.common import Row, best_time
from checker.resolver import kata_module

# (tokens, in_features, out_features, r): square attention projections and
# a wide MLP projection, at sizes a CPU finishes in about a second.
FULL_SIZES = [(2048, 1024, 1024, 16), (2048, 2048, 2048, 16), (1024, 1024, 4096, 64)]
QUICK_SIZES = [(256, 256, 256, 8), (512, 512, 1024, 16)]
TARGET_RATIO = 1.1


def make_pair(in_features: int, out_features: int, r: int):
    from peft import LoraConfig
    from peft.tuners.lora.layer import Linear as PeftLinear

    lora = kata_module("lora", "solutions")
    torch.manual_seed(0)
    base = nn.Linear(in_features, out_features)
    ours = lora.LoRALinear(copy.deepcopy(base), r, 2 * r)
    config = LoraConfig(r=r, lora_alpha=2 * r)
    peer = PeftLinear(copy.deepcopy(base), "default", config=config, r=r, lora_alpha=2 * r)
    # get_peft_model would freeze the base layer; built directly, PEFT's layer leaves it trainable.
    peer.get_base_layer().requires_grad_(False)
    with torch.no_grad():
        ours.lora_B.normal_(0, 0.02)
        peer.lora_A["default"].weight.copy_(ours.lora_A)
        peer.lora_B["default"].weight.copy_(ours.lora_B)
    return ours, peer


def step(layer: nn.Module, x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """Run one forward and backward pass; return the output."""
    x.grad = None
    for parameter in layer.parameters():
        parameter.grad = None
    y = layer(x)
    y.backward(grad_output)
    return y.detach()


def max_difference(ours, peer, x: torch.Tensor, grad_output: torch.Tensor) -> float:
    """Largest difference in output, grad_x, grad_A and grad_B between the two layers."""
    y_ours = step(ours, x, grad_output)
    ours_grads = (x.grad, ours.lora_A.grad, ours.lora_B.grad)
    y_peer = step(peer, x, grad_output)
    peer_grads = (x.grad, peer.lora_A["default"].weight.grad, peer.lora_B["default"].weight.grad)
    pairs = [(y_ours, y_peer), *zip(ours_grads, peer_grads)]
    return max(float((a - b).abs().max()) for a, b in pairs)


def run(quick: bool) -> list[Row]:
    rows = []
    repeat = 3 if quick else 5
    for tokens, in_features, out_features, r in QUICK_SIZES if quick else FULL_SIZES:
        ours, peer = make_pair(in_features, out_features, r)
        generator = torch.Generator().manual_seed(1)
        x = torch.randn(tokens, in_features, generator=generator).requires_grad_(True)
        grad_output = torch.randn(tokens, out_features, generator=generator)

        difference = max_difference(ours, peer, x, grad_output)
        ours_seconds = best_time(lambda: step(ours, x, grad_output), repeat)
        peer_seconds = best_time(lambda: step(peer, x, grad_output), repeat)
        rows.append(Row(
            f"LoRA forward+backward, {tokens} tokens, {in_features}→{out_features}, r={r}",
            "LoRALinear", "peft lora.Linear", ours_seconds, peer_seconds,
            f"ratio ≤ {TARGET_RATIO}", ours_seconds <= TARGET_RATIO * peer_seconds,
            f"max output/gradient difference {difference:.1e}",
        ))
    return rows
