"""Run every benchmark and write docs/benchmarks.md.

    python -m bench            # full sizes
    python -m bench --quick    # small sizes, for a smoke run
    python -m bench --only collate
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
import time
from pathlib import Path

import bench
from bench.common import Row

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def format_table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | ours | peer | ours (s) | peer (s) | ratio ours/peer | target | met | note |",
        "|---|---|---|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        lines.append(
            f"| {row.name} | {row.ours} | {row.peer} | {row.ours_seconds:.4f} | "
            f"{row.peer_seconds:.4f} | {row.ratio:.3f} | {row.target} | {met} | {row.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", help="run only benchmark modules whose name contains this text")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not write docs/benchmarks.md")
    arguments = parser.parse_args(argv)

    rows: list[Row] = []
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    for name in names:
        if arguments.only and arguments.only not in name:
            continue
        print(f"running {name} …", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.{name}")
        rows.extend(module.run(quick=arguments.quick))

    table = format_table(rows)
    print(table)
    if not arguments.no_write and not arguments.only:
        import torch

        header = (
            "# Benchmarks\n\n"
            "Written by `make bench` (`python -m bench`). Each row times our code and a peer on the\n"
            "same input in the same run; the ratio is ours / peer, so below 1 means faster.\n"
            "Times are medians of repeated runs, in seconds.\n\n"
            f"- date: {time.strftime('%Y-%m-%d')}\n"
            f"- machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, "
            f"{torch.get_num_threads()} torch threads\n"
            f"- python {platform.python_version()}, torch {torch.__version__}\n"
            f"- mode: {'quick (small sizes)' if arguments.quick else 'full sizes'}\n\n"
        )
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(header + table + "\n", encoding="utf-8")
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
