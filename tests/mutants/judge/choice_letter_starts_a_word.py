"""Mutant: reads the first letter of a word on the answer line, so 'Answer: Apple' gives 'A'."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

OUTCOMES = ("model_1", "model_2", "tie", "inconsistent", "error")
_MARKER = re.compile(r"\[\[([ABC])\]\]")
_VERDICTS = {"A": "A", "B": "B", "C": "tie"}


class VerdictParseError(ValueError):
    """A judgement without any [[A]], [[B]] or [[C]] marker."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


@dataclass(frozen=True)
class PairwiseResult:
    """One comparison played twice: `game_1` shows answer 1 as A, `game_2` as B.

    `game_1` and `game_2` are the judge's verdicts as it gave them ("A", "B",
    "tie", or None when unparseable); `outcome` maps them back to the models.
    """

    outcome: str
    game_1: str | None
    game_2: str | None


@dataclass(frozen=True)
class JudgeStats:
    """Counts and rates over many pairwise results; rates are NaN with nothing to count."""

    n: int
    wins: int
    losses: int
    ties: int
    inconsistent: int
    errors: int
    win_rate: float
    consistency_rate: float
    first_position_rate: float


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, got {type(value).__name__}")


def build_judge_prompt(question: str, answer_a: str, answer_b: str) -> str:
    """Ask the judge to compare answer A and answer B and end with [[A]], [[B]] or [[C]]."""
    for name, value in (("question", question), ("answer_a", answer_a), ("answer_b", answer_b)):
        _check_str(name, value)
    return (
        "You are judging two answers to the same question. Decide which answer is more "
        "helpful, correct and clear. The order of the answers says nothing about their "
        "quality, and length is not quality.\n\n"
        f"[Question]\n{question}\n\n"
        f"[Answer A]\n{answer_a}\n[End of Answer A]\n\n"
        f"[Answer B]\n{answer_b}\n[End of Answer B]\n\n"
        "Explain your reasoning briefly, then end with exactly one verdict: "
        "[[A]] if A is better, [[B]] if B is better, [[C]] for a tie."
    )


def parse_verdict(text: str) -> str:
    """Return "A", "B" or "tie" from the last verdict marker in the judgement."""
    _check_str("text", text)
    markers = _MARKER.findall(text)
    if not markers:
        raise VerdictParseError("the judgement has no [[A]], [[B]] or [[C]] marker", text)
    return _VERDICTS[markers[-1]]


def _verdict_or_none(text: str) -> str | None:
    try:
        return parse_verdict(text)
    except VerdictParseError:
        return None


def judge_pair(judge: Callable[[str], str], question: str, answer_1: str, answer_2: str) -> PairwiseResult:
    """Judge both orders and keep the outcome only when the two games agree."""
    if not callable(judge):
        raise TypeError(f"judge must be callable as judge(prompt) -> str, got {type(judge).__name__}")
    game_1 = _verdict_or_none(judge(build_judge_prompt(question, answer_1, answer_2)))
    game_2 = _verdict_or_none(judge(build_judge_prompt(question, answer_2, answer_1)))
    if game_1 is None or game_2 is None:
        return PairwiseResult("error", game_1, game_2)
    # Game 2 showed answer 2 as A, so its letters map back the other way round.
    first = {"A": "model_1", "B": "model_2", "tie": "tie"}[game_1]
    second = {"A": "model_2", "B": "model_1", "tie": "tie"}[game_2]
    return PairwiseResult(first if first == second else "inconsistent", game_1, game_2)


def aggregate(results: Sequence[PairwiseResult]) -> JudgeStats:
    """Count outcomes and compute the win rate of model 1, consistency and position bias."""
    if isinstance(results, (str, bytes)) or not isinstance(results, Sequence) or not results:
        raise ValueError(f"results must be a non-empty list of PairwiseResult, got {results!r}")
    counts = dict.fromkeys(OUTCOMES, 0)
    decisive = first_position = 0
    for index, result in enumerate(results):
        if not isinstance(result, PairwiseResult) or result.outcome not in counts:
            raise ValueError(f"results[{index}] is not a PairwiseResult with a known outcome: {result!r}")
        counts[result.outcome] += 1
        for verdict in (result.game_1, result.game_2):
            if verdict in ("A", "B"):
                decisive += 1
                first_position += verdict == "A"
    judged = len(results) - counts["error"]
    points = counts["model_1"] + 0.5 * (counts["tie"] + counts["inconsistent"])
    return JudgeStats(
        n=len(results),
        wins=counts["model_1"],
        losses=counts["model_2"],
        ties=counts["tie"],
        inconsistent=counts["inconsistent"],
        errors=counts["error"],
        win_rate=points / judged if judged else math.nan,
        consistency_rate=(judged - counts["inconsistent"]) / judged if judged else math.nan,
        first_position_rate=first_position / decisive if decisive else math.nan,
    )


# ---------------------------------------------------------------- Bradley-Terry


