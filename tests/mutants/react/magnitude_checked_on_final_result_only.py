"""Mutant: checks the size of the final result only, so a chain of powers computes numbers with millions of digits before it returns."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

STOP = ["\nObservation:"]
STOP_REASONS = ("final_answer", "max_steps", "parse_errors")

# A key is recognized only at the start of a line, in any case, with
# optional spaces before the colon. "Action Input" is listed before "Action".
_KEY = re.compile(
    r"^[ \t]*(thought|action[ \t]+input|action|final[ \t]+answer|observation)[ \t]*:[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_FENCE = re.compile(r"\A```(?:[\w+-]*[ \t]*\n)?(.*?)\n?[ \t]*```\Z", re.DOTALL)

FORMAT_REMINDER = (
    "Invalid format. Reply with 'Thought: ...' and then either "
    "'Action: <tool name>' and 'Action Input: <input>' on their own lines, "
    "or 'Final Answer: <answer>'."
)


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
    """What `run_agent` returns: the answer, the steps taken and why it stopped."""

    answer: str | None
    steps: list = field(default_factory=list)
    stop_reason: str = "final_answer"


class ReActParseError(ValueError):
    """A model reply that is neither a valid action nor a final answer."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


def _normalize_key(raw: str) -> str:
    return " ".join(raw.lower().split())


def _strip_fence(value: str) -> str:
    match = _FENCE.match(value)
    if match:
        return match.group(1).strip()
    if len(value) >= 2 and value[0] == value[-1] == "`" and "`" not in value[1:-1]:
        return value[1:-1].strip()
    return value


def parse_react(text: str) -> AgentAction | AgentFinish:
    """Parse one model reply into an action or a final answer."""
    if not isinstance(text, str):
        raise TypeError(f"parse_react expects the model reply as str, got {type(text).__name__}")
    raw = text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    keys = [(_normalize_key(m.group(1)), m.start(), m.end()) for m in _KEY.finditer(text)]

    # The model made up everything from its first "Observation:" line on.
    for index, (key, start, _) in enumerate(keys):
        if key == "observation":
            text = text[:start]
            keys = keys[:index]
            break

    def value_until(position: int, stops: tuple[str, ...]) -> str:
        """Text from `position` to the next line with a key in `stops`, or the end."""
        end = len(text)
        for key, start, _ in keys:
            if start >= position and key in stops:
                end = start
                break
        return text[position:end].strip()

    first_action = next((k for k in keys if k[0] == "action"), None)
    first_answer = next((k for k in keys if k[0] == "final answer"), None)
    first_decision = min(
        (k for k in (first_action, first_answer) if k is not None), key=lambda k: k[1], default=None
    )
    if first_decision is None:
        raise ReActParseError(
            "the reply has neither an 'Action:' line nor a 'Final Answer:' line", raw
        )

    # The prompt ends with "Thought:", so a reply may start with the thought itself.
    thought = text[: first_decision[1]].strip()
    leading = _KEY.match(thought)
    if leading and _normalize_key(leading.group(1)) == "thought":
        thought = thought[leading.end() :].strip()

    if first_decision is first_answer:
        answer = value_until(first_answer[2], ("thought", "action", "action input"))
        return AgentFinish(answer=answer, thought=thought)

    _, action_start, action_end = first_action
    line_end = text.find("\n", action_end)
    tool = text[action_end : len(text) if line_end == -1 else line_end].strip()
    if not tool or tool.lower() == "none":
        raise ReActParseError(f"the 'Action:' line names no tool (got {tool!r})", raw)
    action_input = next((k for k in keys if k[0] == "action input" and k[1] > action_start), None)
    if action_input is None:
        raise ReActParseError(f"'Action: {tool}' has no 'Action Input:' line after it", raw)
    value = value_until(action_input[2], ("thought", "final answer"))
    return AgentAction(tool=tool, tool_input=_strip_fence(value), thought=thought)


def format_step(action: AgentAction, observation: str) -> str:
    """Render one scratchpad step: the action the model took and what the tool returned."""
    if not isinstance(action, AgentAction):
        raise TypeError(f"format_step expects an AgentAction, got {type(action).__name__}")
    if not isinstance(observation, str):
        raise TypeError(f"observation must be str, got {type(observation).__name__}")
    thought = f"Thought: {action.thought}\n" if action.thought else ""
    return (
        f"{thought}Action: {action.tool}\nAction Input: {action.tool_input}\n"
        f"Observation: {observation}\n"
    )


def _describe_tool(name: str, tool: Callable) -> str:
    doc = (getattr(tool, "__doc__", None) or "").strip().splitlines()
    return f"{name}: {doc[0]}" if doc else name


def build_prompt(tools: Mapping[str, Callable], question: str, scratchpad: str) -> str:
    """Build the whole prompt: tools, the format, the question and the steps so far."""
    tool_lines = "\n".join(_describe_tool(name, tool) for name, tool in tools.items())
    names = ", ".join(tools)
    return (
        "Answer the question. You may call these tools:\n\n"
        f"{tool_lines}\n\n"
        "Reply in this format:\n\n"
        "Thought: what to do next\n"
        f"Action: the tool to call, one of [{names}]\n"
        "Action Input: the input for the tool\n"
        "Observation: the tool's result (written for you, never by you)\n"
        "(Thought, Action, Action Input and Observation may repeat.)\n"
        "Thought: I can answer now\n"
        "Final Answer: the answer to the question\n\n"
        f"Question: {question}\n"
        f"{scratchpad}Thought:"
    )


