"""pytest plugin that turns each grader's outcome into a learner-facing record.

Loaded by the runner with `-p checker.plugin`. For every grader it appends
one JSON line to the `--kata-report` file, as soon as the grader ends, so a
run killed from outside still leaves the results it reached:

    {"id": "...", "name": "test_x", "status": "pass|fail|not_implemented|
     error|timeout", "explain": {"en", "zh"}, "message": {"en", "zh"} | null,
     "detail": str | null, "example": str | null, "frames": [str],
     "output": str, "duration": float}

It also enforces the per-grader time limit with SIGALRM, so an infinite
loop in learner code ends as "timeout" instead of a hang. A loop inside a
C extension that never returns to Python is not interrupted by the alarm;
the runner's overall time limit catches that case.
"""

from __future__ import annotations

import json
import os
import signal
import time
import traceback
from pathlib import Path

import pytest

from checker.grading import GraderFailure
from checker.resolver import (
    ImplementationLoadError,
    KataNotImplemented,
    MissingFunctionError,
    _cache,
)

OUTPUT_LIMIT = 1500
EXAMPLE_LIMIT = 1200
FRAME_LIMIT = 8


class GraderTimeout(BaseException):
    """Raised by the alarm. A BaseException, so hypothesis does not shrink on it.

    A grader may raise it itself with a shorter limit in `seconds` (for a
    runaway loop that would exhaust memory before the grader's limit).
    """

    def __init__(self, message: str = "", seconds: float | None = None):
        super().__init__(message)
        self.seconds = seconds


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kata")
    group.addoption("--kata-report", default=None, help="JSON-lines file for grader records")
    group.addoption(
        "--kata-report-fd", type=int, default=None,
        help="inherited file descriptor to write grader records to (used by the runner)",
    )
    group.addoption(
        "--kata-time-limit", type=float, default=30.0, help="seconds each grader may run"
    )


def _report_path(config: pytest.Config) -> Path | None:
    value = config.getoption("--kata-report")
    return Path(value) if value else None


def _reporting(config: pytest.Config) -> bool:
    return config.getoption("--kata-report-fd") is not None or _report_path(config) is not None


def _write(config: pytest.Config, record: dict) -> None:
    """Append one JSON line to the report, by descriptor or by path."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    descriptor = config.getoption("--kata-report-fd")
    if descriptor is not None:
        os.write(descriptor, line)
        return
    path = _report_path(config)
    if path is not None:
        with path.open("ab") as handle:
            handle.write(line)


def pytest_runtest_logstart(nodeid: str, location) -> None:
    # Marks the grader as running, so a run that dies names the grader it died in.
    if _active_config is not None and _reporting(_active_config):
        _write(_active_config, {"started": nodeid})


_active_config: pytest.Config | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _active_config
    _active_config = config


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    limit = item.config.getoption("--kata-time-limit")
    start = time.monotonic()

    def on_alarm(signum, frame):
        raise GraderTimeout(f"timed out after {limit:g} s", seconds=limit)

    use_alarm = limit > 0 and hasattr(signal, "SIGALRM")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        item.kata_call_duration = time.monotonic() - start  # type: ignore[attr-defined]


def _explain(item: pytest.Item) -> dict | None:
    test = getattr(item, "obj", None)
    for candidate in (test, getattr(getattr(test, "hypothesis", None), "inner_test", None)):
        found = getattr(candidate, "kata_explain", None)
        if found:
            return found
    return None


def _flatten(error: BaseException) -> list[BaseException]:
    """List the error, its causes and, for exception groups, their members."""
    seen: list[BaseException] = []
    stack = [error]
    while stack:
        current = stack.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(reversed(current.exceptions))
        stack.append(current.__cause__)
        stack.append(current.__context__)
    return seen


def _learner_files() -> set[str]:
    files = set()
    for module in _cache.values():
        try:
            files.add(str(module.path.resolve()))
        except OSError:
            continue
    return files


def _learner_frames(error: BaseException) -> list[str]:
    """Format only the traceback frames that lie in the file under test."""
    files = _learner_files()
    frames = []
    for frame in traceback.extract_tb(error.__traceback__):
        if str(Path(frame.filename).resolve()) in files:
            where = _display_path(frame.filename)
            line = f'File "{where}", line {frame.lineno}, in {frame.name}'
            if frame.line:
                line += f"\n    {frame.line.strip()}"
            frames.append(line)
    return frames[-FRAME_LIMIT:]


def _display_path(filename: str) -> str:
    try:
        return os.path.relpath(filename)
    except ValueError:
        return filename


def _strip_hypothesis_comments(text: str) -> str:
    """Drop hypothesis' English explanatory comments, which the learner cannot act on."""
    kept = []
    for line in text.splitlines():
        if line.strip().startswith("# "):
            continue
        kept.append(line.split("  # or any other generated value")[0])
    return "\n".join(kept)


