"""Graders for the `capstone` kata: the wiring between the earlier katas.

The four katas it wires come from the reference solutions here, so these
graders judge only the wiring. Models are tiny random Qwen3s built in
memory, so every grader runs in seconds. Oracles: the reference katas
called directly, a spy train loop that records its TrainConfig, greedy
replies computed here in eval mode, and `peft.PeftModel.from_pretrained`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from functools import cache

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.capstone.config import QWEN3_LINEAR_NAMES, RunConfig
from checker.capstone.data import load_chats
from checker.grading import describe_value, explain, fail, kata_module
from checker.graders.support import IGNORE_INDEX, REPO_ROOT, conversations, project_tokenizer

capstone = kata_module("capstone")
loss_mask = kata_module("loss_mask", "solutions")
collate = kata_module("collate", "solutions")
lora = kata_module("lora", "solutions")
train_loop = kata_module("train_loop", "solutions")

TASK_EVAL = REPO_ROOT / "data" / "capstone" / "task" / "eval.jsonl"


@cache
def task_rows() -> tuple:
    return tuple(load_chats(TASK_EVAL, limit=24))


def tiny_qwen3(seed: int = 0, attention_dropout: float = 0.0):
    """A 2-layer random Qwen3 over the project vocabulary; a fraction of a second to build."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = project_tokenizer()
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, attention_dropout=attention_dropout, attn_implementation="eager",
    )
    return Qwen3ForCausalLM(config)


def sample_examples(count: int) -> list[dict]:
    tokenizer = project_tokenizer()
    rows = load_chats(REPO_ROOT / "data" / "capstone" / "task" / "train.jsonl", limit=count)
    return [loss_mask.build_sft_example(row["messages"], tokenizer) for row in rows]


def tensors_equal(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    return all(torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key])) for key in a)


# ---------------------------------------------------------------- build_examples


@explain(
    en="build_examples gives, per chat and in order, exactly loss_mask.build_sft_example(messages, tokenizer, max_length=...).",
    zh="build_examples 对每条对话按顺序给出与 loss_mask.build_sft_example(messages, tokenizer, max_length=...) 完全相同的结果。",
)
@given(chats=st.lists(conversations(), min_size=1, max_size=4))
def test_build_examples_match_loss_mask(chats):
    tokenizer = project_tokenizer()
    rows = [{"messages": messages} for messages in chats]

    got = capstone.build_examples(rows, tokenizer, loss_mask, None)

    expected = [loss_mask.build_sft_example(messages, tokenizer) for messages in chats]
    if len(got) != len(expected):
        fail(en=f"Expected one example per chat ({len(expected)}), got {len(got)}.",
             zh=f"每条对话应对应一个样本（共 {len(expected)} 个），实际得到 {len(got)} 个。")
    for index, (g, e) in enumerate(zip(got, expected)):
        if list(g["input_ids"]) != list(e["input_ids"]):
            fail(en=f"Example {index}: input_ids differ from build_sft_example's.",
                 zh=f"第 {index} 个样本的 input_ids 与 build_sft_example 的结果不同。")
        if list(g["labels"]) != list(e["labels"]):
            supervised = sum(label != IGNORE_INDEX for label in g["labels"])
            fail(en=f"Example {index}: labels differ from build_sft_example's. Only assistant replies are "
                 "supervised; the prompt's labels must be -100.",
                 zh=f"第 {index} 个样本的 labels 与 build_sft_example 的结果不同。只有 assistant 回复参与监督，"
                 "提示部分的 label 必须是 -100。",
                 detail=f"supervised tokens: got {supervised}, expected "
                 f"{sum(label != IGNORE_INDEX for label in e['labels'])}")


