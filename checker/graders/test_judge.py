"""Graders for the `judge` kata.

Oracles: a plain-loop spec of the two-game mapping and of the aggregate
counts, simulated judges with a known position bias and a known true
preference, a Newton (logistic) fit of Bradley-Terry with the same virtual
ties, a spec bootstrap drawing the same resamples, and tables for
`extract_choice` and `exact_match`.
"""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.grading import describe_value, explain, fail, kata_module

judge = kata_module("judge")

MARKERS = {"A": "[[A]]", "B": "[[B]]", "tie": "[[C]]"}
_CHARS = list("abcxyz ABC 0129 .,!?:-()'") + list("你好模型评委，。？！：") + ["\n"]
filler = st.lists(st.sampled_from(_CHARS), max_size=30).map("".join)


@st.composite
def distinct_answers(draw):
    """Two answers that never contain each other, so a judge can tell which one is shown first."""
    first = draw(filler)
    second = draw(filler)
    return f"<answer one {draw(st.integers(0, 999))}>{first}", f"<answer two {draw(st.integers(0, 999))}>{second}"


def answer_shown_first(prompt: str, answer_1: str, answer_2: str) -> str:
    """Which of the two answers the prompt shows as A (the one that appears first)."""
    first, second = prompt.find(answer_1), prompt.find(answer_2)
    if first < 0 or second < 0:
        fail(
            en="The judge prompt must contain both answers word for word.",
            zh="评委提示中必须原样包含两个回答。",
            detail=f"prompt {describe_value(prompt, 600)}",
        )
    return answer_1 if first < second else answer_2


def spec_outcome(verdict_1, verdict_2) -> str:
    if verdict_1 is None or verdict_2 is None:
        return "error"
    first = {"A": "model_1", "B": "model_2", "tie": "tie"}[verdict_1]
    second = {"A": "model_2", "B": "model_1", "tie": "tie"}[verdict_2]
    return first if first == second else "inconsistent"


def same_rate(got, expected) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return isinstance(got, (int, float)) and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)


# ---------------------------------------------------------------- prompt and verdict parsing


@explain(
    en="build_judge_prompt shows the question, answer A then answer B, and asks for [[A]], [[B]] or [[C]].",
    zh="build_judge_prompt 要给出问题、先 A 后 B 两个回答，并要求以 [[A]]、[[B]] 或 [[C]] 结尾。",
)
@given(question=filler, answers=distinct_answers())
def test_prompt_layout(question, answers):
    answer_a, answer_b = answers
    question = f"<question>{question}"
    prompt = judge.build_judge_prompt(question, answer_a, answer_b)
    if not isinstance(prompt, str) or question not in prompt:
        fail(en="The prompt must contain the question word for word.", zh="提示中必须原样包含问题。",
             detail=f"prompt {describe_value(prompt, 600)}")
    if answer_shown_first(prompt, answer_a, answer_b) != answer_a:
        fail(en="answer_a must come before answer_b in the prompt.", zh="提示中 answer_a 必须出现在 answer_b 之前。",
             detail=f"prompt {describe_value(prompt, 600)}")
    missing = [marker for marker in MARKERS.values() if marker not in prompt]
    if missing:
        fail(en=f"The prompt must tell the judge to end with [[A]], [[B]] or [[C]]; missing {missing}.",
             zh=f"提示必须要求评委以 [[A]]、[[B]] 或 [[C]] 结尾；缺少 {missing}。")


@st.composite
def judgements(draw):
    """A judgement with several markers scattered in the reasoning; returns (text, last verdict)."""
    verdicts = draw(st.lists(st.sampled_from(["A", "B", "tie"]), min_size=1, max_size=4))
    parts = []
    for verdict in verdicts:
        parts.append(draw(filler))
        parts.append(MARKERS[verdict])
    parts.append(draw(filler))
    return "".join(parts), verdicts[-1]


