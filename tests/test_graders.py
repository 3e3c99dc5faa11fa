"""The graders can fail: solutions pass, stubs are not implemented, mutants are rejected."""

from __future__ import annotations

import pytest

from checker.catalog import find_kata
from tests.helpers import kata_names, mutant_files, pristine_stub, run_graders, summarize

MIN_MUTANTS = 8


@pytest.mark.parametrize("name", kata_names())
def test_solution_passes_every_grader(name):
    result = run_graders(find_kata(name), impl="solutions", ci=True)

    assert result.records, summarize(result)
    assert result.passed, summarize(result)


@pytest.mark.parametrize("name", kata_names())
def test_stub_fails_every_grader_as_not_implemented(name, tmp_path):
    stub = pristine_stub(find_kata(name), tmp_path)

    result = run_graders(find_kata(name), impl=str(stub), ci=True)

    assert result.records, summarize(result)
    statuses = {record["status"] for record in result.records}
    assert statuses == {"not_implemented"}, summarize(result)


@pytest.mark.parametrize(
    "name, mutant", mutant_files(), ids=[f"{n}/{p.stem}" for n, p in mutant_files()]
)
def test_mutant_is_rejected(name, mutant):
    result = run_graders(find_kata(name), impl=str(mutant), ci=True, stop_first=True)

    assert result.records, summarize(result)
    rejected = [r for r in result.records if r["status"] in ("fail", "error", "timeout")]
    assert rejected, f"{mutant.name} passed every grader:\n{summarize(result)}"
    assert not any(r.get("kind") in ("load", "missing") for r in rejected), (
        f"{mutant.name} is rejected only because it does not import or lacks a name:\n"
        f"{summarize(result)}"
    )


@pytest.mark.parametrize("name", kata_names())
def test_kata_has_enough_mutants(name):
    found = [path for kata, path in mutant_files() if kata == name]

    assert len(found) >= MIN_MUTANTS, f"{name} has {len(found)} mutants, expected at least {MIN_MUTANTS}"
