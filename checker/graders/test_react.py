"""Graders for the `react` kata.

Oracles: a plain-loop spec of the agent loop driven by scripted models and
tools, a table of messy model replies with their stated parses, round trips
through `format_step`, and a tree-walking spec of the calculator's rules.
Calculator calls that could execute code or hang run in a forked child
with a deadline, and a sentinel file proves that nothing was executed.
"""

from __future__ import annotations

import builtins
import json
import operator
import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker.grading import describe_value, explain, fail, kata_module

react = kata_module("react")

STOP = ["\nObservation:"]
KEYS = ("Thought", "Action", "Action Input", "Final Answer", "Observation")


# ---------------------------------------------------------------- shared strategies

_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=10)
_PHRASE_CHARS = list("abcxyz ABC 0129 .,!?'\"#()[]{}=+*/") + list("你好模型微调，。？") + ["é", "🙂"]


def _not_a_key_line(line: str) -> bool:
    head = line.strip().lower()
    return not any(head.startswith(key.lower()) for key in KEYS) and not head.startswith("`")


phrase = (
    st.lists(st.sampled_from(_PHRASE_CHARS), min_size=1, max_size=24)
    .map("".join)
    .map(str.strip)
    .filter(lambda text: text != "" and _not_a_key_line(text))
)
tool_names = _WORD.filter(lambda name: name.lower() != "none")


@st.composite
def tool_inputs(draw):
    """Single-line, multi-line and JSON inputs with no line that looks like a key."""
    kind = draw(st.sampled_from(["line", "lines", "json"]))
    if kind == "line":
        return draw(phrase)
    if kind == "lines":
        return "\n".join(draw(st.lists(phrase, min_size=2, max_size=4)))
    payload = draw(st.dictionaries(_WORD, st.one_of(st.integers(-99, 99), phrase), min_size=1, max_size=3))
    return json.dumps(payload, ensure_ascii=False, indent=draw(st.sampled_from([None, 2])))


def random_case(draw, key: str) -> str:
    return draw(st.sampled_from([key, key.lower(), key.upper()]))


def same_action(got, tool, tool_input, thought=None) -> bool:
    return (
        isinstance(got, react.AgentAction)
        and got.tool == tool
        and got.tool_input == tool_input
        and (thought is None or got.thought == thought)
    )


# ---------------------------------------------------------------- parse_react and format_step


@explain(
    en="parse_react(format_step(action, observation)) gives back the same action (thought, tool, input).",
    zh="parse_react(format_step(action, observation)) 应还原出同一个 action（thought、tool 和 input 都一致）。",
)
@given(thought=phrase, tool=tool_names, tool_input=tool_inputs(), observation=st.one_of(phrase, tool_inputs()))
def test_round_trip(thought, tool, tool_input, observation):
    action = react.AgentAction(tool=tool, tool_input=tool_input, thought=thought)
    text = react.format_step(action, observation)
    got = react.parse_react(text)
    if got != action:
        fail(
            en="Parsing a rendered step does not give back the action. Everything from the "
            "'Observation:' line on must be dropped, and a multi-line input must be kept whole.",
            zh="解析渲染出的一步后没有还原出原来的 action。从 'Observation:' 那一行起的内容都要丢弃，"
            "多行的 input 要完整保留。",
            detail=f"rendered {describe_value(text)}\nparsed   {describe_value(got)}\nexpected {describe_value(action)}",
        )
    if f"Observation: {observation}" not in text:
        fail(
            en="format_step must write the observation after 'Observation: '.",
            zh="format_step 应在 'Observation: ' 之后写出 observation。",
            detail=f"rendered {describe_value(text)}",
        )


@explain(
    en="A hallucinated Observation ends the reply: the action input stops before it, whatever follows.",
    zh="模型编造的 Observation 之后的内容全部作废：action input 到它之前为止，后面写了什么都不算。",
)
@given(
    tool=tool_names,
    tool_input=tool_inputs(),
    made_up=phrase,
    answer=phrase,
    data=st.data(),
)
def test_hallucinated_observation_cut(tool, tool_input, made_up, answer, data):
    reply = (
        f"{random_case(data.draw, 'Thought')}: I should call {tool}.\n"
        f"{random_case(data.draw, 'Action')}: {tool}\n"
        f"{random_case(data.draw, 'Action Input')}: {tool_input}\n"
        f"{random_case(data.draw, 'Observation')}: {made_up}\n"
        f"Thought: I now know the final answer\n"
        f"{random_case(data.draw, 'Final Answer')}: {answer}"
    )
    got = react.parse_react(reply)
    if not same_action(got, tool, tool_input):
        fail(
            en="A reply with Action, Action Input, a made-up Observation and a Final Answer is the "
            "Action, with the input ending before the Observation line.",
            zh="同时含有 Action、Action Input、编造的 Observation 和 Final Answer 的回复应解析为 Action，"
            "其 input 在 Observation 那一行之前结束。",
            detail=f"reply  {describe_value(reply)}\nparsed {describe_value(got)}",
        )


