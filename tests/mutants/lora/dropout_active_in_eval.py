"""Mutant: F.dropout without training=self.training drops inputs in eval mode too."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PEFT_PREFIX = "base_model.model."


def _check_rank_and_alpha(r, alpha) -> None:
    if isinstance(r, bool) or not isinstance(r, int):
        raise TypeError(f"r must be a positive int (the LoRA rank, e.g. 8), got {r!r} of type {type(r).__name__}")
    if r <= 0:
        raise ValueError(f"r must be a positive int (the LoRA rank, e.g. 8), got r={r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a positive number (e.g. 16), got {alpha!r} of type {type(alpha).__name__}")
    if not alpha > 0:
        raise ValueError(f"alpha must be a positive number (e.g. 16), got alpha={alpha}")


def _check_dropout(dropout) -> None:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable low-rank update.

    Attributes: `base` (the wrapped layer, frozen), `lora_A` [r, in],
    `lora_B` [out, r], `scaling` (alpha / r, or alpha / sqrt(r) with
    rsLoRA), `merged` (whether the update is folded into `base.weight`),
    and with DoRA `lora_magnitude_vector` [out].
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
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        _check_rank_and_alpha(r, alpha)
        _check_dropout(dropout)

        self.base = base
        self.r = r
        self.alpha = alpha
        self.use_rslora = bool(use_rslora)
        self.use_dora = bool(use_dora)
        self.dropout_p = float(dropout)
        # rsLoRA keeps the update's scale stable as r grows: alpha / sqrt(r).
        self.scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        for parameter in base.parameters():
            parameter.requires_grad_(False)

        weight = base.weight
        out_features, in_features = weight.shape
        self.lora_A = nn.Parameter(torch.empty(r, in_features, dtype=weight.dtype, device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r, dtype=weight.dtype, device=weight.device))
        # B = 0 makes the layer equal the base layer at init while A is random,
        # so the first step already moves B (grad_B needs A x != 0).
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        if self.use_dora:
            # The magnitude starts at the row norms of W, so DoRA also starts at the base layer.
            self.lora_magnitude_vector = nn.Parameter(self._weight_norm().to(weight.dtype))
        self._merged_norm: torch.Tensor | None = None

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def _math_dtype(self) -> torch.dtype:
        # float32 for half-precision weights (a bf16 product loses the small update), float64 stays float64.
        return torch.promote_types(self.base.weight.dtype, torch.float32)

    def delta_weight(self) -> torch.Tensor:
        """Return scaling * B @ A [out, in] in float32 (float64 for a float64 layer)."""
        dtype = self._math_dtype
        return (self.lora_B.to(dtype) @ self.lora_A.to(dtype)) * self.scaling

    def _weight_norm(self) -> torch.Tensor:
        """Row norms ||W + scaling B A|| [out], detached: DoRA treats them as constants."""
        weight = self.base.weight.to(self._math_dtype) + self.delta_weight().detach()
        return torch.linalg.norm(weight, dim=1).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged:
            return result
        dropped = F.dropout(x, self.dropout_p)
        # [..., in] @ [in, r] @ [r, out]: two thin products, never the [out, in] delta.
        update = F.linear(F.linear(dropped, self.lora_A), self.lora_B) * self.scaling
        if not self.use_dora:
            return result + update
        scale = (self.lora_magnitude_vector.to(self._math_dtype) / self._weight_norm()).to(result.dtype)
        if isinstance(self.dropout, nn.Identity) or not self.training:
            base_without_bias = result if self.base.bias is None else result - self.base.bias
        else:
            # NOTE: with active dropout the rescaled base term uses the same dropped input as the update.
            base_without_bias = F.linear(dropped, self.base.weight)
        return result + (scale - 1) * base_without_bias + scale * update

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into `base.weight` (float32 math, cast back); a second call does nothing."""
        if self.merged:
            return
        weight = self.base.weight
        merged = weight.to(self._math_dtype) + self.delta_weight()
        if self.use_dora:
            self._merged_norm = torch.linalg.norm(merged, dim=1)
            merged = merged * (self.lora_magnitude_vector.to(self._math_dtype) / self._merged_norm).unsqueeze(1)
        weight.copy_(merged.to(weight.dtype))
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update back out of `base.weight`; does nothing unless merged."""
        if not self.merged:
            return
        weight = self.base.weight
        restored = weight.to(self._math_dtype)
        if self.use_dora:
            restored = restored / (self.lora_magnitude_vector.to(self._math_dtype) / self._merged_norm).unsqueeze(1)
            self._merged_norm = None
        restored = restored - self.delta_weight()
        weight.copy_(restored.to(weight.dtype))
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}, dora={self.use_dora}, merged={self.merged}"


def lora_backward(
    x: torch.Tensor,
    weight: torch.Tensor,
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    scaling: float,
    grad_output: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of y = x W^T + scaling * x A^T B^T, derived by hand."""
    for name, tensor in (("x", x), ("weight", weight), ("lora_A", lora_A), ("lora_B", lora_B), ("grad_output", grad_output)):
        if not torch.is_tensor(tensor):
            raise TypeError(f"{name} must be a tensor, got {type(tensor).__name__}")
    if weight.dim() != 2 or lora_A.dim() != 2 or lora_B.dim() != 2:
        raise ValueError(
            f"weight, lora_A and lora_B must be 2-D, got shapes {tuple(weight.shape)}, "
            f"{tuple(lora_A.shape)}, {tuple(lora_B.shape)}"
        )
    out_features, in_features = weight.shape
    r = lora_A.shape[0]
    if lora_A.shape != (r, in_features) or lora_B.shape != (out_features, r):
        raise ValueError(
            f"expected lora_A [r, {in_features}] and lora_B [{out_features}, r] for weight "
            f"{tuple(weight.shape)}, got {tuple(lora_A.shape)} and {tuple(lora_B.shape)}"
        )
    if x.dim() == 0 or x.shape[-1] != in_features:
        raise ValueError(f"x must be [..., {in_features}] to match weight {tuple(weight.shape)}, got {tuple(x.shape)}")
    if grad_output.shape != (*x.shape[:-1], out_features):
        raise ValueError(
            f"grad_output must be {(*x.shape[:-1], out_features)} (x's leading dims, then out_features), "
            f"got {tuple(grad_output.shape)}"
        )

    # Flatten every leading dim into one token axis N.
    x2 = x.reshape(-1, in_features)  # [N, in]
    g2 = grad_output.reshape(-1, out_features)  # [N, out]
    g_b = g2 @ lora_B  # [N, r]: the gradient reaching the rank-r bottleneck, before scaling
    grad_x = g2 @ weight + (g_b @ lora_A) * scaling  # [N, in]
    grad_A = (g_b.T @ x2) * scaling  # [r, in]
    grad_B = (g2.T @ (x2 @ lora_A.T)) * scaling  # [out, r]
    return grad_x.reshape(x.shape), grad_A, grad_B