@explain(
    en="parse_verdict reads the LAST marker: [[A]] mentioned in the reasoning, [[B]] at the end gives B.",
    zh="parse_verdict 以最后一个标记为准：推理中提到 [[A]]、结尾是 [[B]]，结果就是 B。",
)
@given(case=judgements())
def test_parse_verdict_last_marker(case):
    text, expected = case
    got = judge.parse_verdict(text)
    if got != expected:
        fail(
            en="The verdict must come from the last [[A]], [[B]] or [[C]] marker ([[C]] is 'tie').",
            zh="判决必须取自最后一个 [[A]]、[[B]] 或 [[C]] 标记（[[C]] 表示 'tie'）。",
            detail=f"text {describe_value(text)}\ngot {got!r}, expected {expected!r}",
        )


@explain(
    en="A judgement that says '[[A]] looks tempting' and ends with '[[B]]' is B.",
    zh="评语中写着“[[A]] 看起来不错”、结尾是 [[B]] 时，判决是 B。",
)
def test_parse_verdict_reasoning_mentions_a():
    text = ("Assistant A's answer [[A]] looks tempting at first, but it skips the label shift. "
            "Assistant B is correct.\n\nFinal verdict: [[B]]")
    got = judge.parse_verdict(text)
    if got != "B":
        fail(en="The marker in the reasoning is not the verdict; the last one is.",
             zh="推理过程中出现的标记不是判决，最后一个才是。", detail=f"got {got!r}")


NO_MARKER = {
    "empty": "",
    "prose only": "Assistant A is better.",
    "the word tie": "Verdict: tie",
    "single brackets": "[A]",
    "unknown letter": "[[D]]",
    "spaces inside": "[[ A ]] maybe",
    "broken brackets": "A]] [[B",
    "Chinese tie": "平局",
}


@explain(
    en="A judgement without any marker raises VerdictParseError (a ValueError); it is never read as a tie.",
    zh="没有任何标记的评语应抛出 VerdictParseError（ValueError 的子类），绝不能当作平局。",
)
@pytest.mark.parametrize("case", list(NO_MARKER))
def test_parse_verdict_missing_marker(case):
    text = NO_MARKER[case]
    try:
        got = judge.parse_verdict(text)
    except judge.VerdictParseError as error:
        if not isinstance(error, ValueError):
            fail(en="VerdictParseError must subclass ValueError.", zh="VerdictParseError 必须是 ValueError 的子类。")
        return
    except Exception as error:  # noqa: BLE001 - the learner may raise anything
        fail(en=f"Expected VerdictParseError, got {type(error).__name__}.",
             zh=f"应抛出 VerdictParseError，实际抛出了 {type(error).__name__}。", detail=f"text {text!r}")
    fail(
        en="A judgement without [[A]], [[B]] or [[C]] has no verdict; raise VerdictParseError.",
        zh="没有 [[A]]、[[B]] 或 [[C]] 的评语没有判决，应抛出 VerdictParseError。",
        detail=f"text {text!r} gave {got!r}",
    )


# ---------------------------------------------------------------- judge_pair


class ScriptedJudge:
    """Return verdicts per game by which answer is shown as A; records the prompts."""

    def __init__(self, answer_1, answer_2, verdict_when_1_first, verdict_when_2_first):
        self.answers = (answer_1, answer_2)
        self.verdicts = {answer_1: verdict_when_1_first, answer_2: verdict_when_2_first}
        self.prompts = []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        shown_first = answer_shown_first(prompt, *self.answers)
        verdict = self.verdicts[shown_first]
        if verdict is None:
            return "Both answers have merits; I cannot decide."
        return f"Let me compare. {MARKERS['A']} is a format marker. Verdict: {MARKERS[verdict]}"


verdicts = st.sampled_from(["A", "B", "tie", None])


