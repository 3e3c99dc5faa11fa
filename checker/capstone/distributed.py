"""Data parallelism for the capstone under `torchrun --nproc_per_node N`.

Each process trains on its own micro-batches. DistributedDataParallel
all-reduces the gradients (gloo on CPU, nccl on CUDA), and only rank 0
writes files. The train loop kata normalizes each window by the supervised
tokens of that rank's micro-batches, and those counts differ between ranks.
So DDP's plain mean of the rank gradients is replaced by a communication
hook that weights rank r by `tokens_r / tokens_all` and sums. The update
then equals one process running the whole window with `N` times the
accumulation.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

IGNORE_INDEX = -100


def supervised_tokens(batch: dict) -> int:
    """Supervised next-token targets of a micro-batch, counted as the loss counts them."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


@dataclass
class Distributed:
    """This process's place in the job; a single process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    factor: float = 1.0  # this rank's gradient weight for the current window

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: torch.device) -> Distributed:
        """Join the process group that torchrun describes in RANK / WORLD_SIZE, if any."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls(device=device)
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10))
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=device)

    def shard(self, batches: list[dict], grad_accum: int) -> list[dict]:
        """This rank's micro-batches: rank r takes the r-th block of `grad_accum` in each global window.

        The list is first cut to a multiple of `world_size * grad_accum`, so
        every rank runs the same number of windows of the same size.
        """
        if not self.enabled:
            return batches
        window = self.world_size * grad_accum
        usable = len(batches) - len(batches) % window
        if usable == 0:
            raise ValueError(
                f"{len(batches)} micro-batches cannot fill one window of {window} "
                f"({self.world_size} processes x grad_accum {grad_accum}); use more data or a smaller --grad-accum"
            )
        mine = []
        for start in range(0, usable, window):
            offset = start + self.rank * grad_accum
            mine += batches[offset : offset + grad_accum]
        return mine

    def window_factors(self, batches: list[dict], grad_accum: int) -> list[float]:
        """`tokens_r / tokens_all` for each window of this rank's `batches`."""
        local = [
            sum(supervised_tokens(b) for b in batches[start : start + grad_accum])
            for start in range(0, len(batches), grad_accum)
        ]
        counts = torch.tensor(local, dtype=torch.float64, device=self.device)
        totals = counts.clone()
        if self.enabled:
            dist.all_reduce(totals)
        return [float(c / t) if t > 0 else 1.0 / self.world_size for c, t in zip(counts, totals)]

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP with the token-weighted gradient sum; the model itself when single-process."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids=device_ids)
        wrapped.register_comm_hook(self, _token_weighted_sum)
        return wrapped

    def all_sum(self, values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.enabled:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def _token_weighted_sum(state, bucket):
    """DDP communication hook: scale this rank's gradients by its token share, then sum.

    Unannotated on purpose: DDP rejects string annotations, which
    `from __future__ import annotations` would make of them.
    """
    tensor = bucket.buffer()
    tensor.mul_(state.factor)
    work = dist.all_reduce(tensor, async_op=True)
    return work.get_future().then(lambda future: future.value()[0])
