"""`kata react-demo [react] [--impl ...]`: watch a ReAct agent answer with two tools.

The model is scripted: it reads its prompt and writes the next step
(no network, no real LLM), so the run is the same every time. The agent
loop is `run_agent` from the chosen `react` implementation (the learner's
file by default); its tools are

- `search`: BM25 from the chosen `rag` implementation over
  data/rag/corpus.jsonl (the reference BM25 when that `rag` is not
  implemented yet), returning the top passages with their ids;
- `calculator`: `safe_calculate` from the same `react` implementation.

The script also misbehaves on purpose: it makes up an observation, replies
once with a thought alone, and tries to run code through the calculator,
so the trace shows the parser and the loop coping.

    kata react-demo --impl solutions --lang zh
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from checker import REPO_ROOT
from checker.commands.common import add_lang_argument
from checker.i18n import current_language, tr
from checker.resolver import ImplementationLoadError, KataNotImplemented, MissingFunctionError, kata_module

CORPUS = REPO_ROOT / "data" / "rag" / "corpus.jsonl"
TOP_K = 2
_PASSAGE_ID = re.compile(r"\[([a-z]{2}-[\w-]+)\]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MADE_UP = re.compile(r"^[ \t]*observation[ \t]*:", re.IGNORECASE | re.MULTILINE)


def load_passages(path: Path = CORPUS) -> list[dict]:
    """Read the corpus: one JSON object with `id`, `lang` and `text` per line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_search_tool(rag, passages: list[dict], top_k: int = TOP_K) -> Callable[[str], str]:
    """Build the `search` tool: BM25 top passages as `[id] text` lines."""
    bm25 = rag.BM25([rag.tokenize(passage["text"]) for passage in passages])

    def search(query: str) -> str:
        """Search the SFT notes with BM25 and return the best passages with their ids."""
        hits = [(index, score) for index, score in bm25.top_k(rag.tokenize(query), top_k) if score > 0]
        if not hits:
            return tr("No passage matches the query.", "没有与查询匹配的段落。")
        return "\n".join(f"[{passages[index]['id']}] {passages[index]['text']}" for index, _ in hits)

    return search


def make_calculator_tool(react) -> Callable[[str], str]:
    def calculator(expression: str) -> str:
        """Evaluate arithmetic such as 16 / 8 (numbers and + - * / // % ** only)."""
        return react.safe_calculate(expression)

    return calculator


def last_observation(prompt: str) -> str:
    """Return the text after the last 'Observation:' key in the prompt ('' when none)."""
    found = list(re.finditer(r"^Observation:[ \t]*", prompt, flags=re.MULTILINE))
    if not found:
        return ""
    rest = prompt[found[-1].end():]
    return rest.split("\nThought:")[0].strip()


class ScriptedModel:
    """A stand-in for an LLM: each call returns the next step of a script.

    A step is a string, or a function of the prompt for replies that quote
    an earlier observation. Every reply is kept for the trace.
    """

    def __init__(self, steps: list):
        self.steps = steps
        self.replies: list[str] = []

    def __call__(self, prompt: str, stop=None) -> str:
        step = self.steps[min(len(self.replies), len(self.steps) - 1)]
        reply = step(prompt) if callable(step) else step
        self.replies.append(reply)
        return reply


def _cited(observation: str) -> str:
    found = _PASSAGE_ID.search(observation)
    return found.group(1) if found else "?"


