"""Kata `judge`: pairwise LLM-as-judge with swapped order, and the scores around it.

An LLM judge reads a question and two answers and names the better one.
Judges prefer whatever they see first (position bias), so each pair is
judged twice with the answers swapped, and only an outcome that survives
the swap counts. Many pairwise outcomes then become ratings with the
Bradley-Terry model. Multiple-choice benchmarks need the simpler tools at
the end: read the chosen letter, and compare short answers after
normalization.

What this kata leaves out: calling a real judge model, and judging with a
reference answer or a score scale.

Grade it with `make check KATA=judge` (or `kata check judge`).
The full task statement, with examples, is in README.md beside this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

OUTCOMES = ("model_1", "model_2", "tie", "inconsistent", "error")


class VerdictParseError(ValueError):
    """A judgement without any [[A]], [[B]] or [[C]] marker; `.text` is the judgement."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


@dataclass(frozen=True)
class PairwiseResult:
    """One pair judged in both orders.

    `outcome` is one of OUTCOMES. `game_1` (answer 1 shown as A) and
    `game_2` (answer 2 shown as A) are the verdicts as the judge gave them:
    "A", "B", "tie", or None when the judgement had no marker.
    """

    outcome: str
    game_1: str | None
    game_2: str | None


@dataclass(frozen=True)
class JudgeStats:
    """Counts and rates over many pairwise results (a rate is NaN when it has nothing to count)."""

    n: int
    wins: int
    losses: int
    ties: int
    inconsistent: int
    errors: int
    win_rate: float
    consistency_rate: float
    first_position_rate: float


def build_judge_prompt(question: str, answer_a: str, answer_b: str) -> str:
    """Build the prompt that asks a judge to compare answer A with answer B.

    The prompt contains the question, then `answer_a`, then `answer_b`, each
    word for word, and asks the judge to end with `[[A]]` (A is better),
    `[[B]]` (B is better) or `[[C]]` (tie). Raises TypeError for a non-str.

    >>> "[[C]]" in build_judge_prompt("2+2?", "4", "5")
    True
    """
    # TODO: write the instructions, the question and both answers.
    raise NotImplementedError("build_judge_prompt")


def parse_verdict(text: str) -> str:
    """Return "A", "B" or "tie" from the LAST `[[A]]`, `[[B]]` or `[[C]]` in `text`.

    Judges often quote a marker while reasoning, so only the last one
    counts. Raises VerdictParseError when there is no marker (never read a
    missing marker as a tie), TypeError for a non-str.

    >>> parse_verdict("[[A]] looks good at first, but B is right. [[B]]")
    'B'
    """
    # TODO: find every marker and keep the last one.
    raise NotImplementedError("parse_verdict")


def judge_pair(judge: Callable[[str], str], question: str, answer_1: str, answer_2: str) -> PairwiseResult:
    """Judge a pair in both orders and keep the outcome only when both games agree.

    Game 1: `judge(build_judge_prompt(question, answer_1, answer_2))`.
    Game 2: `judge(build_judge_prompt(question, answer_2, answer_1))`, whose
    "A" means answer 2. Map both games to `model_1`, `model_2` or `tie`; the
    same outcome twice is the outcome, otherwise `inconsistent`. A game
    whose judgement has no marker makes the outcome `error`.

    >>> judge_pair(lambda prompt: "[[A]]", "q", "x", "y")
    PairwiseResult(outcome='inconsistent', game_1='A', game_2='A')
    """
    # TODO: play both games, parse each verdict, map game 2 back and compare.
    raise NotImplementedError("judge_pair")


def aggregate(results: Sequence[PairwiseResult]) -> JudgeStats:
    """Summarize many pairwise results for model 1.

    - `n`: all results; `wins`, `losses`, `ties`, `inconsistent`, `errors`:
      the count of `model_1`, `model_2`, `tie`, `inconsistent`, `error`.
    - `win_rate`: (wins + 0.5 * ties + 0.5 * inconsistent) / (n - errors).
    - `consistency_rate`: (n - errors - inconsistent) / (n - errors).
    - `first_position_rate`: among all single games (game_1 and game_2 of
      every result) whose verdict is "A" or "B", the share that is "A".

    A rate with a zero denominator is `float("nan")`. Raises ValueError for
    an empty list or an item that is not a PairwiseResult.

    >>> aggregate([PairwiseResult("inconsistent", "A", "A")]).win_rate
    0.5
    """
    # TODO: count the outcomes and the first-position wins.
    raise NotImplementedError("aggregate")


