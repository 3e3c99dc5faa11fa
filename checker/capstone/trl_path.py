"""The framework path: the same run through TRL's `SFTTrainer` and a PEFT LoRA adapter.

Both paths use the same chats, tokenizer and template, the same LoRA
settings and the same optimizer (AdamW, betas 0.9/0.999, eps 1e-8). They
share the warmup + cosine schedule, accumulation and clipping. Data comes in
file order (no shuffling), so the first batch equals the katas path's first
micro-batch. TRL builds the labels
itself from `assistant_only_loss=True` and a ChatML template whose
`{% generation %}` blocks mark what is supervised: the assistant content
and its `<|im_end|>`, as in the loss_mask kata.

Scoring uses the capstone wiring's `evaluate` and the loss_mask kata's
`render_chatml`, so both paths are measured by the same code.
"""

from __future__ import annotations

import time

import torch

from checker.capstone.config import RunConfig
from checker.capstone.session import RunSession, start_run

# ChatML with the supervised spans tagged for `return_assistant_tokens_mask`.
TRAINING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def lora_config(config: RunConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def sft_config(config: RunConfig, session_device: torch.device, use_bf16: bool):
    from trl import SFTConfig

    return SFTConfig(
        # SFTConfig turns activation checkpointing on by default; match the katas path.
        activation_checkpointing=config.gradient_checkpointing,
        output_dir=str(config.run_dir / "trl"),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        max_steps=config.steps,
        learning_rate=config.lr,
        lr_scheduler_type="cosine",
        warmup_steps=config.warmup_steps,
        max_grad_norm=config.max_grad_norm,
        weight_decay=config.weight_decay,
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        seed=config.seed,
        data_seed=config.seed,
        train_sampling_strategy="sequential",
        max_length=config.max_length,
        assistant_only_loss=True,
        padding_free=config.packing,
        dataset_num_proc=None,
        logging_steps=1,
        logging_first_step=True,
        save_strategy="no",
        report_to=[],
        disable_tqdm=False,
        use_cpu=session_device.type == "cpu",
        bf16=use_bf16,
        dataloader_drop_last=False,
        remove_unused_columns=True,
    )


def build_trainer(session: RunSession, model, callbacks=()):
    """Build an SFTTrainer over the session's chats with a fresh PEFT adapter on `model`."""
    from datasets import Dataset
    from trl import SFTTrainer

    config = session.config
    tokenizer = session.tokenizer
    tokenizer.chat_template = TRAINING_TEMPLATE
    dataset = Dataset.from_list([{"messages": row["messages"]} for row in session.train_rows])
    return SFTTrainer(
        model=model,
        args=sft_config(config, session.device, session.use_bf16),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(config),
        callbacks=list(callbacks),
    )


class _LossRecorder:
    """A TrainerCallback that keeps each logged step's loss and learning rate."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Recorder(TrainerCallback):
            def __init__(self):
                self.records: list[dict] = []
                self.step_started = time.perf_counter()

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs and "learning_rate" in logs:
                    self.records.append({"step": state.global_step - 1, "loss": float(logs["loss"]),
                                         "lr": float(logs["learning_rate"]),
                                         "grad_norm": float(logs.get("grad_norm", float("nan")))})

        return Recorder()


def run_trl(config: RunConfig, kits) -> dict:
    """Train with SFTTrainer + PEFT, score with the capstone wiring, write the same run folder."""
    session = start_run(config)
    tokenizer = session.tokenizer
    model = session.load_model()
    before = kits.capstone.evaluate(model, tokenizer, session.eval_rows, kits.loss_mask,
                                    max_new_tokens=config.max_new_tokens)
    session.say(f"exact match before training: {before['exact_match']:.1%}",
                f"训练前 exact match：{before['exact_match']:.1%}")

    recorder = _LossRecorder()
    trainer = build_trainer(session, model, callbacks=[recorder])
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in trainer.model.parameters())
    session.say(f"training {config.steps} steps with TRL SFTTrainer …", f"使用 TRL SFTTrainer 训练 {config.steps} 步 …")
    start = time.perf_counter()
    result = trainer.train()
    session.train_seconds = time.perf_counter() - start
    tokens = int(result.metrics.get("train_tokens", 0)) if result.metrics else 0
    if not tokens:
        tokens = _count_real_tokens(trainer)
    peft_model = trainer.model
    after = kits.capstone.evaluate(peft_model, tokenizer, session.eval_rows, kits.loss_mask,
                                   max_new_tokens=config.max_new_tokens)
    if session.is_main:
        peft_model.save_pretrained(str(config.run_dir / "adapter"))
    records = recorder.records or [{"step": 0, "loss": float("nan"), "lr": 0.0}]
    return session.finish(records=records, before=before, after=after, trainable=trainable, total=total,
                          model=peft_model, lora=None, tokens_per_second=tokens / max(session.train_seconds, 1e-9))


def _count_real_tokens(trainer) -> int:
    """Real tokens the trainer saw: its dataset's lengths, pass after pass, for max_steps windows."""
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    args = trainer.args
    per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
    seen = args.max_steps * per_step
    return sum(lengths[i % len(lengths)] for i in range(seen))