@explain(
    en="judge_pair plays both orders and maps game 2 back: same outcome twice wins, else inconsistent; an unparseable game is an error.",
    zh="judge_pair 正反各比一次，并把第二局映射回原来的模型：两局结果一致才算数，否则为 inconsistent；任一局无法解析则为 error。",
)
@given(answers=distinct_answers(), verdict_1=verdicts, verdict_2=verdicts)
def test_judge_pair_outcomes(answers, verdict_1, verdict_2):
    answer_1, answer_2 = answers
    scripted = ScriptedJudge(answer_1, answer_2, verdict_1, verdict_2)
    result = judge.judge_pair(scripted, "Which is better?", answer_1, answer_2)
    expected = spec_outcome(verdict_1, verdict_2)
    shown = f"game 1 (answer 1 as A) said {verdict_1}, game 2 (answer 2 as A) said {verdict_2}"
    if len(scripted.prompts) != 2:
        fail(en=f"judge_pair must call the judge exactly twice, it called it {len(scripted.prompts)} times.",
             zh=f"judge_pair 必须恰好调用评委两次，实际调用了 {len(scripted.prompts)} 次。")
    if result.outcome != expected:
        fail(
            en=f"Expected outcome {expected!r}. In game 2 answer 2 is shown as A, so its A means model_2.",
            zh=f"结果应为 {expected!r}。第二局把 answer 2 放在 A 的位置，所以它判 A 表示 model_2 胜。",
            detail=f"{shown}; got {result.outcome!r}",
        )
    if (result.game_1, result.game_2) != (verdict_1, verdict_2):
        fail(
            en="PairwiseResult must keep each game's verdict as the judge gave it ('A', 'B', 'tie', or None).",
            zh="PairwiseResult 要保留每一局评委给出的原始判决（'A'、'B'、'tie' 或 None）。",
            detail=f"{shown}; got game_1={result.game_1!r}, game_2={result.game_2!r}",
        )


@explain(
    en="Swap symmetry: judge_pair(j, q, a, b) mirrors judge_pair(j, q, b, a) for any deterministic judge.",
    zh="交换对称性：对任何确定性的评委，judge_pair(j, q, a, b) 与 judge_pair(j, q, b, a) 的结果互为镜像。",
)
@given(answers=distinct_answers(), verdict_1=verdicts, verdict_2=verdicts, question=filler)
def test_swap_symmetry(answers, verdict_1, verdict_2, question):
    answer_1, answer_2 = answers
    scripted = ScriptedJudge(answer_1, answer_2, verdict_1, verdict_2)
    forward = judge.judge_pair(scripted, question, answer_1, answer_2)
    backward = judge.judge_pair(scripted, question, answer_2, answer_1)
    mirror = {"model_1": "model_2", "model_2": "model_1"}
    if backward.outcome != mirror.get(forward.outcome, forward.outcome):
        fail(
            en="Swapping the answers must swap model_1 and model_2 and keep tie, inconsistent and error.",
            zh="交换两个回答后，model_1 与 model_2 要互换，tie、inconsistent 和 error 保持不变。",
            detail=f"(a, b) gave {forward.outcome!r}, (b, a) gave {backward.outcome!r}",
        )
    if (backward.game_1, backward.game_2) != (forward.game_2, forward.game_1):
        fail(
            en="Game 1 of the swapped call is game 2 of the original call, and the other way round.",
            zh="交换后调用的第一局，就是原调用的第二局，反之亦然。",
            detail=f"original {forward!r}\nswapped  {backward!r}",
        )


@explain(
    en="A judge that always answers [[A]]: every pair is inconsistent, win rate 0.5, first_position_rate 1.0.",
    zh="总是回答 [[A]] 的评委：每一对都是 inconsistent，胜率为 0.5，first_position_rate 为 1.0。",
)
@given(answers=st.lists(distinct_answers(), min_size=1, max_size=6))
def test_always_a_judge(answers):
    results = [judge.judge_pair(lambda prompt: "Both fine. [[A]]", "q", a, b) for a, b in answers]
    outcomes = [result.outcome for result in results]
    if any(outcome != "inconsistent" for outcome in outcomes):
        fail(
            en="A judge that always picks position A has no preference: both games disagree, so every pair is inconsistent.",
            zh="总是选择 A 位置的评委没有真正的偏好：两局结论相反，所以每一对都是 inconsistent。",
            detail=f"outcomes {outcomes}",
        )
    stats = judge.aggregate(results)
    if not same_rate(stats.win_rate, 0.5) or not same_rate(stats.first_position_rate, 1.0):
        fail(
            en="For an always-[[A]] judge, win_rate must be 0.5 and first_position_rate 1.0.",
            zh="对总是回答 [[A]] 的评委，win_rate 应为 0.5，first_position_rate 应为 1.0。",
            detail=f"got {stats!r}",
        )
    if stats.inconsistent != len(results) or not same_rate(stats.consistency_rate, 0.0):
        fail(en="Every pair is inconsistent, so consistency_rate is 0.", zh="每一对都不一致，所以 consistency_rate 为 0。",
             detail=f"got {stats!r}")