@explain(
    en="build_examples passes max_length through: no example is longer than max_length.",
    zh="build_examples 要把 max_length 传下去：任何样本都不能超过 max_length。",
)
@given(data=st.data())
def test_build_examples_truncate_to_max_length(data):
    tokenizer = project_tokenizer()
    rows = list(task_rows()[:6])
    # A limit that cuts every chat inside its reply, so each keeps a supervised token.
    prompt_lengths = [len(tokenizer(loss_mask.render_chatml(row["messages"][:-1], add_generation_prompt=True),
                                    add_special_tokens=False)["input_ids"]) for row in rows]
    max_length = data.draw(st.integers(min_value=max(prompt_lengths) + 1, max_value=max(prompt_lengths) + 3))

    got = capstone.build_examples(rows, tokenizer, loss_mask, max_length)

    expected = [loss_mask.build_sft_example(row["messages"], tokenizer, max_length=max_length) for row in rows]
    lengths = [len(example["input_ids"]) for example in got]
    if any(length > max_length for length in lengths) or [list(g["labels"]) for g in got] != [
        list(e["labels"]) for e in expected
    ]:
        fail(en=f"With max_length={max_length} the examples should be cut to at most {max_length} tokens, "
             "labels alike.",
             zh=f"max_length={max_length} 时，样本（连同 labels）最多只能保留 {max_length} 个 token。",
             detail=f"lengths: {lengths}")


# ---------------------------------------------------------------- make_batches


@explain(
    en="make_batches collates consecutive groups of batch_size examples, in order, keeping the last smaller group.",
    zh="make_batches 按顺序把每 batch_size 个样本整理成一个 batch，最后不满的一组也要保留。",
)
@given(count=st.integers(min_value=1, max_value=11), batch_size=st.integers(min_value=1, max_value=5),
       pad_token_id=st.sampled_from([0, 2, 7]))
def test_make_batches_collate_in_order(count, batch_size, pad_token_id):
    examples = sample_examples(count)

    got = capstone.make_batches(examples, collate, batch_size=batch_size, pad_token_id=pad_token_id)

    expected = [collate.collate(examples[i : i + batch_size], pad_token_id=pad_token_id)
                for i in range(0, count, batch_size)]
    if len(got) != len(expected):
        fail(en=f"{count} examples in micro-batches of {batch_size} make {len(expected)} micro-batches, got {len(got)}. "
             "Keep the last, smaller one: dropping it loses data every epoch.",
             zh=f"{count} 个样本按每批 {batch_size} 个应得到 {len(expected)} 个 micro-batch，实际得到 {len(got)} 个。"
             "最后不满的一批也要保留，丢掉它会让每个 epoch 都少训练一部分数据。")
    for index, (g, e) in enumerate(zip(got, expected)):
        if not tensors_equal(dict(g), e):
            fail(en=f"Micro-batch {index} differs from collate(examples[{index * batch_size}:"
                 f"{index * batch_size + batch_size}], pad_token_id={pad_token_id}). Keep the order and pass the "
                 "pad id you are given.",
                 zh=f"第 {index} 个 micro-batch 与 collate(examples[{index * batch_size}:"
                 f"{index * batch_size + batch_size}], pad_token_id={pad_token_id}) 不同。要保持顺序，并使用传入的 pad id。",
                 detail=f"keys: {sorted(g)}; input_ids[0]: {describe_value(g['input_ids'][0].tolist())}")


@explain(
    en="With packing=True, make_batches packs each group with collate.pack_sequences (one row, no padding).",
    zh="packing=True 时，make_batches 用 collate.pack_sequences 把每组样本拼成一行（不做 padding）。",
)
@given(count=st.integers(min_value=1, max_value=9), batch_size=st.integers(min_value=1, max_value=4))
def test_make_batches_pack_when_asked(count, batch_size):
    examples = sample_examples(count)

    got = capstone.make_batches(examples, collate, batch_size=batch_size, pad_token_id=0, packing=True)

    expected = [collate.pack_sequences(examples[i : i + batch_size]) for i in range(0, count, batch_size)]
    if len(got) != len(expected) or not all(tensors_equal(dict(g), e) for g, e in zip(got, expected)):
        shapes = [tuple(b["input_ids"].shape) for b in got]
        fail(en="With packing=True each micro-batch should be pack_sequences(group): input_ids of shape [1, N].",
             zh="packing=True 时每个 micro-batch 应为 pack_sequences(group) 的结果：input_ids 形状为 [1, N]。",
             detail=f"input_ids shapes: {shapes}")