def bradley_terry(
    comparisons: Sequence[tuple[str, str, float]],
    *,
    prior: float = 1.0,
    models: Sequence[str] | None = None,
    max_iter: int = 10_000,
    tol: float = 1e-10,
) -> dict[str, float]:
    """Fit Bradley-Terry ratings to pairwise outcomes.

    `comparisons` holds `(model_i, model_j, score_i)` with `score_i` 1 (i
    won), 0.5 (tie) or 0 (j won). Ratings `r` are natural-log strengths,
    `P(i beats j) = 1 / (1 + exp(r_j - r_i))`, shifted to mean 0, and
    maximize the likelihood where:

    - a tie counts as half a win for each side;
    - `prior` virtual tied games are added between every two models (of
      the comparisons and of `models`), so the fit stays finite for a model
      that never lost. With `prior=0` it is the plain maximum likelihood.

    The MM update `p_i = W_i / sum_j n_ij / (p_i + p_j)` (W_i: points of i,
    n_ij: games between i and j, virtual ones included) converges to it;
    stop when no log-strength moves by more than `tol`.

    Raises ValueError for an empty list, a malformed item, a model against
    itself, a score outside {0, 0.5, 1}, a negative prior, and, with
    `prior=0`, data with no finite fit (some group of models never scored
    against the rest, such as an unbeaten model).

    >>> bradley_terry([("a", "b", 1)], prior=1.0)    # a: 1.5 points of 2
    {'a': 0.549..., 'b': -0.549...}
    """
    # TODO: tally points and games, run the MM updates, return centred log-strengths.
    raise NotImplementedError("bradley_terry")


def bootstrap_ratings(
    comparisons: Sequence[tuple[str, str, float]],
    *,
    rounds: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    prior: float = 1.0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap confidence interval of each model's rating.

    `rng = np.random.default_rng(seed)`; each round draws
    `rng.integers(0, n, size=n)` (n = number of comparisons), fits
    `bradley_terry` on those comparisons with the same `prior` and
    `models=` every model of the full list, and records each rating.
    Returns `{model: (low, high)}` with `np.quantile` at `(1 - confidence)/2`
    and `1 - (1 - confidence)/2`. Raises ValueError for bad comparisons,
    `rounds < 1`, or `confidence` outside (0, 1).
    """
    # TODO: resample, refit, and take the quantiles.
    raise NotImplementedError("bootstrap_ratings")


def extract_choice(text: str) -> str | None:
    """Return the option letter (A-D) a reply chose, or None.

    An explicit answer line wins: `Answer: C` (any case of "answer") or
    `答案：C`, with a half- or full-width colon, optional spaces and an
    optional `(` before the letter; the last such line counts. Otherwise the
    last `(C)` or `（C）`. The letter must be an uppercase A-D not followed by
    another letter, so "Answer: a cat" has no choice. TypeError for a non-str.

    >>> extract_choice("(A) is tempting, but 答案：C")
    'C'
    """
    # TODO: search answer lines first, then parenthesized letters.
    raise NotImplementedError("extract_choice")


def exact_match(prediction: str, reference: str) -> bool:
    """True when both strings are equal after normalization.

    Normalize: Unicode NFKC (full-width letters become ASCII), lowercase,
    delete punctuation (Unicode category P*, full-width included, and
    `string.punctuation`), remove the English articles a, an, the as whole
    words, and squeeze whitespace. TypeError for a non-str.

    >>> exact_match("The Cat!", "cat"), exact_match("北京。", "北京")
    (True, True)
    """
    # TODO: normalize both strings the same way and compare.
    raise NotImplementedError("exact_match")