@explain(
    en="A multi-line action input stops at the next Thought: or Final Answer: line (no greedy match to the end).",
    zh="多行的 action input 遇到下一行 Thought: 或 Final Answer: 就结束（不能贪婪地匹配到结尾）。",
)
@given(
    tool=tool_names,
    lines=st.lists(phrase, min_size=1, max_size=4),
    next_key=st.sampled_from(["Thought", "Final Answer"]),
    rest=phrase,
    data=st.data(),
)
def test_input_stops_at_next_key(tool, lines, next_key, rest, data):
    tool_input = "\n".join(lines)
    reply = (
        f"Action: {tool}\nAction Input: {tool_input}\n"
        f"{random_case(data.draw, next_key)}: {rest}\nAction: other\nAction Input: more"
    )
    got = react.parse_react(reply)
    if not same_action(got, tool, tool_input):
        fail(
            en=f"The action input must end at the '{next_key}:' line; a pattern that runs to the end "
            "of the reply swallows the rest.",
            zh=f"action input 应在 '{next_key}:' 那一行之前结束；一直匹配到回复结尾的正则会把后面的内容都吞进去。",
            detail=f"reply  {describe_value(reply)}\nparsed {describe_value(got)}",
        )


@explain(
    en="Keys are case-insensitive: 'action input:', 'FINAL ANSWER:' and 'Thought:' all count.",
    zh="关键字不区分大小写：'action input:'、'FINAL ANSWER:' 和 'Thought:' 都要识别。",
)
@given(thought=phrase, tool=tool_names, tool_input=tool_inputs(), answer=phrase, finish=st.booleans(), data=st.data())
def test_keys_case_insensitive(thought, tool, tool_input, answer, finish, data):
    head = f"{random_case(data.draw, 'Thought')}: {thought}\n"
    if finish:
        reply = head + f"{random_case(data.draw, 'Final Answer')}: {answer}"
        expected = react.AgentFinish(answer=answer, thought=thought)
    else:
        reply = (
            head + f"{random_case(data.draw, 'Action')}: {tool}\n"
            f"{random_case(data.draw, 'Action Input')}: {tool_input}"
        )
        expected = react.AgentAction(tool=tool, tool_input=tool_input, thought=thought)
    got = react.parse_react(reply)
    if got != expected:
        fail(
            en="Keys in another case are not recognized. Models write 'action input:' and "
            "'FINAL ANSWER:' too.",
            zh="换了大小写的关键字没有被识别。模型也会写出 'action input:' 或 'FINAL ANSWER:'。",
            detail=f"reply  {describe_value(reply)}\nparsed {describe_value(got)}\nexpected {describe_value(expected)}",
        )


@explain(
    en="An input fenced in backticks (```json ... ``` or ```...```) comes back without the fences.",
    zh="用反引号围起来的 input（```json ... ``` 或 ```...```）要去掉围栏后返回。",
)
@given(
    tool=tool_names,
    body=tool_inputs(),
    language=st.sampled_from(["", "json", "python", "text"]),
    inline=st.booleans(),
)
def test_fenced_input(tool, body, language, inline):
    fenced = f"```{body}```" if inline and "\n" not in body else f"```{language}\n{body}\n```"
    reply = f"Thought: call it\nAction: {tool}\nAction Input: {fenced}\n"
    got = react.parse_react(reply)
    if not same_action(got, tool, body):
        fail(
            en="The fences around a code or JSON input must be removed, leaving the trimmed content.",
            zh="代码或 JSON 形式的 input 外层的围栏要去掉，只留下去掉首尾空白的内容。",
            detail=f"reply  {describe_value(reply)}\nparsed {describe_value(got)}",
        )


def _action(tool, tool_input, thought=""):
    return ("action", tool, tool_input, thought)


def _finish(answer, thought=""):
    return ("finish", answer, thought)


# Replies as models really write them, with the parse the README states.
MESSY_REPLIES = {
    "made-up observation then final answer": (
        "Thought: I need the rank.\nAction: search\nAction Input: LoRA rank\n"
        "Observation: r is 8\nThought: I now know the final answer\nFinal Answer: 8",
        _action("search", "LoRA rank", "I need the rank."),
    ),
    "stray whitespace and blank lines": (
        "  Thought:   look it up  \n\n   Action:  search  \n  Action Input:   BM25 idf  \n\n",
        _action("search", "BM25 idf", "look it up"),
    ),
    "lowercase keys": (
        "thought: add them\naction: calculator\naction input: 2+2",
        _action("calculator", "2+2", "add them"),
    ),
    "uppercase keys": ("THOUGHT: easy\nFINAL ANSWER: 4", _finish("4", "easy")),
    "missing thought": ("Action: calculator\nAction Input: 3*7", _action("calculator", "3*7", "")),
    "thought without its key": (
        " I should add the numbers.\nAction: calculator\nAction Input: 1+1",
        _action("calculator", "1+1", "I should add the numbers."),
    ),
    "final answer before an action": (
        "Thought: I know it.\nFinal Answer: Paris\nAction: search\nAction Input: capital of France",
        _finish("Paris", "I know it."),
    ),
    "action before a final answer": (
        "Action: search\nAction Input: LoRA alpha\nFinal Answer: 16",
        _action("search", "LoRA alpha", ""),
    ),
    "multi-line JSON input": (
        'Thought: query\nAction: search\nAction Input: {\n  "query": "rsLoRA",\n  "k": 3\n}\n'
        "Observation: nothing",
        _action("search", '{\n  "query": "rsLoRA",\n  "k": 3\n}', "query"),
    ),
    "fenced code input": (
        "Thought: run it\nAction: python\nAction Input: ```python\nprint(1)\n```",
        _action("python", "print(1)", "run it"),
    ),
    "Windows line endings": (
        "Thought: x\r\nAction: search\r\nAction Input: q\r\n",
        _action("search", "q", "x"),
    ),
    "lowercase made-up observation": (
        "Action: search\nAction Input: q\nobservation: fake\nFinal Answer: y",
        _action("search", "q", ""),
    ),
    "multi-line final answer": (
        "Thought: done\nFinal Answer: Step 1: mask.\nStep 2: shift.",
        _finish("Step 1: mask.\nStep 2: shift.", "done"),
    ),
    "key words inside a line": (
        "Thought: the Final Answer: format comes later\nAction: search\nAction Input: q",
        _action("search", "q", "the Final Answer: format comes later"),
    ),
    "input on the next line": (
        "Action: search\nAction Input:\nLoRA alpha\n",
        _action("search", "LoRA alpha", ""),
    ),
    "input stops at a thought line": (
        "Action: search\nAction Input: a\nb\nThought: hmm\nFinal Answer: z",
        _action("search", "a\nb", ""),
    ),
    "lowercase final answer": ("Thought: ok\nfinal answer: 42", _finish("42", "ok")),
}