# ---------------------------------------------------------------- wrap_model


def _linear_paths(model, names) -> list[str]:
    return [path for path, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and path.rpartition(".")[2] in names]


@explain(
    en="wrap_model adapts every nn.Linear named in target_modules with rank r and scaling alpha / r, and freezes every other weight.",
    zh="wrap_model 给 target_modules 中每个 nn.Linear 加上秩为 r、缩放为 alpha / r 的 LoRA，并冻结其余所有权重。",
)
@settings(max_examples=15)
@given(targets=st.lists(st.sampled_from(QWEN3_LINEAR_NAMES), min_size=1, max_size=4, unique=True),
       r=st.integers(min_value=1, max_value=6), alpha=st.sampled_from([1.0, 8.0, 16.0, 32.0]))
def test_wrap_model_adapts_targets_and_freezes(targets, r, alpha):
    model = tiny_qwen3()
    expected_paths = _linear_paths(model, targets)
    ids = torch.tensor([[5, 9, 11, 40, 2]])
    with torch.no_grad():
        reference = model(input_ids=ids).logits

    paths = capstone.wrap_model(model, lora, r=r, alpha=alpha, dropout=0.0, target_modules=list(targets))

    if sorted(paths or []) != sorted(expected_paths):
        fail(en=f"wrap_model should return every adapted module path for target_modules={targets}.",
             zh=f"wrap_model 应返回 target_modules={targets} 对应的全部模块路径。",
             detail=f"got {describe_value(paths)}\nexpected {describe_value(expected_paths)}")
    layers = [model.get_submodule(path) for path in expected_paths]
    wrong_rank = [(p, tuple(layer.lora_A.shape)) for p, layer in zip(expected_paths, layers)
                  if not hasattr(layer, "lora_A") or layer.lora_A.shape[0] != r]
    if wrong_rank:
        fail(en=f"Every adapter should have rank r={r} (lora_A is [r, in_features]). Check the order of r and alpha.",
             zh=f"每个 adapter 的秩都应为 r={r}（lora_A 形状为 [r, in_features]）。检查 r 和 alpha 是否传反了。",
             detail=f"first wrong: {wrong_rank[0]}")
    scalings = {float(layer.scaling) for layer in layers}
    if any(not math.isclose(s, alpha / r, rel_tol=1e-6) for s in scalings):
        fail(en=f"The adapters should scale by alpha / r = {alpha / r:g}.",
             zh=f"adapter 的缩放系数应为 alpha / r = {alpha / r:g}。", detail=f"got scalings {sorted(scalings)}")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    not_adapter = [name for name in trainable if "lora_" not in name]
    if not_adapter:
        fail(en="Only the LoRA matrices may be trainable; the base weights must stay frozen.",
             zh="只有 LoRA 矩阵可以训练，基座权重必须保持冻结。",
             detail=f"trainable base weights: {describe_value(not_adapter)}")
    with torch.no_grad():
        wrapped = model(input_ids=ids).logits
    if not torch.allclose(wrapped, reference, atol=1e-5):
        fail(en="Right after wrapping the model's output must be unchanged (lora_B starts at zero).",
             zh="刚加上 LoRA 时模型输出必须保持不变（lora_B 初始化为零）。")


# ---------------------------------------------------------------- train_model


class SpyTrainLoop:
    """Stands in for the train_loop kata: records what `train` receives."""

    def __init__(self):
        self.TrainConfig = train_loop.TrainConfig
        self.calls: list[dict] = []

    def cosine_lr(self, *args, **kwargs):
        return train_loop.cosine_lr(*args, **kwargs)

    def train(self, model, train_batches, config, eval_batches=None):
        self.calls.append({"model": model, "batches": train_batches, "config": config, "eval_batches": eval_batches})
        return [{"step": step, "loss": 1.0, "lr": 0.0, "grad_norm": 0.0} for step in range(config.total_steps)]