# ---------------------------------------------------------------- aggregate


@st.composite
def result_lists(draw):
    pairs = draw(st.lists(st.tuples(verdicts, verdicts), min_size=1, max_size=12))
    return [judge.PairwiseResult(spec_outcome(v1, v2), v1, v2) for v1, v2 in pairs]


def spec_aggregate(results):
    counts = {key: 0 for key in ("model_1", "model_2", "tie", "inconsistent", "error")}
    decisive = first = 0
    for result in results:
        counts[result.outcome] += 1
        for verdict in (result.game_1, result.game_2):
            if verdict in ("A", "B"):
                decisive += 1
                first += verdict == "A"
    judged = len(results) - counts["error"]
    return {
        "n": len(results), "wins": counts["model_1"], "losses": counts["model_2"], "ties": counts["tie"],
        "inconsistent": counts["inconsistent"], "errors": counts["error"],
        "win_rate": (counts["model_1"] + 0.5 * (counts["tie"] + counts["inconsistent"])) / judged if judged else math.nan,
        "consistency_rate": (judged - counts["inconsistent"]) / judged if judged else math.nan,
        "first_position_rate": first / decisive if decisive else math.nan,
    }


@explain(
    en="aggregate: ties and inconsistent pairs count 0.5, errors are left out, first_position_rate counts decisive single games.",
    zh="aggregate：tie 和 inconsistent 各记 0.5 分，error 不计入；first_position_rate 只统计分出胜负的单局。",
)
@given(results=result_lists())
def test_aggregate_matches_spec(results):
    stats = judge.aggregate(results)
    expected = spec_aggregate(results)
    shown = [(r.outcome, r.game_1, r.game_2) for r in results]
    for name, value in expected.items():
        got = getattr(stats, name, None)
        ok = same_rate(got, value) if name.endswith("rate") else got == value
        if not ok:
            fail(
                en=f"JudgeStats.{name} is wrong.",
                zh=f"JudgeStats.{name} 的值不对。",
                detail=f"got {got!r}, expected {value!r}\nresults (outcome, game_1, game_2): {shown}",
            )


@explain(
    en="aggregate raises ValueError for an empty list.",
    zh="aggregate 收到空列表时应抛出 ValueError。",
)
def test_aggregate_empty():
    with pytest.raises(ValueError):
        judge.aggregate([])


ANSWER_TAG = re.compile(r"<m[12] answer \d+>")


def biased_judge(answer_quality, bias, seed):
    """A judge that says [[A]] with probability `bias` whatever it sees, else picks the better answer.

    Each (question, shown order) gets its own fixed coin, so the verdicts do
    not depend on the order of the calls.
    """

    def run(prompt):
        shown = ANSWER_TAG.findall(prompt)
        coin = random.Random(f"{seed}|{shown[0]}|{shown[1]}").random()
        if coin < bias:
            return "The first one reads well. [[A]]"
        better = max(shown, key=answer_quality.get)
        return "[[A]]" if better == shown[0] else "[[B]]"

    return run


