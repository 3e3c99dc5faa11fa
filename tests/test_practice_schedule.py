"""Drill intervals grow on success and shrink on failure; colour follows the terminal."""

from __future__ import annotations

import io

import pytest

from checker.practice import schedule, term
from checker.state import empty_state

NOW = 1_000_000.0


def _passed_state(names):
    data = empty_state()
    for name in names:
        data["katas"][name] = {"status": "passed", "passed_at": NOW}
    return data


def test_first_drill_due_a_day_after_pass():
    data = _passed_state(["a"])

    due = schedule.schedule(data, ["a"])

    assert [item.name for item in due] == ["a"]
    assert due[0].due_at == NOW + schedule.DAY


def test_interval_grows_then_shrinks():
    card = schedule.card_for(_passed_state(["a"]), "a")

    fast = schedule.apply_outcome(card, "fast", NOW)
    slow = schedule.apply_outcome(card, "slow", NOW)
    failed = schedule.apply_outcome(card, "failed", NOW)

    assert fast == pytest.approx(2.5)
    assert slow == pytest.approx(3.5)
    assert failed == pytest.approx(1.75)
    assert card["reps"] == 3
    assert card["lapses"] == 1
    assert card["due_at"] == pytest.approx(NOW + 1.75 * schedule.DAY)


def test_interval_stays_within_bounds():
    card = schedule.card_for(_passed_state(["a"]), "a")
    for _ in range(20):
        schedule.apply_outcome(card, "fast", NOW)
    assert card["interval_days"] == schedule.MAX_INTERVAL_DAYS

    for _ in range(20):
        schedule.apply_outcome(card, "failed", NOW)
    assert card["interval_days"] == schedule.MIN_INTERVAL_DAYS


def test_outcome_compares_with_estimate():
    assert schedule.outcome_for(True, 600, 10) == "fast"
    assert schedule.outcome_for(True, 601, 10) == "slow"
    assert schedule.outcome_for(False, 5, 10) == "failed"


def test_schedule_skips_removed_and_unpassed_katas():
    data = _passed_state(["a", "gone"])
    data["katas"]["b"] = {"status": "in_progress"}

    due = schedule.schedule(data, ["a", "b"])

    assert [item.name for item in due] == ["a"]


def test_schedule_orders_most_overdue_first():
    data = _passed_state(["a", "b"])
    schedule.apply_outcome(schedule.card_for(data, "a"), "fast", NOW)

    due = schedule.schedule(data, ["a", "b"])

    assert [item.name for item in due] == ["b", "a"]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_colour_only_on_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")

    assert term.use_colour(_Terminal())
    assert not term.use_colour(io.StringIO())


def test_no_color_is_respected(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")

    assert not term.use_colour(_Terminal())


def test_table_aligns_wide_characters():
    lines = term.table(["题目", "x"], [["loss_mask", "1"], ["中文", "2"]])

    second_column = [term.display_width(line[: line.rindex(" ") + 1]) for line in lines]
    assert second_column == [11, 11, 11]


def test_duration_formats():
    assert [term.duration(s) for s in (None, 5, 65, 3725, 200000)] == [
        "—", "5s", "1m 05s", "1h 02m", "2d 7h"]