run_configs = st.builds(
    RunConfig,
    steps=st.integers(min_value=10, max_value=400),
    warmup_steps=st.integers(min_value=1, max_value=9),
    grad_accum=st.integers(min_value=2, max_value=8),
    lr=st.sampled_from([1e-4, 5e-4, 2e-3]),
    max_grad_norm=st.sampled_from([0.5, 1.0, 3.0]),
    weight_decay=st.sampled_from([0.0, 0.01, 0.1]),
    eval_every=st.integers(min_value=1, max_value=50),
    seed=st.integers(min_value=0, max_value=99),
)


@explain(
    en="train_model builds TrainConfig from the run config (peak_lr, warmup, total optimizer steps, accumulation, clipping, decay, seed) and calls train once.",
    zh="train_model 根据运行配置构造 TrainConfig（峰值学习率、warmup、优化器总步数、梯度累积、裁剪、权重衰减、种子），并调用一次 train。",
)
@given(config=run_configs, with_eval=st.booleans())
def test_train_model_passes_the_run_config(config, with_eval):
    spy = SpyTrainLoop()
    model = torch.nn.Linear(2, 2)
    batches = [{"input_ids": torch.zeros(1, 2, dtype=torch.long)} for _ in range(3)]
    eval_batches = batches[:1] if with_eval else None

    records = capstone.train_model(model, batches, spy, config, eval_batches)

    if len(spy.calls) != 1:
        fail(en=f"train_model should call train_loop.train exactly once, it called it {len(spy.calls)} times.",
             zh=f"train_model 应只调用一次 train_loop.train，实际调用了 {len(spy.calls)} 次。")
    call = spy.calls[0]
    if call["model"] is not model or call["batches"] is not batches:
        fail(en="Pass the model and the micro-batches you were given to train, unchanged.",
             zh="把收到的模型和 micro-batch 列表原样传给 train。")
    got = call["config"]
    expected = {
        "peak_lr": config.lr, "warmup_steps": config.warmup_steps, "total_steps": config.steps,
        "grad_accum_steps": config.grad_accum, "max_grad_norm": config.max_grad_norm,
        "weight_decay": config.weight_decay, "seed": config.seed,
        "eval_every": config.eval_every if with_eval else 0,
    }
    for field_name, want in expected.items():
        have = getattr(got, field_name, None)
        if have != want:
            why_en = {
                "warmup_steps": " Without warmup the first updates hit fresh adapters at full rate.",
                "total_steps": " Steps count optimizer steps, not micro-batches.",
                "grad_accum_steps": " Without it every micro-batch becomes its own step.",
                "max_grad_norm": " Clipping keeps one bad batch from wrecking the adapters.",
            }.get(field_name, "")
            why_zh = {
                "warmup_steps": " 没有 warmup，最初几步会以全速更新刚初始化的 adapter。",
                "total_steps": " 步数指优化器更新次数，而不是 micro-batch 数。",
                "grad_accum_steps": " 漏掉它，每个 micro-batch 都会单独成为一步。",
                "max_grad_norm": " 梯度裁剪可以防止个别坏 batch 破坏 adapter。",
            }.get(field_name, "")
            fail(en=f"TrainConfig.{field_name} should be {want!r}, got {have!r}." + why_en,
                 zh=f"TrainConfig.{field_name} 应为 {want!r}，实际为 {have!r}。" + why_zh)
    if call["eval_batches"] is not eval_batches:
        fail(en="Pass eval_batches on to train so the held-out loss is tracked.",
             zh="把 eval_batches 传给 train，这样才能跟踪留出集损失。")
    if records is None or len(records) != config.steps:
        fail(en="train_model should return the records that train returned.",
             zh="train_model 应返回 train 给出的 records。")


