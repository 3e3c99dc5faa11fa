"""Kata `react`: parse ReAct replies, run the agent loop, and a calculator tool.

A ReAct agent asks the model for one step at a time. The model writes a
thought, then either calls a tool or gives the final answer:

    Thought: I need the LoRA scaling rule.
    Action: search
    Action Input: LoRA scaling alpha r

The loop runs the tool, appends `Observation: <result>` to the prompt and
asks again. Real models misbehave: they make up the observation, mix
upper and lower case, forget a key, or write both an action and an answer.
The parser must be strict where it matters and tolerant where it can be,
and the loop must never crash or spin on a bad reply.

What this kata leaves out: streaming, parallel tool calls and JSON
function calling.

Grade it with `make check KATA=react` (or `kata check react`).
The full task statement, with examples, is in README.md beside this file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

STOP = ["\nObservation:"]


@dataclass(frozen=True)
class AgentAction:
    """A tool call the model asked for."""

    tool: str
    tool_input: str
    thought: str = ""


@dataclass(frozen=True)
class AgentFinish:
    """The model's final answer."""

    answer: str
    thought: str = ""


@dataclass(frozen=True)
class AgentResult:
    """What `run_agent` returns.

    `answer` is None unless `stop_reason == "final_answer"`. `steps` holds one
    `(AgentAction | None, observation)` pair per model call that did not
    finish (None when the reply failed to parse). `stop_reason` is
    `"final_answer"`, `"max_steps"` or `"parse_errors"`.
    """

    answer: str | None
    steps: list = field(default_factory=list)
    stop_reason: str = "final_answer"


class ReActParseError(ValueError):
    """A model reply that is neither a valid action nor a final answer; `.text` is the reply."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


def parse_react(text: str) -> AgentAction | AgentFinish:
    """Parse one model reply into an AgentAction or an AgentFinish.

    Keys (`Thought:`, `Action:`, `Action Input:`, `Final Answer:`,
    `Observation:`) count only at the start of a line (leading spaces
    allowed), in any letter case.

    - Everything from the first `Observation:` line on is dropped: the model
      made it up.
    - The first `Action:` or `Final Answer:` line decides. An `Action:`
      before any `Final Answer:` gives an action. A `Final Answer:` first
      gives a finish whose answer runs to the next `Thought:`, `Action:` or
      `Action Input:` line, or the end.
    - The tool is the rest of the `Action:` line. The input runs from
      `Action Input:` to the next `Thought:` or `Final Answer:` line or the
      end. It may span lines. A ```` ``` ```` fence (with an optional
      language tag) or single backticks around it are removed.
    - The thought is the text before the deciding line, without its
      `Thought:` key. A missing thought gives `""`. Every value is trimmed,
      and `\\r\\n` counts as `\\n`.

    Raises ReActParseError (with `.text` set to the reply) when there is
    neither an action nor an answer, when the tool is empty or `None`, or
    when `Action:` has no `Action Input:` after it. Raises TypeError when
    `text` is not a str.

    >>> parse_react("Thought: add\\nAction: calculator\\nAction Input: 2+2\\nObservation: 5")
    AgentAction(tool='calculator', tool_input='2+2', thought='add')
    """
    # TODO: drop the made-up observation, find the deciding key, and cut out each value.
    raise NotImplementedError("parse_react")


def format_step(action: AgentAction, observation: str) -> str:
    """Render one scratchpad step: the model's action and the tool's observation.

    Writes `Thought:` (when the thought is not empty), `Action:`,
    `Action Input:` and `Observation:` lines, so that
    `parse_react(format_step(action, observation)) == action`.
    Raises TypeError when `action` is not an AgentAction or `observation`
    is not a str.

    >>> format_step(AgentAction("calculator", "2+2", "add"), "4")
    'Thought: add\\nAction: calculator\\nAction Input: 2+2\\nObservation: 4\\n'
    """
    # TODO: write the four lines.
    raise NotImplementedError("format_step")


def run_agent(
    llm: Callable[..., str],
    tools: Mapping[str, Callable[[str], str]],
    question: str,
    max_steps: int = 8,
    max_parse_errors: int = 2,
) -> AgentResult:
    """Run the ReAct loop: ask the model, call a tool, show the result, repeat.

    Each model call is `llm(prompt, stop=["\\nObservation:"])`. The prompt
    holds the question, every tool name, the format, and every earlier step
    with its observation. Each model call counts toward `max_steps`.

    - A final answer ends the run: `stop_reason="final_answer"`.
    - An action calls `tools[action.tool](action.tool_input)`; its return
      value is the observation. An unknown tool gives an observation that
      lists the available tools. A tool that raises gives an observation
      with the error message. Neither escapes the loop.
    - A reply that fails to parse (or is not a str) gives the step
      `(None, observation)`, where the observation reminds the model of the
      format and names `Action:`, `Action Input:` and `Final Answer:`. When
      `max_parse_errors` replies in total have failed, the run stops at once
      with `stop_reason="parse_errors"`.
    - After `max_steps` calls without an answer: `stop_reason="max_steps"`.

    Raises ValueError when `max_steps` or `max_parse_errors` is below 1.

    >>> run_agent(lambda prompt, stop: "Final Answer: 4", {}, "2+2?")
    AgentResult(answer='4', steps=[], stop_reason='final_answer')
    """
    # TODO: loop over model calls, parse, call tools, and keep the scratchpad.
    raise NotImplementedError("run_agent")


def safe_calculate(expression: str) -> str:
    """Evaluate plain arithmetic safely and return the result as a string.

    Parse with `ast.parse(expression, mode="eval")` and walk the tree; never
    call `eval` or `exec`. Allowed: int and float numbers, `+ - * / // % **`,
    unary minus and plus, parentheses. Returns `str(result)`.

    Returns an `"Error: ..."` string, without computing anything dangerous,
    for: names, calls, attributes, subscripts and anything else; a power
    whose exponent is above 100 in absolute value (checked BEFORE computing
    it, so `9**9**9**9` returns at once); any intermediate or final result
    above 10**1000 in absolute value; a complex result; division by zero;
    overflow; a syntax error. Raises TypeError when `expression` is not a str.

    >>> safe_calculate("7/2")
    '3.5'
    >>> safe_calculate("__import__('os')")[:6]
    'Error:'
    """
    # TODO: parse with ast and evaluate only the allowed nodes.
    raise NotImplementedError("safe_calculate")
