"""Spaced repetition for drills: when each passed kata comes back.

Every passed kata has a card in `state["drill"]["cards"][name]`:

    {"interval_days": float, "due_at": epoch seconds, "reps": int,
     "lapses": int, "history": [{"started_at", "finished_at", "seconds",
                                  "outcome", "checks"}]}

A kata without a card is first due one day after it was passed. After a
drill the interval is multiplied by a factor that depends on the outcome:

- `fast`: passed within the kata's estimated minutes (kata.toml) → ×2.5
- `slow`: passed, but slower than the estimate → ×1.4
- `failed`: the learner gave up (`kata drill giveup`) → ×0.5

and the kata is due again that many days after the drill ended. Intervals
stay between MIN_INTERVAL_DAYS and MAX_INTERVAL_DAYS. This is a plain
doubling scheme in the spirit of SM-2, kept simple so that the learner can
predict it.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86400.0
FIRST_INTERVAL_DAYS = 1.0
MIN_INTERVAL_DAYS = 0.5
MAX_INTERVAL_DAYS = 120.0
GROWTH = {"fast": 2.5, "slow": 1.4, "failed": 0.5}
OUTCOMES = tuple(GROWTH)


@dataclass(frozen=True)
class DueKata:
    name: str
    due_at: float
    interval_days: float
    reps: int


def _number(value, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)


def card_for(data: dict, name: str) -> dict:
    """The card of `name`, created (due a day after the pass) when missing."""
    cards = data["drill"]["cards"]
    card = cards.get(name)
    if not isinstance(card, dict):
        passed_at = _number(data["katas"].get(name, {}).get("passed_at"), 0.0)
        card = {"interval_days": FIRST_INTERVAL_DAYS,
                "due_at": passed_at + FIRST_INTERVAL_DAYS * DAY,
                "reps": 0, "lapses": 0, "history": []}
        cards[name] = card
    if not isinstance(card.get("history"), list):
        card["history"] = []
    return card


def schedule(data: dict, names: list[str]) -> list[DueKata]:
    """Every passed kata among `names` with its due time, soonest first.

    Reads the state without changing it; katas missing from `names` (renamed
    or removed) are left out.
    """
    found = []
    for name in names:
        entry = data["katas"].get(name, {})
        if entry.get("status") != "passed":
            continue
        card = data["drill"]["cards"].get(name)
        if isinstance(card, dict):
            due_at = _number(card.get("due_at"), 0.0)
            interval = _number(card.get("interval_days"), FIRST_INTERVAL_DAYS)
            reps = int(_number(card.get("reps"), 0))
        else:
            due_at = _number(entry.get("passed_at"), 0.0) + FIRST_INTERVAL_DAYS * DAY
            interval, reps = FIRST_INTERVAL_DAYS, 0
        found.append(DueKata(name=name, due_at=due_at, interval_days=interval, reps=reps))
    return sorted(found, key=lambda due: (due.due_at, due.name))


def outcome_for(passed: bool, seconds: float, estimate_minutes: int) -> str:
    if not passed:
        return "failed"
    return "fast" if seconds <= estimate_minutes * 60 else "slow"


def apply_outcome(card: dict, outcome: str, now: float) -> float:
    """Grow or shrink the card's interval for `outcome`; return the new interval in days."""
    interval = _number(card.get("interval_days"), FIRST_INTERVAL_DAYS) * GROWTH[outcome]
    interval = min(MAX_INTERVAL_DAYS, max(MIN_INTERVAL_DAYS, interval))
    card["interval_days"] = interval
    card["due_at"] = now + interval * DAY
    card["reps"] = int(_number(card.get("reps"), 0)) + 1
    if outcome == "failed":
        card["lapses"] = int(_number(card.get("lapses"), 0)) + 1
    return interval


def pass_times(card: dict) -> list[float]:
    """Seconds to pass of every passed drill of the card, oldest first."""
    return [
        float(item["seconds"]) for item in card.get("history", [])
        if isinstance(item, dict) and item.get("outcome") in ("fast", "slow")
        and isinstance(item.get("seconds"), (int, float))
    ]