@explain(
    en="train_model really trains: on a tiny Qwen3 with LoRA, a few steps lower the loss of the same batch.",
    zh="train_model 确实在训练：在加了 LoRA 的小 Qwen3 上，几步之后同一批数据的损失会下降。",
)
def test_train_model_lowers_the_loss():
    model = tiny_qwen3(seed=1)
    lora.apply_lora(model, ["q_proj", "v_proj", "down_proj"], r=4, alpha=8)
    batch = collate.collate(sample_examples(8), pad_token_id=0)
    config = RunConfig(steps=12, warmup_steps=2, lr=1e-2, grad_accum=1, eval_every=0)

    records = capstone.train_model(model, [batch], train_loop, config)

    losses = [record["loss"] for record in records or []]
    if len(losses) != config.steps or not losses[-1] < losses[0] - 0.05:
        fail(en="Training for 12 steps on one repeated batch should lower its loss clearly.",
             zh="在同一个 batch 上重复训练 12 步，损失应明显下降。", detail=f"losses: {describe_value(losses)}")


# ---------------------------------------------------------------- evaluate


def reference_replies(model, rows, max_new_tokens: int) -> list[str]:
    from checker.capstone.generation import generate_replies

    tokenizer = project_tokenizer()
    model.eval()
    prompts = [loss_mask.render_chatml(row["messages"][:-1], add_generation_prompt=True) for row in rows]
    return generate_replies(model, tokenizer, prompts, max_new_tokens=max_new_tokens)


def prompt_recorder(model) -> tuple[list[bool], list[list[int]]]:
    """Record the mode of every forward and the prompt of every prefill forward (padding removed)."""
    modes: list[bool] = []
    prompts: list[list[int]] = []

    def record(module, args, kwargs):
        modes.append(module.training)
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None or ids.shape[1] <= 1:
            return  # a decoding step, not a prompt
        mask = kwargs.get("attention_mask")
        for row in range(ids.shape[0]):
            keep = ids[row] if mask is None else ids[row][mask[row].bool()]
            prompts.append(keep.tolist())

    model.register_forward_pre_hook(record, with_kwargs=True)
    return modes, prompts


@explain(
    en="evaluate generates greedily in eval mode from the ChatML prompt with the generation prompt, and scores exact match against the last message.",
    zh="evaluate 在 eval 模式下，从带生成提示的 ChatML 提示做贪心生成，并与最后一条消息比对 exact match。",
)
@settings(max_examples=4)
@given(seed=st.integers(min_value=0, max_value=3), keep=st.lists(st.booleans(), min_size=6, max_size=6))
def test_evaluate_scores_greedy_replies(seed, keep):
    tokenizer = project_tokenizer()
    model = tiny_qwen3(seed=seed, attention_dropout=0.9)
    model.train()  # as after training: evaluate must switch to eval mode itself
    modes, seen_prompts = prompt_recorder(model)
    rows = [json.loads(json.dumps(row)) for row in task_rows()[:6]]
    max_new_tokens = 6

    # The references depend on the oracle's replies, so the first call only
    # checks the mode and the prompts; the second one checks the score.
    capstone.evaluate(model, tokenizer, rows, loss_mask, max_new_tokens=max_new_tokens)

    if any(modes):
        fail(en="The model was in train mode while generating. Call model.eval() first: dropout makes replies random.",
             zh="生成时模型处于训练模式。请先调用 model.eval()：dropout 会让回复变得随机。")
    expected_prompts = [
        tokenizer(loss_mask.render_chatml(row["messages"][:-1], add_generation_prompt=True),
                  add_special_tokens=False)["input_ids"]
        for row in rows
    ]
    if sorted(seen_prompts) != sorted(expected_prompts):
        unexpected = [p for p in seen_prompts if p not in expected_prompts]
        shown = tokenizer.decode(unexpected[0]) if unexpected else "(some held-out prompt never reached the model)"
        fail(en="The model was not prompted with render_chatml(messages[:-1], add_generation_prompt=True). "
             "The prompt must end with '<|im_start|>assistant\\n' and must not contain the reference answer.",
             zh="模型收到的提示不是 render_chatml(messages[:-1], add_generation_prompt=True)。"
             "提示必须以 '<|im_start|>assistant\\n' 结尾，且不能包含参考答案。",
             detail=f"a prompt the model saw: {describe_value(shown)}")
    oracle = reference_replies(tiny_qwen3(seed=seed, attention_dropout=0.9), rows, max_new_tokens)
    for row, reply, kept in zip(rows, oracle, keep):
        row["messages"][-1]["content"] = reply if kept else reply + " extra"
    model.train()

    result = capstone.evaluate(model, tokenizer, rows, loss_mask, max_new_tokens=max_new_tokens)

    predictions = list(result.get("predictions", [])) if isinstance(result, dict) else []
    if predictions != oracle:
        first = next((i for i, (p, o) in enumerate(zip(predictions, oracle)) if p != o), len(predictions))
        fail(en="The predictions differ from greedy replies to the held-out prompts, in row order.",
             zh="预测结果与对留出提示按行顺序做贪心生成的结果不同。",
             detail=f"first difference at row {first}")
    want = sum(keep) / len(keep)
    if not math.isclose(float(result["exact_match"]), want, abs_tol=1e-9):
        fail(en=f"exact_match should be the share of replies equal to their reference: {want:.3f}.",
             zh=f"exact_match 应为与参考答案相同的回复所占比例：{want:.3f}。",
             detail=f"got {result['exact_match']!r}")


