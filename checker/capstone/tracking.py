"""Watch a `train(...)` call from outside: progress bar, log lines, tokens/s, DDP weights.

The train loop kata owns the loop and returns its records only at the
end, so the capstone observes it through forward hooks on the model. The
kata reads the micro-batches in order, pass after pass, in windows of
`grad_accum` that never span two passes; so the k-th training forward is
micro-batch `k mod n` and its window is known in advance. From that the
tracker shows each step's loss, learning rate and tokens/s while it runs,
and, under DDP, sets the gradient weight of each window before its backward.
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from checker.capstone.distributed import IGNORE_INDEX, Distributed
from checker.i18n import tr


class TrainingTracker:
    def __init__(
        self,
        model: torch.nn.Module,
        batches: list[dict],
        *,
        grad_accum: int,
        total_steps: int,
        lr_at=None,
        log_every: int = 25,
        distributed: Distributed | None = None,
        show: bool = True,
    ):
        self.model = model
        self.batches = batches
        self.total_steps = total_steps
        self.lr_at = lr_at
        self.log_every = log_every
        self.distributed = distributed or Distributed()
        self.show = show and self.distributed.is_main
        self.window_of = [index // grad_accum for index in range(len(batches))]
        self.window_factors = (
            self.distributed.window_factors(batches, grad_accum) if self.distributed.enabled else None
        )
        self.forwards = 0
        self.step = -1
        self.step_loss_sum = 0.0
        self.step_targets = 0
        self.step_tokens = 0
        self.step_started = 0.0
        self.loss_sums: list[float] = []  # per step, this rank only
        self.target_counts: list[int] = []
        self.token_counts: list[int] = []
        self.step_seconds: list[float] = []
        self.bar = None
        self._handles = []

    # ---------------------------------------------------------------- hooks

    def _before_forward(self, module, args, kwargs):
        if not module.training or not torch.is_grad_enabled():
            return None  # an evaluation forward inside train(): not part of a window
        index = self.forwards % len(self.batches)
        window = self.window_of[index]
        first_of_window = index == 0 or self.window_of[index - 1] != window
        if first_of_window:
            self._close_step()
            self._open_step()
        if self.window_factors is not None:
            self.distributed.factor = self.window_factors[window]
        return None

    def _after_forward(self, module, args, kwargs, output):
        if not module.training or not torch.is_grad_enabled():
            return None
        batch = self.batches[self.forwards % len(self.batches)]
        self.forwards += 1
        logits = output.logits if hasattr(output, "logits") else output[0]  # [B, T, V]
        labels = batch["labels"].to(logits.device)  # [B, T]
        with torch.no_grad():
            shifted = logits[:, :-1].float()  # position t predicts token t + 1
            loss_sum = F.cross_entropy(
                shifted.reshape(-1, shifted.shape[-1]), labels[:, 1:].reshape(-1),
                ignore_index=IGNORE_INDEX, reduction="sum",
            )
        self.step_loss_sum += float(loss_sum)
        self.step_targets += int((labels[:, 1:] != IGNORE_INDEX).sum())
        mask = batch.get("attention_mask")
        self.step_tokens += int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())
        return None

    # ---------------------------------------------------------------- steps

    def _open_step(self) -> None:
        self.step += 1
        self.step_loss_sum, self.step_targets, self.step_tokens = 0.0, 0, 0
        self.step_started = time.perf_counter()

    def _close_step(self) -> None:
        if self.step < 0 or self.step < len(self.loss_sums):
            return
        seconds = time.perf_counter() - self.step_started
        self.loss_sums.append(self.step_loss_sum)
        self.target_counts.append(self.step_targets)
        self.token_counts.append(self.step_tokens)
        self.step_seconds.append(seconds)
        if not self.show:
            return
        loss = self.step_loss_sum / max(self.step_targets, 1)
        rate = self.step_tokens * self.distributed.world_size / max(seconds, 1e-9)
        lr = self._lr(self.step)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"loss {loss:.4f} | lr {lr:.1e} | {rate:,.0f} tok/s", refresh=False)
        if self.log_every and (self.step % self.log_every == 0 or self.step == self.total_steps - 1):
            line = f"step {self.step:4d}/{self.total_steps} | loss {loss:.4f} | lr {lr:.2e} | {rate:,.0f} tok/s"
            if self.bar is not None:
                self.bar.write(line)
            else:
                print(line, flush=True)

    def _lr(self, step: int) -> float:
        if self.lr_at is None:
            return float("nan")
        try:
            return float(self.lr_at(step))
        except BaseException:  # noqa: BLE001 - a broken schedule must not stop the display
            return float("nan")

    # ---------------------------------------------------------------- context

    def __enter__(self) -> TrainingTracker:
        self._handles = [
            self.model.register_forward_pre_hook(self._before_forward, with_kwargs=True),
            self.model.register_forward_hook(self._after_forward, with_kwargs=True),
        ]
        if self.show:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=self.total_steps, desc=tr("training", "训练中"), unit="step",
                                file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                self.bar = None
        return self

    def __exit__(self, *exc) -> None:
        self._close_step()
        for handle in self._handles:
            handle.remove()
        if self.bar is not None:
            self.bar.close()

    # ---------------------------------------------------------------- results

    def global_step_losses(self) -> list[float]:
        """Each step's token-mean loss over all ranks."""
        sums = self.distributed.all_sum(self.loss_sums)
        counts = self.distributed.all_sum([float(c) for c in self.target_counts])
        return [s / max(c, 1.0) for s, c in zip(sums, counts)]

    def tokens_per_second(self) -> float:
        """Real (non-padding) tokens per second over all ranks, after the first step's warm-up."""
        tokens = self.token_counts[1:] or self.token_counts
        seconds = self.step_seconds[1:] or self.step_seconds
        total_tokens = sum(self.distributed.all_sum([float(sum(tokens))]))
        return total_tokens / max(sum(seconds), 1e-9)