@explain(
    en="Messy real-style model replies parse as the README states.",
    zh="各种真实风格的“不规整”模型回复，都要按 README 的规则解析。",
)
@pytest.mark.parametrize("case", list(MESSY_REPLIES), ids=list(MESSY_REPLIES))
def test_messy_replies(case):
    reply, expected = MESSY_REPLIES[case]
    got = react.parse_react(reply)
    if expected[0] == "action":
        want = react.AgentAction(tool=expected[1], tool_input=expected[2], thought=expected[3])
    else:
        want = react.AgentFinish(answer=expected[1], thought=expected[2])
    if got != want:
        fail(
            en=f"Reply '{case}' is parsed wrong.",
            zh=f"回复“{case}”解析错误。",
            detail=f"reply    {describe_value(reply)}\nparsed   {describe_value(got)}\nexpected {describe_value(want)}",
        )


NOT_PARSEABLE = {
    "only a thought": "Thought: I should think more about this.",
    "empty reply": "",
    "plain prose": "I am not sure what to do.",
    "action without input": "Thought: search\nAction: search",
    "empty tool": "Action:\nAction Input: q",
    "tool None": "Thought: nothing to call\nAction: None\nAction Input: q",
    "partial keywords": "Thought: x\nAct: search\nAction Inp: q",
    "answer without Final": "Answer: 42",
    "final answer only after a made-up observation": "Thought: x\nObservation: 3\nFinal Answer: 3",
}


@explain(
    en="A reply with neither a valid action nor a final answer raises ReActParseError (a ValueError) carrying .text.",
    zh="既没有合法 action 也没有 final answer 的回复应抛出 ReActParseError（ValueError 的子类），并带上 .text。",
)
@pytest.mark.parametrize("case", list(NOT_PARSEABLE), ids=list(NOT_PARSEABLE))
def test_parse_errors(case):
    reply = NOT_PARSEABLE[case]
    try:
        got = react.parse_react(reply)
    except react.ReActParseError as error:
        if not isinstance(error, ValueError):
            fail(en="ReActParseError must subclass ValueError.", zh="ReActParseError 必须是 ValueError 的子类。")
        if not isinstance(getattr(error, "text", None), str) or reply.strip() not in error.text:
            fail(
                en="ReActParseError must keep the model's reply in .text, so the agent can show it.",
                zh="ReActParseError 要把模型的原始回复保存在 .text 中，方便智能体回显。",
                detail=f"reply {describe_value(reply)}, .text {describe_value(getattr(error, 'text', None))}",
            )
        return
    except Exception as error:  # noqa: BLE001 - the learner may raise anything
        fail(
            en=f"Reply '{case}' must raise ReActParseError, not {type(error).__name__}.",
            zh=f"回复“{case}”应抛出 ReActParseError，而不是 {type(error).__name__}。",
            detail=f"reply {describe_value(reply)}: {error}",
        )
    fail(
        en=f"Reply '{case}' is neither a valid action nor a final answer, but it parsed.",
        zh=f"回复“{case}”既不是合法的 action 也不是 final answer，却被解析成功了。",
        detail=f"reply {describe_value(reply)}\nparsed {describe_value(got)}",
    )


@explain(
    en="parse_react and format_step raise TypeError for input of the wrong type.",
    zh="parse_react 与 format_step 收到类型不对的参数时应抛出 TypeError。",
)
def test_bad_types():
    for call, label in (
        (lambda: react.parse_react(None), "parse_react(None)"),
        (lambda: react.parse_react(b"Final Answer: 1"), "parse_react(b'...')"),
        (lambda: react.format_step("Action: x", "obs"), "format_step('Action: x', 'obs')"),
    ):
        try:
            call()
        except TypeError:
            continue
        except Exception as error:  # noqa: BLE001
            fail(en=f"{label} must raise TypeError, not {type(error).__name__}.",
                 zh=f"{label} 应抛出 TypeError，而不是 {type(error).__name__}。")
        fail(en=f"{label} must raise TypeError.", zh=f"{label} 应抛出 TypeError。")