@explain(
    en="With a judge biased toward position A, the swapped-order win rate recovers the true preference; a single order does not.",
    zh="评委偏向 A 位置时，正反两局得到的胜率能还原真实偏好，只比一局则做不到。",
)
@settings(max_examples=5)
@given(seed=st.integers(0, 10_000))
def test_debiasing_recovers_truth(seed):
    rng = random.Random(seed)
    pairs, quality = [], {}
    for index in range(400):
        answer_1, answer_2 = f"<m1 answer {index}>", f"<m2 answer {index}>"
        model_1_better = rng.random() < 0.25  # the truth: model 2 is better on 75% of questions
        quality[answer_1], quality[answer_2] = (1, 0) if model_1_better else (0, 1)
        pairs.append((answer_1, answer_2))
    run = biased_judge(quality, bias=0.5, seed=seed)

    results = [judge.judge_pair(run, "q", a, b) for a, b in pairs]
    stats = judge.aggregate(results)

    expected = spec_aggregate([judge.PairwiseResult(spec_outcome(r.game_1, r.game_2), r.game_1, r.game_2)
                               for r in results])
    single_order = sum(r.game_1 == "A" for r in results) / len(results)
    if not same_rate(stats.win_rate, expected["win_rate"]) or stats.win_rate >= 0.5:
        fail(
            en="Model 2 is truly better, and the judge picks position A half the time regardless. The swapped-order "
            "win rate of model 1 must stay below 0.5 (about 0.375).",
            zh="model 2 实际上更好，而评委有一半的时候无论如何都选 A 位置。交换顺序后 model 1 的胜率必须低于 0.5（约 0.375）。",
            detail=f"got win_rate {stats.win_rate!r}; judging game 1 alone would give {single_order:.3f}",
        )


# ---------------------------------------------------------------- Bradley-Terry


def newton_bradley_terry(comparisons, prior, models=()):
    """Spec: maximize the log-likelihood with Newton's method, ties as half wins, `prior` virtual ties per pair."""
    names = sorted({m for i, j, _ in comparisons for m in (i, j)} | set(models))
    index = {name: k for k, name in enumerate(names)}
    size = len(names)
    wins = np.zeros((size, size))
    for model_i, model_j, score in comparisons:
        wins[index[model_i], index[model_j]] += score
        wins[index[model_j], index[model_i]] += 1 - score
    wins += prior / 2 * (1 - np.eye(size))
    games = wins + wins.T
    theta = np.zeros(size)
    for _ in range(200):
        p = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))  # p[i, j] = P(i beats j)
        gradient = (wins - games * p).sum(axis=1)
        weight = games * p * (1 - p)
        hessian = -np.diag(weight.sum(axis=1)) + weight
        # The likelihood is flat along theta + c: fix the mean with one extra row.
        system = np.vstack([hessian, np.ones(size)])
        step = np.linalg.lstsq(system, np.append(-gradient, 0.0), rcond=None)[0]
        theta += step
        theta -= theta.mean()
        if np.abs(step).max() < 1e-12:
            break
    return {name: float(theta[index[name]]) for name in names}


@st.composite
def comparison_lists(draw):
    size = draw(st.integers(2, 5))
    names = [f"model-{k}" for k in range(size)]
    count = draw(st.integers(1, 30))
    items = []
    for _ in range(count):
        i, j = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
        items.append((i, j, draw(st.sampled_from([1, 0.5, 0]))))
    return items


def rating_gap(got, expected):
    if not isinstance(got, dict) or set(got) != set(expected):
        return math.inf
    return max(abs(float(got[name]) - expected[name]) for name in expected)


@explain(
    en="bradley_terry equals a Newton (logistic) fit of the same model: ties as half wins, `prior` virtual ties, mean 0.",
    zh="bradley_terry 与同一模型的牛顿法（logistic）拟合一致：平局算各胜半场，加 `prior` 场虚拟平局，评分均值为 0。",
)
@given(comparisons=comparison_lists(), prior=st.sampled_from([1.0, 0.5, 2.0]))
def test_bradley_terry_matches_logistic_fit(comparisons, prior):
    got = judge.bradley_terry(comparisons, prior=prior)
    expected = newton_bradley_terry(comparisons, prior)
    if rating_gap(got, expected) > 1e-4:
        fail(
            en="The ratings differ from the maximum-likelihood fit.",
            zh="评分与最大似然拟合的结果不同。",
            detail=f"comparisons {comparisons}\ngot      {describe_value(got)}\nexpected {expected}",
        )