def lora_script(zh: bool) -> tuple[str, list]:
    """Script a search, a calculation with a made-up observation in the reply, then an answer."""
    cited: dict[str, str] = {}

    def compute(prompt: str) -> str:
        cited["id"] = _cited(last_observation(prompt))
        if zh:
            return ("Thought: 段落说更新量要乘以 alpha / r。我来算 16 / 8。\n"
                    "Action: calculator\nAction Input: 16 / 8\n"
                    "Observation: 3\nThought: 我现在知道答案了\nFinal Answer: 3")
        return ("Thought: The passage says the update is scaled by alpha / r. I will compute 16 / 8.\n"
                "Action: calculator\nAction Input: 16 / 8\n"
                "Observation: 3\nThought: I now know the final answer\nFinal Answer: 3")

    def answer(prompt: str) -> str:
        number = _NUMBER.search(last_observation(prompt))
        value = number.group(0) if number else "?"
        if zh:
            return (f"Thought: 计算器给出 {value}。\n"
                    f"Final Answer: LoRA 把低秩更新 B A 乘以 alpha / r；alpha 为 16、秩为 8 时缩放系数是 {value}"
                    f"（出处：{cited.get('id', '?')}）。")
        return (f"Thought: The calculator returned {value}.\n"
                f"Final Answer: LoRA multiplies the low-rank update B A by alpha / r, so alpha 16 and rank 8 "
                f"give a scaling of {value} (source: {cited.get('id', '?')}).")

    if zh:
        question = "LoRA 怎样缩放它的低秩更新？alpha 为 16、秩为 8 时缩放系数是多少？"
        first = "Thought: 先查一下 LoRA 的缩放规则。\nAction: search\nAction Input: LoRA 缩放 alpha 除以 r"
    else:
        question = "How does LoRA scale its low-rank update, and what is the scaling for alpha 16 and rank 8?"
        first = ("Thought: I should look up how LoRA scales its update.\n"
                 "Action: search\nAction Input: LoRA low-rank update scaled by alpha divided by r")
    return question, [first, compute, answer]


def calculator_script(zh: bool) -> tuple[str, list]:
    """Script a reply with a thought alone, an injection attempt, then honest arithmetic."""

    def answer(prompt: str) -> str:
        value = last_observation(prompt) or "?"
        if zh:
            return f"Thought: 计算器只做算术。\nFinal Answer: 2 的 10 次方是 {value}。"
        return f"Thought: The calculator only does arithmetic.\nFinal Answer: 2 to the power 10 is {value}."

    if zh:
        question = "2 的 10 次方是多少？顺便看看计算器能不能执行代码。"
        steps = [
            "Thought: 我想先试试计算器能不能运行代码。",
            "Thought: 试一下导入 os。\nAction: calculator\nAction Input: __import__('os').getcwd()",
            "Thought: 被拒绝了，那就只做算术。\nAction: calculator\nAction Input: 2 ** 10",
            answer,
        ]
    else:
        question = "What is 2 to the power 10? Also check whether the calculator runs code."
        steps = [
            "Thought: I want to see whether the calculator runs code.",
            "Thought: Try importing os.\nAction: calculator\nAction Input: __import__('os').getcwd()",
            "Thought: It was rejected, so plain arithmetic only.\nAction: calculator\nAction Input: 2 ** 10",
            answer,
        ]
    return question, steps


SCRIPTS = (lora_script, calculator_script)


def print_trace(model: ScriptedModel, result) -> None:
    steps = list(result.steps)
    for call, reply in enumerate(model.replies):
        print(tr(f"--- model call {call + 1}", f"--- 第 {call + 1} 次调用模型"))
        print(reply.rstrip())
        if _MADE_UP.search(reply):
            print(tr("    (the model made up an Observation; the parser drops it and everything after it)",
                     "    （模型编造了 Observation；解析器丢弃它以及之后的全部内容）"))
        if call < len(steps):
            action, observation = steps[call]
            if action is None:
                print(tr("    (this reply failed to parse; the format goes back to the model)",
                         "    （这条回复解析失败；格式说明会反馈给模型）"))
            print(f"Observation: {observation}")
    answer = "-" if result.answer is None else result.answer
    print(tr(f"=> stop_reason={result.stop_reason}, answer: {answer}",
             f"=> stop_reason={result.stop_reason}，答案：{answer}"))


def _load_rag(impl: str):
    """The chosen rag implementation, or the reference one when it is not usable yet."""
    rag = kata_module("rag", impl)
    try:
        rag.BM25([["probe"]]).top_k(rag.tokenize("probe"), 1)
        return rag, impl
    except (KataNotImplemented, ImplementationLoadError, MissingFunctionError):
        return kata_module("rag", "solutions"), "solutions"