# ---------------------------------------------------------------- run_agent


class RunawayLoop(BaseException):
    """Raised by a scripted model called far more often than max_steps allows."""


class ScriptedModel:
    """A fake LLM that replays `replies` and records every prompt and stop list."""

    def __init__(self, replies: list[str], limit: int):
        self.replies = replies
        self.limit = limit
        self.prompts: list[str] = []
        self.stops: list = []

    def __call__(self, prompt, stop=None):
        self.prompts.append(prompt)
        self.stops.append(stop)
        if len(self.prompts) > self.limit:
            raise RunawayLoop()
        index = len(self.prompts) - 1
        return self.replies[min(index, len(self.replies) - 1)]


def run_scripted(replies, tools, question="What is the question?", **limits):
    max_steps = limits.get("max_steps", 8)
    model = ScriptedModel(replies, limit=max_steps + 5)
    try:
        result = react.run_agent(model, tools, question, **limits)
    except RunawayLoop:
        fail(
            en=f"run_agent called the model more than {max_steps + 5} times with max_steps={max_steps}. "
            "Every model call, including one whose reply failed to parse, counts toward max_steps.",
            zh=f"max_steps={max_steps} 时 run_agent 调用模型超过了 {max_steps + 5} 次。每一次模型调用"
            "（包括回复解析失败的那次）都要计入 max_steps。",
        )
    return model, result


def echo_tool(text: str) -> str:
    """Return the input reversed and tagged."""
    return f"echo<{text[::-1]}>"


class FragileToolError(RuntimeError):
    pass


def fragile_tool(text: str) -> str:
    """Always fail."""
    raise FragileToolError(f"fragile tool failed on {text}")


TOOLS = {"echo": echo_tool, "fragile": fragile_tool}


@st.composite
def scripts(draw):
    """A scripted run: model replies, their meaning for the spec, and the limits."""
    max_steps = draw(st.integers(1, 6))
    max_parse_errors = draw(st.integers(1, 3))
    plan = []
    for index in range(max_steps):
        kind = draw(st.sampled_from(["tool", "tool", "unknown", "raises", "bad", "finish"]))
        token = f"{draw(_WORD)}{index}"
        decorate = draw(st.booleans())
        if kind == "finish":
            text = f"Thought: done\nFinal Answer: answer-{token}"
            plan.append(("finish", f"answer-{token}", text))
            continue
        if kind == "bad":
            text = draw(st.sampled_from([f"Thought: still thinking {token}", f"I will use echo on {token}",
                                         f"Action: echo\nThought: {token}"]))
            plan.append(("bad", None, text))
            continue
        tool = {"tool": "echo", "unknown": f"missing_{token}", "raises": "fragile"}[kind]
        text = f"Thought: step {index}\nAction: {tool}\nAction Input: input {token}"
        if decorate:
            text += f"\nObservation: made up {token}\nFinal Answer: not yet"
        plan.append((kind, (tool, f"input {token}"), text))
    return plan, max_steps, max_parse_errors


def spec_run(plan, max_steps, max_parse_errors):
    """Plain-loop spec: (answer, step kinds, stop_reason, model calls)."""
    kinds = []
    errors = 0
    for call in range(max_steps):
        kind, payload, _ = plan[call]
        if kind == "finish":
            return payload, kinds, "final_answer", call + 1
        kinds.append((kind, payload))
        if kind == "bad":
            errors += 1
            if errors >= max_parse_errors:
                return None, kinds, "parse_errors", call + 1
    return None, kinds, "max_steps", max_steps


def mentions_format(observation: str) -> bool:
    lowered = observation.lower()
    return all(key in lowered for key in ("action:", "action input:", "final answer:"))


