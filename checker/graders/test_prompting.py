"""Graders for the `prompting` kata.

Oracles: the literal few-shot and ChatML layouts, token budgets measured
with `len` and with the project tokenizer (the `tokenizers` library), a
table of chain-of-thought replies in English and Chinese, and a plain-loop
majority vote. No grader imports torch or transformers.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from checker.grading import describe_value, explain, fail, kata_module
from checker.graders.prompting_support import (
    CHINESE_REPLIES,
    ENGLISH_REPLIES,
    LAST_MARKER_REPLIES,
    NUMBER_EDGE_REPLIES,
    UNANSWERED_REPLIES,
    count_project_tokens,
    expected_few_shot_chatml,
    normalized_number,
    render_chatml,
    render_prompt,
)
from checker.graders.support import content_text

prompting = kata_module("prompting")

examples_lists = st.lists(st.tuples(content_text, content_text), min_size=0, max_size=6)
COUNTERS = {"len": len, "project tokenizer": count_project_tokens}


# ---------------------------------------------------------------- build_few_shot_prompt


@explain(
    en="Without a budget the prompt is the instruction, the Input/Output blocks in order, then the open query.",
    zh="不设预算时，prompt 依次为指令、按原顺序排列的 Input/Output 示例块，最后是留空待续写的查询块。",
)
@given(instruction=content_text, examples=examples_lists, query=content_text)
def test_prompt_layout(instruction, examples, query):
    got = prompting.build_few_shot_prompt(instruction, examples, query)
    expected = render_prompt(instruction, examples, query)
    if got != expected:
        fail(
            en="The prompt does not follow the layout: blocks joined by a blank line, "
            "'Input: ...\\nOutput: ...' per example, and the query ending in an open 'Output:' (no trailing space).",
            zh="prompt 不符合约定格式：各块之间空一行，每个示例为 'Input: ...\\nOutput: ...'，"
            "查询块以留空的 'Output:' 结尾（后面没有空格）。",
            detail=f"got      {describe_value(got)}\nexpected {describe_value(expected)}",
        )


def check_budget(instruction, examples, query, count_tokens, max_tokens, counter_name):
    """Every budget property on one call whose instruction and query fit."""
    got = prompting.build_few_shot_prompt(
        instruction, examples, query, count_tokens=count_tokens, max_tokens=max_tokens
    )
    renders = [render_prompt(instruction, examples[:kept], query) for kept in range(len(examples) + 1)]
    query_block = f"Input: {query}\nOutput:"
    setting = f"count_tokens={counter_name}, max_tokens={max_tokens}, {len(examples)} examples"
    if not isinstance(got, str) or not got.endswith(query_block):
        fail(
            en="With a budget the query block must stay at the end of the prompt. Drop examples to fit, never the query.",
            zh="设置预算后，查询块必须保留在 prompt 末尾。为了放得下应当舍弃示例，而不是舍弃查询。",
            detail=f"{setting}\ngot {describe_value(got)}",
        )
    if got not in renders:
        fail(
            en="With a budget the prompt must be the full layout with the first k examples, each kept whole. "
            "An example was cut, reordered, or taken from the end instead of the start.",
            zh="设置预算后，prompt 必须是保留前 k 个示例的完整格式，每个示例都完整保留。"
            "现在有示例被截断、打乱顺序，或者保留的是末尾而不是开头的示例。",
            detail=f"{setting}\ngot {describe_value(got)}",
        )
    kept = renders.index(got)
    used = count_tokens(got)
    if used > max_tokens:
        fail(
            en=f"The prompt takes {used} tokens, over max_tokens={max_tokens}. "
            "Measure the whole rendered prompt, separators included, not the pieces.",
            zh=f"prompt 占用 {used} 个 token，超过了 max_tokens={max_tokens}。"
            "要对渲染后的整个 prompt 计数（包括分隔符），而不是分别统计各部分。",
            detail=setting,
        )
    if kept < len(examples) and count_tokens(renders[kept + 1]) <= max_tokens:
        fail(
            en=f"Only {kept} examples were kept, but the prompt with {kept + 1} still fits the budget. "
            "Keep adding examples until the next one would not fit.",
            zh=f"只保留了 {kept} 个示例，但保留 {kept + 1} 个时仍在预算之内。"
            "应当逐个加入示例，直到下一个放不下为止。",
            detail=setting,
        )


@st.composite
def budgeted_prompts(draw, counter_name):
    count_tokens = COUNTERS[counter_name]
    instruction = draw(content_text)
    examples = draw(examples_lists)
    query = draw(content_text)
    smallest = count_tokens(render_prompt(instruction, [], query))
    largest = count_tokens(render_prompt(instruction, examples, query))
    max_tokens = draw(st.integers(min_value=max(smallest, 1), max_value=largest + 3))
    return instruction, examples, query, max_tokens


@explain(
    en="With max_tokens measured by len, the prompt fits, keeps whole leading examples, and keeps the query.",
    zh="用 len 计数并设置 max_tokens 时，prompt 不超预算、保留完整的前几个示例，并且保留查询。",
)
@given(case=budgeted_prompts("len"))
def test_budget_with_len(case):
    instruction, examples, query, max_tokens = case
    check_budget(instruction, examples, query, len, max_tokens, "len")


@explain(
    en="The same budget rules hold when count_tokens is the project's BPE tokenizer.",
    zh="count_tokens 换成项目的 BPE 分词器后，同样的预算规则依然成立。",
)
@given(case=budgeted_prompts("project tokenizer"))
def test_budget_with_project_tokenizer(case):
    instruction, examples, query, max_tokens = case
    check_budget(instruction, examples, query, count_project_tokens, max_tokens, "project tokenizer")


@explain(
    en="A tight budget drops whole examples from the end and keeps the query.",
    zh="预算很紧时，从后往前整条舍弃示例，查询始终保留。",
)
def test_tight_budget_drops_examples():
    examples = [("2+2", "4"), ("3+5", "8"), ("10+7", "17")]
    full = render_prompt("Add.", examples, "6+1")
    max_tokens = len(render_prompt("Add.", examples[:1], "6+1")) + 5

    got = prompting.build_few_shot_prompt("Add.", examples, "6+1", max_tokens=max_tokens)

    expected = render_prompt("Add.", examples[:1], "6+1")
    if got != expected:
        fail(
            en=f"The full prompt has {len(full)} characters; with max_tokens={max_tokens} (count_tokens=len) "
            "only the first example fits beside the instruction and the query.",
            zh=f"完整 prompt 有 {len(full)} 个字符；max_tokens={max_tokens}（count_tokens=len）时，"
            "除指令和查询外只放得下第一个示例。",
            detail=f"got      {describe_value(got)}\nexpected {describe_value(expected)}",
        )


@explain(
    en="When even the instruction and the query exceed max_tokens, raise ValueError instead of returning a prompt.",
    zh="连指令加查询都超过 max_tokens 时，应抛出 ValueError，而不是返回一个 prompt。",
)
@given(instruction=content_text, examples=examples_lists, query=content_text, short=st.integers(1, 20),
       counter_name=st.sampled_from(sorted(COUNTERS)))
def test_budget_too_small_raises(instruction, examples, query, short, counter_name):
    count_tokens = COUNTERS[counter_name]
    max_tokens = count_tokens(render_prompt(instruction, [], query)) - short
    assume(max_tokens > 0)
    try:
        got = prompting.build_few_shot_prompt(
            instruction, examples, query, count_tokens=count_tokens, max_tokens=max_tokens
        )
    except ValueError:
        return
    fail(
        en=f"The instruction and the query alone take more than max_tokens={max_tokens}, "
        "yet a prompt came back. Raise ValueError saying how many tokens they need.",
        zh=f"仅指令和查询就超过了 max_tokens={max_tokens}，却仍返回了 prompt。"
        "应抛出 ValueError，并说明它们需要多少个 token。",
        detail=f"count_tokens={counter_name}, got {describe_value(got)}",
    )


BAD_PROMPT_CALLS = {
    "examples not a list": (("Add.", "1+1=2", "2+3"), {}, TypeError),
    "example not a pair": (("Add.", [("1+1",)], "2+3"), {}, TypeError),
    "example output not a string": (("Add.", [("1+1", 2)], "2+3"), {}, TypeError),
    "query not a string": (("Add.", [("1+1", "2")], None), {}, TypeError),
    "max_tokens zero": (("Add.", [("1+1", "2")], "2+3"), {"max_tokens": 0}, ValueError),
    "max_tokens negative": (("Add.", [("1+1", "2")], "2+3"), {"max_tokens": -5}, ValueError),
}


@explain(
    en="Bad arguments raise TypeError or ValueError instead of rendering a broken prompt.",
    zh="参数不合法时应抛出 TypeError 或 ValueError，而不是渲染出一个错误的 prompt。",
)
@pytest.mark.parametrize("case", list(BAD_PROMPT_CALLS), ids=list(BAD_PROMPT_CALLS))
def test_prompt_bad_arguments(case):
    arguments, keywords, expected = BAD_PROMPT_CALLS[case]
    try:
        got = prompting.build_few_shot_prompt(*arguments, **keywords)
    except expected:
        return
    except (TypeError, ValueError) as error:
        fail(
            en=f"For '{case}' raise {expected.__name__}, not {type(error).__name__}.",
            zh=f"'{case}' 应抛出 {expected.__name__}，而不是 {type(error).__name__}。",
            detail=f"message was: {error}",
        )
    fail(
        en=f"build_few_shot_prompt accepted bad input ({case}) instead of raising {expected.__name__}.",
        zh=f"build_few_shot_prompt 接受了不合法的输入（{case}），应抛出 {expected.__name__}。",
        detail=f"got {describe_value(got)}",
    )


# ---------------------------------------------------------------- few_shot_messages


@explain(
    en="few_shot_messages renders through ChatML as system, user/assistant example turns, the query, then the open assistant turn.",
    zh="few_shot_messages 经 ChatML 渲染后依次为 system、user/assistant 交替的示例轮次、查询，最后是待续写的 assistant 轮次。",
)
@given(system=st.one_of(st.none(), content_text), examples=examples_lists, query=content_text)
def test_messages_render_as_chatml(system, examples, query):
    messages = prompting.few_shot_messages(system, examples, query)
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and set(m) == {"role", "content"} for m in messages
    ):
        fail(
            en="few_shot_messages must return a list of dicts with exactly the keys 'role' and 'content'.",
            zh="few_shot_messages 应返回 dict 列表，每个 dict 恰好包含 'role' 和 'content' 两个键。",
            detail=f"got {describe_value(messages)}",
        )
    got = render_chatml(messages, add_generation_prompt=True)
    expected = expected_few_shot_chatml(system, examples, query)
    if got != expected:
        fail(
            en="Rendered as ChatML, the messages do not read system (if any), then a user turn and an assistant "
            "turn per example, then the query as a user turn.",
            zh="按 ChatML 渲染后，消息顺序不是：system（如果有），每个示例一轮 user 加一轮 assistant，"
            "最后查询作为 user 轮次。",
            detail=f"system={system!r}\ngot      {describe_value(got, 600)}\nexpected {describe_value(expected, 600)}",
        )


@explain(
    en="A system prompt of None or \"\" adds no system message.",
    zh="system 为 None 或 \"\" 时不添加 system 消息。",
)
@pytest.mark.parametrize("system", [None, ""], ids=["None", "empty"])
def test_messages_without_system(system):
    messages = prompting.few_shot_messages(system, [("1+1", "2")], "2+3")
    expected = [
        {"role": "user", "content": "1+1"},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": "2+3"},
    ]
    if messages != expected:
        fail(
            en=f"With system={system!r} the chat starts with the first example's user turn.",
            zh=f"system={system!r} 时，对话应从第一个示例的 user 轮次开始。",
            detail=f"got {describe_value(messages)}",
        )


@explain(
    en="few_shot_messages rejects examples that are not (input, output) string pairs with TypeError.",
    zh="示例不是 (input, output) 字符串对时，few_shot_messages 应抛出 TypeError。",
)
@pytest.mark.parametrize("examples", [[("1+1",)], [("1+1", 2)], "1+1=2"], ids=["single", "int output", "string"])
def test_messages_bad_examples(examples):
    with pytest.raises(TypeError):
        prompting.few_shot_messages("Add.", examples, "2+3")


# ---------------------------------------------------------------- extract_final_answer


def check_table(table, en_topic, zh_topic):
    for reply, expected in table:
        got = prompting.extract_final_answer(reply)
        if got != expected:
            fail(
                en=f"Wrong final answer for a reply with {en_topic}.",
                zh=f"对含有{zh_topic}的回复，提取出的最终答案不对。",
                detail=f"reply    {describe_value(reply)}\ngot      {got!r}\nexpected {expected!r}",
            )


@explain(
    en="English chain-of-thought replies: '####', 'The answer is', 'Answer:' in any case; numbers normalized.",
    zh="英文 chain-of-thought 回复：识别 '####'、'The answer is'、'Answer:'（不区分大小写），并规范化数字。",
)
def test_answers_english():
    check_table(ENGLISH_REPLIES, "English answer markers", "英文答案标记")


@explain(
    en="Chinese replies: '答案是', '答案：' with a full-width colon, and '答案:'; units such as 元 dropped.",
    zh="中文回复：识别 '答案是'、全角冒号的 '答案：' 以及 '答案:'，并去掉“元”等单位。",
)
def test_answers_chinese():
    check_table(CHINESE_REPLIES, "Chinese answer markers", "中文答案标记")


@explain(
    en="Numbers in bold, with leading zeros, or written -0 are normalized like any other number.",
    zh="加粗的数字、开头带多余 0 的数字以及 -0，都要像其他数字一样规范化。",
)
def test_number_edge_cases():
    check_table(
        NUMBER_EDGE_REPLIES,
        "a number in bold, with leading zeros, or equal to -0",
        "加粗数字、开头带多余 0 的数字或 -0",
    )


@explain(
    en="The last answer marker wins: replies often state a guess, then correct it.",
    zh="以最后一个答案标记为准：回复里常常先给出猜测，之后再更正。",
)
def test_last_marker_wins():
    check_table(LAST_MARKER_REPLIES, "several answer markers (the last one counts)", "多个答案标记（以最后一个为准）")


@explain(
    en="A reply without a marker, or with nothing after the last one, has no final answer: None.",
    zh="没有答案标记，或最后一个标记之后没有内容的回复，没有最终答案，应返回 None。",
)
def test_unanswered_is_none():
    for reply in UNANSWERED_REPLIES:
        got = prompting.extract_final_answer(reply)
        if got is not None:
            fail(
                en="This reply has no final answer, so the result must be None (not a guess, not \"\").",
                zh="这条回复没有最终答案，结果必须是 None（不能猜一个，也不能返回 \"\"）。",
                detail=f"reply {describe_value(reply)}\ngot   {got!r}",
            )


MARKERS = ["#### {}", "The answer is {}", "the answer is: {}", "Answer: {}", "Final answer: {}",
           "答案是 {}", "答案是：{}", "答案：{}", "答案: {}"]
UNITS = ["", ".", "。", " apples", " apples.", " 元", " km/h.", "%"]
REASONING = ["", "Let's think step by step.\n", "We add the parts: 3 + 4 = 7.\n", "先算总数，再减去用掉的部分。\n"]


@st.composite
def numeric_replies(draw):
    sign = draw(st.sampled_from(["", "-", "+", "\u2212"]))
    integer = draw(st.integers(0, 10**7))
    decimals = draw(st.sampled_from(["", "0", "5", "50", "25", "125", "000"]))
    separators = draw(st.booleans())
    currency = draw(st.sampled_from(["", "", "$", "¥"]))
    if separators:
        shown = f"{integer:,}"
    else:
        shown = draw(st.sampled_from(["", "", "0", "00"])) + str(integer)  # leading zeros
    if decimals:
        shown += f".{decimals}"
    bold = draw(st.sampled_from(["", "**"]))
    marker = draw(st.sampled_from(MARKERS))
    decoy = ""
    if draw(st.booleans()):
        # An earlier marker with another number: only the last marker counts.
        decoy = draw(st.sampled_from(MARKERS)).format(integer + 1) + ". Let me check that again.\n"
    answer = bold + sign + currency + shown + bold
    reply = draw(st.sampled_from(REASONING)) + decoy + marker.format(answer) + draw(st.sampled_from(UNITS))
    return reply, normalized_number(sign, integer, decimals)


@explain(
    en="Random numeric answers: separators, leading zeros, signs, decimals, currency, bold and units, "
    "behind any marker, after a decoy.",
    zh="随机数字答案：含千位分隔符、开头多余的 0、正负号、小数、货币符号、加粗和单位，"
    "放在任意标记之后，前面还可能有干扰答案。",
)
@given(case=numeric_replies())
def test_numeric_answers(case):
    reply, expected = case
    got = prompting.extract_final_answer(reply)
    if got != expected:
        fail(
            en="The number after the last marker is not normalized as the README states "
            "(bold stripped, no separators, no leading zeros, no '+', no trailing decimal zeros, "
            "'-0' written '0', units dropped).",
            zh="最后一个标记之后的数字没有按 README 的规则规范化"
            "（去掉加粗符号、千位分隔符、开头多余的 0、'+' 号和小数末尾的 0，'-0' 写作 '0'，丢弃单位）。",
            detail=f"reply    {describe_value(reply)}\ngot      {got!r}\nexpected {expected!r}",
        )


# Words of text answers. Some contain a '.' that is not a sentence end
# because no space follows it.
ANSWER_WORDS = ["Paris", "Node.js", "config.yaml", "runs", "on", "the", "server", "version", "3.11",
                "is", "best", "北京", "第二"]
SENTENCE_ENDS = ["", ".", "!", "?", "。", "！", ". It is the only option left.", "? I think so."]
TEXT_MARKERS = ["The answer is {}", "the answer is: {}", "Answer: {}", "Final answer: {}", "答案是 {}", "答案：{}"]


@st.composite
def text_replies(draw):
    first = draw(st.sampled_from([word for word in ANSWER_WORDS if not word[0].isdigit()]))
    answer = " ".join([first] + draw(st.lists(st.sampled_from(ANSWER_WORDS), max_size=5)))
    bold = draw(st.sampled_from(["", "**"]))
    reply = (draw(st.sampled_from(REASONING)) + draw(st.sampled_from(TEXT_MARKERS)).format(bold + answer + bold)
             + draw(st.sampled_from(SENTENCE_ENDS)))
    return reply, answer


@explain(
    en="Random text answers: cut at the first sentence end, where a '.' counts only before a space or the line end.",
    zh="随机文本答案：在第一个句末标点处截断，其中 '.' 只有后面是空格或行尾时才算句末。",
)
@given(case=text_replies())
def test_text_answers(case):
    reply, expected = case
    got = prompting.extract_final_answer(reply)
    if got != expected:
        fail(
            en="A text answer ends at the first '。！？!?', or at a '.' followed by a space or the end of the line. "
            "A '.' inside a word such as 'Node.js' or '3.11' is not a sentence end.",
            zh="文本答案在第一个 '。！？!?' 处结束，或者在后面跟空格、位于行尾的 '.' 处结束。"
            "'Node.js'、'3.11' 这类词内部的 '.' 不是句末。",
            detail=f"reply    {describe_value(reply)}\ngot      {got!r}\nexpected {expected!r}",
        )


@explain(
    en="extract_final_answer raises TypeError for a reply that is not a string.",
    zh="回复不是字符串时，extract_final_answer 应抛出 TypeError。",
)
def test_extract_rejects_non_string():
    with pytest.raises(TypeError):
        prompting.extract_final_answer(42)


# ---------------------------------------------------------------- self_consistency

ANSWER_TEMPLATES = ["Adding it up gives {}. The answer is {}.", "计算得 {}。答案：{}", "So we get {}.\n#### {}"]
NO_ANSWER_TEMPLATES = ["I could not work this out.", "这道题条件不够，无法计算。", "Let me think about {} again."]


def vote_spec(answers: list[str | None]) -> tuple[str | None, float]:
    """Plain-loop majority vote; None casts no vote; ties go to the first seen."""
    counts: dict[str, int] = {}
    for answer in answers:
        if answer is not None:
            counts[answer] = counts.get(answer, 0) + 1
    best, best_count = None, 0
    for answer, count in counts.items():
        if count > best_count:
            best, best_count = answer, count
    return best, best_count / len(answers)


@st.composite
def sampled_replies(draw):
    pool = draw(st.lists(st.integers(0, 3000), min_size=1, max_size=4, unique=True))
    replies, answers = [], []
    for _ in range(draw(st.integers(1, 9))):
        if draw(st.integers(0, 3)) == 0:
            replies.append(draw(st.sampled_from(NO_ANSWER_TEMPLATES)).format(draw(st.sampled_from(pool))))
            answers.append(None)
            continue
        value = draw(st.sampled_from(pool))
        shown = f"{value:,}" if draw(st.booleans()) else str(value)
        replies.append(draw(st.sampled_from(ANSWER_TEMPLATES)).format(shown, shown))
        answers.append(str(value))
    return replies, answers


@explain(
    en="self_consistency returns the majority answer and its share of all replies (plain-loop vote).",
    zh="self_consistency 返回得票最多的答案及其在全部回复中的占比（与逐条计票的规范一致）。",
)
@given(case=sampled_replies())
def test_vote_matches_spec(case):
    replies, answers = case
    got = prompting.self_consistency(replies)
    expected = vote_spec(answers)
    if not isinstance(got, tuple) or len(got) != 2:
        fail(en="self_consistency must return a pair (answer, share).",
             zh="self_consistency 应返回 (answer, share) 二元组。", detail=f"got {describe_value(got)}")
    if got[0] != expected[0] or abs(float(got[1]) - expected[1]) > 1e-9:
        fail(
            en="The vote is wrong. Replies without an answer cast no vote but count in the share; "
            "'1,234' and '1234' are the same answer; a tie goes to the answer seen first.",
            zh="投票结果不对。没有答案的回复不投票，但计入占比的分母；'1,234' 与 '1234' 是同一个答案；"
            "平票时取最先出现的答案。",
            detail=f"replies  {describe_value(replies, 600)}\ngot      {got!r}\nexpected {expected!r}",
        )


@explain(
    en="A tie goes to the answer that appears first among the replies.",
    zh="平票时，取在回复中最先出现的答案。",
)
@pytest.mark.parametrize(
    "replies, expected",
    [
        (["The answer is 3.", "The answer is 9.", "#### 9", "#### 3"], ("3", 0.5)),
        (["Answer: 100", "答案：20", "no idea"], ("100", 1 / 3)),
    ],
    ids=["two each", "one each"],
)
def test_vote_tie_goes_to_first(replies, expected):
    got = prompting.self_consistency(replies)
    if got[0] != expected[0] or abs(float(got[1]) - expected[1]) > 1e-9:
        fail(
            en="Tied answers must resolve to the one seen first, not the larger or the later one.",
            zh="平票时应取最先出现的答案，而不是数值更大或出现更晚的那个。",
            detail=f"replies  {replies!r}\ngot      {got!r}\nexpected {expected!r}",
        )


@explain(
    en="Unparseable replies are not a vote: they never win, and all-unparseable gives (None, 0.0).",
    zh="无法解析的回复不算一票：它们永远不会胜出，全部无法解析时返回 (None, 0.0)。",
)
def test_vote_ignores_unparseable():
    got = prompting.self_consistency(["I am not sure.", "Hmm, hard to say.", "The answer is 3."])
    if got != ("3", 1 / 3):
        fail(
            en="Two replies without an answer and one saying 3: the winner is '3' with share 1/3.",
            zh="两条没有答案的回复加一条答案为 3 的回复：胜出的是 '3'，占比 1/3。",
            detail=f"got {got!r}",
        )
    got = prompting.self_consistency(["no idea", "不知道"])
    if got != (None, 0.0):
        fail(
            en="When no reply has an answer the result is (None, 0.0).",
            zh="没有任何回复给出答案时，结果应为 (None, 0.0)。",
            detail=f"got {got!r}",
        )


@explain(
    en="An empty list of replies raises ValueError; a reply that is not a string raises TypeError.",
    zh="回复列表为空时应抛出 ValueError；某条回复不是字符串时应抛出 TypeError。",
)
def test_vote_bad_input():
    with pytest.raises(ValueError):
        prompting.self_consistency([])
    with pytest.raises(TypeError):
        prompting.self_consistency(["The answer is 3.", None])