def _check_comparisons(comparisons) -> list[tuple[str, str, float]]:
    if isinstance(comparisons, (str, bytes)) or not isinstance(comparisons, Sequence) or not comparisons:
        raise ValueError(f"comparisons must be a non-empty list of (model_i, model_j, score_i), got {comparisons!r}")
    checked = []
    for index, item in enumerate(comparisons):
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise ValueError(f"comparisons[{index}] must be (model_i, model_j, score_i), got {item!r}")
        model_i, model_j, score = item
        if not isinstance(model_i, str) or not isinstance(model_j, str) or model_i == model_j:
            raise ValueError(f"comparisons[{index}] needs two different model names (str), got {item!r}")
        if isinstance(score, bool) or score not in (0, 0.5, 1):
            raise ValueError(f"comparisons[{index}] has score {score!r}; use 1 (i wins), 0.5 (tie) or 0 (j wins)")
        checked.append((model_i, model_j, float(score)))
    return checked


def _strongly_connected(models: list[str], beats: np.ndarray) -> bool:
    """True when every model reaches every other along 'scored against' edges both ways."""

    def reach(matrix: np.ndarray) -> int:
        seen, stack = {0}, [0]
        while stack:
            node = stack.pop()
            for other in np.flatnonzero(matrix[node]):
                if other not in seen:
                    seen.add(int(other))
                    stack.append(int(other))
        return len(seen)

    return reach(beats) == len(models) and reach(beats.T) == len(models)


def bradley_terry(
    comparisons: Sequence[tuple[str, str, float]],
    *,
    prior: float = 1.0,
    models: Sequence[str] | None = None,
    max_iter: int = 10_000,
    tol: float = 1e-10,
) -> dict[str, float]:
    """Fit Bradley-Terry ratings (natural-log strengths, mean 0) by the MM algorithm.

    P(i beats j) = 1 / (1 + exp(r_j - r_i)). A tie counts as half a win for
    each side, and `prior` adds that many virtual tied games between every
    pair of models, so the fit is finite even for an unbeaten model.
    """
    checked = _check_comparisons(comparisons)
    if not isinstance(prior, (int, float)) or isinstance(prior, bool) or prior < 0:
        raise ValueError(f"prior must be a number >= 0, got {prior!r}")
    names = sorted({m for i, j, _ in checked for m in (i, j)} | set(models or ()))
    index = {name: k for k, name in enumerate(names)}
    size = len(names)
    wins = np.zeros((size, size))  # wins[i, j]: points i scored against j
    for model_i, model_j, score in checked:
        wins[index[model_i], index[model_j]] += score
        wins[index[model_j], index[model_i]] += 1.0 - score
    off_diagonal = 1.0 - np.eye(size)
    wins += prior / 2 * off_diagonal
    games = wins + wins.T  # games[i, j]: number of games between i and j
    if prior == 0 and not _strongly_connected(names, wins > 0):
        raise ValueError(
            "the ratings have no finite fit: some group of models never scored against the others "
            "(an unbeaten or winless model, or disconnected groups). Add comparisons or use prior > 0."
        )

    strength = np.ones(size)
    total_wins = wins.sum(axis=1)
    for _ in range(max_iter):
        # MM update: p_i = W_i / sum_j n_ij / (p_i + p_j)
        denominator = (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        updated = total_wins / denominator
        updated /= np.exp(np.log(updated).mean())  # geometric mean 1: ratings have mean 0
        done = np.max(np.abs(np.log(updated) - np.log(strength))) < tol
        strength = updated
        if done:
            break
    ratings = np.log(strength)
    ratings -= ratings.mean()
    return {name: float(ratings[index[name]]) for name in names}


def bootstrap_ratings(
    comparisons: Sequence[tuple[str, str, float]],
    *,
    rounds: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    prior: float = 1.0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval of each model's Bradley-Terry rating."""
    checked = _check_comparisons(comparisons)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    names = sorted({m for i, j, _ in checked for m in (i, j)})
    rng = np.random.default_rng(seed)
    samples = {name: [] for name in names}
    for _ in range(rounds):
        picks = rng.integers(0, len(checked), size=len(checked))
        ratings = bradley_terry([checked[k] for k in picks], prior=prior, models=names)
        for name in names:
            samples[name].append(ratings[name])
    tail = (1 - confidence) / 2
    return {
        name: (float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail)))
        for name, values in samples.items()
    }


# ---------------------------------------------------------------- answer extraction and matching

_ANSWER_LINE = re.compile(r"(?:answer|答案)\s*[:：]\s*[(（\[*]*\s*([A-D])", re.IGNORECASE)
_PAREN_CHOICE = re.compile(r"[(（]([A-D])[)）]")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def extract_choice(text: str) -> str | None:
    """Return the option letter A-D from the last answer line, else the last (X), else None."""
    _check_str("text", text)
    # NOTE: the letter must be uppercase, so "Answer: a cat" is not option A.
    for pattern in (_ANSWER_LINE, _PAREN_CHOICE):
        found = [m for m in pattern.finditer(text) if m.group(1).isupper()]
        if found:
            return found[-1].group(1)
    return None


def normalize_answer(text: str) -> str:
    """Lowercase, delete punctuation (full-width too), drop English articles, squeeze spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(
        ch for ch in text if not (unicodedata.category(ch).startswith("P") or ch in string.punctuation)
    )
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> bool:
    """True when both answers are equal after `normalize_answer`."""
    _check_str("prediction", prediction)
    _check_str("reference", reference)
    return normalize_answer(prediction) == normalize_answer(reference)
