"""Machinery of the capstone run, shared by the capstone stub and its solution.

The learner's `katas/capstone/capstone.py` wires the katas together, and
this package does everything else. It holds the config and flags
(`config`), loading of the implementations (`kits`), data and models
(`data`), and the run session with DDP, autocast and progress (`session`,
`distributed`, `tracking`). Scoring is in `generation`, outputs in
`report`, the TRL path in `trl_path` and the rank sweep in `sweep`. docs/capstone.md describes how the parts fit.
"""
