"""Graders for the `train_loop` kata.

Oracles: transformers' `get_cosine_schedule_with_warmup` (and its min-lr
variant), `torch.nn.utils.clip_grad_norm_`, `torch.optim.AdamW`, one
full-batch backward on a tiny transformers `Qwen3ForCausalLM`, a reference
loop built from those, and float64 specs.

Most `train` graders use `ProbeLM`, a causal LM whose gradients are fixed by
the input ids. The expected gradient of every window is then known exactly,
and an optimizer step pre-hook shows what the optimizer saw at each step:
its learning rate and the (clipped) gradient.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from contextlib import contextmanager
from functools import cache
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from torch.optim.optimizer import register_optimizer_step_pre_hook

from checker.grading import describe_value, explain, fail, kata_module
from checker.graders.support import IGNORE_INDEX

train_loop = kata_module("train_loop")

# The models here are tiny; one thread avoids oversubscribing a shared CPU.
torch.set_num_threads(1)

QWEN_SIZES = dict(
    vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=2, num_key_value_heads=1, head_dim=16,
)
PROBE_BIG_LOGIT = 30.0  # the logit of the wrong class; see ProbeLM
# Whole training runs are too slow to shrink, and their findings name the
# step and the values already.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


# ---------------------------------------------------------------- models


@cache
def qwen_classes():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return Qwen3Config, Qwen3ForCausalLM


def tiny_qwen(seed: int, dropout: float = 0.0, use_cache: bool = False):
    """A 2-layer Qwen3 with a 64-token vocabulary, identical for equal seeds."""
    config_class, model_class = qwen_classes()
    config = config_class(**QWEN_SIZES, attention_dropout=dropout, use_cache=use_cache)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = model_class(config)
    return model


class SimulatedCrash(Exception):
    """Raised by a model's forward to interrupt a run, as a power cut would."""


class ProbeLM(torch.nn.Module):
    """A causal LM whose gradient per supervised token is fixed by its input id.

    Position t outputs logits `[s_t, 30]` with `s_t = directions[input_ids[t]] . weight`.
    A supervised target 0 then costs `logsumexp(s_t, 30) - s_t`, which is
    `30 - s_t` to float32 precision for small `s_t`, so the gradient with
    respect to `weight` is exactly `-directions[input_ids[t]]`, whatever the
    weight. `noise=True` adds a random shift in train mode (drawn from torch's
    RNG) that changes the loss but not the gradient. Every forward call is
    logged with the weight and the gradient it found.
    """

    def __init__(self, directions: torch.Tensor, start: torch.Tensor, noise: bool = False):
        super().__init__()
        self.weight = torch.nn.Parameter(start.clone().reshape(-1, 1))  # [P, 1]: 2-D, so it is decayed
        self.register_buffer("directions", directions.clone())  # [V, P]
        self.noise = noise
        self.calls: list[SimpleNamespace] = []
        self.crash_at: int | None = None

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
        if self.crash_at is not None and len(self.calls) >= self.crash_at:
            raise SimulatedCrash(f"simulated crash at forward call {len(self.calls)}")
        grad = self.weight.grad
        self.calls.append(SimpleNamespace(
            input_ids=input_ids.detach().clone(),
            weight=self.weight.detach().reshape(-1).clone(),
            grad=None if grad is None else grad.detach().reshape(-1).clone(),
            training=self.training,
            grad_enabled=torch.is_grad_enabled(),
            attention_mask=attention_mask,
            position_ids=None if position_ids is None else position_ids.detach().clone(),
        ))
        scores = self.directions[input_ids] @ self.weight[:, 0]  # [B, T]
        if self.noise and self.training:
            scores = scores + 0.01 * torch.rand(input_ids.shape)
        logits = torch.stack([scores, torch.full_like(scores, PROBE_BIG_LOGIT)], dim=-1)  # [B, T, 2]
        return SimpleNamespace(logits=logits)


class FixedLossLM(torch.nn.Module):
    """Every supervised token after input id k costs exactly `token_losses[k]` at scale 1.

    Logits are `[0, scale * log(exp(c) - 1)]` for target 0, so the loss is
    `log(1 + (exp(c) - 1) ** scale)`: exactly c at the initial scale 1.
    """

    def __init__(self, token_losses: list[float]):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.register_buffer("offsets", torch.tensor([math.log(math.expm1(c)) for c in token_losses]))

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
        other = self.offsets[input_ids] * self.scale  # [B, T]
        return SimpleNamespace(logits=torch.stack([torch.zeros_like(other), other], dim=-1))


# ---------------------------------------------------------------- probe data and specs


def probe_batch(generator: torch.Generator, vocab: int, rows: int, length: int, supervised: float,
                position_ids: bool) -> dict:
    input_ids = torch.randint(0, vocab, (rows, length), generator=generator)
    labels = torch.where(torch.rand(rows, length, generator=generator) < supervised, 0, IGNORE_INDEX)
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels}
    if position_ids:
        batch["position_ids"] = torch.arange(length).expand(rows, length).clone()
    return batch


@st.composite
def probe_setups(draw, min_batches: int = 1, max_batches: int = 6):
    """Directions, a start weight and micro-batches for a ProbeLM."""
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    dims = draw(st.integers(1, 3))
    vocab = 4
    # One sign per dimension: token gradients never cancel to a near-zero
    # component, where float32 rounding would decide the sign of Adam's step.
    signs = torch.where(torch.rand(dims, generator=generator) < 0.5, -1.0, 1.0)
    directions = torch.randint(1, 4, (vocab, dims), generator=generator).float() * signs
    start = torch.randint(-4, 5, (dims,), generator=generator).float() / 8
    batches = [
        probe_batch(generator, vocab, draw(st.integers(1, 2)), draw(st.integers(2, 6)),
                    draw(st.sampled_from([0.2, 0.6, 1.0])), draw(st.booleans()))
        for _ in range(draw(st.integers(min_batches, max_batches)))
    ]
    return directions, start, batches


def probe_contribution(directions: torch.Tensor, batch: dict) -> tuple[torch.Tensor, int, torch.Tensor]:
    """(summed gradient [P], supervised count, summed direction [P]) of one micro-batch, float64."""
    targets = batch["labels"][:, 1:] != IGNORE_INDEX  # position t predicts labels[t + 1]
    inputs = batch["input_ids"][:, :-1][targets]
    summed_direction = directions.double()[inputs].sum(0)
    return -summed_direction, int(targets.sum()), summed_direction


def probe_window_loss(directions, batches, weight: torch.Tensor) -> float:
    """Token-mean loss `30 - s` of a window at `weight` (no noise), float64."""
    total, count = 0.0, 0
    for batch in batches:
        _, n, summed_direction = probe_contribution(directions, batch)
        total += n * PROBE_BIG_LOGIT - float(summed_direction @ weight.double())
        count += n
    return total / max(count, 1)


def spec_cosine(step, peak, warmup, total):
    if step < warmup:
        return peak * step / warmup
    if step >= total:
        return 0.0
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def window_bounds(num_batches, accum):
    return [(start, min(start + accum, num_batches)) for start in range(0, num_batches, accum)]


def spec_probe_run(directions, start, batches, config):
    """The float64 run `train` must reproduce on a ProbeLM (no noise).

    Returns per-step views (lr, window gradient before and after clipping,
    partial sums seen at each micro-batch, weight at the window start) and
    the final weight.
    """
    weight = start.double().clone()
    exp_avg = torch.zeros_like(weight)
    exp_avg_sq = torch.zeros_like(weight)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    windows = window_bounds(len(batches), config.grad_accum_steps)
    steps = []
    for step in range(config.total_steps):
        lr = spec_cosine(step, config.peak_lr, config.warmup_steps, config.total_steps)
        begin, end = windows[step % len(windows)]
        window = batches[begin:end]
        parts = [probe_contribution(directions, b) for b in window]
        count = max(sum(n for _, n, _ in parts), 1)
        partial, partials = torch.zeros_like(weight), []
        for grad, _, _ in parts:
            partials.append(partial.clone())
            partial = partial + grad / count
        norm = float(partial.norm())
        clipped = partial
        if config.max_grad_norm is not None:
            clipped = partial * min(1.0, config.max_grad_norm / (norm + 1e-6))
        loss = probe_window_loss(directions, window, weight)
        steps.append(SimpleNamespace(lr=lr, grad=partial, clipped=clipped, norm=norm, partials=partials,
                                     weight=weight.clone(), loss=loss, window=(begin, end)))
        weight = weight * (1 - lr * config.weight_decay)
        exp_avg = beta1 * exp_avg + (1 - beta1) * clipped
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * clipped * clipped
        t = step + 1
        weight = weight - lr * (exp_avg / (1 - beta1**t)) / ((exp_avg_sq / (1 - beta2**t)).sqrt() + eps)
    return steps, weight


@contextmanager
def watch_optimizer_steps(parameter: torch.Tensor):
    """Log the lr and the gradient of `parameter` at every optimizer.step() call."""
    seen = []

    def hook(optimizer, args, kwargs):
        view = SimpleNamespace(optimizer=optimizer, lr=None, grad=None, groups=optimizer.param_groups)
        for group in optimizer.param_groups:
            if any(p is parameter for p in group["params"]):
                view.lr = group["lr"]
                view.grad = None if parameter.grad is None else parameter.grad.detach().reshape(-1).clone()
        seen.append(view)

    handle = register_optimizer_step_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@st.composite
def probe_runs(draw, max_batches: int = 6):
    directions, start, batches = draw(probe_setups(max_batches=max_batches))
    total = draw(st.integers(1, 7))
    values = dict(
        peak_lr=draw(st.sampled_from([0.05, 0.1, 0.3])),
        warmup_steps=draw(st.integers(0, total)),
        total_steps=total,
        grad_accum_steps=draw(st.integers(1, 3)),
        max_grad_norm=draw(st.sampled_from([None, 0.3, 1.0, 5.0])),
        weight_decay=draw(st.sampled_from([0.0, 0.1])),
    )
    return directions, start, batches, values


def run_probe(directions, start, batches, values, noise=False, eval_batches=None):
    """Train a fresh ProbeLM; return (model, records, optimizer views)."""
    model = ProbeLM(directions, start, noise=noise)
    config = train_loop.TrainConfig(**values)
    with watch_optimizer_steps(model.weight) as seen:
        records = train_loop.train(model, batches, config, eval_batches)
    return model, records, seen


def close(a, b, tol=1e-5) -> bool:
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


def vectors_close(got, expected, tol=1e-5) -> bool:
    if got is None:
        return bool(torch.all(expected == 0))
    return bool(torch.allclose(got.double(), expected.double(), rtol=tol, atol=tol))


def fmt(vector) -> str:
    if vector is None:
        return "None"
    return "[" + ", ".join(f"{float(x):.4f}" for x in vector.reshape(-1)) + "]"


# ---------------------------------------------------------------- cosine_lr


def hf_schedule(peak, warmup, total, min_lr=None):
    """Learning rates of steps 0..total from transformers' cosine schedules."""
    from transformers import get_cosine_schedule_with_warmup
    from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
    if min_lr is None:
        scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, total)
    else:
        scheduler = get_cosine_with_min_lr_schedule_with_warmup(optimizer, warmup, total, min_lr=min_lr)
    # The LambdaLR factor of step s times the base rate is the rate of step s.
    factor = scheduler.lr_lambdas[0]
    return [peak * factor(step) for step in range(total + 1)]


def schedule_hint(got, peak, warmup, total) -> tuple[str, str]:
    """Name a common schedule slip that explains `got`, if one does."""
    if warmup > 0 and all(close(got[s], peak * min(s + 1, warmup) / warmup) for s in range(min(warmup, len(got)))):
        return (" The warmup looks shifted by one: step 0 must give 0, step s gives peak_lr * s / warmup_steps.",
                "warmup 看起来错位了一步：第 0 步应为 0，第 s 步为 peak_lr * s / warmup_steps。")
    return "", ""


