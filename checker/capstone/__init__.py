"""Machinery of the capstone run, shared by the capstone stub and its solution.

The learner's `katas/capstone/capstone.py` wires the katas together; this
package does everything else: config and flags (`config`), loading the
implementations (`kits`), data and models (`data`), the run session with
DDP, autocast and progress (`session`, `distributed`, `tracking`), scoring
(`generation`), outputs (`report`), the TRL path (`trl_path`) and the rank
sweep (`sweep`). docs/capstone.md describes how the parts fit.
"""
