"""Grading machinery and the `kata` command line for sft-katas."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