def _call_tool(tools: Mapping[str, Callable], action: AgentAction) -> str:
    tool = tools.get(action.tool)
    if tool is None:
        return f"Unknown tool {action.tool!r}. Available tools: {', '.join(tools)}."
    try:
        return str(tool(action.tool_input))
    except Exception as error:  # any tool failure is shown to the model, never raised
        return f"Tool {action.tool!r} failed: {type(error).__name__}: {error}"


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def run_agent(
    llm: Callable[..., str],
    tools: Mapping[str, Callable[[str], str]],
    question: str,
    max_steps: int = 8,
    max_parse_errors: int = 2,
) -> AgentResult:
    """Run the ReAct loop until a final answer, the step limit or too many parse errors."""
    if not callable(llm):
        raise TypeError(f"llm must be callable as llm(prompt, stop), got {type(llm).__name__}")
    if not isinstance(tools, Mapping) or not all(
        isinstance(name, str) and callable(tool) for name, tool in tools.items()
    ):
        raise TypeError(f"tools must map tool names (str) to callables, got {tools!r}")
    if not isinstance(question, str):
        raise TypeError(f"question must be str, got {type(question).__name__}")
    _check_positive_int("max_steps", max_steps)
    _check_positive_int("max_parse_errors", max_parse_errors)

    steps: list[tuple[AgentAction | None, str]] = []
    scratchpad = ""
    parse_errors = 0
    for _ in range(max_steps):
        reply = llm(build_prompt(tools, question, scratchpad), stop=list(STOP))
        try:
            if not isinstance(reply, str):
                raise ReActParseError(f"the model returned {type(reply).__name__}, not text", str(reply))
            parsed = parse_react(reply)
        except ReActParseError as error:
            parse_errors += 1
            observation = f"{FORMAT_REMINDER} ({error})"
            steps.append((None, observation))
            if parse_errors >= max_parse_errors:
                return AgentResult(answer=None, steps=steps, stop_reason="parse_errors")
            scratchpad += f"{error.text.strip()}\nObservation: {observation}\n"
            continue
        if isinstance(parsed, AgentFinish):
            return AgentResult(answer=parsed.answer, steps=steps, stop_reason="final_answer")
        observation = _call_tool(tools, parsed)
        steps.append((parsed, observation))
        scratchpad += format_step(parsed, observation)
    return AgentResult(answer=None, steps=steps, stop_reason="max_steps")


# ---------------------------------------------------------------- calculator

MAX_EXPONENT = 100
MAX_MAGNITUDE = 10**1000

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


_NODE_WORDS = {ast.Call: "function calls", ast.Attribute: "attributes", ast.Subscript: "subscripts"}


class _Rejected(Exception):
    """An expression outside plain arithmetic, or a result out of bounds."""


def _checked(value: int | float) -> int | float:
    if isinstance(value, complex):
        raise _Rejected("the result is a complex number")
    if isinstance(value, float) and math.isnan(value):
        raise _Rejected("the result is not a number")
    if abs(value) > MAX_MAGNITUDE:
        raise _Rejected("the result is larger than 10**1000")
    return value


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _Rejected(f"{node.value!r} is not a number")
        return _checked(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _evaluate(node.left)
        right = _evaluate(node.right)
        # NOTE: the exponent is checked before computing, so 9**9**9**9 is
        # rejected at once instead of building a number with billions of digits.
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise _Rejected(f"the exponent {right} is above {MAX_EXPONENT} in absolute value")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Name):
        raise _Rejected(f"the name {node.id!r} is not allowed, only numbers and + - * / // % **")
    what = _NODE_WORDS.get(type(node), f"{type(node).__name__} nodes")
    raise _Rejected(f"{what} are not allowed, only numbers and + - * / // % **")


def safe_calculate(expression: str) -> str:
    """Evaluate plain arithmetic without eval; return the result or an 'Error: ...' string."""
    if not isinstance(expression, str):
        raise TypeError(f"safe_calculate expects the expression as str, got {type(expression).__name__}")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        return str(_checked(_evaluate(tree)))
    except _Rejected as error:
        return f"Error: {error}"
    except ZeroDivisionError:
        return "Error: division by zero"
    except OverflowError:
        return "Error: the result is too large"
    except (SyntaxError, ValueError):
        shown = expression if len(expression) <= 60 else expression[:57] + "..."
        return f"Error: {shown!r} is not a valid arithmetic expression"
    except (RecursionError, MemoryError):
        return "Error: the expression is nested too deeply"


__all__ = [
    "AgentAction",
    "AgentFinish",
    "AgentResult",
    "ReActParseError",
    "format_step",
    "parse_react",
    "run_agent",
    "safe_calculate",
]
