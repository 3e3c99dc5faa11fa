"""What grader files use to speak to the learner.

A grader is a pytest test in `checker/graders/test_<kata>.py`:

    from checker.grading import explain, fail, kata_module

    loss_mask = kata_module("loss_mask")

    @explain(
        en="The assistant header is prompt, not completion.",
        zh="assistant 的起始标记属于提示部分，不应计入损失。",
    )
    def test_header_is_ignored():
        labels = loss_mask.build_sft_example(...)["labels"]
        if labels[3] != IGNORE_INDEX:
            fail(en="token 3 ...", zh="第 3 个 token ...")

`explain` gives the one-line summary shown for the grader whatever happens;
`fail` adds the specific finding. Plain `assert` also works (the summary is
then shown alone), but the learner never sees grader source, so a finding
worth reading belongs in `fail`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checker.resolver import kata_module  # re-exported for graders

__all__ = ["GraderFailure", "explain", "fail", "kata_module", "describe_value"]


class GraderFailure(AssertionError):
    """A grader finding with a learner-facing message in both languages."""

    def __init__(self, en: str, zh: str, detail: str | None = None):
        super().__init__(en if detail is None else f"{en}\n{detail}")
        self.en = en
        self.zh = zh
        self.detail = detail


def fail(en: str, zh: str, detail: str | None = None) -> None:
    """Fail the current grader with a finding; `detail` is shown in both languages."""
    raise GraderFailure(en, zh, detail)


def explain(en: str, zh: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach the grader's one-line summary. Put it above `@given`."""

    def decorate(test: Callable[..., Any]) -> Callable[..., Any]:
        test.kata_explain = {"en": en, "zh": zh}  # type: ignore[attr-defined]
        return test

    return decorate


def describe_value(value: Any, limit: int = 300) -> str:
    """Render a value for a message, cut to `limit` characters."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