@explain(
    en="run_agent follows the loop spec on scripted models: answer, steps and stop_reason.",
    zh="在脚本化的模型上，run_agent 的 answer、steps 与 stop_reason 要与循环规范一致。",
)
@given(script=scripts())
def test_agent_matches_spec(script):
    plan, max_steps, max_parse_errors = script
    model, result = run_scripted([text for _, _, text in plan], TOOLS,
                                 max_steps=max_steps, max_parse_errors=max_parse_errors)
    answer, kinds, stop_reason, calls = spec_run(plan, max_steps, max_parse_errors)
    where = f"max_steps={max_steps}, max_parse_errors={max_parse_errors}, replies={[t for _, _, t in plan][:calls]!r}"

    if result.stop_reason != stop_reason or result.answer != answer:
        fail(
            en=f"Expected stop_reason={stop_reason!r} and answer={answer!r}.",
            zh=f"应得到 stop_reason={stop_reason!r}，answer={answer!r}。",
            detail=f"got stop_reason={result.stop_reason!r}, answer={result.answer!r}\n{where}",
        )
    if len(model.prompts) != calls:
        fail(
            en=f"The model should be called {calls} times, it was called {len(model.prompts)} times.",
            zh=f"模型应被调用 {calls} 次，实际调用了 {len(model.prompts)} 次。",
            detail=where,
        )
    steps = list(result.steps)
    if len(steps) != len(kinds):
        fail(
            en=f"steps must hold one (action, observation) pair per model call that did not finish: "
            f"expected {len(kinds)}, got {len(steps)}.",
            zh=f"每次没有给出最终答案的模型调用都对应 steps 中的一个 (action, observation)：应为 {len(kinds)} 个，"
            f"实际为 {len(steps)} 个。",
            detail=where,
        )
    for index, ((kind, payload), step) in enumerate(zip(kinds, steps)):
        action, observation = step
        if kind == "bad":
            if action is not None or not isinstance(observation, str) or not mentions_format(observation):
                fail(
                    en=f"Step {index} is a reply that failed to parse: expected (None, observation) with an "
                    "observation that reminds the model of the format (Action:, Action Input:, Final Answer:).",
                    zh=f"第 {index} 步是解析失败的回复：应为 (None, observation)，observation 要向模型重申格式"
                    "（Action:、Action Input:、Final Answer:）。",
                    detail=f"got {describe_value(step)}\n{where}",
                )
            continue
        tool, tool_input = payload
        if not same_action(action, tool, tool_input):
            fail(
                en=f"Step {index} should hold the action {tool}({tool_input!r}).",
                zh=f"第 {index} 步应记录 action {tool}({tool_input!r})。",
                detail=f"got {describe_value(step)}\n{where}",
            )
        expected_observation = echo_tool(tool_input) if kind == "tool" else None
        if kind == "tool" and observation != expected_observation:
            fail(
                en=f"Step {index}: the observation must be exactly the tool's return value.",
                zh=f"第 {index} 步：observation 必须就是工具的返回值。",
                detail=f"got {observation!r}, expected {expected_observation!r}",
            )
        if kind == "unknown" and not all(name in str(observation) for name in TOOLS):
            fail(
                en=f"Step {index} called an unknown tool: the observation must list the available tools.",
                zh=f"第 {index} 步调用了不存在的工具：observation 要列出可用的工具。",
                detail=f"got {observation!r}",
            )
        if kind == "raises" and f"fragile tool failed on {tool_input}" not in str(observation):
            fail(
                en=f"Step {index}'s tool raised: the observation must include the error message.",
                zh=f"第 {index} 步的工具抛出了异常：observation 里要包含异常信息。",
                detail=f"got {observation!r}",
            )


@explain(
    en="Every model call gets stop=['\\nObservation:'], the question, the tools and all earlier observations.",
    zh="每次调用模型都要传入 stop=['\\nObservation:']，提示里要有问题、工具以及之前所有的 observation。",
)
@given(script=scripts(), question=phrase)
def test_prompt_and_stop(script, question):
    plan, max_steps, max_parse_errors = script
    question = f"Q<{question}>"
    model, result = run_scripted([text for _, _, text in plan], TOOLS, question=question,
                                 max_steps=max_steps, max_parse_errors=max_parse_errors)
    for call, stop in enumerate(model.stops):
        if list(stop or []) != STOP:
            fail(
                en="Call the model as llm(prompt, stop=['\\nObservation:']) so it stops before making up an observation.",
                zh="调用模型时要写 llm(prompt, stop=['\\nObservation:'])，让它在编造 observation 之前停下。",
                detail=f"call {call} got stop={stop!r}",
            )
    for call, prompt in enumerate(model.prompts):
        missing = [part for part in (question, *TOOLS) if part not in prompt]
        if missing:
            fail(
                en="Each prompt must contain the question and the name of every tool.",
                zh="每次的提示都要包含问题和所有工具的名字。",
                detail=f"call {call} misses {missing!r}",
            )
    for index, (_, observation) in enumerate(result.steps):
        later = model.prompts[index + 1:]
        if later and observation not in later[0]:
            fail(
                en=f"The observation of step {index} is not in the next prompt, so the model never sees it.",
                zh=f"第 {index} 步的 observation 没有出现在下一次的提示里，模型根本看不到它。",
                detail=f"observation {observation!r}\nnext prompt {describe_value(later[0], 600)}",
            )


@explain(
    en="A reply with only a Thought is fed back with the format, and the run stops after max_parse_errors (not at max_steps).",
    zh="只有 Thought 的回复要把格式说明反馈给模型；累计 max_parse_errors 次后停止，而不是一直跑到 max_steps。",
)
@given(max_parse_errors=st.integers(1, 4), extra=st.integers(1, 6))
def test_parse_error_streak_stops(max_parse_errors, extra):
    max_steps = max_parse_errors + extra
    model, result = run_scripted(["Thought: I should think more about this."], TOOLS,
                                 max_steps=max_steps, max_parse_errors=max_parse_errors)
    if result.stop_reason != "parse_errors" or result.answer is not None:
        fail(
            en=f"A model that never follows the format must stop with stop_reason 'parse_errors' and answer None "
            f"(max_parse_errors={max_parse_errors}, max_steps={max_steps}).",
            zh=f"从不遵守格式的模型应以 stop_reason 'parse_errors' 停止，answer 为 None"
            f"（max_parse_errors={max_parse_errors}，max_steps={max_steps}）。",
            detail=f"got stop_reason={result.stop_reason!r}, answer={result.answer!r}",
        )
    if len(model.prompts) != max_parse_errors:
        fail(
            en=f"The run must stop right after {max_parse_errors} failed replies; the model was called "
            f"{len(model.prompts)} times.",
            zh=f"累计 {max_parse_errors} 次解析失败后应立即停止，但模型被调用了 {len(model.prompts)} 次。",
        )
    if max_parse_errors > 1:
        feedback = result.steps[0][1]
        if feedback not in model.prompts[1]:
            fail(
                en="The format reminder must reach the model in the next prompt.",
                zh="格式提醒要出现在下一次的提示里，让模型看到。",
                detail=f"reminder {feedback!r}",
            )