def _example(error: BaseException) -> str | None:
    """Return the falsifying input hypothesis attached as a note, if small enough."""
    for candidate in _flatten(error):
        for note in getattr(candidate, "__notes__", []) or []:
            for prefix in ("Falsifying example: ", "Failing test case: "):
                if note.startswith(prefix):
                    text = _strip_hypothesis_comments(note[len(prefix) :])
                    if len(text) > EXAMPLE_LIMIT:
                        return None
                    return text
    return None


def _did_not_raise(error: BaseException) -> dict | None:
    """Turn pytest.raises' "DID NOT RAISE" into a learner-facing finding."""
    text = str(error)
    if not text.startswith("DID NOT RAISE"):
        return None
    expected = text.removeprefix("DID NOT RAISE").strip(" <>").replace("class ", "").strip("'")
    name = expected.rsplit(".", 1)[-1] or "an exception"
    return {
        "status": "fail",
        "message": {
            "en": f"Expected {name} for this input, but the call returned normally.",
            "zh": f"这个输入应当抛出 {name}，但调用正常返回了。",
        },
        "detail": None,
        "frames": [],
    }


def classify(error: BaseException) -> dict:
    """Map an exception from a grader to a status and learner-facing fields."""
    chain = _flatten(error)
    for e in chain:
        if isinstance(e, GraderTimeout):
            return {"status": "timeout", "seconds": e.seconds}
    for e in chain:
        if isinstance(e, ImplementationLoadError):
            cause = e.cause
            detail = f"{type(cause).__name__}: {cause}"
            if isinstance(cause, SyntaxError):
                detail = (
                    f'File "{_display_path(cause.filename or str(e.path))}", line {cause.lineno}\n'
                    f"    {(cause.text or '').rstrip()}\nSyntaxError: {cause.msg}"
                )
            return {
                "status": "error",
                "kind": "load",
                "detail": detail,
                "frames": _learner_frames(cause),
            }
    for e in chain:
        if isinstance(e, MissingFunctionError):
            return {"status": "error", "kind": "missing", "missing": e.name, "detail": str(e)}
    if any(isinstance(e, (NotImplementedError, KataNotImplemented)) for e in chain):
        return {"status": "not_implemented"}
    for e in chain:
        if isinstance(e, GraderFailure):
            return {
                "status": "fail",
                "message": {"en": e.en, "zh": e.zh},
                "detail": e.detail,
                "frames": [],
            }
    frames = _learner_frames(error)
    if isinstance(error, pytest.fail.Exception):
        # pytest.raises(...) that saw no exception, or an explicit pytest.fail.
        return _did_not_raise(error) or {
            "status": "fail", "message": None, "detail": str(error) or None, "frames": [],
        }
    if isinstance(error, AssertionError) and not frames:
        return {"status": "fail", "message": None, "detail": None, "frames": []}
    first = chain[0]
    if isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
        frames = _learner_frames(first)
    text = f"{type(first).__name__}: {first}".strip()
    return {"status": "error", "kind": "exception", "detail": text[:600], "frames": frames}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not _reporting(item.config):
        return
    record = None
    if call.when == "setup" and call.excinfo is not None:
        record = classify(call.excinfo.value)
    elif call.when == "call":
        if call.excinfo is None:
            record = {"status": "pass"}
        elif call.excinfo.errisinstance(pytest.skip.Exception):
            # A skipped grader is never a pass: it proves nothing.
            record = {
                "status": "error",
                "kind": "skipped",
                "detail": str(call.excinfo.value),
            }
        else:
            record = classify(call.excinfo.value)
            record["example"] = _example(call.excinfo.value)
    if record is None:
        return
    output = "".join(
        content for name, content in report.sections if name.startswith("Captured stdout")
    )
    output += "".join(
        content for name, content in report.sections if name.startswith("Captured stderr")
    )
    record.update(
        id=item.nodeid,
        name=item.name,
        randomized=bool(getattr(getattr(item, "obj", None), "is_hypothesis_test", False)),
        explain=_explain(item),
        output=output[:OUTPUT_LIMIT],
        output_lines=len(output.splitlines()),
        duration=round(getattr(item, "kata_call_duration", call.duration), 3),
    )
    _write(item.config, record)


def pytest_collection_finish(session: pytest.Session) -> None:
    if _reporting(session.config):
        _write(session.config, {
            "collected": [item.nodeid for item in session.items],
            "explain": {item.nodeid: _explain(item) for item in session.items},
        })
