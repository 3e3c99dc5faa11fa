"""Timing helpers and the row format every benchmark module returns.

A benchmark module `bench/bench_<topic>.py` defines

    def run(quick: bool) -> list[Row]

and `python -m bench` (`make bench`) runs them all, prints one table and
writes it to docs/benchmarks.md. Ratios compare our time with a peer's
time measured in the same run on the same input; they are reported, never
asserted, because wall time depends on the machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    """One comparison: our code against a peer on the same work."""

    name: str  # what was measured, with its size, e.g. "collate, 10k examples"
    ours: str  # what ran on our side
    peer: str  # the peer it is compared with
    ours_seconds: float
    peer_seconds: float
    target: str  # e.g. "ratio ≤ 1.0"; "" when there is none
    met: bool | None  # None when there is no target
    note: str = ""  # equality checks, units, caveats

    @property
    def ratio(self) -> float:
        """Our time divided by the peer's time: below 1 means we are faster."""
        return self.ours_seconds / self.peer_seconds if self.peer_seconds > 0 else float("inf")


def best_time(function: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of `repeat` calls after `warmup` untimed calls, in seconds."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