@explain(
    en="Parse errors count in total, not in a row: bad, good, bad stops with max_parse_errors=2.",
    zh="解析失败按累计次数计算，而不是连续次数：失败、成功、失败，在 max_parse_errors=2 时就应停止。",
)
@given(token=_WORD)
def test_parse_errors_total(token):
    replies = ["Thought: hmm", f"Action: echo\nAction Input: {token}", "no format at all",
               "Final Answer: too late"]
    model, result = run_scripted(replies, TOOLS, max_steps=8, max_parse_errors=2)
    if result.stop_reason != "parse_errors" or len(model.prompts) != 3:
        fail(
            en="With max_parse_errors=2, the second failed reply ends the run even after a good one in between.",
            zh="max_parse_errors=2 时，即使中间有一次成功的回复，第二次解析失败也要结束运行。",
            detail=f"got stop_reason={result.stop_reason!r} after {len(model.prompts)} model calls",
        )


@explain(
    en="A model that keeps calling tools stops with 'max_steps' after exactly max_steps calls.",
    zh="一直调用工具的模型，恰好调用 max_steps 次后以 'max_steps' 停止。",
)
@given(max_steps=st.integers(1, 7))
def test_step_limit(max_steps):
    model, result = run_scripted(["Thought: again\nAction: echo\nAction Input: x"], TOOLS, max_steps=max_steps)
    if result.stop_reason != "max_steps" or result.answer is not None or len(model.prompts) != max_steps:
        fail(
            en=f"Expected stop_reason 'max_steps', answer None and {max_steps} model calls.",
            zh=f"应得到 stop_reason 'max_steps'、answer None，并调用模型 {max_steps} 次。",
            detail=f"got stop_reason={result.stop_reason!r}, answer={result.answer!r}, calls={len(model.prompts)}",
        )


@explain(
    en="Tool failures of any kind become observations; nothing escapes the loop.",
    zh="工具抛出的任何异常都要变成 observation，不能逃出循环。",
)
@pytest.mark.parametrize("error", [ValueError, KeyError, ZeroDivisionError, TypeError, OSError])
def test_tool_exceptions_stay_inside(error):
    def broken(text):
        raise error(f"broken on {text}")

    replies = ["Action: broken\nAction Input: x", "Final Answer: recovered"]
    try:
        model, result = run_scripted(replies, {"broken": broken})
    except error:
        fail(
            en=f"A tool raising {error.__name__} escaped run_agent. Catch it and show it to the model.",
            zh=f"工具抛出的 {error.__name__} 逃出了 run_agent。要捕获它并作为 observation 反馈给模型。",
        )
    if result.stop_reason != "final_answer" or result.answer != "recovered":
        fail(
            en="After a tool error the model must get another turn.",
            zh="工具出错之后，模型应能继续下一轮。",
            detail=f"got {describe_value(result)}",
        )


@explain(
    en="run_agent never raises on model misbehaviour: made-up observations, unknown tools, non-text replies.",
    zh="模型表现异常时 run_agent 绝不抛出异常：编造 observation、调用不存在的工具、返回非文本内容都一样。",
)
def test_agent_never_raises_on_model():
    replies = [None, "Action: nope\nAction Input: q", 42]
    model, result = run_scripted(replies, TOOLS, max_steps=5, max_parse_errors=3)
    if result.stop_reason not in ("max_steps", "parse_errors") or result.answer is not None:
        fail(
            en="A model returning None or a number must count as a reply that failed to parse.",
            zh="模型返回 None 或数字时，应当作一次解析失败的回复处理。",
            detail=f"got {describe_value(result)}",
        )


@explain(
    en="run_agent raises ValueError for max_steps or max_parse_errors below 1.",
    zh="max_steps 或 max_parse_errors 小于 1 时，run_agent 应抛出 ValueError。",
)
@pytest.mark.parametrize("limits", [{"max_steps": 0}, {"max_parse_errors": 0}, {"max_steps": -3}])
def test_agent_bad_limits(limits):
    model = ScriptedModel(["Final Answer: x"], limit=10)
    try:
        react.run_agent(model, TOOLS, "q", **limits)
    except ValueError as error:
        named = next(iter(limits))
        if named not in str(error):
            fail(en=f"The ValueError should name {named}.", zh=f"ValueError 的信息里应写明 {named}。",
                 detail=str(error))
        return
    fail(en=f"run_agent accepted {limits}.", zh=f"run_agent 接受了非法参数 {limits}。")


# ---------------------------------------------------------------- safe_calculate

MAX_MAGNITUDE = 10**1000
_OPERATORS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
}


class Rejected(Exception):
    pass


def spec_value(tree):
    """Evaluate a generated tree under the calculator's rules; Rejected for an 'Error: ...' case."""
    kind = tree[0]
    if kind == "number":
        value = tree[1]
    elif kind == "neg":
        value = -spec_value(tree[1])
    else:
        left, right = spec_value(tree[1]), spec_value(tree[2])
        if kind == "**" and abs(right) > 100:
            raise Rejected()
        try:
            value = _OPERATORS[kind](left, right)
        except (ZeroDivisionError, OverflowError):
            raise Rejected() from None
    if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
        raise Rejected()
    return value


