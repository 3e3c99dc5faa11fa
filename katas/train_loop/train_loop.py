"""Kata `train_loop`: schedule, gradient accumulation, clipping, AdamW, and the loop.

An SFT run is a loop of optimizer steps. Each step backpropagates a window of
`grad_accum_steps` micro-batches, clips the summed gradient once, applies
AdamW at the learning rate of a warmup + cosine schedule, and zeroes the
gradients. Most bugs hide in the bookkeeping: how the loss is normalized
across micro-batches, when the schedule advances, when clipping happens, and
what a checkpoint must hold so a resumed run is the run that crashed.

Grade it with `make check KATA=train_loop` (or `kata check train_loop`).
The full task statement, with examples, is in README.md beside this file.
This kata does not cover mixed precision, distributed training or data
shuffling: batches are read in the order given.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

IGNORE_INDEX = -100


def cosine_lr(step: int, *, peak_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup, then cosine decay.

    - `step < warmup_steps`: `peak_lr * step / warmup_steps` (step 0 gives 0).
    - `warmup_steps <= step < total_steps`: cosine from `peak_lr` down to `min_lr`,
      `min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress))` with
      `progress = (step - warmup_steps) / (total_steps - warmup_steps)`.
    - `step >= total_steps`: `min_lr`.

    With `min_lr=0` this equals transformers' `get_cosine_schedule_with_warmup`
    (times `peak_lr`) for every step in `[0, total_steps]` when
    `warmup_steps < total_steps`.

    Raises ValueError for a negative `step`, `warmup_steps`, `total_steps`,
    `peak_lr` or `min_lr`, for `warmup_steps > total_steps`, and for
    `min_lr > peak_lr`; TypeError for a step count that is not an int.

    >>> [round(cosine_lr(s, peak_lr=1.0, warmup_steps=2, total_steps=10), 4) for s in range(11)]
    [0.0, 0.5, 1.0, 0.9619, 0.8536, 0.6913, 0.5, 0.3087, 0.1464, 0.0381, 0.0]
    """
    # TODO: validate the arguments, then return the warmup, cosine or final rate.
    raise NotImplementedError("cosine_lr")


def accumulate_gradients(model: torch.nn.Module, micro_batches: Sequence[dict]) -> float:
    """Run forward and backward over one accumulation window; return the window's loss.

    Each micro-batch is a dict of tensors `[B, T]`: `input_ids`, `labels`
    (unshifted, IGNORE_INDEX = not supervised), and optionally
    `attention_mask` and `position_ids`. Call the model as
    `model(input_ids=..., attention_mask=..., position_ids=...)`, and pass
    `attention_mask` and `position_ids` only when the batch has them:
    position ids are how a packed batch keeps its sequences apart. The
    model returns an object with `.logits` `[B, T, V]`. Other keys are ignored.
    Move the tensors to the model's device. For a transformers model (one
    whose `model.config` has `use_cache`) also pass `use_cache=False`: a
    training forward needs no KV cache, and with one transformers ignores
    the sequence boundaries in packed position ids.

    The gradient added to each parameter's `.grad` equals the gradient of
    the token-mean loss over the WHOLE window:

        sum of next-token losses over all micro-batches
        / number of supervised tokens in all micro-batches

    (position t predicts `labels[t + 1]`). Backpropagate each micro-batch as
    you go, so only one micro-batch's graph is alive at a time. Like
    `backward()`, this adds to `.grad` and never zeroes it first. A window
    with no supervised token returns 0.0 and adds zero gradients.

    Returns the window's token-mean loss as a Python float.

    Raises ValueError for an empty window, a micro-batch without
    `input_ids` or `labels`, or tensors whose shapes differ from
    `input_ids`; TypeError for a micro-batch that is not a dict.

    Example: two micro-batches, 10 supervised tokens at loss 1.0 and 100 at
    loss 2.0, give (10 * 1.0 + 100 * 2.0) / 110 = 1.909, not (1.0 + 2.0) / 2.
    """
    # TODO: count the window's supervised tokens, then forward and backward each micro-batch.
    raise NotImplementedError("accumulate_gradients")


