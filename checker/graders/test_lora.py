"""Graders for the `lora` kata.

Oracles: float64 formulas and autograd for the layer and its gradients,
PEFT's `lora.Linear` (plain, rsLoRA and DoRA) for the forward pass,
`get_peft_model` for parameter counts and state-dict keys, and
`PeftModel.from_pretrained` on a tiny `Qwen3ForCausalLM` saved to a
temporary folder for the adapter files. peft is imported inside the
graders that need it, because importing it costs about two seconds.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from functools import cache
from pathlib import Path

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from torch import nn

from checker.grading import explain, fail, kata_module
from checker.resolver import KataNotImplemented

lora = kata_module("lora")

VOCAB = 96
TARGET_CHOICES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LEVEL3_EN = "Level 3 (optional, DoRA): "
LEVEL3_ZH = "第 3 级（选做，DoRA）："

features = st.integers(1, 12)
ranks = st.integers(1, 6)
alphas = st.sampled_from([1, 2, 4, 8, 16, 0.5, 3.0])
# Whole-model graders skip shrinking: each example builds a Qwen3 model, and
# a smaller seed or target list would not make a failure easier to read.
MODEL_PHASES = (Phase.explicit, Phase.generate)
seeds = st.integers(0, 2**16)


# ---------------------------------------------------------------- helpers


def weight_of(value) -> torch.Tensor:
    """A learner may hold lora_A as a Parameter or as an nn.Linear; both work here."""
    return value.weight if isinstance(value, nn.Module) else value


def adapter(layer) -> tuple[torch.Tensor, torch.Tensor]:
    for name in ("lora_A", "lora_B"):
        if not hasattr(layer, name):
            fail(
                en=f"LoRALinear has no attribute `{name}`; the graders read the adapter from it.",
                zh=f"LoRALinear 没有属性 `{name}`；评分器从这个属性读取适配器权重。",
            )
    return weight_of(layer.lora_A), weight_of(layer.lora_B)


def linear(in_features, out_features, seed, bias=True, dtype=torch.float32) -> nn.Linear:
    torch.manual_seed(seed)
    layer = nn.Linear(in_features, out_features, bias=bias).to(dtype)
    if bias:
        with torch.no_grad():
            layer.bias.normal_()  # a visible bias, so losing it shows
    return layer


def fill_adapter(layer, seed, std=0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Give A and B random values (B is zero at init), as after some training."""
    lora_A, lora_B = adapter(layer)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        lora_A.copy_(torch.randn(lora_A.shape, generator=generator, dtype=torch.float64) * std)
        lora_B.copy_(torch.randn(lora_B.shape, generator=generator, dtype=torch.float64) * std)
    return lora_A, lora_B


def spec_forward(x, weight, bias, lora_A, lora_B, scaling) -> torch.Tensor:
    """y = x W^T + b + scaling * (x A^T) B^T, in float64."""
    x, weight, lora_A, lora_B = (t.detach().double() for t in (x, weight, lora_A, lora_B))
    y = x @ weight.T + scaling * (x @ lora_A.T) @ lora_B.T
    return y if bias is None else y + bias.detach().double()


def max_error(got, expected) -> float:
    return float((got.detach().double() - expected.detach().double()).abs().max())


def base_of(layer) -> nn.Linear:
    base = getattr(layer, "base", None)
    if not isinstance(base, nn.Linear):
        fail(en="LoRALinear must keep the wrapped nn.Linear as the attribute `base`.",
             zh="LoRALinear 必须把被包装的 nn.Linear 保存为属性 `base`。")
    return base


def check_scaling_attribute(layer, expected, where: str) -> None:
    got = getattr(layer, "scaling", None)
    if not isinstance(got, (int, float, torch.Tensor)) or not math.isclose(float(got), expected, rel_tol=1e-9):
        fail(
            en=f"{where}: scaling is {got!r}, expected {expected:g}.",
            zh=f"{where}：scaling 为 {got!r}，应为 {expected:g}。",
        )


@cache
def qwen3_config(tie: bool = False, bias: bool = False):
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
        tie_word_embeddings=tie, attention_bias=bias,
    )


def tiny_qwen3(seed: int, tie: bool = False, bias: bool = False):
    """A 2-layer, 32-wide Qwen3ForCausalLM with random weights, in eval mode."""
    from transformers import Qwen3ForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()  # save/load bars would show up as output of the learner's code

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(qwen3_config(tie, bias)).eval()
    if bias:
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith("proj.bias"):
                    parameter.normal_(0, 0.1)
    return model


def token_ids(seed: int, batch: int = 2, length: int = 7) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def expected_paths(model, targets) -> list[str]:
    return [
        name for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.rpartition(".")[2] in targets
    ]