@explain(
    en="bradley_terry recovers a known ordering of models from simulated outcomes.",
    zh="bradley_terry 能从模拟的对局结果中还原已知的模型强弱顺序。",
)
@settings(max_examples=5)
@given(seed=st.integers(0, 10_000))
def test_bradley_terry_recovers_order(seed):
    rng = np.random.default_rng(seed)
    truth = {"weak": -1.5, "fair": -0.5, "good": 0.5, "best": 1.5}
    names = list(truth)
    comparisons = []
    for _ in range(1200):
        i, j = rng.choice(len(names), size=2, replace=False)
        p_i = 1 / (1 + math.exp(truth[names[j]] - truth[names[i]]))
        roll = rng.random()
        score = 0.5 if abs(roll - p_i) < 0.05 else float(roll < p_i)
        comparisons.append((names[i], names[j], score))

    got = judge.bradley_terry(comparisons)

    order = sorted(got, key=got.get) if isinstance(got, dict) else None
    if order != names:
        fail(
            en="The fitted ratings do not rank the models in their true order (weak < fair < good < best).",
            zh="拟合出的评分没有按真实顺序排列模型（weak < fair < good < best）。",
            detail=f"got {describe_value(got)}",
        )
    if abs(sum(got.values())) > 1e-6:
        fail(en="Ratings must have mean 0.", zh="评分的均值必须为 0。", detail=f"got {got}")


@explain(
    en="With prior=0 the fit is the plain maximum likelihood, and an unbeaten model raises ValueError.",
    zh="prior=0 时就是普通的最大似然拟合；有从未输过的模型时应抛出 ValueError。",
)
@given(seed=st.integers(0, 10_000))
def test_bradley_terry_without_prior(seed):
    rng = random.Random(seed)
    names = ["x", "y", "z"]
    comparisons = [(a, b, s) for a in names for b in names if a != b for s in (1, 0)]
    comparisons += [(rng.choice(names[:2]), "z", rng.choice([1, 0.5, 0])) for _ in range(8)]
    got = judge.bradley_terry(comparisons, prior=0)
    expected = newton_bradley_terry(comparisons, 0.0)
    if rating_gap(got, expected) > 1e-4:
        fail(en="With prior=0 the ratings must equal the plain maximum-likelihood fit.",
             zh="prior=0 时评分必须等于普通最大似然拟合的结果。",
             detail=f"got {describe_value(got)}\nexpected {expected}")
    unbeaten = [("champ", "x", 1), ("champ", "y", 1), ("x", "y", 1), ("y", "x", 1)]
    with pytest.raises(ValueError):
        judge.bradley_terry(unbeaten, prior=0)


@explain(
    en="Writing a comparison as (j, i, 1 - score) instead of (i, j, score) changes nothing.",
    zh="把一局写成 (j, i, 1 - score) 而不是 (i, j, score)，结果不应改变。",
)
@given(comparisons=comparison_lists())
def test_bradley_terry_orientation(comparisons):
    flipped = [(j, i, 1 - s) for i, j, s in comparisons]
    got = judge.bradley_terry(flipped)
    expected = judge.bradley_terry(comparisons)
    if rating_gap(got, expected) > 1e-6:
        fail(en="score_i is model_i's score: writing the same game from model_j's side must give the same ratings.",
             zh="score_i 是 model_i 的得分：从 model_j 的角度写同一局，评分应完全相同。",
             detail=f"{describe_value(got)} vs {describe_value(expected)}")


BAD_COMPARISONS = {
    "empty": [],
    "score 2": [("a", "b", 2)],
    "same model": [("a", "a", 1)],
    "not a triple": [("a", "b")],
}