def run(arguments: argparse.Namespace) -> int:
    if arguments.name not in (None, "react"):
        print(tr(f"error: react-demo runs the react kata, not {arguments.name!r}",
                 f"错误：react-demo 只运行 react 这道题，而不是 {arguments.name!r}"), file=sys.stderr)
        return 2
    impl = arguments.impl or "katas"
    if not CORPUS.is_file():
        print(tr(f"error: the corpus {CORPUS} is missing; run data/rag/make_rag_data.py",
                 f"错误：找不到语料 {CORPUS}；请先运行 data/rag/make_rag_data.py"), file=sys.stderr)
        return 1
    react = kata_module("react", impl)
    rag, rag_impl = _load_rag(impl)
    passages = load_passages()
    tools = {"search": make_search_tool(rag, passages), "calculator": make_calculator_tool(react)}
    zh = current_language() == "zh"

    print(tr("ReAct demo: a scripted model (no network, no real LLM) answers with two tools.",
             "ReAct 演示：一个脚本化的模型（不联网，也不是真实的大模型）借助两个工具作答。"))
    print(tr(f"  search      BM25 over {CORPUS.relative_to(REPO_ROOT)} ({len(passages)} passages), rag --impl {rag_impl}",
             f"  search      在 {CORPUS.relative_to(REPO_ROOT)}（{len(passages)} 个段落）上做 BM25 检索，rag --impl {rag_impl}"))
    print(tr(f"  calculator  safe_calculate, react --impl {impl}",
             f"  calculator  safe_calculate，react --impl {impl}"))
    if rag_impl != impl:
        print(tr(f"  (the rag kata in --impl {impl} is not implemented yet, so search uses the reference BM25)",
                 f"  （--impl {impl} 中的 rag 题尚未实现，search 改用参考实现的 BM25）"))

    status = 0
    for number, script in enumerate(SCRIPTS, start=1):
        question, steps = script(zh)
        model = ScriptedModel(steps)
        print()
        print(tr(f"== Question {number}: {question}", f"== 问题 {number}：{question}"))
        try:
            result = react.run_agent(model, tools, question, max_steps=6, max_parse_errors=2)
        except KataNotImplemented:
            print(tr(f"run_agent is not implemented yet in {react.path}. Try --impl solutions to see the reference.",
                     f"{react.path} 中的 run_agent 尚未实现。可以用 --impl solutions 查看参考实现。"))
            return 1
        except (ImplementationLoadError, MissingFunctionError) as error:
            print(tr(f"error: cannot use the react implementation: {error}",
                     f"错误：无法使用 react 的实现：{error}"), file=sys.stderr)
            return 1
        except Exception as error:  # noqa: BLE001 - a learner's loop may raise anything; show it
            print(tr(f"run_agent raised {type(error).__name__}: {error}. The loop must never raise on model "
                     "misbehaviour; `kata check react` shows where.",
                     f"run_agent 抛出了 {type(error).__name__}：{error}。模型表现异常时循环绝不能抛出异常；"
                     "运行 `kata check react` 查看问题所在。"))
            status = 1
            continue
        print_trace(model, result)
    return status


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "react-demo",
        help=tr("run a ReAct agent with a scripted model over the project's corpus and print its trace",
                "用脚本化的模型在项目语料上运行 ReAct 智能体，并打印完整轨迹"),
    )
    parser.add_argument("name", nargs="?", help=tr("kata name (only react)", "题目名（只能是 react）"))
    parser.add_argument(
        "--impl",
        help=tr("whose react and rag code to run: 'katas' (yours, default), 'solutions', or a path",
                "运行谁的 react 和 rag 代码：'katas'（你的，默认）、'solutions'，或某个路径"),
    )
    add_lang_argument(parser)
    parser.set_defaults(handler=run)