def train_adapter(model, seed: int, steps: int = 3) -> None:
    """A few SGD steps on random tokens, so every lora_B moves away from zero."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=0.5)
    ids = token_ids(seed + 1, batch=2, length=9)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def peft_linear(base, r, alpha, use_rslora=False, use_dora=False, dropout=0.0):
    from peft import LoraConfig
    from peft.tuners.lora.layer import Linear as PeftLinear

    config = LoraConfig(r=r, lora_alpha=alpha, use_rslora=use_rslora, use_dora=use_dora, lora_dropout=dropout)
    return PeftLinear(base, "default", config=config, r=r, lora_alpha=alpha)


# ---------------------------------------------------------------- level 1: LoRALinear


@explain(
    en="lora_A is [r, in] and random, lora_B is [out, r] and zero, scaling is alpha / r, merged starts False.",
    zh="lora_A 形状为 [r, in] 且随机初始化，lora_B 形状为 [out, r] 且为零，scaling 为 alpha / r，merged 初始为 False。",
)
@given(in_features=features, out_features=features, r=ranks, alpha=alphas, seed=seeds)
def test_init_shapes_and_scaling(in_features, out_features, r, alpha, seed):
    base = linear(in_features, out_features, seed)
    layer = lora.LoRALinear(base, r, alpha)
    lora_A, lora_B = adapter(layer)

    if tuple(lora_A.shape) != (r, in_features) or tuple(lora_B.shape) != (out_features, r):
        fail(
            en=f"For nn.Linear({in_features}, {out_features}) and r={r}, lora_A must be [{r}, {in_features}] "
            f"and lora_B [{out_features}, {r}].",
            zh=f"对 nn.Linear({in_features}, {out_features}) 且 r={r}，lora_A 应为 [{r}, {in_features}]，"
            f"lora_B 应为 [{out_features}, {r}]。",
            detail=f"got lora_A {tuple(lora_A.shape)}, lora_B {tuple(lora_B.shape)}",
        )
    if lora_B.abs().sum() != 0:
        fail(
            en="lora_B must start at zero, so that the wrapped layer equals the base layer at init.",
            zh="lora_B 必须初始化为零，这样包装后的层在初始化时与原始层完全一致。",
        )
    if lora_A.abs().sum() == 0:
        fail(
            en="lora_A is all zeros. With B = 0 too, both gradients stay zero forever; A must be random.",
            zh="lora_A 全为零。B 也为零时，两者的梯度将永远为零；A 必须随机初始化。",
        )
    check_scaling_attribute(layer, alpha / r, f"r={r}, alpha={alpha}")
    if getattr(layer, "merged", None) is not False:
        fail(en="A new LoRALinear must have merged == False.", zh="新建的 LoRALinear 的 merged 必须为 False。",
             detail=f"got merged={getattr(layer, 'merged', '<missing>')!r}")
    if lora_A.dtype != base.weight.dtype or lora_B.dtype != base.weight.dtype:
        fail(en="lora_A and lora_B must have the base weight's dtype.", zh="lora_A 和 lora_B 的 dtype 必须与原始权重一致。",
             detail=f"base {base.weight.dtype}, lora_A {lora_A.dtype}, lora_B {lora_B.dtype}")


@explain(
    en="lora_A is Kaiming-uniform with a=sqrt(5): uniform in ±1/sqrt(in_features).",
    zh="lora_A 采用 a=sqrt(5) 的 Kaiming 均匀初始化：在 ±1/sqrt(in_features) 内均匀分布。",
)
@settings(max_examples=5)
@given(in_features=st.sampled_from([64, 100, 256]), seed=seeds)
def test_init_kaiming_uniform(in_features, seed):
    r = 32
    layer = lora.LoRALinear(linear(in_features, 8, seed), r, 16)
    lora_A, _ = adapter(layer)

    values = lora_A.detach().double().flatten()
    bound = 1 / math.sqrt(in_features)
    expected_std = bound / math.sqrt(3)  # the standard deviation of U(-bound, bound)
    if float(values.abs().max()) > bound * (1 + 1e-6):
        fail(
            en=f"lora_A has values outside ±1/sqrt(in) = ±{bound:.4f}; use nn.init.kaiming_uniform_(A, a=math.sqrt(5)).",
            zh=f"lora_A 中有超出 ±1/sqrt(in) = ±{bound:.4f} 的值；请使用 nn.init.kaiming_uniform_(A, a=math.sqrt(5))。",
            detail=f"max |A| = {float(values.abs().max()):.4f}",
        )
    if not 0.9 * expected_std < float(values.std()) < 1.1 * expected_std or float(values.abs().max()) < 0.9 * bound:
        fail(
            en=f"lora_A does not look uniform on ±{bound:.4f} (Kaiming-uniform with a=sqrt(5)).",
            zh=f"lora_A 看起来不是 ±{bound:.4f} 上的均匀分布（应为 a=sqrt(5) 的 Kaiming 均匀初始化）。",
            detail=f"std {float(values.std()):.4f}, expected about {expected_std:.4f}",
        )


@explain(
    en="At init the layer equals the base layer, grad_A is zero and grad_B is not.",
    zh="初始化时该层与原始层输出相同，grad_A 为零而 grad_B 不为零。",
)
@given(in_features=features, out_features=features, r=ranks, alpha=alphas, seed=seeds)
def test_init_equals_base_and_gradients(in_features, out_features, r, alpha, seed):
    base = linear(in_features, out_features, seed)
    expected_layer = copy.deepcopy(base)
    layer = lora.LoRALinear(base, r, alpha)
    x = torch.randn(3, in_features, generator=torch.Generator().manual_seed(seed))

    y = layer(x)
    if y.shape != (3, out_features) or not torch.equal(y, expected_layer(x)):
        fail(
            en="At init the LoRA layer must return exactly what the base layer returns (bias included).",
            zh="初始化时 LoRA 层的输出必须与原始层完全相同（包括 bias）。",
            detail=f"max difference {max_error(y, expected_layer(x)) if y.shape == (3, out_features) else y.shape}",
        )
    y.square().sum().backward()
    lora_A, lora_B = adapter(layer)
    grad_A, grad_B = lora_A.grad, lora_B.grad
    no_grad_A = grad_A is None or grad_A.abs().sum() == 0
    no_grad_B = grad_B is None or grad_B.abs().sum() == 0
    if no_grad_A and no_grad_B:
        fail(
            en="No gradient reaches lora_A or lora_B: with both zero, nothing ever trains. Keep A random, B zero.",
            zh="lora_A 和 lora_B 都没有收到梯度：两者都为零时永远训练不起来。应让 A 随机、B 为零。",
        )
    if no_grad_B:
        fail(
            en="grad_B is zero at init. B gets its gradient through A x, so A must be random (and B zero), not the reverse.",
            zh="初始化时 grad_B 为零。B 的梯度经由 A x 传来，因此应当 A 随机、B 为零，而不是反过来。",
        )
    if not no_grad_A:
        fail(
            en="grad_A is non-zero at init, so B is not zero: the layer does not start as the base layer.",
            zh="初始化时 grad_A 不为零，说明 B 不是零：该层一开始就不等于原始层。",
        )


@explain(
    en="Base weight and bias are frozen; only lora_A and lora_B train (r * (in + out) parameters).",
    zh="原始层的 weight 和 bias 都被冻结；只有 lora_A 和 lora_B 参与训练（共 r * (in + out) 个参数）。",
)
@given(in_features=features, out_features=features, r=ranks, seed=seeds)
def test_base_frozen(in_features, out_features, r, seed):
    base = linear(in_features, out_features, seed)
    layer = lora.LoRALinear(base, r, 2 * r)
    lora_A, lora_B = adapter(layer)

    trainable = {id(p) for p in layer.parameters() if p.requires_grad}
    if base.weight.requires_grad or id(base.weight) in trainable:
        fail(en="The base weight is left trainable; LoRA trains only A and B.",
             zh="原始层的 weight 仍可训练；LoRA 只训练 A 和 B。")
    if base.bias.requires_grad or id(base.bias) in trainable:
        fail(en="The base bias is left trainable; freeze it together with the weight.",
             zh="原始层的 bias 仍可训练；应与 weight 一起冻结。")
    if trainable != {id(lora_A), id(lora_B)} or not lora_A.requires_grad or not lora_B.requires_grad:
        count = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        fail(
            en=f"Exactly lora_A and lora_B must be trainable ({r * (in_features + out_features)} numbers).",
            zh=f"可训练的应当恰好是 lora_A 和 lora_B（共 {r * (in_features + out_features)} 个数）。",
            detail=f"trainable parameters hold {count} numbers",
        )


@explain(
    en="Real case: scaling is alpha / r, and with rsLoRA alpha / sqrt(r) (r=4, alpha=8 gives 4.0, not 2.0).",
    zh="真实案例：scaling 为 alpha / r，rsLoRA 时为 alpha / sqrt(r)（r=4、alpha=8 时为 4.0，而不是 2.0）。",
)
@given(r=ranks, alpha=alphas, use_rslora=st.booleans(), seed=seeds)
def test_scaling_plain_and_rslora(r, alpha, use_rslora, seed):
    fixed = lora.LoRALinear(linear(5, 3, seed), 4, 8, use_rslora=True)
    check_scaling_attribute(fixed, 4.0, "rsLoRA with r=4, alpha=8")
    layer = lora.LoRALinear(linear(5, 3, seed), r, alpha, use_rslora=use_rslora)
    expected = alpha / math.sqrt(r) if use_rslora else alpha / r
    check_scaling_attribute(layer, expected, f"r={r}, alpha={alpha}, use_rslora={use_rslora}")

    # The forward pass must use that same scaling.
    lora_A, lora_B = fill_adapter(layer, seed)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(seed + 1))
    spec = spec_forward(x, base_of(layer).weight, base_of(layer).bias, lora_A, lora_B, expected)
    if max_error(layer(x), spec) > 1e-4:
        fail(
            en=f"The forward pass does not scale the update by {expected:g} (r={r}, alpha={alpha}, use_rslora={use_rslora}).",
            zh=f"前向计算没有用 {expected:g} 缩放增量（r={r}，alpha={alpha}，use_rslora={use_rslora}）。",
            detail=f"max difference from the float64 formula: {max_error(layer(x), spec):.2e}",
        )


@explain(
    en="forward equals x W^T + b + scaling * x A^T B^T (float64 formula) for 1-D, 2-D and 3-D inputs.",
    zh="forward 等于 x W^T + b + scaling * x A^T B^T（按 float64 公式核对），输入可以是 1 维、2 维或 3 维。",
)
@given(in_features=features, out_features=features, r=ranks, alpha=alphas,
       leading=st.lists(st.integers(1, 4), min_size=0, max_size=2), bias=st.booleans(), seed=seeds)
def test_forward_float64_formula(in_features, out_features, r, alpha, leading, bias, seed):
    base = linear(in_features, out_features, seed, bias=bias, dtype=torch.float64)
    layer = lora.LoRALinear(base, r, alpha)
    lora_A, lora_B = fill_adapter(layer, seed)
    x = torch.randn(*leading, in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))

    y = layer(x)
    expected = spec_forward(x, base.weight, base.bias, lora_A, lora_B, alpha / r)
    if tuple(y.shape) != tuple(expected.shape):
        fail(en="forward returns the wrong shape: x [..., in] must give [..., out].",
             zh="forward 返回的形状不对：输入 [..., in] 应得到 [..., out]。",
             detail=f"x {tuple(x.shape)}: got {tuple(y.shape)}, expected {tuple(expected.shape)}")
    if max_error(y, expected) > 1e-9:
        transposed_hint = ""
        if in_features == out_features and max_error(y, spec_forward(x, base.weight, base.bias, lora_B.T, lora_A.T, alpha / r)) < 1e-9:
            transposed_hint = " It matches the transposed update (A^T B^T in place of B A)."
        fail(
            en="forward differs from x W^T + b + scaling * x A^T B^T." + transposed_hint,
            zh="forward 与 x W^T + b + scaling * x A^T B^T 不一致。" + ("结果与转置后的增量（用 A^T B^T 代替 B A）一致。" if transposed_hint else ""),
            detail=f"max difference {max_error(y, expected):.2e}; shapes x {tuple(x.shape)}, r={r}, alpha={alpha}",
        )


@explain(
    en="forward matches PEFT's lora.Linear (plain and rsLoRA) with the same A and B.",
    zh="在 A、B 相同的情况下，forward 与 PEFT 的 lora.Linear（普通与 rsLoRA）输出一致。",
)
@settings(max_examples=15)
@given(in_features=features, out_features=features, r=ranks, alpha=alphas, use_rslora=st.booleans(), seed=seeds)
def test_forward_matches_peft(in_features, out_features, r, alpha, use_rslora, seed):
    base = linear(in_features, out_features, seed)
    layer = lora.LoRALinear(copy.deepcopy(base), r, alpha, use_rslora=use_rslora)
    lora_A, lora_B = fill_adapter(layer, seed)
    x = torch.randn(2, 3, in_features, generator=torch.Generator().manual_seed(seed))
    y = layer(x)

    reference = peft_linear(base, r, alpha, use_rslora=use_rslora)
    with torch.no_grad():
        reference.lora_A["default"].weight.copy_(lora_A)
        reference.lora_B["default"].weight.copy_(lora_B)
    expected = reference(x)
    if max_error(y, expected) > 1e-5:
        fail(
            en="Your output differs from PEFT's lora.Linear on the same weights.",
            zh="在相同权重下，你的输出与 PEFT 的 lora.Linear 不同。",
            detail=f"max difference {max_error(y, expected):.2e} (r={r}, alpha={alpha}, use_rslora={use_rslora})",
        )


@explain(
    en="In training mode dropout touches the LoRA input only: the base path always sees the whole x.",
    zh="训练模式下 dropout 只作用在 LoRA 分支的输入上：原始层始终看到完整的 x。",
)
@settings(max_examples=10)
@given(size=st.integers(4, 10), seed=seeds)
def test_dropout_only_on_lora_branch(size, seed):
    p = 0.5
    base = linear(size, size, seed, dtype=torch.float64)
    layer = lora.LoRALinear(base, size, size, dropout=p)
    layer.train()
    lora_A, lora_B = adapter(layer)
    with torch.no_grad():
        lora_A.copy_(torch.eye(size))  # with A = B = I and scaling 1 the branch returns dropout(x)
        lora_B.copy_(torch.eye(size))
    x = torch.randn(64, size, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) + 3.0

    torch.manual_seed(seed)
    branch = layer(x) - base(x)  # must be dropout(x): each entry 0 or x / (1 - p)
    kept = (branch - x / (1 - p)).abs() < 1e-9
    dropped = branch.abs() < 1e-9
    if not bool((kept | dropped).all()):
        fail(
            en="With A = B = I, output - base(x) must be dropout(x): every entry 0 or x / (1 - p). "
            "Is dropout applied to the base path too, or scaled wrongly?",
            zh="当 A = B = I 时，output - base(x) 应等于 dropout(x)：每个元素要么是 0，要么是 x / (1 - p)。"
            "是不是把 dropout 也用在了原始层上，或者缩放不对？",
        )
    if not bool(dropped.any()) or not bool(kept.any()):
        fail(
            en=f"With dropout={p} in training mode, some LoRA inputs must be dropped and some kept.",
            zh=f"dropout={p} 且处于训练模式时，LoRA 分支的输入应有一部分被丢弃、一部分保留。",
            detail=f"dropped {int(dropped.sum())} of {dropped.numel()}",
        )


@explain(
    en="In eval mode dropout is off: the output is the plain formula, the same on every call.",
    zh="eval 模式下 dropout 关闭：输出就是普通公式的结果，每次调用都一样。",
)
@given(in_features=features, out_features=features, r=ranks, seed=seeds)
def test_dropout_off_in_eval(in_features, out_features, r, seed):
    base = linear(in_features, out_features, seed)
    layer = lora.LoRALinear(base, r, 2 * r, dropout=0.5)
    layer.eval()
    lora_A, lora_B = fill_adapter(layer, seed)
    x = torch.randn(16, in_features, generator=torch.Generator().manual_seed(seed))

    y = layer(x)
    expected = spec_forward(x, base.weight, base.bias, lora_A, lora_B, 2.0)
    if max_error(y, expected) > 1e-4:
        fail(
            en="In eval mode (layer.eval()) the output must not be dropped out. "
            "F.dropout(x, p) drops even in eval unless you pass training=self.training; nn.Dropout handles it.",
            zh="eval 模式（layer.eval()）下输出不能再做 dropout。F.dropout(x, p) 默认在 eval 时也会丢弃，"
            "除非传入 training=self.training；nn.Dropout 会自动处理。",
            detail=f"max difference from the formula {max_error(y, expected):.2e}",
        )


# ---------------------------------------------------------------- level 1: merge / unmerge


@explain(
    en="Real case: merge() twice changes the weight once; unmerge() restores it to 1e-6; merged and unmerged outputs agree in eval mode.",
    zh="真实案例：merge() 调用两次，权重只改变一次；unmerge() 把权重恢复到 1e-6 以内；eval 模式下合并前后输出一致。",
)
@given(in_features=features, out_features=features, r=ranks, alpha=alphas, use_rslora=st.booleans(), seed=seeds)
def test_merge_unmerge_idempotent(in_features, out_features, r, alpha, use_rslora, seed):
    base = linear(in_features, out_features, seed)
    original = base.weight.detach().clone()
    layer = lora.LoRALinear(base, r, alpha, dropout=0.3, use_rslora=use_rslora)
    layer.eval()
    lora_A, lora_B = fill_adapter(layer, seed, std=0.2)
    scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
    delta = scaling * lora_B.detach().double() @ lora_A.detach().double()
    x = torch.randn(5, in_features, generator=torch.Generator().manual_seed(seed))
    before = layer(x).detach()

    layer.unmerge()  # not merged: must do nothing
    if max_error(base.weight, original) > 0:
        fail(en="unmerge() on a layer that is not merged changed the weight; it must do nothing.",
             zh="对尚未合并的层调用 unmerge() 改变了权重；此时它应当什么也不做。")
    layer.merge()
    once = base.weight.detach().clone()
    layer.merge()
    if max_error(once, original.double() + delta) > 1e-5:
        fail(en="After merge() the weight must be W + scaling * B @ A.",
             zh="merge() 之后权重应为 W + scaling * B @ A。",
             detail=f"max difference {max_error(once, original.double() + delta):.2e}")
    if max_error(base.weight, once) > 0:
        fail(
            en="A second merge() changed the weight again: the update was added twice. Keep a `merged` flag.",
            zh="第二次调用 merge() 又改变了权重：增量被加了两次。请用 `merged` 标志记录状态。",
            detail=f"max change on the second merge {max_error(base.weight, once):.2e}",
        )
    if getattr(layer, "merged", None) is not True:
        fail(en="After merge(), layer.merged must be True.", zh="merge() 之后 layer.merged 必须为 True。")
    merged_output = layer(x).detach()
    # 1e-6 relative to the output size, because float32 outputs here reach about 10.
    tolerance = 1e-6 * max(1.0, float(before.abs().max()))
    if max_error(merged_output, before) > tolerance:
        fail(
            en="In eval mode the merged layer must return what the unmerged layer returned. "
            "Once merged, forward must not add the LoRA branch again.",
            zh="eval 模式下，合并后的层输出必须与合并前相同。合并之后，forward 不能再额外加上 LoRA 分支。",
            detail=f"max difference {max_error(merged_output, before):.2e}",
        )
    layer.unmerge()
    layer.unmerge()
    if max_error(base.weight, original) > 1e-6:
        fail(
            en="merge() then unmerge() (each called twice) must restore the weight to within 1e-6.",
            zh="merge() 后再 unmerge()（各调用两次）必须把权重恢复到 1e-6 以内。",
            detail=f"max difference {max_error(base.weight, original):.2e}",
        )
    if getattr(layer, "merged", None) is not False:
        fail(en="After unmerge(), layer.merged must be False.", zh="unmerge() 之后 layer.merged 必须为 False。")
    if max_error(layer(x), before) > tolerance:
        fail(en="After unmerge() the layer must return what it returned before merging.",
             zh="unmerge() 之后，该层的输出必须与合并前相同。",
             detail=f"max difference {max_error(layer(x), before):.2e}")


@explain(
    en="merge() computes the update in float32: a float32 weight gets W + scaling * B @ A to float32 precision.",
    zh="merge() 在 float32 下计算增量：float32 权重合并后应以 float32 精度等于 W + scaling * B @ A。",
)
@settings(max_examples=10)
@given(r=ranks, seed=seeds)
def test_merge_precision_float32(r, seed):
    base = linear(48, 40, seed)
    original = base.weight.detach().double()
    layer = lora.LoRALinear(base, r, 2 * r)
    lora_A, lora_B = fill_adapter(layer, seed, std=0.2)

    layer.merge()
    expected = original + 2.0 * lora_B.detach().double() @ lora_A.detach().double()
    error = max_error(base.weight, expected)
    if error > 2e-6:
        fail(
            en="The merged float32 weight is off by more than float32 rounding. Was the update computed "
            "in bf16 or fp16? Compute scaling * B @ A in float32 and cast the sum back once.",
            zh="合并后的 float32 权重误差超过了 float32 的舍入误差。增量是否在 bf16 或 fp16 下计算？"
            "应在 float32 下计算 scaling * B @ A，最后再统一转换回原 dtype。",
            detail=f"max error {error:.2e}",
        )


@explain(
    en="merge() on a bf16 layer computes in float32 and rounds once: the result equals the float64 sum rounded to bf16.",
    zh="对 bf16 层调用 merge() 时，先在 float32 下计算再舍入一次：结果等于 float64 求和后舍入到 bf16。",
)
@settings(max_examples=5)
@given(seed=seeds)
def test_merge_precision_bf16(seed):
    base = linear(64, 48, seed, dtype=torch.bfloat16)
    original = base.weight.detach().double()
    layer = lora.LoRALinear(base, 8, 16)
    lora_A, lora_B = fill_adapter(layer, seed, std=0.3)

    layer.merge()
    expected = (original + 2.0 * lora_B.detach().double() @ lora_A.detach().double()).to(torch.bfloat16)
    if base.weight.dtype != torch.bfloat16:
        fail(en="merge() must keep the weight's dtype (bf16 here).", zh="merge() 必须保持权重原有的 dtype（此处为 bf16）。",
             detail=f"got {base.weight.dtype}")
    mismatched = float((base.weight != expected).double().mean())
    if mismatched > 0.01:
        fail(
            en="On a bf16 layer the merged weight is rounded more than once: compute W + scaling * B @ A "
            "in float32 (weight.float(), A.float(), B.float()) and cast back to bf16 at the end.",
            zh="对 bf16 层合并时发生了多次舍入：应在 float32 下（weight.float()、A.float()、B.float()）"
            "计算 W + scaling * B @ A，最后再转换回 bf16。",
            detail=f"{mismatched:.1%} of the entries differ from the correctly rounded sum",
        )


# ---------------------------------------------------------------- level 1: lora_backward


def autograd_reference(x, weight, lora_A, lora_B, scaling, grad_output):
    x, lora_A, lora_B = (t.detach().clone().requires_grad_(True) for t in (x, lora_A, lora_B))
    y = x @ weight.T + scaling * (x @ lora_A.T) @ lora_B.T
    y.backward(grad_output)
    return x.grad, lora_A.grad, lora_B.grad


@explain(
    en="lora_backward equals autograd in float64 for random shapes (non-square, batched, 3-D inputs).",
    zh="lora_backward 在 float64 下与 autograd 结果一致（随机形状：非方阵、带 batch、3 维输入）。",
)
@given(in_features=features, out_features=features, r=ranks,
       leading=st.lists(st.integers(1, 4), min_size=0, max_size=2),
       scaling=st.sampled_from([0.5, 1.0, 2.0, 4.0, 16.0]), seed=seeds)
def test_lora_backward_matches_autograd(in_features, out_features, r, leading, scaling, seed):
    generator = torch.Generator().manual_seed(seed)
    options = {"dtype": torch.float64, "generator": generator}
    x = torch.randn(*leading, in_features, **options)
    weight = torch.randn(out_features, in_features, **options)
    lora_A = torch.randn(r, in_features, **options)
    lora_B = torch.randn(out_features, r, **options)
    grad_output = torch.randn(*leading, out_features, **options)

    got = lora.lora_backward(x, weight, lora_A, lora_B, scaling, grad_output)
    expected = autograd_reference(x, weight, lora_A, lora_B, scaling, grad_output)
    if not isinstance(got, tuple) or len(got) != 3:
        fail(en="lora_backward must return a tuple (grad_x, grad_A, grad_B).",
             zh="lora_backward 必须返回元组 (grad_x, grad_A, grad_B)。",
             detail=f"got {type(got).__name__}")
    for name, value, reference in zip(("grad_x", "grad_A", "grad_B"), got, expected):
        if not torch.is_tensor(value) or tuple(value.shape) != tuple(reference.shape):
            fail(
                en=f"{name} has the wrong shape.",
                zh=f"{name} 的形状不对。",
                detail=f"got {tuple(value.shape) if torch.is_tensor(value) else type(value).__name__}, "
                f"expected {tuple(reference.shape)} (x {tuple(x.shape)}, r={r})",
            )
        if max_error(value, reference) > 1e-9 * max(1.0, float(reference.abs().max())):
            hint_en = hint_zh = ""
            if name != "grad_x" and max_error(value * scaling, reference) < 1e-9 * max(1.0, float(reference.abs().max())):
                hint_en = f" It is off by exactly the factor scaling = {scaling}: multiply it in."
                hint_zh = f"它恰好差了一个 scaling = {scaling} 的因子：请乘上它。"
            fail(
                en=f"{name} differs from autograd." + hint_en,
                zh=f"{name} 与 autograd 的结果不一致。" + hint_zh,
                detail=f"max difference {max_error(value, reference):.2e} (x {tuple(x.shape)}, "
                f"weight {tuple(weight.shape)}, r={r}, scaling={scaling})",
            )


@explain(
    en="lora_backward derives the gradients by hand: it never calls autograd.",
    zh="lora_backward 必须手工推导梯度：不能调用 autograd。",
)
def test_lora_backward_without_autograd(monkeypatch):
    generator = torch.Generator().manual_seed(0)
    x, weight = torch.randn(2, 3, 5, generator=generator), torch.randn(4, 5, generator=generator)
    lora_A, lora_B = torch.randn(2, 5, generator=generator), torch.randn(4, 2, generator=generator)
    grad_output = torch.randn(2, 3, 4, generator=generator)
    used = []

    def record(*args, **kwargs):
        used.append(True)
        raise RuntimeError("autograd is not allowed in lora_backward")

    monkeypatch.setattr(torch.autograd, "backward", record)
    monkeypatch.setattr(torch.autograd, "grad", record)
    try:
        lora.lora_backward(x, weight, lora_A, lora_B, 2.0, grad_output)
    except RuntimeError:
        if not used:
            raise
    if used:
        fail(
            en="lora_backward called torch.autograd (or .backward()). Write the three products by hand.",
            zh="lora_backward 调用了 torch.autograd（或 .backward()）。请手工写出这三个矩阵乘积。",
        )


BAD_BACKWARD_SHAPES = {
    "lora_A in_features": dict(lora_A=(2, 6)),
    "lora_B out_features": dict(lora_B=(5, 2)),
    "rank mismatch": dict(lora_B=(4, 3)),
    "x in_features": dict(x=(3, 6)),
    "grad_output out_features": dict(grad_output=(3, 5)),
    "grad_output leading dims": dict(grad_output=(2, 4)),
}


@explain(
    en="lora_backward raises ValueError when the shapes do not fit together.",
    zh="形状不匹配时，lora_backward 应抛出 ValueError。",
)
@pytest.mark.parametrize("case", list(BAD_BACKWARD_SHAPES), ids=list(BAD_BACKWARD_SHAPES))
def test_lora_backward_bad_shapes(case):
    shapes = {"x": (3, 5), "weight": (4, 5), "lora_A": (2, 5), "lora_B": (4, 2), "grad_output": (3, 4)}
    shapes.update(BAD_BACKWARD_SHAPES[case])
    tensors = {name: torch.randn(*shape) for name, shape in shapes.items()}

    try:
        lora.lora_backward(tensors["x"], tensors["weight"], tensors["lora_A"], tensors["lora_B"], 1.0,
                           tensors["grad_output"])
    except ValueError:
        return
    except (RuntimeError, IndexError) as error:
        fail(
            en=f"Shapes that do not fit ({case}) must raise ValueError naming them, not {type(error).__name__}.",
            zh=f"形状不匹配（{case}）时应抛出写明形状的 ValueError，而不是 {type(error).__name__}。",
            detail=f"shapes {shapes}; got {type(error).__name__}: {error}",
        )
    fail(
        en=f"lora_backward accepted shapes that do not fit ({case}) instead of raising ValueError.",
        zh=f"lora_backward 接受了不匹配的形状（{case}），应抛出 ValueError。",
        detail=f"shapes {shapes}",
    )


# ---------------------------------------------------------------- level 1: bad arguments


BAD_LAYER_ARGUMENTS = {
    "r=0": (lambda: nn.Linear(4, 3), {"r": 0}, ValueError, "0"),
    "r=-2": (lambda: nn.Linear(4, 3), {"r": -2}, ValueError, "-2"),
    "alpha=0": (lambda: nn.Linear(4, 3), {"alpha": 0}, ValueError, "0"),
    "dropout=1.5": (lambda: nn.Linear(4, 3), {"dropout": 1.5}, ValueError, "1.5"),
    "base is Conv1d": (lambda: nn.Conv1d(4, 3, 1), {}, TypeError, "Conv1d"),
    "base is Embedding": (lambda: nn.Embedding(4, 3), {}, TypeError, "Embedding"),
}


@explain(
    en="Bad arguments raise ValueError (r <= 0, alpha <= 0, dropout outside [0, 1)) or TypeError (base not nn.Linear), naming the value.",
    zh="非法参数应抛出 ValueError（r <= 0、alpha <= 0、dropout 不在 [0, 1) 内）或 TypeError（base 不是 nn.Linear），并写明收到的值。",
)
@pytest.mark.parametrize("case", list(BAD_LAYER_ARGUMENTS), ids=list(BAD_LAYER_ARGUMENTS))
def test_layer_bad_arguments(case):
    make_base, override, error_type, named = BAD_LAYER_ARGUMENTS[case]
    lora.LoRALinear(nn.Linear(4, 3), 2, 4)  # a valid call first
    arguments = {"r": 2, "alpha": 4, "dropout": 0.0} | override

    try:
        lora.LoRALinear(make_base(), **arguments)
    except error_type as error:
        if named not in str(error):
            fail(
                en=f"The {error_type.__name__} for {case} should name the value received ({named!r}).",
                zh=f"{case} 对应的 {error_type.__name__} 应写明收到的值（{named!r}）。",
                detail=f"message was: {error}",
            )
        return
    except Exception as error:  # noqa: BLE001 - any other exception is the finding
        fail(
            en=f"{case} must raise {error_type.__name__}, not {type(error).__name__}.",
            zh=f"{case} 应抛出 {error_type.__name__}，而不是 {type(error).__name__}。",
            detail=f"{type(error).__name__}: {error}",
        )
    fail(
        en=f"LoRALinear accepted {case} instead of raising {error_type.__name__}.",
        zh=f"LoRALinear 接受了 {case}，应抛出 {error_type.__name__}。",
    )


# ---------------------------------------------------------------- level 2: a Qwen3 model


@explain(
    en="apply_lora wraps exactly the matching nn.Linear layers of a Qwen3 model, freezes everything else, and keeps the logits at init.",
    zh="apply_lora 恰好包装 Qwen3 模型中名字匹配的 nn.Linear，冻结其余全部参数，且初始化时 logits 不变。",
)
@settings(max_examples=4, phases=MODEL_PHASES)
@given(targets=st.sets(st.sampled_from(TARGET_CHOICES), min_size=1, max_size=4), r=ranks, seed=seeds)
def test_apply_lora_qwen3(targets, r, seed):
    model = tiny_qwen3(seed, bias=True)
    ids = token_ids(seed)
    with torch.no_grad():
        before = model(input_ids=ids).logits
    expected = expected_paths(model, targets)

    paths = lora.apply_lora(model, sorted(targets), r, 2 * r)
    if sorted(paths) != sorted(expected):
        fail(
            en="apply_lora must return the module paths it replaced, one per matching nn.Linear.",
            zh="apply_lora 应返回被替换模块的路径，每个名字匹配的 nn.Linear 一条。",
            detail=f"got {sorted(paths)}\nexpected {sorted(expected)}",
        )
    for path in expected:
        if not isinstance(model.get_submodule(path), lora.LoRALinear):
            fail(en=f"{path} is not a LoRALinear after apply_lora.", zh=f"apply_lora 之后 {path} 不是 LoRALinear。",
                 detail=f"found {type(model.get_submodule(path)).__name__}")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    wrong = [name for name in trainable if "lora_" not in name]
    if wrong:
        fail(
            en="apply_lora must freeze every parameter except the new LoRA ones (embeddings, norms, "
            "lm_head, other linears, the wrapped weights and biases).",
            zh="apply_lora 必须冻结除新增 LoRA 参数之外的所有参数（embedding、norm、lm_head、"
            "其他线性层、被包装层的 weight 和 bias）。",
            detail=f"still trainable: {wrong[:6]}{' …' if len(wrong) > 6 else ''}",
        )
    if len(trainable) != 2 * len(expected):
        fail(en="Each wrapped layer must add exactly two trainable tensors, lora_A and lora_B.",
             zh="每个被包装的层应恰好新增两个可训练张量：lora_A 和 lora_B。",
             detail=f"{len(trainable)} trainable tensors for {len(expected)} wrapped layers")
    with torch.no_grad():
        after = model(input_ids=ids).logits
    if max_error(after, before) > 1e-6:
        fail(en="Right after apply_lora the model must return the same logits as before.",
             zh="刚调用 apply_lora 之后，模型输出的 logits 必须与之前相同。",
             detail=f"max difference {max_error(after, before):.2e}")


@explain(
    en="count_parameters returns (trainable, total), tied weights once, and agrees with PEFT's get_peft_model counts.",
    zh="count_parameters 返回 (可训练参数数, 总参数数)，共享权重只计一次，并与 PEFT 的 get_peft_model 统计一致。",
)
@settings(max_examples=4, phases=MODEL_PHASES)
@given(targets=st.sets(st.sampled_from(TARGET_CHOICES), min_size=1, max_size=4), r=ranks,
       tie=st.booleans(), use_rslora=st.booleans(), seed=seeds)
def test_counts_match_peft(targets, r, tie, use_rslora, seed):
    model = tiny_qwen3(seed, tie=tie)
    unique_total = sum(p.numel() for p in model.parameters())
    counted = lora.count_parameters(model)
    if tuple(counted) != (unique_total, unique_total):
        fail(
            en="Before apply_lora every parameter is trainable: count_parameters must return (total, total), "
            "with a tied weight (embedding shared with lm_head) counted once.",
            zh="调用 apply_lora 之前所有参数都可训练：count_parameters 应返回 (总数, 总数)，"
            "且共享权重（embedding 与 lm_head 共用）只计一次。",
            detail=f"got {counted}, expected {(unique_total, unique_total)} (tie_word_embeddings={tie})",
        )
    reference_model = copy.deepcopy(model)
    lora.apply_lora(model, sorted(targets), r, 2 * r, use_rslora=use_rslora)
    counted = lora.count_parameters(model)

    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=sorted(targets), use_rslora=use_rslora)
    expected = get_peft_model(reference_model, config).get_nb_trainable_parameters()
    if tuple(counted) != tuple(expected):
        fail(
            en="After apply_lora, (trainable, total) differs from PEFT's get_peft_model on the same targets.",
            zh="apply_lora 之后的 (可训练参数数, 总参数数) 与 PEFT 的 get_peft_model 在相同目标上的统计不同。",
            detail=f"got {tuple(counted)}, PEFT {tuple(expected)} (targets {sorted(targets)}, r={r}, "
            f"tie_word_embeddings={tie})",
        )


BAD_TARGETS = {
    "no match": (["qkv"], ValueError),
    "substring only": (["proj"], ValueError),
    "path, not a name": (["self_attn.q"], ValueError),
    "a single string": ("q_proj", TypeError),
}


@explain(
    en="apply_lora raises ValueError when no nn.Linear has a matching attribute name, and TypeError for a bare string.",
    zh="没有任何 nn.Linear 的属性名匹配时 apply_lora 应抛出 ValueError；传入单个字符串时应抛出 TypeError。",
)
@pytest.mark.parametrize("case", list(BAD_TARGETS), ids=list(BAD_TARGETS))
def test_apply_lora_bad_targets(case):
    targets, error_type = BAD_TARGETS[case]
    model = tiny_qwen3(0)
    lora.apply_lora(copy.deepcopy(model), ["q_proj"], 2, 4)  # a valid call first

    try:
        lora.apply_lora(model, targets, 2, 4)
    except error_type:
        return
    except Exception as error:  # noqa: BLE001 - any other exception is the finding
        fail(en=f"target_modules={targets!r} must raise {error_type.__name__}, not {type(error).__name__}.",
             zh=f"target_modules={targets!r} 应抛出 {error_type.__name__}，而不是 {type(error).__name__}。",
             detail=f"{type(error).__name__}: {error}")
    wrapped = [name for name, m in model.named_modules() if isinstance(m, lora.LoRALinear)]
    fail(
        en=f"apply_lora(model, {targets!r}, ...) must raise {error_type.__name__}: names match the whole "
        "attribute name (the last part of the path), never a substring.",
        zh=f"apply_lora(model, {targets!r}, ...) 应抛出 {error_type.__name__}：名字要与完整的属性名"
        "（路径的最后一段）匹配，不能按子串匹配。",
        detail=f"it wrapped {wrapped[:4]}",
    )


@explain(
    en="lora_state_dict has exactly PEFT's keys (base_model.model.<path>.lora_A.weight, no adapter name) and your tensors.",
    zh="lora_state_dict 的键与 PEFT 完全一致（base_model.model.<path>.lora_A.weight，不含适配器名），值为你的张量。",
)
@settings(max_examples=3, phases=MODEL_PHASES)
@given(targets=st.sets(st.sampled_from(TARGET_CHOICES), min_size=1, max_size=3), seed=seeds)
def test_lora_state_dict_keys(targets, seed):
    model = tiny_qwen3(seed)
    reference_model = copy.deepcopy(model)
    lora.apply_lora(model, sorted(targets), 4, 8)
    state = lora.lora_state_dict(model)

    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    expected = get_peft_model_state_dict(get_peft_model(reference_model, LoraConfig(r=4, lora_alpha=8, target_modules=sorted(targets))))
    if set(state) != set(expected):
        fail(
            en="The keys differ from the ones PEFT saves; PEFT would not find your weights.",
            zh="键名与 PEFT 保存的不一致；PEFT 将找不到你的权重。",
            detail=f"missing {sorted(set(expected) - set(state))[:3]}\nunexpected {sorted(set(state) - set(expected))[:3]}",
        )
    for key, value in state.items():
        path, _, suffix = key[len("base_model.model."):].rpartition(".lora_")
        layer = model.get_submodule(path)
        source = adapter(layer)[0 if suffix.startswith("A") else 1]
        if not torch.is_tensor(value) or tuple(value.shape) != tuple(expected[key].shape) or not torch.equal(value, source.detach()):
            fail(en=f"{key} must hold that layer's {'lora_A' if suffix.startswith('A') else 'lora_B'}.",
                 zh=f"{key} 中应保存该层的 {'lora_A' if suffix.startswith('A') else 'lora_B'}。",
                 detail=f"shape {tuple(value.shape) if torch.is_tensor(value) else type(value).__name__}")


def save_and_load_with_peft(model, folder: Path, base_folder: Path, **save_arguments):
    from peft import PeftModel
    from transformers import Qwen3ForCausalLM

    lora.save_adapter(model, folder, **save_arguments)
    base = Qwen3ForCausalLM.from_pretrained(base_folder)
    return PeftModel.from_pretrained(base, folder).eval()


@explain(
    en="save_adapter writes a folder that peft.PeftModel.from_pretrained loads to the same logits (1e-5) after training.",
    zh="save_adapter 写出的文件夹可被 peft.PeftModel.from_pretrained 加载，训练后加载得到的 logits 与你的模型一致（1e-5）。",
)
@settings(max_examples=2, phases=MODEL_PHASES)
@given(targets=st.sets(st.sampled_from(TARGET_CHOICES), min_size=1, max_size=3), r=st.integers(2, 6),
       alpha=st.sampled_from([4, 12, 32]), use_rslora=st.booleans(), seed=seeds)
def test_save_adapter_loads_in_peft(targets, r, alpha, use_rslora, seed):
    model = tiny_qwen3(seed)
    with tempfile.TemporaryDirectory(prefix="kata-lora-") as scratch:
        base_folder, adapter_folder = Path(scratch, "base"), Path(scratch, "adapter")
        model.save_pretrained(base_folder)
        lora.apply_lora(model, sorted(targets), r, alpha, dropout=0.1, use_rslora=use_rslora)
        train_adapter(model, seed)
        if all(float(adapter(m)[1].detach().abs().sum()) == 0 for m in model.modules() if isinstance(m, lora.LoRALinear)):
            fail(en="After 3 SGD steps every lora_B is still zero: gradients never reach B.",
                 zh="经过 3 步 SGD 之后所有 lora_B 仍然为零：梯度始终没有传到 B。")

        loaded = save_and_load_with_peft(
            model, adapter_folder, base_folder, r=r, alpha=alpha, target_modules=sorted(targets),
            base_model_name_or_path=str(base_folder),
        )
        ids = token_ids(seed)
        with torch.no_grad():
            ours, theirs = model(input_ids=ids).logits, loaded(input_ids=ids).logits
        config = json.loads((adapter_folder / "adapter_config.json").read_text(encoding="utf-8"))
    if max_error(ours, theirs) > 1e-5:
        fail(
            en="PEFT loads your adapter to different logits: check the key names, the tensor shapes, "
            "and that adapter_config.json states r, lora_alpha and use_rslora as trained.",
            zh="PEFT 加载你的适配器后得到的 logits 不同：请检查键名、张量形状，"
            "以及 adapter_config.json 中的 r、lora_alpha、use_rslora 是否与训练时一致。",
            detail=f"max difference {max_error(ours, theirs):.2e}; config {config}",
        )


@explain(
    en="adapter_config.json states peft_type, r, lora_alpha, target_modules, lora_dropout, use_rslora, bias and base_model_name_or_path.",
    zh="adapter_config.json 中写明 peft_type、r、lora_alpha、target_modules、lora_dropout、use_rslora、bias 和 base_model_name_or_path。",
)
@settings(max_examples=3, phases=MODEL_PHASES)
@given(r=ranks, alpha=alphas, use_rslora=st.booleans(), dropout=st.sampled_from([0.0, 0.05, 0.1]), seed=seeds)
def test_adapter_config_fields(r, alpha, use_rslora, dropout, seed):
    model = tiny_qwen3(seed)
    lora.apply_lora(model, ["q_proj", "v_proj"], r, alpha, dropout=dropout, use_rslora=use_rslora)
    with tempfile.TemporaryDirectory(prefix="kata-lora-") as scratch:
        lora.save_adapter(model, scratch, r=r, alpha=alpha, target_modules=["q_proj", "v_proj"],
                          base_model_name_or_path="Qwen/Qwen3-0.6B")
        files = sorted(p.name for p in Path(scratch).iterdir())
        if "adapter_config.json" not in files or "adapter_model.safetensors" not in files:
            fail(en="save_adapter must write adapter_config.json and adapter_model.safetensors.",
                 zh="save_adapter 必须写出 adapter_config.json 和 adapter_model.safetensors。",
                 detail=f"the folder holds {files}")
        config = json.loads(Path(scratch, "adapter_config.json").read_text(encoding="utf-8"))

    expected = {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "lora_dropout": dropout,
                "use_rslora": use_rslora, "bias": "none", "base_model_name_or_path": "Qwen/Qwen3-0.6B"}
    for field, value in expected.items():
        if field not in config:
            fail(en=f"adapter_config.json has no `{field}`; PEFT would fall back to its default.",
                 zh=f"adapter_config.json 缺少 `{field}`；PEFT 会退回到默认值。",
                 detail=f"fields present: {sorted(config)}")
        if config[field] != value:
            fail(en=f"adapter_config.json has {field} = {config[field]!r}, expected {value!r}.",
                 zh=f"adapter_config.json 中 {field} = {config[field]!r}，应为 {value!r}。")
    if sorted(config.get("target_modules") or []) != ["q_proj", "v_proj"]:
        fail(en="adapter_config.json must list target_modules as given.",
             zh="adapter_config.json 必须按传入的值列出 target_modules。",
             detail=f"got {config.get('target_modules')!r}")


@explain(
    en="merge_lora leaves plain nn.Linear layers with merged weights: same logits (1e-5), no LoRALinear, original parameter count.",
    zh="merge_lora 之后只剩带合并权重的普通 nn.Linear：logits 相同（1e-5），不再有 LoRALinear，参数总数回到原值。",
)
@settings(max_examples=3, phases=MODEL_PHASES)
@given(targets=st.sets(st.sampled_from(TARGET_CHOICES), min_size=1, max_size=4), r=ranks, seed=seeds)
def test_merge_lora_model(targets, r, seed):
    model = tiny_qwen3(seed, bias=True)
    total = sum(p.numel() for p in model.parameters())
    paths = lora.apply_lora(model, sorted(targets), r, 2 * r, dropout=0.1)
    for layer in (m for m in model.modules() if isinstance(m, lora.LoRALinear)):
        fill_adapter(layer, seed, std=0.2)
    model.eval()
    ids = token_ids(seed)
    with torch.no_grad():
        before = model(input_ids=ids).logits

    merged = lora.merge_lora(model)
    if not isinstance(merged, nn.Module):
        fail(en="merge_lora must return the model.", zh="merge_lora 应返回模型本身。",
             detail=f"got {type(merged).__name__}")
    left = [name for name, m in merged.named_modules() if isinstance(m, lora.LoRALinear)]
    if left:
        fail(en="merge_lora must return the model with no LoRALinear left.",
             zh="merge_lora 应返回不再包含 LoRALinear 的模型。", detail=f"still wrapped: {left[:4]}")
    for path in paths:
        if type(merged.get_submodule(path)) is not nn.Linear:
            fail(en=f"{path} must be a plain nn.Linear after merge_lora.", zh=f"merge_lora 之后 {path} 必须是普通的 nn.Linear。",
                 detail=f"found {type(merged.get_submodule(path)).__name__}")
    with torch.no_grad():
        after = merged(input_ids=ids).logits
    if max_error(after, before) > 1e-5:
        fail(en="The merged model returns different logits (eval mode).", zh="合并后的模型输出的 logits 不同（eval 模式）。",
             detail=f"max difference {max_error(after, before):.2e}")
    if sum(p.numel() for p in merged.parameters()) != total:
        fail(en="After merge_lora the model must have its original parameter count.",
             zh="merge_lora 之后模型的参数总数必须回到原值。",
             detail=f"got {sum(p.numel() for p in merged.parameters())}, expected {total}")


@explain(
    en="lora_state_dict, save_adapter and merge_lora raise ValueError for a model without LoRALinear.",
    zh="对不含 LoRALinear 的模型调用 lora_state_dict、save_adapter 和 merge_lora 时应抛出 ValueError。",
)
@pytest.mark.parametrize("function", ["lora_state_dict", "save_adapter", "merge_lora"])
def test_model_without_adapter_raises(function, tmp_path):
    model = tiny_qwen3(0)
    call = {
        "lora_state_dict": lambda: lora.lora_state_dict(model),
        "save_adapter": lambda: lora.save_adapter(model, tmp_path / "adapter", r=2, alpha=4, target_modules=["q_proj"],
                                                  base_model_name_or_path="base"),
        "merge_lora": lambda: lora.merge_lora(model),
    }[function]

    with pytest.raises(ValueError):
        call()


# ---------------------------------------------------------------- level 3 (optional): DoRA


def dora_layer(base, r, alpha, **kwargs):
    """Build a DoRA layer; a missing level 3 becomes a labelled finding."""
    lora.LoRALinear(copy.deepcopy(base), r, alpha)  # levels 1-2 first, so the stub reads "not implemented"
    try:
        layer = lora.LoRALinear(base, r, alpha, use_dora=True, **kwargs)
    except (NotImplementedError, KataNotImplemented, TypeError) as error:
        missing = f"{type(error).__name__}: {error}"
    else:
        missing = None
    if missing is not None:
        # Raised outside the except block: with the NotImplementedError as its
        # context, the finding would be reported as a bare "not implemented".
        fail(
            en=LEVEL3_EN + "LoRALinear(..., use_dora=True) is not implemented. Levels 1 and 2 are "
            "complete without it; see README.md for DoRA.",
            zh=LEVEL3_ZH + "LoRALinear(..., use_dora=True) 尚未实现。第 1、2 级不依赖它；"
            "DoRA 的说明见 README.zh-CN.md。",
            detail=missing,
        )
    if not isinstance(getattr(layer, "lora_magnitude_vector", None), torch.Tensor):
        fail(
            en=LEVEL3_EN + "use_dora=True must create the trainable parameter lora_magnitude_vector [out].",
            zh=LEVEL3_ZH + "use_dora=True 时必须创建可训练参数 lora_magnitude_vector [out]。",
        )
    return layer


@explain(
    en=LEVEL3_EN + "the magnitude starts at the row norms of W, and forward and gradients match PEFT's DoRA.",
    zh=LEVEL3_ZH + "幅度向量初始化为 W 各行的范数，前向输出和梯度都与 PEFT 的 DoRA 一致。",
)
@settings(max_examples=15)
@given(in_features=features, out_features=features, r=ranks, alpha=alphas, use_rslora=st.booleans(),
       bias=st.booleans(), seed=seeds)
def test_dora_matches_peft(in_features, out_features, r, alpha, use_rslora, bias, seed):
    base = linear(in_features, out_features, seed, bias=bias, dtype=torch.float64)
    layer = dora_layer(copy.deepcopy(base), r, alpha, use_rslora=use_rslora)
    magnitude = layer.lora_magnitude_vector
    expected_norm = torch.linalg.norm(base.weight.detach(), dim=1)
    if tuple(magnitude.shape) != (out_features,) or max_error(magnitude, expected_norm) > 1e-6:
        fail(
            en=LEVEL3_EN + "lora_magnitude_vector must start at ||W||, the L2 norm of each row of W (shape [out]).",
            zh=LEVEL3_ZH + "lora_magnitude_vector 的初始值必须是 ||W||，即 W 每一行的 L2 范数（形状 [out]）。",
            detail=f"shape {tuple(magnitude.shape)}, expected ({out_features},)",
        )
    lora_A, lora_B = fill_adapter(layer, seed)
    with torch.no_grad():
        magnitude.mul_(torch.linspace(0.5, 1.5, out_features, dtype=magnitude.dtype))
    x = torch.randn(2, 3, in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    y = layer(x)

    reference = peft_linear(base, r, alpha, use_rslora=use_rslora, use_dora=True).double()
    with torch.no_grad():
        reference.lora_A["default"].weight.copy_(lora_A)
        reference.lora_B["default"].weight.copy_(lora_B)
        reference.lora_magnitude_vector["default"].weight.copy_(magnitude)
    expected = reference(x)
    if max_error(y, expected) > 1e-9:
        fail(
            en=LEVEL3_EN + "the output differs from PEFT's DoRA: m * (W + scaling B A) x / ||W + scaling B A|| + b, "
            "norms taken per output row.",
            zh=LEVEL3_ZH + "输出与 PEFT 的 DoRA 不同：应为 m * (W + scaling B A) x / ||W + scaling B A|| + b，"
            "范数按输出的每一行计算。",
            detail=f"max difference {max_error(y, expected):.2e}",
        )
    y.square().sum().backward()
    expected.square().sum().backward()
    pairs = (("lora_A", lora_A, reference.lora_A["default"].weight),
             ("lora_B", lora_B, reference.lora_B["default"].weight),
             ("lora_magnitude_vector", magnitude, reference.lora_magnitude_vector["default"].weight))
    for name, ours, theirs in pairs:
        if ours.grad is None or max_error(ours.grad, theirs.grad) > 1e-7 * max(1.0, float(theirs.grad.abs().max())):
            fail(
                en=LEVEL3_EN + f"the gradient of {name} differs from PEFT's DoRA. The norm ||W + scaling B A|| "
                "is treated as a constant (detached) in the backward pass.",
                zh=LEVEL3_ZH + f"{name} 的梯度与 PEFT 的 DoRA 不同。反向传播时范数 ||W + scaling B A|| "
                "应当被视为常数（detach）。",
            )


@explain(
    en=LEVEL3_EN + "merge() and unmerge() work for DoRA: same eval output merged, weight restored to 1e-5.",
    zh=LEVEL3_ZH + "DoRA 的 merge() 和 unmerge() 也要正确：合并后 eval 输出相同，权重恢复到 1e-5 以内。",
)
@settings(max_examples=10)
@given(in_features=features, out_features=features, r=ranks, seed=seeds)
def test_dora_merge_unmerge(in_features, out_features, r, seed):
    base = linear(in_features, out_features, seed)
    original = base.weight.detach().clone()
    layer = dora_layer(base, r, 2 * r, dropout=0.2)
    layer.eval()
    fill_adapter(layer, seed, std=0.3)
    with torch.no_grad():
        layer.lora_magnitude_vector.mul_(1.3)
    x = torch.randn(4, in_features, generator=torch.Generator().manual_seed(seed))
    before = layer(x).detach()

    layer.merge()
    layer.merge()
    if max_error(layer(x), before) > 1e-5:
        fail(en=LEVEL3_EN + "after merge() (called twice) the output must stay the same.",
             zh=LEVEL3_ZH + "merge()（调用两次）之后输出必须保持不变。",
             detail=f"max difference {max_error(layer(x), before):.2e}")
    layer.unmerge()
    layer.unmerge()
    if max_error(base.weight, original) > 1e-5:
        fail(en=LEVEL3_EN + "unmerge() must restore the original weight.", zh=LEVEL3_ZH + "unmerge() 必须恢复原始权重。",
             detail=f"max difference {max_error(base.weight, original):.2e}")


@explain(
    en=LEVEL3_EN + "a DoRA adapter saved with save_adapter loads in PEFT (use_dora true, magnitude keys) to the same logits.",
    zh=LEVEL3_ZH + "用 save_adapter 保存的 DoRA 适配器可被 PEFT 加载（use_dora 为 true，含幅度向量的键），logits 一致。",
)
@settings(max_examples=1, phases=MODEL_PHASES)
@given(seed=seeds)
def test_dora_adapter_loads_in_peft(seed):
    model = tiny_qwen3(seed)
    lora.apply_lora(copy.deepcopy(model), ["q_proj"], 2, 4)  # levels 1-2 first
    with tempfile.TemporaryDirectory(prefix="kata-lora-") as scratch:
        base_folder, adapter_folder = Path(scratch, "base"), Path(scratch, "adapter")
        model.save_pretrained(base_folder)
        try:
            lora.apply_lora(model, ["q_proj", "v_proj"], 4, 8, use_dora=True)
        except (NotImplementedError, KataNotImplemented, TypeError) as error:
            missing = f"{type(error).__name__}: {error}"
        else:
            missing = None
        if missing is not None:
            fail(en=LEVEL3_EN + "apply_lora(..., use_dora=True) is not implemented. Levels 1 and 2 are "
                 "complete without it; see README.md for DoRA.",
                 zh=LEVEL3_ZH + "apply_lora(..., use_dora=True) 尚未实现。第 1、2 级不依赖它；"
                 "DoRA 的说明见 README.zh-CN.md。",
                 detail=missing)
        train_adapter(model, seed)
        loaded = save_and_load_with_peft(model, adapter_folder, base_folder, r=4, alpha=8,
                                         target_modules=["q_proj", "v_proj"], base_model_name_or_path=str(base_folder))
        ids = token_ids(seed)
        with torch.no_grad():
            ours, theirs = model(input_ids=ids).logits, loaded(input_ids=ids).logits
        config = json.loads((adapter_folder / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("use_dora") is not True:
        fail(en=LEVEL3_EN + "adapter_config.json must say use_dora: true.",
             zh=LEVEL3_ZH + "adapter_config.json 中必须写明 use_dora: true。")
    if max_error(ours, theirs) > 1e-5:
        fail(
            en=LEVEL3_EN + "PEFT loads your DoRA adapter to different logits. Save each magnitude as "
            "base_model.model.<path>.lora_magnitude_vector.",
            zh=LEVEL3_ZH + "PEFT 加载你的 DoRA 适配器后 logits 不同。每个幅度向量应保存为 "
            "base_model.model.<path>.lora_magnitude_vector。",
            detail=f"max difference {max_error(ours, theirs):.2e}",
        )