@explain(
    en="bradley_terry raises ValueError for an empty list, a score outside {0, 0.5, 1}, a model against itself.",
    zh="bradley_terry 在列表为空、得分不在 {0, 0.5, 1} 中、模型与自己对局时应抛出 ValueError。",
)
@pytest.mark.parametrize("case", list(BAD_COMPARISONS))
def test_bradley_terry_bad_input(case):
    with pytest.raises(ValueError):
        judge.bradley_terry(BAD_COMPARISONS[case])


def spec_bootstrap(comparisons, rounds, confidence, seed, prior):
    names = sorted({m for i, j, _ in comparisons for m in (i, j)})
    rng = np.random.default_rng(seed)
    samples = {name: [] for name in names}
    for _ in range(rounds):
        picks = rng.integers(0, len(comparisons), size=len(comparisons))
        ratings = newton_bradley_terry([comparisons[k] for k in picks], prior, models=names)
        for name in names:
            samples[name].append(ratings[name])
    tail = (1 - confidence) / 2
    return {name: (float(np.quantile(v, tail)), float(np.quantile(v, 1 - tail))) for name, v in samples.items()}


@explain(
    en="bootstrap_ratings resamples with np.random.default_rng(seed).integers(0, n, size=n) each round and returns percentile intervals.",
    zh="bootstrap_ratings 每一轮用 np.random.default_rng(seed).integers(0, n, size=n) 重采样，并返回分位数区间。",
)
@settings(max_examples=10)
@given(comparisons=comparison_lists(), seed=st.integers(0, 99), confidence=st.sampled_from([0.9, 0.95]))
def test_bootstrap_matches_spec(comparisons, seed, confidence):
    got = judge.bootstrap_ratings(comparisons, rounds=20, confidence=confidence, seed=seed)
    expected = spec_bootstrap(comparisons, 20, confidence, seed, 1.0)
    if not isinstance(got, dict) or set(got) != set(expected):
        fail(en="bootstrap_ratings must return {model: (low, high)} for every model.",
             zh="bootstrap_ratings 应为每个模型返回 {model: (low, high)}。", detail=f"got {describe_value(got)}")
    for name, (low, high) in expected.items():
        got_low, got_high = got[name]
        if abs(got_low - low) > 1e-4 or abs(got_high - high) > 1e-4:
            fail(
                en=f"The interval of {name} differs from the percentile bootstrap with the stated resampling.",
                zh=f"{name} 的区间与按规定方式重采样的分位数 bootstrap 结果不同。",
                detail=f"got ({got_low:.5f}, {got_high:.5f}), expected ({low:.5f}, {high:.5f})",
            )


# ---------------------------------------------------------------- extract_choice and exact_match

CHOICES = {
    "answer line": ("Answer: C", "C"),
    "lowercase key": ("answer: B", "B"),
    "Chinese full-width colon": ("答案：B", "B"),
    "Chinese half-width colon": ("答案: D", "D"),
    "spaces around the colon": ("答案 ： A", "A"),
    "parenthesized letter": ("The answer is (C).", "C"),
    "full-width parentheses": ("（B）是正确的", "B"),
    "answer line with parentheses": ("Answer: (D)", "D"),
    "answer line after (X) mentions": ("Let me check (A) and (B). (A) fails. Answer: B", "B"),
    "last of several (X)": ("(A) is wrong, (C) is wrong too, so (D).", "D"),
    "last of two answer lines": ("Answer: A\nWait, re-checking.\nAnswer: C", "C"),
    "final answer line": ("Final Answer: B", "B"),
    "article, not a letter": ("Answer: a cat", None),
    "capitalized word, not a letter": ("Answer: Apple", None),
    "Chinese key before a word": ("答案：Banana", None),
    "question before (X)": ("Answer: Does it matter? (C)", "C"),
    "word on the answer line, then (X)": ("Answer: Both work, but (C) is simpler.", "C"),
    "no choice": ("I cannot tell.", None),
    "letter outside A-D": ("Answer: E", None),
    "empty": ("", None),
}


