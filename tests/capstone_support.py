"""Shared settings and helpers for the capstone self-tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from checker import REPO_ROOT

# A run small enough for `make test`: seconds of training on the tiny base.
TINY_RUN = [
    "--impl", "solutions", "--device", "cpu",
    "--train-size", "64", "--eval-size", "4", "--batch-size", "8",
    "--steps", "6", "--warmup-steps", "1", "--lora-dropout", "0",
    "--eval-every", "0", "--max-new-tokens", "4", "--log-every", "0",
]


def run_kata(arguments: list[str], *, torchrun_processes: int = 0, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `kata ...` in a subprocess (under torchrun when asked); raise with its output on failure."""
    env = dict(os.environ, OMP_NUM_THREADS="1", KATA_LANG="en", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable]
    if torchrun_processes:
        command += ["-m", "torch.distributed.run", f"--nproc_per_node={torchrun_processes}", "--nnodes=1",
                    "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
    command += ["-m", "checker", *arguments]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return done


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))