def clip_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients in place so that their global L2 norm is at most `max_norm`.

    The global norm treats every gradient as part of one long vector:
    `sqrt(sum of squares of all entries)`. When it exceeds `max_norm`, every
    gradient is multiplied by `max_norm / (norm + 1e-6)`; otherwise nothing
    changes. Parameters whose `.grad` is None are skipped. `parameters` may
    be a single tensor or an iterable of them.

    Returns the norm BEFORE clipping, as a 0-dim tensor (`tensor(0.)` when
    no parameter has a gradient). Equals `torch.nn.utils.clip_grad_norm_`.

    Raises ValueError when `max_norm` is not > 0.

    >>> p = torch.zeros(2, requires_grad=True); p.grad = torch.tensor([3.0, 4.0])
    >>> clip_grad_norm([p], 1.0), p.grad      # norm 5, scaled by about 1/5
    (tensor(5.), tensor([0.6000, 0.8000]))
    """
    # TODO: compute the global norm of all gradients, then scale them together.
    raise NotImplementedError("clip_grad_norm")


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (Loshchilov and Hutter), from the update rule.

    For each parameter `p` with gradient `g`, at step `t` (1-based, per
    parameter), with the group's `lr`, `betas = (b1, b2)`, `eps` and
    `weight_decay`:

        p = p - lr * weight_decay * p          # decoupled: never added to g
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)               # bias correction
        v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)   # eps outside the sqrt

    `m` and `v` start at zero and live in `self.state[p]`, so that
    `state_dict()` / `load_state_dict()` save and restore them. Read `lr`
    from the parameter group at every step: the training loop changes it.
    Parameters whose `.grad` is None are skipped (no decay, no step count).
    Must match `torch.optim.AdamW` step for step, without calling it.

    Raises ValueError for `lr`, `eps` or `weight_decay` below 0, or a beta
    outside [0, 1).
    """

    def __init__(
        self,
        params,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ):
        # TODO: validate the hyperparameters, then call super().__init__(params, defaults).
        raise NotImplementedError("AdamW.__init__")

    @torch.no_grad()
    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient; return `closure()`'s loss or None."""
        # TODO: for each group and parameter, update the moments and the weight.
        raise NotImplementedError("AdamW.step")


@dataclass
class TrainConfig:
    """Settings of one `train` run. Steps count optimizer steps, not micro-batches."""

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


def train(
    model: torch.nn.Module,
    train_batches: Sequence[dict],
    config: TrainConfig,
    eval_batches: Sequence[dict] | None = None,
) -> list[dict]:
    """Train `model` for `config.total_steps` optimizer steps; return one record per step.

    Setup: seed torch with `config.seed`, put the model in train mode, and
    optimize only the parameters with `requires_grad`, with this kata's
    `AdamW` (default betas and eps, `config.weight_decay` on every trainable
    parameter).

    Data: `train_batches` is a list of micro-batches (the dicts
    `accumulate_gradients` takes), read in order, pass after pass. Optimizer
    step `s` takes the next `grad_accum_steps` micro-batches of the current
    pass. A window never spans two passes, so the last window of a pass may
    be shorter. It is still applied, normalized by its own supervised tokens.
    Example: 5 micro-batches, accumulation 2: steps use [0, 1], [2, 3], [4],
    then [0, 1] again.

    Each step `s`, in this order:
      1. set every group's lr to `cosine_lr(s, peak_lr=..., warmup_steps=...,
         total_steps=...)`: the rate advances once per optimizer step;
      2. `accumulate_gradients` over the window;
      3. clip once, after the whole window: `clip_grad_norm(..., max_grad_norm)`
         (skipped when `max_grad_norm` is None);
      4. `optimizer.step()`, then zero the gradients;
      5. evaluate when `eval_every > 0` and `(s + 1) % eval_every == 0` or `s`
         is the last step: token-mean loss over `eval_batches`, in eval mode,
         without gradients, then back to train mode;
      6. with `checkpoint_dir`, save a checkpoint.

    Record of step `s`: `{"step": s, "loss": window loss, "lr": the rate step s
    used, "grad_norm": norm before clipping}` plus `"eval_loss"` when step 5
    ran. Values are Python int / float, not tensors.

    Checkpoints: after every step, write into `checkpoint_dir` what a resumed
    run needs to continue exactly: model and optimizer state dicts, the
    number of steps done (the schedule's position), the records so far and
    the RNG states (torch, Python `random`, numpy). With `resume=True`,
    `train` loads the latest checkpoint into `model` and continues, and
    returns exactly the records an uninterrupted run would (all of them,
    from step 0; bit for bit on CPU). With no checkpoint there yet it starts
    from scratch.

    Raises TypeError when `config` is not a TrainConfig, ValueError for an
    empty `train_batches`, `total_steps < 1`, `grad_accum_steps < 1`,
    `warmup_steps` outside `[0, total_steps]`, a negative `peak_lr`,
    `weight_decay` or `eval_every`, `max_grad_norm <= 0`, `eval_every > 0`
    without `eval_batches`, `resume=True` without `checkpoint_dir`, and a
    model with no trainable parameter.
    """
    # TODO: set up the optimizer (and resume), then run the step loop above.
    raise NotImplementedError("train")