# ---------------------------------------------------------------- export_adapter


@explain(
    en="export_adapter writes a PEFT adapter that peft.PeftModel.from_pretrained loads to the same logits.",
    zh="export_adapter 写出的 adapter 可以被 peft.PeftModel.from_pretrained 加载，并得到相同的 logits。",
)
@settings(max_examples=8)
@given(r=st.integers(min_value=1, max_value=4), alpha=st.sampled_from([2.0, 8.0]),
       targets=st.lists(st.sampled_from(QWEN3_LINEAR_NAMES), min_size=1, max_size=3, unique=True))
def test_export_adapter_loads_in_peft(tmp_path_factory, r, alpha, targets):
    from peft import PeftModel

    folder = tmp_path_factory.mktemp("capstone")
    base = tiny_qwen3(seed=2)
    base.save_pretrained(folder / "base")
    model = tiny_qwen3(seed=2)
    lora.apply_lora(model, list(targets), r=r, alpha=alpha)
    torch.manual_seed(3)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.2)  # a trained-looking adapter
    config = dataclasses.replace(RunConfig(), lora_r=r, lora_alpha=alpha, target_modules=list(targets),
                                 model=str(folder / "base"))

    capstone.export_adapter(model, folder / "adapter", lora, config)

    saved = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    if saved.get("r") != r or float(saved.get("lora_alpha", -1)) != alpha:
        fail(en=f"adapter_config.json should say r={r}, lora_alpha={alpha:g}.",
             zh=f"adapter_config.json 中应为 r={r}、lora_alpha={alpha:g}。",
             detail=f"got r={saved.get('r')!r}, lora_alpha={saved.get('lora_alpha')!r}")
    loaded = PeftModel.from_pretrained(tiny_qwen3(seed=2), str(folder / "adapter")).eval()
    model.eval()
    ids = torch.tensor([[5, 9, 11, 40, 2, 17]])
    with torch.no_grad():
        ours, theirs = model(input_ids=ids).logits, loaded(input_ids=ids).logits
    if not torch.allclose(ours, theirs, atol=1e-4):
        fail(en="PEFT loads your adapter to different logits. Save through lora.save_adapter with the run's r, "
             "alpha and target_modules, so keys read base_model.model.<path>.lora_A.weight.",
             zh="PEFT 加载你的 adapter 后 logits 不同。请通过 lora.save_adapter 并传入本次运行的 r、alpha 和 "
             "target_modules 来保存，这样键名才是 base_model.model.<path>.lora_A.weight。",
             detail=f"max |difference| = {(ours - theirs).abs().max().item():.3g}")
