"""CPU-time and memory limits for the process that grades a candidate's file.

`kata check NAME --file candidate.py` (interviewer mode) and `kata mock
submit` grade code nobody has reviewed. The limits are set with
`resource.setrlimit` in the grading subprocess just before it starts
(`preexec_fn`), so only that process is limited:

- `RLIMIT_CPU`: past the soft limit the kernel sends SIGXCPU, which ends
  the process; the runner then reports the graders that never finished.
- `RLIMIT_AS`: an allocation past the limit fails inside the candidate's
  code (MemoryError, or a RuntimeError from torch's allocator) and the
  grader reports it as an error, instead of the machine swapping.

The address-space limit also counts memory that is mapped but never
touched; importing torch and transformers maps about 1 GiB, which is why
the default is well above what any kata needs.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from checker.i18n import tr

DEFAULT_CPU_SECONDS = 600
DEFAULT_MEMORY_MIB = 4096
MEMORY_MARKERS = ("MemoryError", "can't allocate memory", "std::bad_alloc")


@dataclass(frozen=True)
class ResourceLimits:
    cpu_seconds: int | None = DEFAULT_CPU_SECONDS
    memory_mib: int | None = DEFAULT_MEMORY_MIB

    def apply(self) -> None:
        """Set the limits on the current process; called in the child before exec."""
        import resource

        if self.cpu_seconds:
            # The hard limit a little above the soft one: SIGXCPU first, SIGKILL after.
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds + 5))
        if self.memory_mib:
            size = self.memory_mib * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    def describe(self) -> str:
        parts = []
        if self.cpu_seconds:
            parts.append(tr(f"{self.cpu_seconds} s of CPU time", f"CPU 时间 {self.cpu_seconds} 秒"))
        if self.memory_mib:
            parts.append(tr(f"{self.memory_mib} MiB of memory", f"内存 {self.memory_mib} MiB"))
        return tr(" and ", "、").join(parts) or tr("no limits", "不设限制")

    def exit_detail(self, returncode: int) -> str | None:
        """Explain a grading process that a limit ended, from its exit status."""
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL) and self.cpu_seconds:
            return tr(
                f"The grading process was stopped: the code under test used more than "
                f"{self.cpu_seconds} s of CPU time (the --cpu-limit).",
                f"评分进程被终止：被测代码占用的 CPU 时间超过了 {self.cpu_seconds} 秒（--cpu-limit）。",
            )
        return None


def hit_memory_limit(records: list[dict]) -> bool:
    """True when a grader failed because an allocation was refused."""
    for record in records:
        text = f"{record.get('detail') or ''} {record.get('output') or ''}"
        if record.get("status") == "error" and any(marker in text for marker in MEMORY_MARKERS):
            return True
    return False