@explain(
    en="extract_choice reads the letter from 'Answer: C', '答案：C' (full- or half-width colon) or '(C)', "
    "preferring the answer line; the first letter of a word such as 'Apple' is not a choice.",
    zh="extract_choice 从 'Answer: C'、'答案：C'（全角或半角冒号）或 '(C)' 中读出选项，优先取答案行；"
    "'Apple' 这类单词的首字母不是选项。",
)
@pytest.mark.parametrize("case", list(CHOICES))
def test_extract_choice_table(case):
    text, expected = CHOICES[case]
    got = judge.extract_choice(text)
    if got != expected:
        fail(en=f"extract_choice({text!r}) should be {expected!r}.",
             zh=f"extract_choice({text!r}) 应为 {expected!r}。", detail=f"got {got!r}")


@explain(
    en="An explicit answer line wins over any (X) mentioned before or after it.",
    zh="明确的答案行优先于它前后出现的任何 (X)。",
)
@given(
    answer=st.sampled_from("ABCD"),
    distractors=st.lists(st.sampled_from("ABCD"), max_size=3),
    key=st.sampled_from(["Answer: ", "answer:", "答案：", "答案: ", "ANSWER : "]),
    text=filler,
)
def test_extract_choice_prefers_answer_line(answer, distractors, key, text):
    mentioned = " ".join(f"({letter})" for letter in distractors)
    reply = f"{mentioned} {text}\n{key}{answer}\nI also ruled out {mentioned}."
    got = judge.extract_choice(reply)
    if got != answer:
        fail(en="The letter on the answer line is the choice, whatever (X) appears around it.",
             zh="答案行上的字母才是选择，周围出现的 (X) 都不算。", detail=f"text {reply!r}, got {got!r}")


MATCHES = [
    ("The Cat!", "cat", True),
    ("  Paris. ", "paris", True),
    ("北京。", "北京", True),
    ("“北京”！", "北京", True),
    ("an apple", "Apple", True),
    ("Ｐａｒｉｓ", "paris", True),
    ("the theory", "theory", True),
    ("theory", "ory", False),
    ("Paris", "London", False),
    ("上海", "北京", False),
    ("a b", "ab", False),
]


@explain(
    en="exact_match ignores case, surrounding whitespace, punctuation (full-width too) and English articles.",
    zh="exact_match 忽略大小写、首尾空白、标点（包括全角标点）和英文冠词。",
)
@pytest.mark.parametrize("prediction, reference, expected", MATCHES,
                         ids=[f"{'match' if m[2] else 'differ'}-{i}" for i, m in enumerate(MATCHES)])
def test_exact_match_table(prediction, reference, expected):
    got = judge.exact_match(prediction, reference)
    if got is not expected:
        fail(en=f"exact_match({prediction!r}, {reference!r}) should be {expected}.",
             zh=f"exact_match({prediction!r}, {reference!r}) 应为 {expected}。", detail=f"got {got!r}")


@explain(
    en="exact_match(answer, decorated answer) is True for any case, punctuation, article and spacing changes.",
    zh="对答案做任意大小写、标点、冠词和空白上的改动后，exact_match 仍应返回 True。",
)
@given(
    words=st.lists(st.text(alphabet="bcdfghjkmpqrsuvwxyz北京模型", min_size=1, max_size=6), min_size=1, max_size=4),
    article=st.sampled_from(["", "the ", "a ", "An ", "THE "]),
    punctuation=st.sampled_from(["", ".", "!", "。", "！", "，", "?", "？", "…"]),
    upper=st.booleans(),
    spaces=st.sampled_from(["", " ", "\t", "\n "]),
)
def test_exact_match_normalization(words, article, punctuation, upper, spaces):
    reference = " ".join(words)
    prediction = f"{spaces}{article}{reference.upper() if upper else reference}{punctuation}{spaces}"
    got = judge.exact_match(prediction, reference)
    if got is not True:
        fail(en="The decorated answer must still match after normalization.",
             zh="加了修饰的答案在归一化后仍应匹配。", detail=f"prediction {prediction!r}, reference {reference!r}")