def _lora_layers(model: nn.Module) -> list[tuple[str, LoRALinear]]:
    return [(name, module) for name, module in model.named_modules() if isinstance(module, LoRALinear)]


def _replace_module(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attribute = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attribute, new)


def apply_lora(
    model: nn.Module,
    target_modules: Iterable[str],
    r: int,
    alpha: float,
    dropout: float = 0.0,
    use_rslora: bool = False,
    use_dora: bool = False,
) -> list[str]:
    """Wrap every `nn.Linear` whose attribute name is in `target_modules`; freeze the rest."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(target_modules, str):
        raise TypeError(
            f"target_modules must be a list of attribute names such as ['q_proj', 'v_proj'], "
            f"got the string {target_modules!r}; wrap it in a list"
        )
    targets = set(target_modules)
    if not targets or not all(isinstance(name, str) for name in targets):
        raise ValueError(f"target_modules must be a non-empty list of strings, got {target_modules!r}")
    _check_rank_and_alpha(r, alpha)
    _check_dropout(dropout)

    wrapped = [path for path, _ in _lora_layers(model)]
    found = []
    for path, module in model.named_modules():
        inside_adapter = any(path.startswith(f"{prefix}.") for prefix in wrapped)
        if path.rpartition(".")[2] in targets and isinstance(module, nn.Linear) and not inside_adapter:
            found.append(path)
    if not found:
        linear_names = sorted({p.rpartition(".")[2] for p, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(
            f"no nn.Linear in the model has an attribute name in target_modules={sorted(targets)}; "
            f"the model's nn.Linear names are {linear_names}"
        )

    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for path in found:
        base = model.get_submodule(path)
        _replace_module(model, path, LoRALinear(base, r, alpha, dropout, use_rslora, use_dora))
    return found


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """Return (trainable, total) parameter counts; tied weights count once."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    trainable = total = 0
    for parameter in model.parameters():  # parameters() already yields a tied tensor once
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return trainable, total


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return only the adapter tensors, under the key names PEFT saves."""
    layers = _lora_layers(model)
    if not layers:
        raise ValueError("the model has no LoRALinear layer; call apply_lora(model, ...) first")
    state = {}
    for path, layer in layers:
        state[f"{PEFT_PREFIX}{path}.lora_A.weight"] = layer.lora_A.detach().clone()
        state[f"{PEFT_PREFIX}{path}.lora_B.weight"] = layer.lora_B.detach().clone()
        if layer.use_dora:
            state[f"{PEFT_PREFIX}{path}.lora_magnitude_vector"] = layer.lora_magnitude_vector.detach().clone()
    return state


def save_adapter(
    model: nn.Module,
    path: str | Path,
    *,
    r: int,
    alpha: float,
    target_modules: Iterable[str],
    base_model_name_or_path: str | None,
) -> None:
    """Write adapter_config.json and adapter_model.safetensors in PEFT's layout."""
    from safetensors.torch import save_file

    layers = _lora_layers(model)
    if not layers:
        raise ValueError("the model has no LoRALinear layer; call apply_lora(model, ...) first")
    if isinstance(target_modules, str):
        raise TypeError(f"target_modules must be a list of names, got the string {target_modules!r}")
    for name, layer in layers:
        if layer.r != r or layer.alpha != alpha:
            raise ValueError(
                f"save_adapter got r={r}, alpha={alpha}, but layer {name} has r={layer.r}, "
                f"alpha={layer.alpha}; pass the values apply_lora used"
            )
    if any(layer.merged for _, layer in layers):
        raise ValueError("unmerge every LoRALinear before saving: a merged adapter would be applied twice on load")
    flags = {(layer.use_rslora, layer.use_dora, layer.dropout_p) for _, layer in layers}
    if len(flags) != 1:
        raise ValueError(f"every LoRALinear must share use_rslora, use_dora and dropout to be saved as one adapter, got {flags}")
    use_rslora, use_dora, dropout = flags.pop()

    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": None if base_model_name_or_path is None else str(base_model_name_or_path),
        "r": r,
        "lora_alpha": alpha,
        "lora_dropout": dropout,
        "target_modules": sorted(set(target_modules)),
        "use_rslora": use_rslora,
        "use_dora": use_dora,
        "bias": "none",
        "fan_in_fan_out": False,
        "init_lora_weights": True,
        "inference_mode": True,
    }
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tensors = {key: value.contiguous() for key, value in lora_state_dict(model).items()}
    save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every `LoRALinear` by its base `nn.Linear` with the update merged in."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = _lora_layers(model)
    if not layers:
        raise ValueError("the model has no LoRALinear layer to merge; call apply_lora(model, ...) first")
    for path, layer in layers:
        layer.merge()
        if path:
            _replace_module(model, path, layer.base)
    if isinstance(model, LoRALinear):
        return model.base
    return model