@explain(
    en="cosine_lr equals transformers' get_cosine_schedule_with_warmup for every step from 0 to total_steps.",
    zh="从第 0 步到 total_steps，cosine_lr 都与 transformers 的 get_cosine_schedule_with_warmup 一致。",
)
@settings(max_examples=15)
@given(total=st.integers(1, 60), warmup_share=st.floats(0, 0.99), peak=st.floats(1e-6, 10.0))
def test_cosine_matches_transformers(total, warmup_share, peak):
    warmup = int(total * warmup_share)
    got = [train_loop.cosine_lr(s, peak_lr=peak, warmup_steps=warmup, total_steps=total) for s in range(total + 1)]
    expected = hf_schedule(peak, warmup, total)
    for step, (g, e) in enumerate(zip(got, expected)):
        if not isinstance(g, float) or not math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12 * peak):
            hint_en, hint_zh = schedule_hint(got, peak, warmup, total)
            fail(
                en=f"Step {step} of {total} (warmup {warmup}, peak {peak:g}) gives {g!r}, transformers gives {e!r}."
                + hint_en,
                zh=f"第 {step} 步（共 {total} 步，warmup {warmup}，峰值 {peak:g}）得到 {g!r}，transformers 给出 {e!r}。"
                + hint_zh,
            )


@explain(
    en="Warmup 2, total 10, peak 1 gives 0, .5, 1, .9619, .8536, .6913, .5, .3087, .1464, .0381, 0.",
    zh="warmup 2、总步数 10、峰值 1 时，依次为 0, .5, 1, .9619, .8536, .6913, .5, .3087, .1464, .0381, 0。",
)
def test_cosine_worked_example():
    got = [train_loop.cosine_lr(s, peak_lr=1.0, warmup_steps=2, total_steps=10) for s in range(11)]
    expected = [0.0, 0.5, 1.0, 0.9619, 0.8536, 0.6913, 0.5, 0.3087, 0.1464, 0.0381, 0.0]
    if [round(float(x), 4) for x in got] != expected:
        hint_en, hint_zh = schedule_hint(got, 1.0, 2, 10)
        fail(
            en="The schedule of the README example is wrong." + hint_en,
            zh="README 示例中的学习率调度不对。" + hint_zh,
            detail=f"got      {[round(float(x), 4) for x in got]}\nexpected {expected}",
        )


@explain(
    en="With min_lr the cosine ends at min_lr (transformers' min-lr schedule) and stays there after total_steps.",
    zh="设置 min_lr 时余弦衰减到 min_lr 为止（与 transformers 的 min-lr 调度一致），total_steps 之后保持 min_lr。",
)
@settings(max_examples=20)
@given(total=st.integers(1, 40), warmup_share=st.floats(0, 0.99), peak=st.floats(1e-4, 5.0),
       floor_share=st.floats(0, 1), extra=st.integers(1, 20))
def test_cosine_min_lr_and_hold(total, warmup_share, peak, floor_share, extra):
    warmup = int(total * warmup_share)
    min_lr = peak * floor_share
    schedule = dict(peak_lr=peak, warmup_steps=warmup, total_steps=total, min_lr=min_lr)
    got = [train_loop.cosine_lr(s, **schedule) for s in range(total + 1)]
    expected = hf_schedule(peak, warmup, total, min_lr=min_lr)
    # transformers' min-lr variant also scales the warmup from 0; both agree on every step.
    for step, (g, e) in enumerate(zip(got, expected)):
        if not math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12 * peak):
            fail(
                en=f"With min_lr={min_lr:g}, step {step} gives {g!r}; expected {e!r} "
                "(min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress)) after warmup).",
                zh=f"min_lr={min_lr:g} 时第 {step} 步得到 {g!r}，应为 {e!r}"
                "（warmup 之后为 min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress))）。",
            )
    after = train_loop.cosine_lr(total + extra, **schedule)
    if not math.isclose(after, min_lr, rel_tol=1e-12, abs_tol=1e-15):
        fail(
            en=f"After total_steps the rate must stay at min_lr={min_lr:g}; step {total + extra} gives {after!r}. "
            "A cosine that keeps going rises again.",
            zh=f"超过 total_steps 后学习率应保持 min_lr={min_lr:g}；第 {total + extra} 步得到 {after!r}。"
            "余弦若继续计算会重新上升。",
        )


@explain(
    en="Without warmup step 0 runs at peak_lr; with warmup_steps == total_steps the ramp ends at min_lr.",
    zh="没有 warmup 时第 0 步就是 peak_lr；warmup_steps 等于 total_steps 时，线性升温之后直接是 min_lr。",
)
def test_cosine_edges():
    no_warmup = train_loop.cosine_lr(0, peak_lr=2.0, warmup_steps=0, total_steps=5)
    if no_warmup != 2.0:
        fail(en=f"warmup_steps=0: step 0 must give peak_lr 2.0, got {no_warmup!r}.",
             zh=f"warmup_steps=0 时第 0 步应为 peak_lr 2.0，得到 {no_warmup!r}。")
    ramp = [train_loop.cosine_lr(s, peak_lr=1.0, warmup_steps=4, total_steps=4) for s in range(6)]
    if [round(x, 6) for x in ramp] != [0.0, 0.25, 0.5, 0.75, 0.0, 0.0]:
        fail(en="warmup_steps == total_steps == 4, peak 1: expected 0, .25, .5, .75, then 0 from step 4.",
             zh="warmup_steps == total_steps == 4、峰值 1 时，应为 0, .25, .5, .75，从第 4 步起为 0。",
             detail=f"got {ramp}")


BAD_SCHEDULES = {
    "negative step": (dict(step=-1, peak_lr=1.0, warmup_steps=2, total_steps=10), "-1"),
    "negative warmup": (dict(step=0, peak_lr=1.0, warmup_steps=-2, total_steps=10), "-2"),
    "negative total": (dict(step=0, peak_lr=1.0, warmup_steps=0, total_steps=-5), "-5"),
    "negative peak": (dict(step=0, peak_lr=-0.1, warmup_steps=0, total_steps=5), "-0.1"),
    "warmup longer than total": (dict(step=0, peak_lr=1.0, warmup_steps=11, total_steps=10), "11"),
    "min_lr above peak": (dict(step=0, peak_lr=1.0, warmup_steps=0, total_steps=5, min_lr=2.0), "2"),
}


@explain(
    en="cosine_lr raises ValueError naming the bad value (negative numbers, warmup longer than the run).",
    zh="cosine_lr 遇到非法参数（负数、warmup 比总步数还长）时抛出 ValueError，并写明出错的值。",
)
@pytest.mark.parametrize("case", list(BAD_SCHEDULES), ids=list(BAD_SCHEDULES))
def test_cosine_bad_input(case):
    arguments, named = BAD_SCHEDULES[case]
    step = arguments.pop("step")
    try:
        value = train_loop.cosine_lr(step, **arguments)
    except ValueError as error:
        if named not in str(error):
            fail(en=f"The ValueError for '{case}' should show the value received ({named}).",
                 zh=f"'{case}' 的 ValueError 应写出收到的值（{named}）。", detail=f"message was: {error}")
        return
    fail(en=f"cosine_lr accepted {case} and returned {value!r}; raise ValueError instead.",
         zh=f"cosine_lr 接受了非法输入（{case}）并返回 {value!r}，应抛出 ValueError。",
         detail=f"step={step}, {arguments}")


# ---------------------------------------------------------------- accumulate_gradients


