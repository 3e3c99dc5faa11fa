"""Mutant: gradients are clipped after every micro-batch instead of once per window."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
CHECKPOINT_NAME = "checkpoint.pt"


# ---------------------------------------------------------------- schedule


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_real(name: str, value, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def cosine_lr(step: int, *, peak_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Return the learning rate of optimizer step `step`: linear warmup, then cosine decay."""
    step = _check_count("step", step)
    warmup_steps = _check_count("warmup_steps", warmup_steps)
    total_steps = _check_count("total_steps", total_steps)
    peak_lr = _check_real("peak_lr", peak_lr)
    min_lr = _check_real("min_lr", min_lr)
    if warmup_steps > total_steps:
        raise ValueError(
            f"warmup_steps ({warmup_steps}) must not exceed total_steps ({total_steps}); "
            "shorten the warmup or train for more steps"
        )
    if min_lr > peak_lr:
        raise ValueError(f"min_lr ({min_lr}) must not exceed peak_lr ({peak_lr})")

    if step < warmup_steps:
        # Step 0 gets 0: the first update must not hit fresh weights at full rate.
        return peak_lr * step / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 at the peak, 1 at the end
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


# ---------------------------------------------------------------- accumulation


def _check_micro_batch(index: int, batch) -> None:
    if not isinstance(batch, dict):
        raise TypeError(f"micro-batch {index} must be a dict of tensors, got {type(batch).__name__}")
    for key in ("input_ids", "labels"):
        if key not in batch:
            raise ValueError(f"micro-batch {index} has no {key!r}; it needs 'input_ids' and 'labels' [B, T]")
    for key in ("input_ids", "labels", "attention_mask", "position_ids"):
        value = batch.get(key)
        if value is None:
            continue
        if not torch.is_tensor(value):
            raise TypeError(f"micro-batch {index}: {key!r} must be a tensor, got {type(value).__name__}")
        if value.dim() != 2 or value.shape != batch["input_ids"].shape:
            raise ValueError(
                f"micro-batch {index}: {key!r} has shape {tuple(value.shape)}, expected "
                f"[B, T] = {tuple(batch['input_ids'].shape)} like 'input_ids'"
            )


def _model_inputs(model: torch.nn.Module, batch: dict, device: torch.device) -> dict:
    """Build the keyword arguments for `model(...)`: ids, plus mask and positions when present."""
    inputs = {"input_ids": batch["input_ids"].to(device)}
    for key in ("attention_mask", "position_ids"):
        if batch.get(key) is not None:
            inputs[key] = batch[key].to(device)
    # NOTE: a transformers model builds a KV cache unless use_cache=False, and
    # with a cache it ignores the sequence boundaries that packed position ids mark.
    if getattr(getattr(model, "config", None), "use_cache", None) is not None:
        inputs["use_cache"] = False
    return inputs