@st.composite
def expressions(draw, depth=3):
    """(text, tree) of a random arithmetic expression with random spacing."""
    space = draw(st.sampled_from(["", " ", "  "]))
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        value = draw(st.one_of(st.integers(0, 60), st.sampled_from([0.5, 1.25, 2.0, 3.75, 10.0, 0.1])))
        return str(value), ("number", value)
    kind = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "neg"]))
    if kind == "neg":
        text, tree = draw(expressions(depth - 1))
        return f"(-({text}))", ("neg", tree)
    left_text, left = draw(expressions(depth - 1))
    right_text, right = draw(expressions(depth - 1))
    return f"({left_text}{space}{kind}{space}{right_text})", (kind, left, right)


def run_isolated(function, argument, timeout: float = 4.0):
    """Call function(argument) in a forked child; return (status, value) with status ok, raised or timeout."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report and exit without running any pytest teardown
        try:
            os.close(read_end)
            try:
                value = function(argument)
                payload = {"status": "ok", "value": value if isinstance(value, str) else repr(value)}
            except BaseException as error:  # noqa: BLE001 - report everything to the parent
                payload = {"status": "raised", "value": f"{type(error).__name__}: {error}"}
            payload["value"] = payload["value"][:4000]
            with os.fdopen(write_end, "w") as out:
                json.dump(payload, out)
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    try:
        while True:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout", None
            time.sleep(0.01)
        with os.fdopen(read_end) as source:
            text = source.read()
        read_end = None
    finally:
        if read_end is not None:
            os.close(read_end)
    if not text:
        return "raised", "the child process died without a result"
    payload = json.loads(text)
    return payload["status"], payload["value"]


@explain(
    en="safe_calculate agrees with Python arithmetic on random expressions (and returns 'Error: ...' where the rules say so).",
    zh="在随机表达式上，safe_calculate 的结果与 Python 算术一致（规则要求报错的地方返回 'Error: ...'）。",
)
@given(expression=expressions())
def test_calculator_matches_python(expression):
    text, tree = expression
    got = react.safe_calculate(text)
    try:
        expected = str(spec_value(tree))
    except Rejected:
        expected = None
    if expected is None:
        if not (isinstance(got, str) and got.startswith("Error")):
            fail(
                en="This expression divides by zero, has an exponent above 100, or gives a complex number or "
                "a result above 10**1000: return an 'Error: ...' string.",
                zh="这个表达式除以了零、指数超过 100，或者结果是复数或绝对值超过 10**1000：应返回 'Error: ...' 字符串。",
                detail=f"expression {text!r}, got {describe_value(got)}",
            )
    elif got != expected:
        fail(
            en="The result differs from Python arithmetic (return str(result)).",
            zh="结果与 Python 算术不一致（应返回 str(result)）。",
            detail=f"expression {text!r}, got {describe_value(got)}, expected {expected!r}",
        )


CALCULATOR_EXAMPLES = {"7/2": "3.5", "2 + 3 * 4": "14", "-(2 ** 3)": "-8", "2**-1": "0.5", "7 // 2": "3",
                       "-7 % 3": "2", "2**100": str(2**100), " ( 1 + 2 ) ": "3"}


@explain(
    en="safe_calculate returns str(result) for plain arithmetic: '7/2' gives '3.5'.",
    zh="对普通算术，safe_calculate 返回 str(result)：'7/2' 得到 '3.5'。",
)
@pytest.mark.parametrize("expression", list(CALCULATOR_EXAMPLES))
def test_calculator_examples(expression):
    got = react.safe_calculate(expression)
    if got != CALCULATOR_EXAMPLES[expression]:
        fail(
            en=f"safe_calculate({expression!r}) should return {CALCULATOR_EXAMPLES[expression]!r}.",
            zh=f"safe_calculate({expression!r}) 应返回 {CALCULATOR_EXAMPLES[expression]!r}。",
            detail=f"got {describe_value(got)}",
        )


class KataSentinel:
    """Creating one writes the marker file: proof that the calculator executed code."""

    marker: str = ""

    def __init__(self):
        Path(KataSentinel.marker).write_text("executed", encoding="utf-8")


def _fire_sentinel():
    KataSentinel()
    return 1


INJECTIONS = {
    "subclass walk": "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'KataSentinel'][0]()",
    "import": "__import__('pathlib').Path(MARKER).write_text('x')",
    "open": "open(MARKER, 'w').write('x')",
    "builtin call": "kata_sentinel()",
    "call inside arithmetic": "1 + kata_sentinel()",
    "lambda": "(lambda: kata_sentinel())()",
    "exec": "exec('kata_sentinel()')",
    "attribute access": "(1).__class__.__name__",
    "subscript": "[kata_sentinel()][0]",
    "conditional": "1 if kata_sentinel() else 2",
    "statement after arithmetic": "1; kata_sentinel()",
    "walrus": "(x := kata_sentinel())",
    "string": "'2' * 3",
    "comparison": "kata_sentinel() < 2",
}


@explain(
    en="Injection attempts (names, calls, attributes, subscripts) return 'Error: ...' and execute nothing.",
    zh="注入尝试（名字、函数调用、属性访问、下标）都要返回 'Error: ...'，并且不能执行任何代码。",
)
@pytest.mark.parametrize("case", list(INJECTIONS), ids=list(INJECTIONS))
def test_calculator_executes_nothing(case, tmp_path):
    react.safe_calculate("1 + 1")
    marker = tmp_path / "executed.txt"
    expression = INJECTIONS[case].replace("MARKER", repr(str(marker)))

    def attempt(text):
        KataSentinel.marker = str(marker)
        builtins.kata_sentinel = _fire_sentinel
        return react.safe_calculate(text)

    status, value = run_isolated(attempt, expression)

    if marker.exists():
        fail(
            en=f"safe_calculate executed code for the input {INJECTIONS[case]!r}. Never eval or exec: parse with "
            "ast and evaluate only numbers and arithmetic operators.",
            zh=f"safe_calculate 在输入 {INJECTIONS[case]!r} 上执行了代码。绝不能用 eval 或 exec："
            "用 ast 解析，只计算数字和算术运算符。",
        )
    if status == "timeout":
        fail(en=f"safe_calculate did not return within 4 s for {expression!r}.",
             zh=f"safe_calculate 在输入 {expression!r} 上 4 秒内没有返回。")
    if status != "ok" or not value.startswith("Error"):
        fail(
            en="Anything but arithmetic must come back as an 'Error: ...' string, not a value or an exception.",
            zh="算术以外的输入都要返回 'Error: ...' 字符串，而不是某个值或异常。",
            detail=f"input {expression!r}: {status} {describe_value(value)}",
        )


# A digit count that grows with every step: computing one more power or
# product of a result already above 10**1000 takes seconds to hours, so
# only a check of every intermediate result returns at once.
_MILLION_DIGITS = "((10**100)**100)**100"
INTERMEDIATE_BLOWUPS = [
    "(((10**100)**100)**100)**100",
    "*".join([_MILLION_DIGITS] * 8),
    f"({_MILLION_DIGITS}*{_MILLION_DIGITS})**100",
    # Small final results: only the intermediate 10**1100 is out of bounds.
    "(10**100)**11 - (10**100)**11",
    "(10**100)**11 // (10**100)**10",
]
HUGE = ["9**9**9**9", "2**1000000", "10**10**10", "(10**100)**11", "2**(2**(2**(2**2)))", "-(7**101)",
        "1.5**500", "99**99*99**99*99**99*99**99*99**99*99**99", "1e308*1e308", *INTERMEDIATE_BLOWUPS]


@explain(
    en="Huge powers and results, intermediate or final (9**9**9**9, 2**1000000, above 10**1000), "
    "return 'Error: ...' at once instead of hanging.",
    zh="超大的幂和结果，无论是中间结果还是最终结果（9**9**9**9、2**1000000、超过 10**1000），"
    "都要立即返回 'Error: ...'，而不是卡住。",
)
@pytest.mark.parametrize("expression", HUGE, ids=[text if len(text) <= 40 else text[:37] + "..." for text in HUGE])
def test_calculator_huge_powers(expression):
    react.safe_calculate("2 ** 10")

    status, value = run_isolated(react.safe_calculate, expression, timeout=3.0)

    if status == "timeout":
        fail(
            en=f"safe_calculate({expression!r}) ran for more than 3 s. Check the exponent (|e| <= 100) "
            "before computing a power, and the size of every result.",
            zh=f"safe_calculate({expression!r}) 运行超过 3 秒。计算幂之前先检查指数（|e| <= 100），并检查每一步结果的大小。",
        )
    if status != "ok" or not value.startswith("Error"):
        fail(
            en=f"safe_calculate({expression!r}) must return an 'Error: ...' string.",
            zh=f"safe_calculate({expression!r}) 应返回 'Error: ...' 字符串。",
            detail=f"{status}: {describe_value(value)}",
        )


@explain(
    en="Malformed input and division by zero return 'Error: ...' instead of raising.",
    zh="格式错误的输入和除以零都要返回 'Error: ...'，而不是抛出异常。",
)
@pytest.mark.parametrize("expression", ["1/0", "5 % 0", "2 +", "", "1 2", "((1)", "0**-1", "3 // 0.0"])
def test_calculator_errors(expression):
    try:
        got = react.safe_calculate(expression)
    except Exception as error:  # noqa: BLE001
        fail(
            en=f"safe_calculate({expression!r}) raised {type(error).__name__}; a tool returns 'Error: ...' instead.",
            zh=f"safe_calculate({expression!r}) 抛出了 {type(error).__name__}；工具应返回 'Error: ...'。",
        )
    if not isinstance(got, str) or not got.startswith("Error"):
        fail(en=f"safe_calculate({expression!r}) must return an 'Error: ...' string.",
             zh=f"safe_calculate({expression!r}) 应返回 'Error: ...' 字符串。",
             detail=f"got {describe_value(got)}")


@explain(
    en="safe_calculate raises TypeError for a non-string expression.",
    zh="表达式不是字符串时，safe_calculate 应抛出 TypeError。",
)
def test_calculator_type_error():
    with pytest.raises(TypeError):
        react.safe_calculate(2 + 2)