def pad_rows(rows: list[tuple[torch.Tensor, torch.Tensor]], with_positions: bool) -> dict:
    """Right-pad (ids, labels) rows into one [B, L] batch."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX)
    attention_mask = torch.zeros(len(rows), width, dtype=torch.long)
    positions = torch.zeros(len(rows), width, dtype=torch.long)
    for row, (ids, row_labels) in enumerate(rows):
        input_ids[row, : len(ids)] = ids
        labels[row, : len(ids)] = row_labels
        attention_mask[row, : len(ids)] = 1
        positions[row, : len(ids)] = torch.arange(len(ids))
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    if with_positions:
        batch["position_ids"] = positions
    return batch


@st.composite
def qwen_windows(draw):
    """Sequences split into 2-4 micro-batches with uneven supervised-token counts."""
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    sizes = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    rows = []
    for _ in range(sum(sizes)):
        length = draw(st.integers(3, 12))
        ids = torch.randint(1, QWEN_SIZES["vocab_size"], (length,), generator=generator)
        keep = torch.rand(length, generator=generator) < draw(st.sampled_from([0.2, 0.5, 1.0]))
        rows.append((ids, torch.where(keep, ids, IGNORE_INDEX)))
    micro_batches, start = [], 0
    for size in sizes:
        micro_batches.append(pad_rows(rows[start:start + size], draw(st.booleans())))
        start += size
    counts = [int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro_batches]
    assume(sum(counts) > 0 and len(set(counts)) > 1)
    return seed, rows, micro_batches


def summed_loss(model, batch):
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask") if k in batch}
    logits = model(**inputs).logits
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                           batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")


def gradients(model) -> dict[str, torch.Tensor]:
    return {name: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
            for name, p in model.named_parameters()}


def max_difference(a: dict, b: dict) -> tuple[str, float]:
    name = max(a, key=lambda n: float((a[n] - b[n]).abs().max()))
    return name, float((a[name] - b[name]).abs().max())


def grads_close(a: dict, b: dict) -> bool:
    return all(torch.allclose(a[n], b[n], rtol=1e-4, atol=1e-6) for n in a)


def qwen_variant_grads(seed, micro_batches, variant):
    """Gradients of the common normalization slips, for a diagnosis."""
    model = tiny_qwen(seed)
    counts = [int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro_batches]
    for batch, count in zip(micro_batches, counts):
        mean = summed_loss(model, batch) / max(count, 1)
        (mean / len(micro_batches) if variant == "mean_of_means" else mean).backward()
    return gradients(model)


@explain(
    en="accumulate_gradients on a Qwen3 model gives the gradients of one full-batch backward of the token-mean loss.",
    zh="在 Qwen3 模型上，accumulate_gradients 得到的梯度与整批一次反向传播 token 平均损失的梯度相同。",
)
@settings(max_examples=4, phases=NO_SHRINK)
@given(window=qwen_windows())
def test_accumulation_matches_full_batch(window):
    seed, rows, micro_batches = window
    model = tiny_qwen(seed)
    got_loss = train_loop.accumulate_gradients(model, micro_batches)
    got = gradients(model)

    reference = tiny_qwen(seed)
    full = pad_rows(rows, with_positions=False)
    count = int((full["labels"][:, 1:] != IGNORE_INDEX).sum())
    full_loss = summed_loss(reference, full) / count
    full_loss.backward()
    expected = gradients(reference)

    if not isinstance(got_loss, float):
        fail(en=f"accumulate_gradients must return the window loss as a Python float, got {type(got_loss).__name__}.",
             zh=f"accumulate_gradients 应以 Python float 返回窗口损失，实际类型为 {type(got_loss).__name__}。")
    if not grads_close(got, expected):
        name, gap = max_difference(got, expected)
        hint_en = hint_zh = ""
        if grads_close(got, qwen_variant_grads(seed, micro_batches, "mean_of_means")):
            hint_en = " They match averaging the per-micro-batch means: weigh every token equally instead."
            hint_zh = "结果与“各 micro-batch 平均损失再取平均”一致：应让每个 token 权重相同。"
        elif grads_close(got, qwen_variant_grads(seed, micro_batches, "sum_of_means")):
            hint_en = " They match summing the per-micro-batch means without dividing by anything."
            hint_zh = "结果与“直接把各 micro-batch 的平均损失相加、不做任何除法”一致。"
        fail(
            en="The accumulated gradients differ from one backward of (sum of token losses) / (supervised tokens "
            "in ALL micro-batches)." + hint_en,
            zh="累积得到的梯度与对（所有 token 损失之和）/（全部 micro-batch 的有监督 token 数）做一次反向传播的结果不同。"
            + hint_zh,
            detail=f"largest gap {gap:.3g} in {name}; supervised tokens per micro-batch: "
            f"{[int((b['labels'][:, 1:] != IGNORE_INDEX).sum()) for b in micro_batches]}",
        )
    if not close(got_loss, full_loss.item(), 1e-4):
        fail(en=f"The returned window loss {got_loss:.6f} is not the token mean over the whole window "
             f"({full_loss.item():.6f}).",
             zh=f"返回的窗口损失 {got_loss:.6f} 不是整个窗口上的 token 平均（{full_loss.item():.6f}）。",
             detail=f"supervised tokens per micro-batch: "
             f"{[int((b['labels'][:, 1:] != IGNORE_INDEX).sum()) for b in micro_batches]}")


@explain(
    en="10 tokens at loss 1.0 and 100 tokens at loss 2.0 in two micro-batches give a window loss of 210/110 ≈ 1.909.",
    zh="两个 micro-batch 中 10 个 token 损失为 1.0、100 个 token 损失为 2.0，窗口损失是 210/110 ≈ 1.909。",
)
def test_accumulation_real_world_weights():
    model = FixedLossLM([1.0, 2.0])
    first = {"input_ids": torch.zeros(1, 11, dtype=torch.long), "labels": torch.tensor([[IGNORE_INDEX] + [0] * 10])}
    second = {"input_ids": torch.ones(1, 101, dtype=torch.long), "labels": torch.tensor([[IGNORE_INDEX] + [0] * 100])}
    for batch in (first, second):
        batch["attention_mask"] = torch.ones_like(batch["input_ids"])

    loss = train_loop.accumulate_gradients(model, [first, second])

    reference = FixedLossLM([1.0, 2.0]).double()
    total = sum(summed_loss_double(reference, b) for b in (first, second)) / 110
    total.backward()
    if not close(loss, 210 / 110, 1e-5):
        hint_en, hint_zh = "", ""
        if close(loss, 1.5, 1e-4):
            hint_en = " 1.5 is the mean of the two micro-batch means: the 10-token micro-batch got the weight of 100 tokens."
            hint_zh = "1.5 是两个 micro-batch 平均损失的平均：只有 10 个 token 的 micro-batch 被当成了 100 个 token 的分量。"
        fail(en=f"The window loss is {loss!r}; expected 210 / 110 = 1.909." + hint_en,
             zh=f"窗口损失为 {loss!r}，应为 210 / 110 = 1.909。" + hint_zh)
    got_grad = float(model.scale.grad)
    if not close(got_grad, float(reference.scale.grad), 1e-5):
        fail(en=f"The gradient is {got_grad:.6f}, expected {float(reference.scale.grad):.6f}, the gradient of 1.909.",
             zh=f"梯度为 {got_grad:.6f}，应为 {float(reference.scale.grad):.6f}（即损失 1.909 的梯度）。")


def summed_loss_double(model, batch):
    logits = model(input_ids=batch["input_ids"]).logits.double()
    return F.cross_entropy(logits[:, :-1].reshape(-1, 2), batch["labels"][:, 1:].reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")


def probe_window_spec(directions, batches):
    parts = [probe_contribution(directions, b) for b in batches]
    count = max(sum(n for _, n, _ in parts), 1)
    return sum(g for g, _, _ in parts) / count, parts, count


@explain(
    en="Every supervised token weighs the same: the gradient is the token mean over the window (random windows).",
    zh="每个有监督 token 的权重相同：梯度是整个窗口上的 token 平均（随机窗口）。",
)
@settings(max_examples=15)
@given(setup=probe_setups(min_batches=1, max_batches=5))
def test_accumulation_token_mean(setup):
    directions, start, batches = setup
    model = ProbeLM(directions, start)
    loss = train_loop.accumulate_gradients(model, batches)
    expected, parts, count = probe_window_spec(directions, batches)
    got = model.weight.grad
    if not vectors_close(None if got is None else got.reshape(-1), expected):
        counts = [n for _, n, _ in parts]
        means = [g / max(n, 1) for g, n, _ in parts]
        hint_en = hint_zh = ""
        if got is not None and len(batches) > 1:
            got_vector = got.reshape(-1)
            if vectors_close(got_vector, sum(means) / len(batches)):
                hint_en, hint_zh = " It matches averaging the per-micro-batch means.", "结果与“各 micro-batch 平均再取平均”一致。"
            elif vectors_close(got_vector, sum(means)):
                hint_en, hint_zh = " It matches summing the per-micro-batch means.", "结果与“各 micro-batch 平均直接相加”一致。"
            elif vectors_close(got_vector, parts[-1][0] / count):
                hint_en, hint_zh = (" Only the last micro-batch's gradient is left: are gradients zeroed inside the window?",
                                    "只剩下最后一个 micro-batch 的梯度：是不是在窗口内部清零了梯度？")
        fail(
            en="The accumulated gradient is not the gradient of the token-mean loss over the whole window." + hint_en,
            zh="累积得到的梯度不是整个窗口 token 平均损失的梯度。" + hint_zh,
            detail=f"got {fmt(got)}, expected {fmt(expected)}; supervised tokens per micro-batch {counts}",
        )
    expected_loss = probe_window_loss(directions, batches, start)
    if not close(loss, expected_loss, 1e-5):
        fail(en=f"The returned loss {loss!r} is not the window's token-mean loss {expected_loss:.6f}.",
             zh=f"返回的损失 {loss!r} 不是窗口的 token 平均损失 {expected_loss:.6f}。")


@explain(
    en="accumulate_gradients adds to .grad like backward() does; it never zeroes what is already there.",
    zh="accumulate_gradients 像 backward() 一样把梯度累加到 .grad 上，不会清掉已有的梯度。",
)
def test_accumulation_adds_to_grad():
    directions = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    model = ProbeLM(directions, torch.zeros(2))
    model.weight.grad = torch.tensor([[10.0], [20.0]])
    batch = {"input_ids": torch.tensor([[0, 1, 0]]), "labels": torch.tensor([[IGNORE_INDEX, 0, 0]]),
             "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    train_loop.accumulate_gradients(model, [batch])
    expected = torch.tensor([10.0, 20.0]).double() + probe_window_spec(directions, [batch])[0]
    if not vectors_close(model.weight.grad.reshape(-1), expected):
        fail(en="The gradient already in .grad was lost or changed. Leave zeroing to the training loop.",
             zh=".grad 中原有的梯度被丢掉或改动了。清零梯度是训练循环的事。",
             detail=f"got {fmt(model.weight.grad)}, expected {fmt(expected)}")


@explain(
    en="attention_mask and position_ids reach the model when a micro-batch has them (packed batches need position_ids).",
    zh="micro-batch 中有 attention_mask 和 position_ids 时要传给模型（packed batch 依赖 position_ids）。",
)
def test_accumulation_passes_inputs():
    directions = torch.tensor([[1.0], [2.0], [3.0]])
    model = ProbeLM(directions, torch.zeros(1))
    positions = torch.tensor([[0, 1, 2, 0, 1]])
    packed = {"input_ids": torch.tensor([[0, 1, 2, 1, 2]]), "labels": torch.tensor([[IGNORE_INDEX, 0, 0, IGNORE_INDEX, 0]]),
              "position_ids": positions}
    padded = {"input_ids": torch.tensor([[0, 1, 0]]), "labels": torch.tensor([[IGNORE_INDEX, 0, IGNORE_INDEX]]),
              "attention_mask": torch.tensor([[1, 1, 0]])}
    train_loop.accumulate_gradients(model, [packed, padded])
    if len(model.calls) != 2:
        fail(en=f"Expected one forward call per micro-batch (2), got {len(model.calls)}.",
             zh=f"每个 micro-batch 应调用一次前向（共 2 次），实际 {len(model.calls)} 次。")
    first, second = model.calls
    if first.position_ids is None or not torch.equal(first.position_ids.cpu(), positions):
        fail(en="The packed micro-batch's position_ids did not reach the model. Without them a packed row is "
             "one long sequence and tokens attend across sequence boundaries.",
             zh="packed micro-batch 的 position_ids 没有传给模型。没有它，packed 的一行会被当成一条长序列，"
             "token 会跨越序列边界做注意力。",
             detail=f"model received position_ids={describe_value(first.position_ids)}")
    mask = second.attention_mask
    if mask is None or not torch.equal(mask.cpu(), padded["attention_mask"]):
        fail(en="The micro-batch's attention_mask did not reach the model.",
             zh="micro-batch 的 attention_mask 没有传给模型。",
             detail=f"model received attention_mask={describe_value(mask)}")


@explain(
    en="A packed micro-batch (position_ids restarting, no attention_mask) trains a Qwen3 model like separate rows.",
    zh="packed micro-batch（position_ids 重新计数、没有 attention_mask）在 Qwen3 上的梯度与分开成多行时相同。",
)
def test_accumulation_packed_qwen():
    generator = torch.Generator().manual_seed(7)
    lengths = [5, 7, 4]
    sequences = [torch.randint(1, QWEN_SIZES["vocab_size"], (n,), generator=generator) for n in lengths]
    labels = [s.clone() for s in sequences]
    packed = {
        "input_ids": torch.cat(sequences)[None],
        "labels": torch.cat([torch.cat([torch.tensor([IGNORE_INDEX]), l[1:]]) for l in labels])[None],
        "position_ids": torch.cat([torch.arange(n) for n in lengths])[None],
    }
    model = tiny_qwen(3, use_cache=True)  # the default config of a loaded model keeps use_cache on

    train_loop.accumulate_gradients(model, [packed])
    got = gradients(model)

    reference = tiny_qwen(3)
    separate = pad_rows(list(zip(sequences, labels)), with_positions=False)
    (summed_loss(reference, separate) / sum(n - 1 for n in lengths)).backward()
    expected = gradients(reference)
    if not grads_close(got, expected):
        name, gap = max_difference(got, expected)
        fail(
            en="On a packed row the gradients differ from training the sequences as separate rows, so tokens "
            "attended across sequence boundaries. Pass position_ids through, and use_cache=False for a "
            "transformers model: with a KV cache it ignores the boundaries.",
            zh="在 packed 的一行上，梯度与把序列分成多行训练时不同，说明 token 跨越了序列边界做注意力。"
            "请把 position_ids 传给模型；对 transformers 模型还要传 use_cache=False，有 KV cache 时它会忽略序列边界。",
            detail=f"largest gap {gap:.3g} in {name}",
        )


@explain(
    en="A window with no supervised token returns 0.0 and adds zero gradients, never NaN.",
    zh="没有任何有监督 token 的窗口返回 0.0，梯度为 0，绝不能出现 NaN。",
)
def test_accumulation_all_masked():
    model = ProbeLM(torch.tensor([[1.0, 2.0]]), torch.zeros(2))
    batch = {"input_ids": torch.zeros(2, 3, dtype=torch.long), "labels": torch.full((2, 3), IGNORE_INDEX),
             "attention_mask": torch.ones(2, 3, dtype=torch.long)}
    batch["labels"][:, 0] = 0  # position 0 is never a target after the shift
    loss = train_loop.accumulate_gradients(model, [batch, copy.deepcopy(batch)])
    grad = model.weight.grad
    if not isinstance(loss, float) or math.isnan(loss) or loss != 0.0:
        fail(en=f"An all-masked window must return 0.0, got {loss!r}.", zh=f"全被掩码的窗口应返回 0.0，得到 {loss!r}。")
    if grad is not None and (torch.isnan(grad).any() or grad.abs().sum() != 0):
        fail(en="An all-masked window must add zero gradients.", zh="全被掩码的窗口加到梯度上的应为 0。",
             detail=f"grad {fmt(grad)}")


def _batch(**overrides):
    batch = {"input_ids": torch.zeros(1, 3, dtype=torch.long), "labels": torch.zeros(1, 3, dtype=torch.long),
             "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    batch.update(overrides)
    return {k: v for k, v in batch.items() if v is not None}


BAD_WINDOWS = {
    "empty window": ([], ValueError),
    "missing labels": ([_batch(labels=None)], ValueError),
    "missing input_ids": ([_batch(input_ids=None)], ValueError),
    "labels shape differs": ([_batch(labels=torch.zeros(1, 4, dtype=torch.long))], ValueError),
    "attention_mask shape differs": ([_batch(attention_mask=torch.ones(2, 3, dtype=torch.long))], ValueError),
    "micro-batch not a dict": ([[torch.zeros(1, 3)]], TypeError),
}


@explain(
    en="accumulate_gradients raises a clear error for an empty window or a malformed micro-batch.",
    zh="accumulate_gradients 遇到空窗口或格式不对的 micro-batch 时抛出清楚的错误。",
)
@pytest.mark.parametrize("case", list(BAD_WINDOWS), ids=list(BAD_WINDOWS))
def test_accumulation_bad_input(case):
    window, error_type = BAD_WINDOWS[case]
    model = ProbeLM(torch.tensor([[1.0]]), torch.zeros(1))
    try:
        train_loop.accumulate_gradients(model, window)
    except error_type:
        return
    except Exception as error:  # noqa: BLE001 - any other error is the finding
        fail(en=f"For '{case}' expected {error_type.__name__}, got {type(error).__name__}: {error}",
             zh=f"'{case}' 应抛出 {error_type.__name__}，实际抛出 {type(error).__name__}：{error}")
    fail(en=f"accumulate_gradients accepted a bad window ({case}); raise {error_type.__name__}.",
         zh=f"accumulate_gradients 接受了不合法的窗口（{case}），应抛出 {error_type.__name__}。")


# ---------------------------------------------------------------- clip_grad_norm


@st.composite
def gradient_sets(draw):
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    shapes = draw(st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3), min_size=1, max_size=4))
    scale = 10.0 ** draw(st.integers(-3, 2))
    params = []
    for shape in shapes:
        p = torch.zeros(shape, dtype=dtype, requires_grad=True)
        if draw(st.integers(0, 4)) > 0:  # now and then a parameter without a gradient
            p.grad = torch.randn(shape, generator=generator, dtype=dtype) * scale
        params.append(p)
    norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in params if p.grad is not None))
    max_norm = max(norm * draw(st.sampled_from([0.1, 0.5, 0.99, 1.5, 3.0])), 1e-3)
    return params, max_norm


def clone_params(params):
    copies = []
    for p in params:
        q = p.detach().clone().requires_grad_(True)
        q.grad = None if p.grad is None else p.grad.clone()
        copies.append(q)
    return copies


@explain(
    en="clip_grad_norm returns the global norm before clipping and scales the gradients like torch.nn.utils.clip_grad_norm_.",
    zh="clip_grad_norm 返回裁剪前的全局范数，并像 torch.nn.utils.clip_grad_norm_ 一样缩放梯度。",
)
@settings(max_examples=15)
@given(case=gradient_sets(), as_generator=st.booleans())
def test_clip_matches_torch(case, as_generator):
    params, max_norm = case
    ours = clone_params(params)
    argument = (p for p in ours) if as_generator else ours
    norm = train_loop.clip_grad_norm(argument, max_norm)
    theirs = clone_params(params)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    if not torch.is_tensor(norm) or norm.dim() != 0:
        fail(en="clip_grad_norm must return the norm as a 0-dim tensor.", zh="clip_grad_norm 应以 0 维张量返回范数。",
             detail=f"got {describe_value(norm)}")
    if not close(norm, expected, 1e-5):
        hint_en = hint_zh = ""
        if close(norm, min(float(expected), max_norm), 1e-4):
            hint_en, hint_zh = " That is the norm after clipping; return the one before.", "这是裁剪后的范数，应返回裁剪前的。"
        fail(en=f"Returned norm {float(norm):.6g}, expected the global L2 norm {float(expected):.6g}." + hint_en,
             zh=f"返回的范数为 {float(norm):.6g}，应为全局 L2 范数 {float(expected):.6g}。" + hint_zh,
             detail=f"max_norm {max_norm:.4g}, {len(params)} parameters")
    for index, (a, b) in enumerate(zip(ours, theirs)):
        if (a.grad is None) != (b.grad is None):
            fail(en=f"Parameter {index} has no gradient; leave its .grad as None.",
                 zh=f"第 {index} 个参数没有梯度，它的 .grad 应保持为 None。")
        if a.grad is not None and not torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-8):
            fail(
                en=f"The clipped gradient of parameter {index} differs from torch's. Scale every gradient by the "
                "same factor max_norm / (global_norm + 1e-6), and only when the global norm exceeds max_norm.",
                zh=f"第 {index} 个参数裁剪后的梯度与 torch 不同。所有梯度要乘以同一个系数 "
                "max_norm / (全局范数 + 1e-6)，并且只在全局范数超过 max_norm 时缩放。",
                detail=f"max_norm {max_norm:.4g}, global norm {float(expected):.4g}",
            )


@explain(
    en="Summed micro-batch gradients [2, 0] + [0, 2] clipped to norm 1 give [0.707, 0.707]; a single tensor works too.",
    zh="micro-batch 梯度 [2, 0] 与 [0, 2] 相加后裁剪到范数 1 得到 [0.707, 0.707]；也可以直接传入单个张量。",
)
def test_clip_summed_window():
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.tensor([2.0, 0.0]) + torch.tensor([0.0, 2.0])
    norm = train_loop.clip_grad_norm(p, 1.0)
    if not close(norm, math.sqrt(8), 1e-6) or not torch.allclose(p.grad, torch.tensor([0.7071, 0.7071]), atol=1e-4):
        fail(en="Clipping [2, 2] to max_norm 1 must return norm 2.828 and leave [0.707, 0.707].",
             zh="把 [2, 2] 裁剪到 max_norm 1，应返回范数 2.828，梯度变为 [0.707, 0.707]。",
             detail=f"returned {describe_value(norm)}, grad {fmt(p.grad)}")
    q = torch.zeros(3, requires_grad=True)
    empty = train_loop.clip_grad_norm([q], 1.0)
    if not torch.is_tensor(empty) or float(empty) != 0.0:
        fail(en="With no gradient at all clip_grad_norm returns tensor(0.).",
             zh="一个梯度都没有时，clip_grad_norm 应返回 tensor(0.)。", detail=f"got {describe_value(empty)}")


@explain(
    en="clip_grad_norm raises ValueError for max_norm <= 0.",
    zh="max_norm <= 0 时 clip_grad_norm 抛出 ValueError。",
)
@pytest.mark.parametrize("max_norm", [0.0, -1.0])
def test_clip_bad_max_norm(max_norm):
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.ones(2)
    with pytest.raises(ValueError):
        train_loop.clip_grad_norm([p], max_norm)


# ---------------------------------------------------------------- AdamW


@st.composite
def adamw_problems(draw):
    """Parameter groups, hyperparameters and a gradient schedule for 20+ steps."""
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    dtype = draw(st.sampled_from([torch.float64, torch.float64, torch.float32]))
    groups = []
    for _ in range(draw(st.integers(1, 3))):
        shapes = draw(st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=2), min_size=1, max_size=2))
        group = {"params": [torch.randn(s, generator=generator, dtype=dtype) for s in shapes]}
        if draw(st.booleans()):
            group["weight_decay"] = draw(st.sampled_from([0.0, 0.1, 0.5]))
        if draw(st.booleans()):
            group["lr"] = draw(st.sampled_from([1e-3, 3e-2]))
        groups.append(group)
    hyper = dict(
        lr=draw(st.sampled_from([1e-3, 1e-2, 0.1])),
        betas=draw(st.sampled_from([(0.9, 0.999), (0.8, 0.95), (0.5, 0.9)])),
        eps=draw(st.sampled_from([1e-8, 1e-6, 1e-3])),
        weight_decay=draw(st.sampled_from([0.0, 0.01, 0.3])),
    )
    steps = draw(st.integers(20, 25))
    # Tiny gradients make eps matter; None now and then skips a parameter for a step.
    scales = [10.0 ** draw(st.integers(-9, 1)) for _ in range(steps)]
    grads = []
    for step in range(steps):
        per_param = []
        for group in groups:
            for p in group["params"]:
                skip = draw(st.integers(0, 9)) == 0
                per_param.append(None if skip else torch.randn(p.shape, generator=generator, dtype=dtype) * scales[step])
        grads.append(per_param)
    lr_changes = {draw(st.integers(1, steps - 1)): draw(st.sampled_from([0.5, 2.0]))}
    return groups, hyper, grads, lr_changes


def build_groups(groups):
    return [{**g, "params": [p.clone().requires_grad_(True) for p in g["params"]]} for g in groups]


def run_optimizer(factory, groups, grads, lr_changes):
    built = build_groups(groups)
    optimizer = factory(built)
    params = [p for g in built for p in g["params"]]
    history = []
    for step, step_grads in enumerate(grads):
        if step in lr_changes:
            for group in optimizer.param_groups:
                group["lr"] *= lr_changes[step]
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.clone()
        optimizer.step()
        history.append([p.detach().clone() for p in params])
    return history


def spec_adamw_history(groups, hyper, grads, lr_changes, variant=None):
    """Plain-loop float64 AdamW, optionally with one named slip."""
    params, settings_of = [], []
    for group in groups:
        for p in group["params"]:
            params.append(p.double().clone())
            settings_of.append({**hyper, **{k: v for k, v in group.items() if k != "params"}})
    state = [dict(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p)) for p in params]
    history = []
    for step, step_grads in enumerate(grads):
        if step in lr_changes and variant != "lr_fixed":
            for s in settings_of:
                s["lr"] *= lr_changes[step]
        for index, g in enumerate(step_grads):
            if g is None:
                if variant == "decay_without_grad":
                    s = settings_of[index]
                    params[index] = params[index] * (1 - s["lr"] * s["weight_decay"])
                continue
            g = g.double()
            s, st_ = settings_of[index], state[index]
            lr, wd, eps = s["lr"], s["weight_decay"], s["eps"]
            beta1, beta2 = s["betas"]
            p = params[index]
            if variant == "l2":
                g = g + wd * p
            elif variant == "decay_without_lr":
                p = p * (1 - wd)
            elif variant != "decay_after":
                p = p * (1 - lr * wd)
            st_["step"] += 1
            st_["m"] = beta1 * st_["m"] + (1 - beta1) * g
            st_["v"] = beta2 * st_["v"] + (1 - beta2) * g * g
            t = st_["step"]
            m_hat, v_hat = st_["m"] / (1 - beta1**t), st_["v"] / (1 - beta2**t)
            if variant == "no_bias_correction":
                m_hat, v_hat = st_["m"], st_["v"]
            if variant == "eps_inside_sqrt":
                update = m_hat / (v_hat + eps).sqrt()
            else:
                update = m_hat / (v_hat.sqrt() + eps)
            p = p - lr * update
            if variant == "decay_after":
                p = p * (1 - lr * wd)
            params[index] = p
        history.append([p.clone() for p in params])
    return history


ADAMW_SLIPS = {
    "l2": ("the decay is added to the gradient (L2 penalty) instead of shrinking the weight directly",
           "把 weight decay 加到了梯度上（L2 正则），而不是直接缩小权重"),
    "decay_without_lr": ("the decay is not multiplied by lr (use p *= 1 - lr * weight_decay)",
                         "weight decay 没有乘以 lr（应为 p *= 1 - lr * weight_decay）"),
    "decay_after": ("the decay is applied after the Adam update instead of before it",
                    "weight decay 放在了 Adam 更新之后，而不是之前"),
    "no_bias_correction": ("m and v are used without bias correction", "m 和 v 没有做偏差校正"),
    "decay_without_grad": ("parameters without a gradient are decayed too (skip them entirely)",
                           "没有梯度的参数也做了 weight decay（应完全跳过它们）"),
    "lr_fixed": ("the lr given at construction is used at every step (read group['lr'] at each step)",
                 "每一步都用构造时给的 lr（应在每一步读取 group['lr']）"),
    "eps_inside_sqrt": ("eps is added inside the square root instead of after it", "eps 加在了平方根里面，而不是开方之后"),
}


def histories_close(a, b, rtol, atol) -> tuple[bool, int, int]:
    for step, (ra, rb) in enumerate(zip(a, b)):
        for index, (x, y) in enumerate(zip(ra, rb)):
            if not torch.allclose(x.double(), y.double(), rtol=rtol, atol=atol):
                return False, step, index
    return True, -1, -1


@explain(
    en="AdamW matches torch.optim.AdamW step for step over 20+ steps (parameter groups, decay on and off, lr changes).",
    zh="20 多步内，AdamW 每一步都与 torch.optim.AdamW 一致（多个参数组、weight decay 开关、中途改 lr）。",
)
@settings(max_examples=8, phases=NO_SHRINK)
@given(problem=adamw_problems())
def test_adamw_matches_torch(problem):
    groups, hyper, grads, lr_changes = problem
    ours = run_optimizer(lambda g: train_loop.AdamW(g, **hyper), groups, grads, lr_changes)
    theirs = run_optimizer(lambda g: torch.optim.AdamW(g, **hyper, foreach=False), groups, grads, lr_changes)
    dtype = groups[0]["params"][0].dtype
    rtol, atol = (1e-10, 1e-12) if dtype == torch.float64 else (1e-5, 1e-6)
    ok, step, index = histories_close(ours, theirs, rtol, atol)
    if ok:
        return
    hint_en = hint_zh = ""
    for variant, (slip_en, slip_zh) in ADAMW_SLIPS.items():
        if histories_close(ours, spec_adamw_history(groups, hyper, grads, lr_changes, variant), 1e-6, 1e-9)[0]:
            hint_en, hint_zh = f" Your updates match a version where {slip_en}.", f"你的更新与这样一个版本一致：{slip_zh}。"
            break
    group_settings = [{k: v for k, v in g.items() if k != "params"} for g in groups]
    fail(
        en=f"After step {step + 1} parameter {index} differs from torch.optim.AdamW." + hint_en,
        zh=f"第 {step + 1} 步之后，第 {index} 个参数与 torch.optim.AdamW 的结果不同。" + hint_zh,
        detail=f"{hyper}, group overrides {group_settings}, lr multiplied at steps {lr_changes}\n"
        f"got      {describe_value(ours[step][index].tolist(), 200)}\n"
        f"expected {describe_value(theirs[step][index].tolist(), 200)}",
    )


@explain(
    en="AdamW's state survives state_dict() / load_state_dict(): a reloaded optimizer continues the same run.",
    zh="AdamW 的状态能经 state_dict() / load_state_dict() 保存和恢复：重新加载后的优化器继续原来的训练。",
)
@settings(max_examples=5, phases=NO_SHRINK)
@given(problem=adamw_problems(), cut=st.integers(1, 19))
def test_adamw_state_dict_roundtrip(problem, cut):
    groups, hyper, grads, _ = problem
    whole = run_optimizer(lambda g: train_loop.AdamW(g, **hyper), groups, grads, {})

    built = build_groups(groups)
    params = [p for g in built for p in g["params"]]
    first = train_loop.AdamW(built, **hyper)
    for step_grads in grads[:cut]:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.clone()
        first.step()
    saved = copy.deepcopy(first.state_dict())
    second = train_loop.AdamW(built, **hyper)
    second.load_state_dict(saved)
    for step_grads in grads[cut:]:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.clone()
        second.step()
    for index, (a, b) in enumerate(zip(params, whole[-1])):
        if not torch.equal(a.detach(), b):
            fail(
                en=f"After reloading the state at step {cut}, parameter {index} ends elsewhere than in one run. "
                "Keep m, v and the step count in self.state[p] so state_dict() carries them.",
                zh=f"在第 {cut} 步重新加载状态后，第 {index} 个参数的最终值与一次跑完的结果不同。"
                "m、v 和步数要放在 self.state[p] 里，state_dict() 才能带上它们。",
            )


@explain(
    en="AdamW is a torch.optim.Optimizer written from the update rule, without calling torch's Adam or AdamW.",
    zh="AdamW 是根据更新公式自己实现的 torch.optim.Optimizer，不能调用 torch 的 Adam 或 AdamW。",
)
def test_adamw_is_own_optimizer(monkeypatch):
    p = torch.nn.Parameter(torch.ones(3))
    optimizer = train_loop.AdamW([p], lr=0.1)
    if not isinstance(optimizer, torch.optim.Optimizer):
        fail(en="AdamW must subclass torch.optim.Optimizer.", zh="AdamW 必须继承 torch.optim.Optimizer。")
    if isinstance(optimizer, torch.optim.Adam):
        fail(en="AdamW must not subclass torch.optim.Adam or torch.optim.AdamW; write the update yourself.",
             zh="AdamW 不能继承 torch.optim.Adam 或 torch.optim.AdamW，要自己写更新。")

    def forbidden(*args, **kwargs):
        raise AssertionError("called torch's Adam implementation")

    import torch.optim.adam as adam_module

    for name in ("adam", "_single_tensor_adam", "_multi_tensor_adam", "_fused_adam"):
        monkeypatch.setattr(adam_module, name, forbidden)
    monkeypatch.setattr(torch.optim.Adam, "step", forbidden)
    defaults = optimizer.defaults
    if defaults.get("betas") != (0.9, 0.999) or defaults.get("eps") != 1e-8 or defaults.get("weight_decay") != 0.01:
        fail(en="The defaults must be betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, stored in optimizer.defaults.",
             zh="默认值应为 betas=(0.9, 0.999)、eps=1e-8、weight_decay=0.01，并存放在 optimizer.defaults 中。",
             detail=f"defaults {defaults}")
    p.grad = torch.tensor([1.0, -1.0, 0.0])
    try:
        returned = optimizer.step(closure=lambda: torch.tensor(7.0))
    except AssertionError:
        fail(en="AdamW.step called torch's Adam/AdamW code; write the update rule yourself.",
             zh="AdamW.step 调用了 torch 的 Adam/AdamW 实现，请自己写出更新公式。")
    if returned is None or float(returned) != 7.0:
        fail(en="step(closure) must return the closure's loss, like every torch optimizer.",
             zh="step(closure) 应像所有 torch 优化器一样返回 closure 的损失。", detail=f"got {returned!r}")


BAD_ADAMW = {
    "negative lr": dict(lr=-0.1),
    "negative eps": dict(lr=0.1, eps=-1e-8),
    "negative weight_decay": dict(lr=0.1, weight_decay=-0.01),
    "beta1 equal to 1": dict(lr=0.1, betas=(1.0, 0.999)),
    "negative beta2": dict(lr=0.1, betas=(0.9, -0.5)),
}


@explain(
    en="AdamW raises ValueError for a negative lr, eps or weight_decay and for betas outside [0, 1).",
    zh="lr、eps 或 weight_decay 为负，或 beta 不在 [0, 1) 内时，AdamW 抛出 ValueError。",
)
@pytest.mark.parametrize("case", list(BAD_ADAMW), ids=list(BAD_ADAMW))
def test_adamw_bad_hyperparameters(case):
    try:
        train_loop.AdamW([torch.nn.Parameter(torch.ones(2))], **BAD_ADAMW[case])
    except ValueError:
        return
    fail(en=f"AdamW accepted {case}; raise ValueError naming the value.",
         zh=f"AdamW 接受了非法参数（{case}），应抛出 ValueError 并写明该值。", detail=f"{BAD_ADAMW[case]}")


# ---------------------------------------------------------------- train: what the optimizer sees


def lr_hint(got_lrs, values) -> tuple[str, str]:
    total, warmup, peak = values["total_steps"], values["warmup_steps"], values["peak_lr"]
    per_micro = [spec_cosine(s * values["grad_accum_steps"], peak, warmup, total) for s in range(len(got_lrs))]
    if values["grad_accum_steps"] > 1 and all(close(a, b) for a, b in zip(got_lrs, per_micro)):
        return (" The rates match a schedule advanced once per micro-batch; advance it once per optimizer step.",
                "这些学习率与“每个 micro-batch 推进一次调度”一致；应该每个优化器步推进一次。")
    shifted = [spec_cosine(s + 1, peak, warmup, total) for s in range(len(got_lrs))]
    if all(close(a, b) for a, b in zip(got_lrs, shifted)):
        return (" They are the rates of the next step: step s must use cosine_lr(s).",
                "这些是下一步的学习率：第 s 步应使用 cosine_lr(s)。")
    return "", ""


def batch_index(batches, input_ids) -> int:
    """Index of the first micro-batch whose input_ids equal `input_ids`, or -1."""
    for index, batch in enumerate(batches):
        if batch["input_ids"].shape == input_ids.shape and torch.equal(batch["input_ids"], input_ids.cpu()):
            return index
    return -1


def check_window_order(spec, batches, model):
    """Check that the train-mode forwards read the micro-batches of each window in order."""
    expected = [index for step in spec for index in range(*step.window)]
    got = [batch_index(batches, call.input_ids) for call in model.calls if call.training]
    # Identical micro-batches are indistinguishable, so compare contents, not indices.
    expected_ids = [batches[i]["input_ids"] for i in expected]
    got_ids = [call.input_ids.cpu() for call in model.calls if call.training]
    same = len(got_ids) == len(expected_ids) and all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(got_ids, expected_ids)
    )
    if not same:
        fail(
            en=f"The micro-batches were read in the order {got}; expected {expected}. Step s takes the next "
            "grad_accum_steps micro-batches of the current pass, a window never spans two passes, and the "
            "short last window of a pass is still a step.",
            zh=f"micro-batch 的读取顺序为 {got}，应为 {expected}。第 s 步取当前这一轮接下来的 grad_accum_steps 个 "
            "micro-batch，一个窗口不会跨越两轮，每轮末尾不满的窗口也要算作一步。",
            detail=f"{len(batches)} micro-batches; expected [start, end) windows per step: "
            f"{[step.window for step in spec]}",
        )


def check_optimizer_views(seen, spec, values, model, batches):
    """Compare what the optimizer saw with the float64 spec, naming the first slip found."""
    if len(seen) != values["total_steps"]:
        fail(
            en=f"train called optimizer.step() {len(seen)} times; expected total_steps = {values['total_steps']} "
            "(one per window, the short last window of a pass included).",
            zh=f"train 调用了 {len(seen)} 次 optimizer.step()，应为 total_steps = {values['total_steps']} 次"
            "（每个窗口一次，包括每轮数据末尾不满的窗口）。",
            detail=f"config {values}",
        )
    got_lrs = [view.lr for view in seen]
    for step, (view, expected) in enumerate(zip(seen, spec)):
        if view.lr is None:
            fail(en="The model's parameter is not in any optimizer group: optimize every parameter with requires_grad.",
                 zh="模型的参数不在任何优化器参数组中：所有 requires_grad 的参数都要优化。")
        if not close(view.lr, expected.lr, 1e-9):
            hint_en, hint_zh = lr_hint(got_lrs, values)
            fail(
                en=f"Optimizer step {step} ran at lr {view.lr!r}; expected cosine_lr({step}) = {expected.lr!r}." + hint_en,
                zh=f"第 {step} 个优化器步使用的 lr 为 {view.lr!r}，应为 cosine_lr({step}) = {expected.lr!r}。" + hint_zh,
                detail=f"rates used {[round(x, 6) for x in got_lrs]}\nexpected   "
                f"{[round(s.lr, 6) for s in spec]}",
            )
    check_window_order(spec, batches, model)
    train_calls = [call for call in model.calls if call.training]
    position = 0
    for step, (view, expected) in enumerate(zip(seen, spec)):
        begin, end = expected.window
        for offset, partial in enumerate(expected.partials):
            if position >= len(train_calls):
                fail(en="train made fewer forward calls than there are micro-batches in its windows.",
                     zh="train 的前向调用次数少于各窗口中 micro-batch 的总数。")
            call = train_calls[position]
            position += 1
            if not vectors_close(call.grad, partial):
                if offset == 0:
                    fail(en=f"At the start of step {step} the gradient still held {fmt(call.grad)}: zero the "
                         "gradients after every optimizer step.",
                         zh=f"第 {step} 步开始时梯度仍为 {fmt(call.grad)}：每个优化器步之后都要清零梯度。")
                fail(
                    en=f"Before micro-batch {offset} of step {step}, .grad held {fmt(call.grad)}; expected the "
                    f"unclipped sum of the earlier micro-batches, {fmt(partial)}. Do not clip or zero inside "
                    "a window, and divide every micro-batch by the window's token count.",
                    zh=f"第 {step} 步的第 {offset} 个 micro-batch 之前，.grad 为 {fmt(call.grad)}，应为前面各 micro-batch "
                    f"未裁剪的累加和 {fmt(partial)}。窗口内部不要裁剪或清零，每个 micro-batch 都要除以整个窗口的 token 数。",
                )
        got = view.grad
        if got is None:
            fail(en=f"At optimizer step {step} the gradients were None: zero_grad must come after "
                 "optimizer.step(), not before it.",
                 zh=f"第 {step} 个优化器步时梯度为 None：zero_grad 应放在 optimizer.step() 之后，而不是之前。")
        if not vectors_close(got, expected.clipped):
            if torch.all(got == 0) and not torch.all(expected.clipped == 0):
                fail(en=f"At optimizer step {step} the gradients were already zero: zero_grad must come after "
                     "optimizer.step(), not before it.",
                     zh=f"第 {step} 个优化器步时梯度已经是 0：zero_grad 应放在 optimizer.step() 之后，而不是之前。")
            if vectors_close(got, expected.grad) and values["max_grad_norm"] is not None:
                fail(en=f"At optimizer step {step} the gradient {fmt(got)} was not clipped to max_grad_norm "
                     f"{values['max_grad_norm']} (norm {expected.norm:.4f}).",
                     zh=f"第 {step} 个优化器步的梯度 {fmt(got)} 没有裁剪到 max_grad_norm {values['max_grad_norm']}"
                     f"（范数 {expected.norm:.4f}）。")
            fail(
                en=f"At optimizer step {step} the gradient was {fmt(got)}; expected {fmt(expected.clipped)}: the "
                f"window's token-mean gradient {fmt(expected.grad)} clipped once, after the whole window.",
                zh=f"第 {step} 个优化器步的梯度为 {fmt(got)}，应为 {fmt(expected.clipped)}：即窗口 token 平均梯度 "
                f"{fmt(expected.grad)} 在整个窗口结束后裁剪一次的结果。",
                detail=f"window = micro-batches [{begin}, {end}), config {values}",
            )


@explain(
    en="At every optimizer step the optimizer sees lr = cosine_lr(step) and the window's gradient, clipped once.",
    zh="每个优化器步，优化器看到的 lr 都是 cosine_lr(step)，梯度是整个窗口的梯度、只裁剪一次。",
)
@settings(max_examples=10, phases=NO_SHRINK)
@given(run=probe_runs())
def test_train_optimizer_inputs(run):
    directions, start, batches, values = run
    model, records, seen = run_probe(directions, start, batches, values)
    spec, _ = spec_probe_run(directions, start, batches, train_loop.TrainConfig(**values))
    check_optimizer_views(seen, spec, values, model, batches)


@explain(
    en="The records and the final weights equal a float64 run of the same loop (schedule, accumulation, clipping, AdamW).",
    zh="记录和最终权重与同一循环的 float64 规范运行一致（调度、累积、裁剪、AdamW）。",
)
@settings(max_examples=10, phases=NO_SHRINK)
@given(run=probe_runs())
def test_train_matches_spec(run):
    directions, start, batches, values = run
    model, records, _ = run_probe(directions, start, batches, values)
    config = train_loop.TrainConfig(**values)
    spec, final = spec_probe_run(directions, start, batches, config)
    if not isinstance(records, list) or len(records) != len(spec):
        fail(en=f"train must return one record per optimizer step ({len(spec)}), got "
             f"{len(records) if isinstance(records, list) else describe_value(records)}.",
             zh=f"train 应为每个优化器步返回一条记录（共 {len(spec)} 条），实际得到 "
             f"{len(records) if isinstance(records, list) else describe_value(records)}。")
    for step, (record, expected) in enumerate(zip(records, spec)):
        expected_values = {"step": step, "lr": expected.lr, "loss": expected.loss, "grad_norm": expected.norm}
        for key, value in expected_values.items():
            got = record.get(key) if isinstance(record, dict) else None
            if got is None or not close(got, value, 1e-5 if key != "loss" else 1e-6):
                fail(
                    en=f"Record {step}: {key} is {got!r}, expected {value!r}.",
                    zh=f"第 {step} 条记录：{key} 为 {got!r}，应为 {value!r}。",
                    detail=f"record {record}\nconfig {values}",
                )
    weight = model.weight.detach().reshape(-1).double()
    if not torch.allclose(weight, final, rtol=1e-4, atol=1e-5):
        fail(en="The final weights differ from the float64 run of the loop: check AdamW (decoupled decay, "
             "bias correction) and the order lr, accumulate, clip, step, zero_grad.",
             zh="最终权重与 float64 规范运行不同：检查 AdamW（解耦的 weight decay、偏差校正）以及 "
             "设置 lr、累积、裁剪、更新、清零梯度的顺序。",
             detail=f"got {fmt(weight)}, expected {fmt(final)}; config {values}")


@explain(
    en="5 micro-batches with accumulation 2 run as windows [0, 1], [2, 3], [4], then [0, 1]: the short window counts.",
    zh="5 个 micro-batch、累积 2 步时，窗口依次是 [0, 1]、[2, 3]、[4]，然后又是 [0, 1]：不满的窗口也算一步。",
)
def test_train_windows_and_passes():
    generator = torch.Generator().manual_seed(5)
    directions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    batches = [probe_batch(generator, 4, 1, 3 + i, 1.0, False) for i in range(5)]  # length 3 + i marks batch i
    values = dict(peak_lr=0.1, warmup_steps=0, total_steps=4, grad_accum_steps=2, max_grad_norm=None,
                  weight_decay=0.0, eval_every=0, seed=0)
    model, records, seen = run_probe(directions, torch.zeros(2), batches, values)
    order = [call.input_ids.shape[1] - 3 for call in model.calls if call.training]
    if order != [0, 1, 2, 3, 4, 0, 1]:
        fail(en=f"Micro-batches were read in the order {order}; expected [0, 1, 2, 3, 4, 0, 1]. A window never "
             "spans two passes, so the third step uses micro-batch 4 alone.",
             zh=f"micro-batch 的读取顺序为 {order}，应为 [0, 1, 2, 3, 4, 0, 1]。一个窗口不会跨越两轮数据，"
             "所以第三步只用 micro-batch 4。")
    spec, _ = spec_probe_run(directions, torch.zeros(2), batches, train_loop.TrainConfig(**values))
    check_optimizer_views(seen, spec, values, model, batches)


@explain(
    en="Micro-batch gradients [2, 0] and [0, 2] with max norm 1: the optimizer gets [0.707, 0.707], not [0.447, 0.894].",
    zh="两个 micro-batch 的梯度为 [2, 0] 和 [0, 2]、max norm 为 1 时，优化器拿到的是 [0.707, 0.707]，而不是 [0.447, 0.894]。",
)
def test_train_clips_summed_window():
    # Token gradients -d / N with N = 2 tokens: id 0 gives [2, 0], id 1 gives [0, 2].
    directions = torch.tensor([[-4.0, 0.0], [0.0, -4.0]])
    first = {"input_ids": torch.tensor([[0, 0]]), "labels": torch.tensor([[IGNORE_INDEX, 0]])}
    second = {"input_ids": torch.tensor([[1, 1]]), "labels": torch.tensor([[IGNORE_INDEX, 0]])}
    values = dict(peak_lr=0.1, warmup_steps=0, total_steps=1, grad_accum_steps=2, max_grad_norm=1.0,
                  weight_decay=0.0, eval_every=0, seed=0)
    model, records, seen = run_probe(directions, torch.zeros(2), [first, second], values)
    if len(seen) != 1 or seen[0].grad is None:
        fail(en="Expected exactly one optimizer step with a gradient.", zh="应恰好有一个带梯度的优化器步。",
             detail=f"{len(seen)} steps")
    got = seen[0].grad
    if torch.allclose(got, torch.tensor([0.4472, 0.8944]), atol=1e-3):
        fail(en="The optimizer got [0.447, 0.894]: each micro-batch was clipped on its own. Clip once, after "
             "the whole window is backpropagated.",
             zh="优化器拿到的是 [0.447, 0.894]：每个 micro-batch 被单独裁剪了。应在整个窗口反向传播完之后只裁剪一次。")
    if not torch.allclose(got, torch.tensor([0.70711, 0.70711]), atol=1e-4):
        fail(en=f"The optimizer got {fmt(got)}; expected [0.707, 0.707] (the summed [2, 2] clipped to norm 1).",
             zh=f"优化器拿到的是 {fmt(got)}，应为 [0.707, 0.707]（累加得到的 [2, 2] 裁剪到范数 1）。")
    if not close(records[0]["grad_norm"], math.sqrt(8), 1e-5):
        fail(en=f"grad_norm of the record is {records[0]['grad_norm']!r}; expected the norm before clipping, 2.828.",
             zh=f"记录中的 grad_norm 为 {records[0]['grad_norm']!r}，应为裁剪前的范数 2.828。")


@explain(
    en="train records the window's token-mean loss: 10 tokens at 1.0 and 100 at 2.0 give 1.909.",
    zh="train 记录的是窗口的 token 平均损失：10 个 token 损失 1.0、100 个损失 2.0 时为 1.909。",
)
def test_train_records_window_loss():
    first = {"input_ids": torch.zeros(1, 11, dtype=torch.long), "labels": torch.tensor([[IGNORE_INDEX] + [0] * 10])}
    second = {"input_ids": torch.ones(1, 101, dtype=torch.long), "labels": torch.tensor([[IGNORE_INDEX] + [0] * 100])}
    config = train_loop.TrainConfig(peak_lr=0.1, warmup_steps=0, total_steps=1, grad_accum_steps=2)
    records = train_loop.train(FixedLossLM([1.0, 2.0]), [first, second], config)
    loss = records[0]["loss"] if records and isinstance(records[0], dict) else None
    if loss is None or not close(loss, 210 / 110, 1e-5):
        fail(en=f"The first record's loss is {loss!r}; expected 210 / 110 = 1.909.",
             zh=f"第一条记录的损失为 {loss!r}，应为 210 / 110 = 1.909。")


# ---------------------------------------------------------------- train: setup, eval, records


@explain(
    en="Only parameters with requires_grad are optimized, by this kata's AdamW with config.weight_decay.",
    zh="只优化 requires_grad 的参数，使用本 kata 的 AdamW，weight decay 取 config.weight_decay。",
)
def test_train_optimizer_setup():
    directions = torch.tensor([[1.0, 1.0], [2.0, 0.5]])
    model = ProbeLM(directions, torch.tensor([0.5, -0.5]))
    model.frozen = torch.nn.Parameter(torch.ones(3, 3), requires_grad=False)
    generator = torch.Generator().manual_seed(1)
    batches = [probe_batch(generator, 2, 1, 4, 1.0, False) for _ in range(2)]
    config = train_loop.TrainConfig(peak_lr=0.1, warmup_steps=0, total_steps=2, weight_decay=0.25)
    with watch_optimizer_steps(model.weight) as seen:
        train_loop.train(model, batches, config)
    if not seen:
        fail(en="train never called optimizer.step() on a torch optimizer.", zh="train 从未调用 torch 优化器的 optimizer.step()。")
    optimizer = seen[0].optimizer
    if not isinstance(optimizer, train_loop.AdamW):
        fail(en=f"The optimizer is {type(optimizer).__name__}; use this kata's AdamW.",
             zh=f"优化器是 {type(optimizer).__name__}，应使用本 kata 的 AdamW。")
    optimized = [p for group in optimizer.param_groups for p in group["params"]]
    if any(p is model.frozen for p in optimized):
        fail(en="A parameter with requires_grad=False was handed to the optimizer.",
             zh="requires_grad=False 的参数被交给了优化器。")
    if not torch.equal(model.frozen, torch.ones(3, 3)):
        fail(en="A frozen parameter changed during training.", zh="冻结的参数在训练中被改变了。")
    for group in optimizer.param_groups:
        if any(p is model.weight for p in group["params"]):
            if group["weight_decay"] != 0.25 or tuple(group["betas"]) != (0.9, 0.999) or group["eps"] != 1e-8:
                fail(en="The trainable weight's group must use weight_decay = config.weight_decay (0.25) and the "
                     "default betas (0.9, 0.999) and eps 1e-8.",
                     zh="可训练权重所在参数组的 weight_decay 应为 config.weight_decay（0.25），"
                     "betas 和 eps 取默认值 (0.9, 0.999) 和 1e-8。",
                     detail=f"group settings {({k: v for k, v in group.items() if k != 'params'})}")


@explain(
    en="eval_loss appears every eval_every steps and at the last step: the token mean over eval_batches, "
    "in eval mode, without gradients.",
    zh="每 eval_every 步以及最后一步记录 eval_loss：eval_batches 上的 token 平均损失，在 eval 模式下、不计算梯度。",
)
@settings(max_examples=5, phases=NO_SHRINK)
@given(run=probe_runs(max_batches=4), eval_every=st.integers(1, 3), eval_count=st.integers(1, 3))
def test_train_eval(run, eval_every, eval_count):
    directions, start, batches, values = run
    generator = torch.Generator().manual_seed(eval_count)
    eval_batches = [probe_batch(generator, 4, 2, 4, 0.7, False) for _ in range(eval_count)]
    values = {**values, "eval_every": eval_every}
    model, records, _ = run_probe(directions, start, batches, values, eval_batches=eval_batches)
    total = values["total_steps"]
    spec, final = spec_probe_run(directions, start, batches, train_loop.TrainConfig(**values))
    due = [s for s in range(total) if (s + 1) % eval_every == 0 or s == total - 1]
    have = [r.get("step") for r in records if "eval_loss" in r]
    if have != due:
        fail(en=f"eval_loss is in the records of steps {have}; expected {due} (eval_every={eval_every}, "
             f"total_steps={total}: after step s when (s + 1) % eval_every == 0, and after the last step).",
             zh=f"eval_loss 出现在第 {have} 步的记录中，应为 {due}（eval_every={eval_every}，total_steps={total}："
             "当 (s + 1) % eval_every == 0 时在第 s 步之后评估，最后一步之后也评估）。")
    weights_after = [s.weight for s in spec[1:]] + [final]
    for record in records:
        if "eval_loss" not in record:
            continue
        expected = probe_window_loss(directions, eval_batches, weights_after[record["step"]])
        if not close(record["eval_loss"], expected, 1e-6):
            fail(en=f"eval_loss of step {record['step']} is {record['eval_loss']!r}; expected the token-mean loss "
                 f"over all eval batches after that step's update, {expected:.6f}.",
                 zh=f"第 {record['step']} 步的 eval_loss 为 {record['eval_loss']!r}，应为该步更新之后"
                 f"所有 eval batch 上的 token 平均损失 {expected:.6f}。")
    eval_ids = {tuple(b["input_ids"].reshape(-1).tolist()) for b in eval_batches}
    train_ids = {tuple(b["input_ids"].reshape(-1).tolist()) for b in batches}
    for call in model.calls:
        key = tuple(call.input_ids.reshape(-1).tolist())
        if key in eval_ids and key not in train_ids and (call.training or call.grad_enabled):
            fail(en="Evaluation ran in train mode or with gradients enabled: use model.eval() and torch.no_grad().",
                 zh="评估时模型处于 train 模式或开启了梯度：请用 model.eval() 和 torch.no_grad()。")
        if key in train_ids and key not in eval_ids and not call.training:
            fail(en="After evaluation the model stayed in eval mode: switch it back with model.train().",
                 zh="评估之后模型仍处于 eval 模式：请用 model.train() 切换回来。")


@explain(
    en="Records are plain dicts of Python numbers (JSON-serializable): step int, loss, lr, grad_norm float.",
    zh="每条记录都是由 Python 数值组成的普通 dict（可序列化为 JSON）：step 为 int，loss、lr、grad_norm 为 float。",
)
def test_train_records_are_plain():
    generator = torch.Generator().manual_seed(2)
    batches = [probe_batch(generator, 2, 1, 4, 1.0, False) for _ in range(3)]
    config = train_loop.TrainConfig(peak_lr=0.1, warmup_steps=1, total_steps=3, eval_every=2)
    records = train_loop.train(ProbeLM(torch.tensor([[1.0], [2.0]]), torch.zeros(1)), batches, config, batches[:1])
    for record in records:
        if not isinstance(record, dict) or not {"step", "loss", "lr", "grad_norm"} <= set(record):
            fail(en="Each record must be a dict with step, loss, lr and grad_norm.",
                 zh="每条记录都应是包含 step、loss、lr 和 grad_norm 的 dict。", detail=describe_value(record))
        kinds = {key: type(value).__name__ for key, value in record.items()}
        if type(record["step"]) is not int or any(type(record[k]) is not float for k in record if k != "step"):
            fail(en="Record values must be Python numbers (step an int, the rest floats), not tensors.",
                 zh="记录中的值必须是 Python 数值（step 为 int，其余为 float），不能是张量。", detail=f"types {kinds}")
    json.dumps(records)


@explain(
    en="train seeds torch with config.seed: the same seed gives the same run whatever the global RNG state was.",
    zh="train 用 config.seed 设置 torch 的随机种子：种子相同，无论全局随机数状态如何，结果都相同。",
)
def test_train_seeds_torch():
    generator = torch.Generator().manual_seed(4)
    batches = [probe_batch(generator, 2, 2, 4, 1.0, False) for _ in range(2)]
    config = train_loop.TrainConfig(peak_lr=0.1, warmup_steps=0, total_steps=3, seed=11)
    runs = []
    for outer_seed in (1, 2):
        torch.manual_seed(outer_seed)
        runs.append(train_loop.train(ProbeLM(torch.tensor([[1.0], [-1.0]]), torch.zeros(1), noise=True), batches, config))
    if runs[0] != runs[1]:
        fail(en="Two runs with the same config.seed gave different records: call torch.manual_seed(config.seed).",
             zh="config.seed 相同的两次运行得到了不同的记录：请调用 torch.manual_seed(config.seed)。",
             detail=f"{runs[0]}\n{runs[1]}")


# ---------------------------------------------------------------- train: checkpoints and resume


def resume_hint(reference, resumed, completed: int) -> tuple[str, str]:
    """Name the piece of state a resumed run lost; `completed` steps were saved before the crash."""
    if len(resumed) != len(reference):
        return (f" The resumed run returned {len(resumed)} records instead of {len(reference)}: return the saved "
                "records followed by the new ones.",
                f"续训返回了 {len(resumed)} 条记录而不是 {len(reference)} 条：应返回已保存的记录再加上新的记录。")
    if resumed[:completed] != reference[:completed]:
        return (f" The records of the {completed} steps saved before the crash changed: the run restarted from "
                f"step 0 instead of continuing at step {completed}.",
                f"崩溃前已保存的 {completed} 步记录变了：训练从第 0 步重新开始，而不是从第 {completed} 步继续。")
    if any(a.get("step") != b["step"] or not close(a.get("lr", -1), b["lr"], 1e-12) for a, b in zip(resumed, reference)):
        return (" The steps or learning rates differ: the schedule restarted instead of continuing from the "
                "saved step.",
                "步数或学习率不同：学习率调度从头开始了，而不是从保存的步数继续。")
    first = next((k for k, (a, b) in enumerate(zip(resumed, reference)) if a != b), None)
    if first is None:
        return (" The records match, but the final weights differ, so an update after resuming went elsewhere: "
                "restore the optimizer state (m, v and step counts) with optimizer.load_state_dict().",
                "记录一致，但最终权重不同，说明续训后的某次更新走偏了：请用 optimizer.load_state_dict() "
                "恢复优化器状态（m、v 和步数）。")
    if first == completed and resumed[first].get("loss") != reference[first]["loss"]:
        return (f" Step {first}, the first one after resuming, already has another loss: restore the model "
                "weights and the RNG state (dropout masks come from it).",
                f"续训后的第一步（第 {first} 步）损失就已经不同：请恢复模型权重和随机数状态（dropout 掩码由它决定）。")
    return (f" The records first differ at step {first}, after the first resumed step: restore the optimizer "
            "state (m, v and step counts) with optimizer.load_state_dict().",
            f"记录从第 {first} 步起不同，在续训后的第一步之后：请用 optimizer.load_state_dict() 恢复优化器状态"
            "（m、v 和步数）。")


@explain(
    en="A run killed mid-window and resumed from its checkpoint returns exactly the records of an uninterrupted run.",
    zh="在窗口中途被中断、再从 checkpoint 续训的运行，返回的记录与不中断的运行完全相同。",
)
@settings(max_examples=4, phases=NO_SHRINK)
@given(run=probe_runs(max_batches=4), crash_share=st.floats(0.1, 0.9))
def test_train_resume_probe(run, crash_share):
    directions, start, batches, values = run
    batches = copy.deepcopy(batches)
    for batch in batches:
        batch["labels"][0, -1] = 0  # every step has a loss, so a lost state shows in the records
    values = {**values, "weight_decay": 0.1, "total_steps": max(values["total_steps"], 3)}
    values["warmup_steps"] = min(values["warmup_steps"], values["total_steps"])
    with tempfile.TemporaryDirectory() as whole_dir, tempfile.TemporaryDirectory() as crash_dir:
        whole, reference, _ = run_probe(directions, start, batches, {**values, "checkpoint_dir": whole_dir}, noise=True)
        forwards = len(whole.calls)
        crash_at = max(1, min(forwards - 1, int(forwards * crash_share)))
        # Steps whose forwards all ran before the crash were checkpointed.
        window_sizes = [end - begin for begin, end in window_bounds(len(batches), values["grad_accum_steps"])]
        per_step = [window_sizes[step % len(window_sizes)] for step in range(values["total_steps"])]
        completed = sum(1 for k in range(1, len(per_step) + 1) if sum(per_step[:k]) <= crash_at)

        crashed = ProbeLM(directions, start, noise=True)
        crashed.crash_at = crash_at
        try:
            train_loop.train(crashed, batches, train_loop.TrainConfig(**values, checkpoint_dir=crash_dir))
        except SimulatedCrash:
            pass
        else:
            fail(en="The simulated crash never happened.", zh="模拟的崩溃没有发生。")

        fresh = ProbeLM(directions, start, noise=True)
        resumed = train_loop.train(fresh, batches, train_loop.TrainConfig(**values, checkpoint_dir=crash_dir, resume=True))
    if resumed != reference or not torch.equal(fresh.weight, whole.weight):
        hint_en, hint_zh = resume_hint(reference, resumed, completed)
        fail(
            en=f"After a crash at forward call {crash_at} and resume=True, the run differs from the uninterrupted one."
            + hint_en,
            zh=f"在第 {crash_at} 次前向调用时崩溃、用 resume=True 续训后，结果与不中断的运行不同。" + hint_zh,
            detail=f"uninterrupted {describe_value(reference, 400)}\nresumed       {describe_value(resumed, 400)}",
        )


@explain(
    en="Resuming a Qwen3 run with dropout gives bit-identical records and weights (model, optimizer, step, RNG restored).",
    zh="带 dropout 的 Qwen3 训练续训后，记录和权重逐位一致（模型、优化器、步数、随机数状态都已恢复）。",
)
def test_train_resume_qwen():
    generator = torch.Generator().manual_seed(9)
    batches = []
    for _ in range(3):
        ids = torch.randint(1, QWEN_SIZES["vocab_size"], (2, 6), generator=generator)
        labels = ids.clone()
        labels[:, :2] = IGNORE_INDEX
        batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    values = dict(peak_lr=1e-2, warmup_steps=1, total_steps=4, grad_accum_steps=2, max_grad_norm=0.5,
                  weight_decay=0.1, seed=3)
    with tempfile.TemporaryDirectory() as whole_dir, tempfile.TemporaryDirectory() as crash_dir:
        whole = tiny_qwen(1, dropout=0.2)
        reference = train_loop.train(whole, batches, train_loop.TrainConfig(**values, checkpoint_dir=whole_dir))

        crashed = tiny_qwen(1, dropout=0.2)
        calls = {"n": 0}

        def crash_on_fourth_forward(module, args, kwargs):
            calls["n"] += 1
            if calls["n"] == 4:  # micro-batch 2 of step 1: step 0 is saved, step 1 is half done
                raise SimulatedCrash("simulated crash")

        handle = crashed.register_forward_pre_hook(crash_on_fourth_forward, with_kwargs=True)
        try:
            train_loop.train(crashed, batches, train_loop.TrainConfig(**values, checkpoint_dir=crash_dir))
        except SimulatedCrash:
            pass
        handle.remove()

        fresh = tiny_qwen(1, dropout=0.2)
        resumed = train_loop.train(fresh, batches, train_loop.TrainConfig(**values, checkpoint_dir=crash_dir, resume=True))
    if resumed != reference:
        hint_en, hint_zh = resume_hint(reference, resumed, 1)
        fail(en="The resumed Qwen3 run's records differ from the uninterrupted run's." + hint_en,
             zh="续训的 Qwen3 运行记录与不中断的运行不同。" + hint_zh,
             detail=f"uninterrupted {describe_value(reference, 500)}\nresumed       {describe_value(resumed, 500)}")
    for (name, a), b in zip(fresh.named_parameters(), whole.parameters()):
        if not torch.equal(a, b):
            fail(en=f"After resuming, parameter {name} differs from the uninterrupted run.",
                 zh=f"续训之后参数 {name} 与不中断的运行不同。")


@explain(
    en="resume=True with no checkpoint yet starts from scratch; every step leaves a checkpoint in checkpoint_dir.",
    zh="resume=True 但还没有 checkpoint 时从头训练；每一步都会在 checkpoint_dir 中留下 checkpoint。",
)
def test_train_resume_from_empty_folder():
    generator = torch.Generator().manual_seed(6)
    batches = [probe_batch(generator, 2, 1, 4, 1.0, False) for _ in range(2)]
    values = dict(peak_lr=0.1, warmup_steps=1, total_steps=3)
    plain = train_loop.train(ProbeLM(torch.tensor([[1.0], [0.5]]), torch.zeros(1)), batches, train_loop.TrainConfig(**values))
    with tempfile.TemporaryDirectory() as folder:
        resumed = train_loop.train(ProbeLM(torch.tensor([[1.0], [0.5]]), torch.zeros(1)), batches,
                                   train_loop.TrainConfig(**values, checkpoint_dir=folder, resume=True))
        written = [p for p in __import__("pathlib").Path(folder).rglob("*") if p.is_file()]
        again = train_loop.train(ProbeLM(torch.tensor([[1.0], [0.5]]), torch.zeros(1)), batches,
                                 train_loop.TrainConfig(**values, checkpoint_dir=folder, resume=True))
    if resumed != plain:
        fail(en="resume=True on an empty checkpoint_dir must train from scratch like a plain run.",
             zh="checkpoint_dir 为空时，resume=True 应像普通运行一样从头训练。",
             detail=f"plain {plain}\nresumed {resumed}")
    if not written:
        fail(en="checkpoint_dir is still empty after training: save a checkpoint after every step.",
             zh="训练结束后 checkpoint_dir 仍为空：每一步之后都要保存 checkpoint。")
    if again != plain:
        fail(en="Resuming a finished run must return its records without training further.",
             zh="对已经跑完的训练续训，应直接返回它的记录，不再继续训练。", detail=f"got {again}")


# ---------------------------------------------------------------- train: a Qwen3 model against a reference loop


def reference_train(model, batches, values):
    """The loop built from torch.optim.AdamW, transformers' schedule and torch's clipping."""
    from transformers import get_cosine_schedule_with_warmup

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=values["peak_lr"], weight_decay=values["weight_decay"])
    scheduler = get_cosine_schedule_with_warmup(optimizer, values["warmup_steps"], values["total_steps"])
    windows = window_bounds(len(batches), values["grad_accum_steps"])
    records = []
    torch.manual_seed(values.get("seed", 0))
    for step in range(values["total_steps"]):
        begin, end = windows[step % len(windows)]
        window = batches[begin:end]
        count = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in window)
        total = 0.0
        for batch in window:
            loss = summed_loss(model, batch)
            (loss / count).backward()
            total += loss.item()
        norm = torch.nn.utils.clip_grad_norm_(trainable, values["max_grad_norm"])
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        records.append({"step": step, "loss": total / count, "lr": lr, "grad_norm": float(norm)})
    return records


@explain(
    en="On a Qwen3 model, train matches a loop of torch.optim.AdamW, transformers' cosine schedule and torch clipping.",
    zh="在 Qwen3 模型上，train 与由 torch.optim.AdamW、transformers 余弦调度和 torch 梯度裁剪组成的循环结果一致。",
)
@settings(max_examples=2, phases=NO_SHRINK)
@given(seed=st.integers(0, 1000), accum=st.integers(2, 3), count=st.integers(3, 5))
def test_train_qwen_matches_reference(seed, accum, count):
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        rows, length = int(torch.randint(1, 3, (1,), generator=generator)), int(torch.randint(4, 9, (1,), generator=generator))
        ids = torch.randint(1, QWEN_SIZES["vocab_size"], (rows, length), generator=generator)
        labels = torch.where(torch.rand(rows, length, generator=generator) < 0.6, ids, IGNORE_INDEX)
        labels[0, -1] = ids[0, -1]  # at least one supervised token per micro-batch
        batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels})
    values = dict(peak_lr=3e-3, warmup_steps=2, total_steps=5, grad_accum_steps=accum, max_grad_norm=0.5,
                  weight_decay=0.1, seed=0)
    model = tiny_qwen(seed)
    records = train_loop.train(model, batches, train_loop.TrainConfig(**values))
    reference_model = tiny_qwen(seed)
    reference = reference_train(reference_model, batches, values)
    for got, expected in zip(records, reference):
        for key in ("loss", "lr", "grad_norm"):
            if not close(got.get(key, float("nan")), expected[key], 1e-4):
                fail(en=f"Step {expected['step']}: {key} is {got.get(key)!r}, the reference loop gives {expected[key]!r}.",
                     zh=f"第 {expected['step']} 步：{key} 为 {got.get(key)!r}，参考循环给出 {expected[key]!r}。",
                     detail=f"config {values}, {count} micro-batches")
    for (name, a), b in zip(model.named_parameters(), reference_model.parameters()):
        if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
            fail(en=f"After training, {name} differs from the reference loop's.",
                 zh=f"训练结束后，{name} 与参考循环的结果不同。",
                 detail=f"largest gap {float((a - b).abs().max()):.3g}")


# ---------------------------------------------------------------- train: bad input


def _bad_train_case(kind):
    generator = torch.Generator().manual_seed(0)
    batches = [probe_batch(generator, 2, 1, 3, 1.0, False)]
    model = ProbeLM(torch.tensor([[1.0], [1.0]]), torch.zeros(1))
    base = dict(peak_lr=0.1, warmup_steps=0, total_steps=2)
    cases = {
        "config not a TrainConfig": (model, batches, dict(base), None, TypeError),
        "empty train_batches": (model, [], train_loop.TrainConfig(**base), None, ValueError),
        "total_steps 0": (model, batches, train_loop.TrainConfig(**{**base, "total_steps": 0}), None, ValueError),
        "grad_accum_steps 0": (model, batches, train_loop.TrainConfig(**base, grad_accum_steps=0), None, ValueError),
        "warmup longer than total": (model, batches, train_loop.TrainConfig(**{**base, "warmup_steps": 3}), None, ValueError),
        "negative peak_lr": (model, batches, train_loop.TrainConfig(**{**base, "peak_lr": -1.0}), None, ValueError),
        "max_grad_norm 0": (model, batches, train_loop.TrainConfig(**base, max_grad_norm=0.0), None, ValueError),
        "eval_every without eval_batches": (model, batches, train_loop.TrainConfig(**base, eval_every=1), None, ValueError),
        "resume without checkpoint_dir": (model, batches, train_loop.TrainConfig(**base, resume=True), None, ValueError),
    }
    return cases[kind]


BAD_TRAIN = [
    "config not a TrainConfig", "empty train_batches", "total_steps 0", "grad_accum_steps 0",
    "warmup longer than total", "negative peak_lr", "max_grad_norm 0", "eval_every without eval_batches",
    "resume without checkpoint_dir",
]


@explain(
    en="train raises TypeError or ValueError for a bad config or empty data before training anything.",
    zh="配置不合法或数据为空时，train 在训练开始之前就抛出 TypeError 或 ValueError。",
)
@pytest.mark.parametrize("case", BAD_TRAIN, ids=BAD_TRAIN)
def test_train_bad_input(case):
    model, batches, config, eval_batches, error_type = _bad_train_case(case)
    start = model.weight.detach().clone()
    try:
        train_loop.train(model, batches, config, eval_batches)
    except error_type:
        if not torch.equal(model.weight.detach(), start):
            fail(en=f"train changed the weights before rejecting '{case}'; check the config first.",
                 zh=f"train 在拒绝 '{case}' 之前已经改动了权重；应先检查配置。")
        return
    except Exception as error:  # noqa: BLE001 - any other error is the finding
        fail(en=f"For '{case}' expected {error_type.__name__}, got {type(error).__name__}: {error}",
             zh=f"'{case}' 应抛出 {error_type.__name__}，实际抛出 {type(error).__name__}：{error}")
    fail(en=f"train accepted '{case}'; raise {error_type.__name__} naming the value and the fix.",
         zh=f"train 接受了不合法的输入（{case}），应抛出 {error_type.__name__} 并说明该值和改法。")