def _summed_token_loss(model: torch.nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
    """Sum the next-token cross-entropy over the supervised tokens of one micro-batch."""
    logits = model(**_model_inputs(model, batch, device)).logits  # [B, T, V]
    labels = batch["labels"].to(device)  # [B, T], IGNORE_INDEX = not supervised
    # Position t predicts token t + 1; float32 keeps the sum exact enough under bf16 weights.
    shifted_logits = logits[:, :-1].float()  # [B, T-1, V]
    shifted_labels = labels[:, 1:]  # [B, T-1]
    return F.cross_entropy(
        shifted_logits.reshape(-1, shifted_logits.shape[-1]),
        shifted_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


def _supervised_count(batch: dict) -> int:
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def _model_device(model: torch.nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def accumulate_gradients(model: torch.nn.Module, micro_batches: Sequence[dict]) -> float:
    """Backpropagate one accumulation window; return its token-mean loss."""
    if not callable(model):
        raise TypeError(f"model must be a callable torch module, got {type(model).__name__}")
    if isinstance(micro_batches, dict) or not isinstance(micro_batches, Sequence):
        raise TypeError(
            f"micro_batches must be a list of dicts, got {type(micro_batches).__name__}; "
            "wrap a single batch as [batch]"
        )
    if len(micro_batches) == 0:
        raise ValueError("micro_batches is empty; an accumulation window needs at least one micro-batch")
    for index, batch in enumerate(micro_batches):
        _check_micro_batch(index, batch)

    # NOTE: the divisor is the window's supervised-token count, known before any
    # forward, so every token weighs the same whichever micro-batch contains it.
    total_tokens = sum(_supervised_count(batch) for batch in micro_batches)
    divisor = max(total_tokens, 1)  # an all-masked window gives loss 0, zero gradients
    device = _model_device(model)
    window_loss = 0.0
    for batch in micro_batches:
        loss_sum = _summed_token_loss(model, batch, device)
        (loss_sum / divisor).backward()  # adds into .grad; the graph of this micro-batch is freed
        window_loss += loss_sum.item()
    return window_loss / divisor


# ---------------------------------------------------------------- clipping


def _global_grad_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """Compute the L2 norm of all gradients taken as one vector."""
    if not grads:
        return torch.tensor(0.0)
    device = grads[0].device
    per_tensor = [torch.linalg.vector_norm(g.detach(), 2).to(device) for g in grads]
    return torch.linalg.vector_norm(torch.stack(per_tensor), 2)


def clip_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their global L2 norm is at most `max_norm`."""
    max_norm = _check_real("max_norm", max_norm, positive=True)
    if torch.is_tensor(parameters):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total_norm = _global_grad_norm(grads)
    # The 1e-6 keeps the ratio finite for a zero norm, and the clamp never scales up.
    scale = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)
    for grad in grads:
        grad.detach().mul_(scale.to(grad.device, grad.dtype))
    return total_norm


# ---------------------------------------------------------------- optimizer


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay, written from the update rule."""

    def __init__(
        self,
        params,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ):
        _check_real("lr", lr)
        _check_real("eps", eps)
        _check_real("weight_decay", weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for name, beta in zip(("beta1", "beta2"), betas):
            if isinstance(beta, bool) or not isinstance(beta, Real) or not 0.0 <= beta < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {beta!r}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """Apply one AdamW update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if grad.is_sparse:
                    raise TypeError("AdamW does not support sparse gradients; use torch.optim.SparseAdam")

                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["step"] += 1
                step = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

                # Decoupled decay shrinks the weight itself; it never enters the moments.
                param.mul_(1.0 - lr * weight_decay)

                exp_avg.lerp_(grad, 1.0 - beta1)  # m = beta1 m + (1 - beta1) g
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)  # v = beta2 v + (1 - beta2) g^2

                # Bias correction undoes the zero start of m and v; eps sits outside the sqrt.
                bias_correction1 = 1.0 - beta1**step
                bias_correction2 = 1.0 - beta2**step
                denom = (exp_avg_sq / bias_correction2).sqrt_().add_(eps)
                param.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)
        return loss


# ---------------------------------------------------------------- training loop


@dataclass
class TrainConfig:
    """Settings of one `train` run; steps count optimizer steps, not micro-batches."""

    peak_lr: float
    warmup_steps: int
    total_steps: int
    grad_accum_steps: int = 1
    max_grad_norm: float | None = 1.0  # None turns clipping off (the norm is still recorded)
    weight_decay: float = 0.0
    eval_every: int = 0  # 0 turns evaluation off
    seed: int = 0
    checkpoint_dir: str | os.PathLike | None = None
    resume: bool = False


def _check_config(config: TrainConfig, has_eval: bool) -> None:
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    _check_real("peak_lr", config.peak_lr)
    _check_count("warmup_steps", config.warmup_steps)
    if _check_count("total_steps", config.total_steps) == 0:
        raise ValueError("total_steps must be >= 1, got 0")
    if config.warmup_steps > config.total_steps:
        raise ValueError(
            f"warmup_steps ({config.warmup_steps}) must not exceed total_steps ({config.total_steps})"
        )
    if _check_count("grad_accum_steps", config.grad_accum_steps) == 0:
        raise ValueError("grad_accum_steps must be >= 1, got 0")
    if config.max_grad_norm is not None:
        _check_real("max_grad_norm", config.max_grad_norm, positive=True)
    _check_real("weight_decay", config.weight_decay)
    _check_count("eval_every", config.eval_every)
    if isinstance(config.seed, bool) or not isinstance(config.seed, Integral):
        raise TypeError(f"seed must be an int, got {config.seed!r}")
    if config.eval_every > 0 and not has_eval:
        raise ValueError(
            f"eval_every is {config.eval_every} but eval_batches is empty; pass eval_batches or set eval_every=0"
        )
    if config.resume and config.checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir, the folder to resume from")


def _window_bounds(num_batches: int, grad_accum_steps: int) -> list[tuple[int, int]]:
    """List the [start, end) micro-batch indices of each window in one pass; the last may be short."""
    return [(start, min(start + grad_accum_steps, num_batches)) for start in range(0, num_batches, grad_accum_steps)]


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Sequence[dict]) -> float:
    """Compute the token-mean loss over `batches`, in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    device = _model_device(model)
    total, count = 0.0, 0
    for index, batch in enumerate(batches):
        _check_micro_batch(index, batch)
        total += _summed_token_loss(model, batch, device).item()
        count += _supervised_count(batch)
    model.train(was_training)
    return total / max(count, 1)


def _rng_state() -> dict:
    numpy_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "key": numpy_state[0],
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["key"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(folder: Path, model, optimizer, steps_done: int, records: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "steps_done": steps_done,  # the scheduler position: the next step's index
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "records": records,
        "rng": _rng_state(),
    }
    # Write then rename, so a crash mid-write never leaves a torn latest checkpoint.
    temporary = folder / (CHECKPOINT_NAME + ".tmp")
    torch.save(checkpoint, temporary)
    os.replace(temporary, folder / CHECKPOINT_NAME)


def _load_checkpoint(folder: Path) -> dict | None:
    path = folder / CHECKPOINT_NAME
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def train(
    model: torch.nn.Module,
    train_batches: Sequence[dict],
    config: TrainConfig,
    eval_batches: Sequence[dict] | None = None,
) -> list[dict]:
    """Train `model` for `config.total_steps` optimizer steps; return one record per step."""
    if isinstance(train_batches, dict) or not isinstance(train_batches, Sequence):
        raise TypeError(f"train_batches must be a list of micro-batch dicts, got {type(train_batches).__name__}")
    if len(train_batches) == 0:
        raise ValueError("train_batches is empty; pass at least one micro-batch")
    _check_config(config, has_eval=bool(eval_batches))
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no parameter with requires_grad=True; nothing would be trained")

    torch.manual_seed(config.seed)
    schedule = {"peak_lr": config.peak_lr, "warmup_steps": config.warmup_steps, "total_steps": config.total_steps}
    optimizer = AdamW(trainable, lr=cosine_lr(0, **schedule), weight_decay=config.weight_decay)
    records: list[dict] = []
    first_step = 0
    folder = Path(config.checkpoint_dir) if config.checkpoint_dir is not None else None
    if config.resume:
        checkpoint = _load_checkpoint(folder)
        if checkpoint is not None:  # nothing saved yet: start from scratch
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            records = list(checkpoint["records"])
            first_step = checkpoint["steps_done"]
            _set_rng_state(checkpoint["rng"])

    windows = _window_bounds(len(train_batches), config.grad_accum_steps)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    for step in range(first_step, config.total_steps):
        # The rate advances once per optimizer step, whatever the accumulation.
        lr = cosine_lr(step, **schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr

        # A window never spans two passes, so the pass's last one may be short.
        start, end = windows[step % len(windows)]
        window = train_batches[start:end]
        divisor = max(sum(_supervised_count(batch) for batch in window), 1)
        loss = 0.0
        device = _model_device(model)
        for batch in window:
            loss_sum = _summed_token_loss(model, batch, device)
            (loss_sum / divisor).backward()
            loss += loss_sum.item() / divisor
            if config.max_grad_norm is None:
                grad_norm = _global_grad_norm([p.grad for p in trainable if p.grad is not None])
            else:
                grad_norm = clip_grad_norm(trainable, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        record = {"step": step, "loss": loss, "lr": lr, "grad_norm": float(grad_norm)}
        if config.eval_every and ((step + 1) % config.eval_every == 0 or step + 1 == config.total_steps):
            record["eval_loss"] = evaluate(model, eval_batches)
        records.append(record)
        if folder is not None:
            _save_checkpoint(folder, model, optimizer, step + 1, records)
    return records
