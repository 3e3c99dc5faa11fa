"""Write the bilingual retrieval corpus, its queries and relevance judgements.

    .venv/bin/python data/rag/make_rag_data.py      # rewrites the three files below

Every passage is built here from facts written for this project (the 28
seed facts in data/scripts/facts.py plus the tables below), so the corpus
is small, offline and free to ship. Topics follow the katas: loss masks,
padding, packing, accumulation, schedules, LoRA, prompting, embeddings,
retrieval, ReAct and judging.

Files (UTF-8, one JSON object per line unless noted):

- `corpus.jsonl`: one passage per line,
  `{"id": "en-lora-03", "lang": "en" | "zh", "topic": "lora", "fact": "lora-03", "text": "..."}`.
  `id` is `<lang>-<fact>`; passages that share `fact` state the same thing
  in the two languages. Some facts exist in one language only (error
  messages and API notes in English, course notes in Chinese).
- `queries.jsonl`: one query per line,
  `{"id": "q001", "lang": "en" | "zh", "kind": "keyword" | "paraphrase" | "cross_lingual", "text": "..."}`.
  `keyword` queries reuse the exact rare words of their passage (API
  names, error text, numbers); `paraphrase` queries ask in other words;
  `cross_lingual` queries are written in the language the answer is NOT
  available in.
- `qrels.tsv`: relevance judgements, TREC style without the header,
  `query_id<TAB>0<TAB>doc_id<TAB>1`, one line per relevant passage. A
  passage is relevant when it states a fact the query asks about, in the
  query's language; the other language counts only when the fact has no
  passage in the query's language (the cross-lingual queries).

The output is deterministic: running the script twice writes the same bytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))

from facts import FACTS  # noqa: E402  (data/scripts/facts.py)

# Topic of each seed fact in data/scripts/facts.py, by its term.
SEED_TOPICS = {
    "loss mask": "loss_mask", "ChatML": "loss_mask", "label shift": "loss_mask",
    "padding": "collate", "left padding": "collate", "packing": "packing",
    "gradient accumulation": "train_loop", "warmup": "train_loop",
    "cosine schedule": "train_loop", "gradient clipping": "train_loop", "AdamW": "train_loop",
    "LoRA": "lora", "rsLoRA": "lora", "merge": "lora",
    "BM25": "rag", "dense retrieval": "rag", "reciprocal rank fusion": "rag",
    "ReAct": "react", "LLM as a judge": "judge", "embedding": "embedding", "InfoNCE": "embedding",
    "few-shot prompting": "prompting", "chain of thought": "prompting",
    "self-consistency": "prompting", "tokenizer": "tokenizer", "EOS token": "loss_mask",
    "overfitting": "train_loop", "learning rate": "lora",
}

# (fact key, topic, English text or None, Chinese text or None)
NOTES = [
    # loss masks and chat templates
    ("loss_mask-01", "loss_mask",
     "The header <|im_start|>assistant followed by a newline is part of the prompt; putting it into the labels teaches the model to predict its own role tag.",
     "<|im_start|>assistant 加换行这一段 header 属于提示；把它放进 labels，模型就会去学习预测自己的角色标记。"),
    ("loss_mask-02", "loss_mask",
     "Tokenize the whole rendered chat once: BPE can merge characters across the boundary between a header and the content, so tokenizing pieces separately gives different ids than inference.",
     "要对整段渲染后的对话一次性分词：BPE 可能跨越 header 与正文的边界合并字符，分段分词得到的 id 会和推理时不一样。"),
    ("loss_mask-03", "loss_mask",
     "A fast tokenizer returns character offsets with return_offsets_mapping=True, which lets you label tokens by the character spans of assistant replies.",
     "fast tokenizer 传入 return_offsets_mapping=True 会返回字符偏移，据此可以按 assistant 回复的字符区间给 token 打标签。"),
    ("loss_mask-04", "loss_mask",
     "In a multi-turn chat every assistant turn is supervised by default; supervising only the last turn wastes the earlier replies as training signal.",
     "多轮对话默认监督每一个 assistant 轮次；只监督最后一轮，会白白浪费前面回复提供的训练信号。"),
    ("loss_mask-05", "loss_mask",
     "When every label in a batch is -100 the token-mean loss divides by zero; clamp the count of supervised tokens to at least 1 so the loss is 0 instead of NaN.",
     "如果一个 batch 的 label 全是 -100，按 token 求平均会除以零；把有监督 token 数下限设为 1，损失就是 0 而不是 NaN。"),
    ("loss_mask-06", "loss_mask",
     "Truncating a chat to max_length keeps the first tokens; assistant tokens that survive truncation stay supervised, and an example with no supervised token left should be dropped.",
     "把对话截断到 max_length 时保留前面的 token；截断后仍在的 assistant token 继续参与监督，没有剩下任何有监督 token 的样本应当丢弃。"),
    ("loss_mask-07", "loss_mask",
     "Hugging Face's cross-entropy ignores positions whose label equals ignore_index, which defaults to -100.",
     None),
    ("loss_mask-08", "loss_mask",
     None,
     "系统提示（system）和工具返回（tool）的内容都属于上下文，不参与监督；模型只需要学会写 assistant 的部分。"),
    # padding and collation
    ("collate-01", "collate",
     "Pad labels with -100, never with the pad token id: when the pad token equals the eos token, masking by pad id also erases every real end-of-sequence label.",
     "labels 要用 -100 补齐，不要用 pad token id：当 pad token 与 eos token 相同时，按 pad id 做掩码会把真正的结束标记 label 也一起抹掉。"),
    ("collate-02", "collate",
     "pad_to_multiple_of rounds the padded length up, for example to a multiple of 8, so tensor cores get aligned shapes.",
     "pad_to_multiple_of 会把补齐后的长度向上取整，例如取 8 的倍数，让 tensor core 拿到对齐的形状。"),
    ("collate-03", "collate",
     "The attention mask is 1 on real tokens and 0 on padding; an inverted mask makes the model attend only to pad tokens.",
     "attention mask 在真实 token 上为 1，在 padding 上为 0；掩码取反后模型就只会关注补齐 token。"),
    ("collate-04", "collate",
     "Grouping examples of similar length into the same batch cuts the padding a random batching would add, at the cost of slightly less random batches.",
     "把长度相近的样本分到同一个 batch，可以大幅减少随机分批带来的 padding，代价是 batch 的随机性略有下降。"),
    ("collate-05", "collate",
     "Right padding is the usual choice for training; for batched generation use left padding so every prompt ends at the last position.",
     "训练时通常用右侧 padding；批量生成时要用左侧 padding，让每条提示都在最后一个位置结束。"),
    ("collate-06", "collate",
     None,
     "动态 padding 只补到当前 batch 中最长的样本，而不是整个数据集的最大长度，可以省下大量无效计算。"),
    # packing
    ("packing-01", "packing",
     "Padding-free packing flattens a batch into one row and passes cu_seq_lens, the cumulative sequence lengths starting at 0, to flash attention.",
     "无 padding 的 packing 把一个 batch 拼成一行，并把从 0 开始的累计序列长度 cu_seq_lens 传给 flash attention。"),
    ("packing-02", "packing",
     "In a packed row the first label of each sequence is -100, so no token is trained to predict the first token of the next example.",
     "在 packing 后的一行里，每条序列的第一个 label 是 -100，这样就没有 token 被训练去预测下一条样本的第一个 token。"),
    ("packing-03", "packing",
     "transformers' DataCollatorWithFlattening returns input_ids, labels and position_ids for one packed row.",
     None),
    ("packing-04", "packing",
     "Packing without resetting position ids or without a block-diagonal attention mask lets tokens attend across examples and contaminates training.",
     "packing 时如果不重置 position ids，也没有块对角的注意力掩码，token 就会跨样本互相关注，污染训练。"),
    ("packing-05", "packing",
     None,
     "packing 让每个 batch 的有效 token 数接近恒定，吞吐量更高；但每步的样本条数会变化，学习率和损失归一化都要按 token 计算。"),
    # training loop
    ("train_loop-01", "train_loop",
     "Averaging per-micro-batch mean losses is wrong when micro-batches hold different numbers of tokens: 10 tokens at loss 1.0 and 100 tokens at 2.0 give 1.909, not 1.5.",
     "当各 micro-batch 的 token 数不同时，对每个 micro-batch 的平均损失再取平均是错的：10 个 token 损失 1.0、100 个 token 损失 2.0，正确结果是 1.909，而不是 1.5。"),
    ("train_loop-02", "train_loop",
     "Step the learning-rate scheduler once per optimizer step, not once per micro-batch, or warmup ends grad_accum_steps times too early.",
     "学习率调度器应在每次优化器更新时前进一步，而不是每个 micro-batch 一步，否则 warmup 会提前 grad_accum_steps 倍结束。"),
    ("train_loop-03", "train_loop",
     "Clip gradients once per optimizer step, after the last backward of the window and before optimizer.step().",
     "梯度裁剪每个优化器步只做一次：在窗口内最后一次 backward 之后、optimizer.step() 之前。"),
    ("train_loop-04", "train_loop",
     "Adam divides the first moment by 1 - beta1^t and the second by 1 - beta2^t; without this bias correction the first updates are far too small.",
     "Adam 会把一阶矩除以 1 - beta1^t，把二阶矩除以 1 - beta2^t；缺少这个偏差修正，最初几步的更新会小得多。"),
    ("train_loop-05", "train_loop",
     "With warmup 2, total 10 and peak 1, the cosine schedule gives 0, 0.5, 1, 0.9619, 0.8536, 0.6913, 0.5, 0.3087, 0.1464, 0.0381, 0.",
     None),
    ("train_loop-06", "train_loop",
     "Call zero_grad after optimizer.step(), never between the micro-batches of one accumulation window, or only the last micro-batch counts.",
     "zero_grad 要在 optimizer.step() 之后调用，不能放在同一个累积窗口的 micro-batch 之间，否则只有最后一个 micro-batch 的梯度生效。"),
    ("train_loop-07", "train_loop",
     "Resuming from a checkpoint must restore the optimizer state, the scheduler step and the data position, or the resumed run diverges from an uninterrupted one.",
     "从 checkpoint 恢复训练时必须恢复优化器状态、调度器步数和数据读取位置，否则恢复后的训练会偏离不中断的训练。"),
    ("train_loop-08", "train_loop",
     None,
     "L2 正则把惩罚项加到梯度上，再经过 Adam 的自适应缩放；AdamW 的解耦权重衰减直接缩小权重，两者在 Adam 下并不等价。"),
    ("train_loop-09", "train_loop",
     "torch.nn.utils.clip_grad_norm_ returns the total norm before clipping, which is the value worth logging.",
     None),
    # LoRA
    ("lora-01", "lora",
     "LoRA initializes A with Kaiming-uniform values and B with zeros, so the adapted layer equals the base layer at step 0 and gradients still reach B.",
     "LoRA 用 Kaiming 均匀分布初始化 A，把 B 初始化为零，所以第 0 步时适配层与原始层完全相同，梯度仍能传到 B。"),
    ("lora-02", "lora",
     "If both LoRA matrices start at zero no gradient ever flows: the gradient of B depends on A and the gradient of A depends on B.",
     "如果 LoRA 的两个矩阵都初始化为零，梯度永远无法流动：B 的梯度依赖 A，A 的梯度依赖 B。"),
    ("lora-03", "lora",
     "With r=4 and alpha=8, LoRA scales the update by 2.0 and rsLoRA by 4.0.",
     "当 r=4、alpha=8 时，LoRA 的缩放系数是 2.0，rsLoRA 是 4.0。"),
    ("lora-04", "lora",
     "Merge LoRA weights in float32 and cast back: adding a small update to a bf16 weight loses most of its bits.",
     "合并 LoRA 权重时要在 float32 下相加再转回原精度：把很小的更新直接加到 bf16 权重上，会丢掉大部分有效位。"),
    ("lora-05", "lora",
     "PEFT names adapter weights base_model.model.<path>.lora_A.weight and saves them as adapter_model.safetensors next to adapter_config.json.",
     None),
    ("lora-06", "lora",
     "target_modules chooses which linear layers get adapters; in Qwen and Llama models q_proj, k_proj, v_proj and o_proj are common targets, and adding the MLP projections often helps.",
     "target_modules 决定哪些线性层加适配器；在 Qwen 和 Llama 模型中常选 q_proj、k_proj、v_proj 和 o_proj，再加上 MLP 的投影层往往效果更好。"),
    ("lora-07", "lora",
     None,
     "LoRA 只训练极少的参数，显存主要省在优化器状态和梯度上；前向激活的显存并不会因此减少。"),
    ("lora-08", "lora",
     "Merging twice adds the update twice; keep a merged flag so merge and unmerge are idempotent.",
     "重复合并会把更新加两次；用一个 merged 标志让 merge 和 unmerge 都是幂等的。"),
    # prompting
    ("prompting-01", "prompting",
     "When a few-shot prompt exceeds the token budget, drop whole examples from the end; never cut an example in half and never drop the query.",
     "few-shot 提示超出 token 预算时，从末尾整条删除示例；不要把示例截成半条，也不要删掉查询本身。"),
    ("prompting-02", "prompting",
     "Take the last answer marker in a chain-of-thought reply, such as '#### 42' or 'The answer is 42'; earlier ones are often intermediate results.",
     "从思维链回复中取最后一个答案标记，例如 '#### 42' 或 'The answer is 42'；前面出现的往往只是中间结果。"),
    ("prompting-03", "prompting",
     "Normalize numeric answers before comparing them: '1,234' becomes 1234 and '-3.50' becomes -3.5.",
     "比较数值答案前先做归一化：'1,234' 变成 1234，'-3.50' 变成 -3.5。"),
    ("prompting-04", "prompting",
     None,
     "中文回答常写作「答案：C」，冒号可能是全角也可能是半角，抽取答案时两种都要识别。"),
    ("prompting-05", "prompting",
     "In a self-consistency vote, replies without a parseable answer do not vote, but they still count in the share of all replies.",
     "自洽性投票中，解析不出答案的回复不参与投票，但计算得票占比时仍计入回复总数。"),
    # embeddings
    ("embedding-01", "embedding",
     "Mean pooling must divide by the number of real tokens from the attention mask, not by the padded length T.",
     "mean pooling 要除以 attention mask 中真实 token 的个数，而不是补齐后的长度 T。"),
    ("embedding-02", "embedding",
     "The InfoNCE temperature divides the similarities; a temperature of 0.05 sharpens the softmax over in-batch negatives.",
     "InfoNCE 的温度系数是用来除相似度的；温度取 0.05 会让 in-batch 负样本上的 softmax 更尖锐。"),
    ("embedding-03", "embedding",
     "Hard negatives are passages that look relevant but are not; each query's hard negatives belong only in its own denominator.",
     "难负样本是看起来相关、其实不相关的段落；每个查询的难负样本只能出现在它自己的分母里。"),
    ("embedding-04", "embedding",
     "Sorting texts by length before batching saves padding, but the embeddings must be returned in the input order.",
     "按长度排序再分批可以省下 padding，但返回的向量必须恢复成输入的顺序。"),
    ("embedding-05", "embedding",
     "all-MiniLM-L6-v2 is a small English sentence-transformers model that maps text to 384-dimensional vectors.",
     None),
    ("embedding-06", "embedding",
     None,
     "多语言检索需要多语言向量模型；只在英文上训练的编码器处理中文查询时，相似度几乎没有意义。"),
    # retrieval
    ("rag-01", "rag",
     "rank_bm25's BM25Okapi floors a negative IDF to epsilon times the mean IDF; with documents 'hello world', 'foo bar' and 'hello foo', the query 'hello' scores 0 everywhere.",
     "rank_bm25 的 BM25Okapi 会把负的 IDF 替换为 epsilon 乘以平均 IDF；文档为 'hello world'、'foo bar'、'hello foo' 时，查询 'hello' 在每篇文档上的得分都是 0。"),
    ("rag-02", "rag",
     "faiss search pads the result with id -1 when k exceeds the number of vectors, and docs[-1] in Python silently returns the last document.",
     "当 k 大于向量个数时，faiss 会用 -1 填充结果 id，而 Python 的 docs[-1] 会悄无声息地返回最后一篇文档。"),
    ("rag-03", "rag",
     "IndexFlatIP ranks by inner product; normalize the vectors to unit length first and the inner product becomes cosine similarity.",
     "IndexFlatIP 按内积排序；先把向量归一化为单位长度，内积就等于余弦相似度。"),
    ("rag-04", "rag",
     "Reciprocal rank fusion uses 1-based ranks and k = 60 by default; an id missing from one list simply gets nothing from it.",
     "倒数排名融合使用从 1 开始的名次，默认 k = 60；某个 id 不在某个列表里，就不从该列表得分。"),
    ("rag-05", "rag",
     "Chunking with overlap keeps a sentence that straddles a boundary whole in at least one chunk; the stride is chunk size minus overlap.",
     "带重叠的切块能让跨越边界的句子至少在一个块里保持完整；步长等于块大小减去重叠长度。"),
    ("rag-06", "rag",
     "A chunker whose overlap equals the chunk size never advances and loops forever; reject overlap >= chunk_size.",
     "重叠长度等于块大小的切块器永远不会前进，会陷入死循环；应当拒绝 overlap >= chunk_size。"),
    ("rag-07", "rag",
     "Recall@k is the share of relevant documents found in the top k; MRR is the reciprocal rank of the first relevant hit; nDCG discounts each hit by log2 of its rank plus one.",
     "Recall@k 是前 k 个结果中找到的相关文档占全部相关文档的比例；MRR 是第一个相关结果名次的倒数；nDCG 按 log2(名次+1) 对每个命中打折。"),
    ("rag-08", "rag",
     "Chinese text has no spaces, so a keyword index splits it into overlapping character bigrams.",
     "中文没有空格分词，所以关键词索引通常把中文切成相互重叠的字二元组（bigram）。"),
    ("rag-09", "rag",
     "Number the retrieved passages in the prompt, ask the model to cite them like [1], and drop whole passages that exceed the context budget.",
     "在提示里给检索到的段落编号，要求模型用 [1] 这样的格式引用，超出上下文预算的段落整段丢弃。"),
    ("rag-10", "rag",
     None,
     "混合检索把关键词检索和向量检索的结果融合：关键词检索擅长专有名词和报错信息，向量检索擅长同义改写。"),
    ("rag-11", "rag",
     "An inverted index stores, for each term, the documents that contain it, so a BM25 query touches only those postings instead of every document.",
     "倒排索引为每个词保存包含它的文档列表，BM25 查询时只需遍历这些倒排列表，而不用扫描每一篇文档。"),
    # ReAct
    ("react-01", "react",
     "Stop generation at '\\nObservation:' so the model cannot invent the tool result; discard anything it wrote after an Observation line.",
     "用 '\\nObservation:' 作为停止词，防止模型编造工具结果；模型在 Observation 行之后写的内容一律丢弃。"),
    ("react-02", "react",
     "An unknown tool, a tool that raises and an unparseable reply each become an observation the model can react to, never an exception that ends the loop.",
     "调用不存在的工具、工具抛出异常、回复无法解析，都应变成模型能看到的 observation，而不是终止循环的异常。"),
    ("react-03", "react",
     "Bound the agent loop with max_steps and a limit on parse errors, or a confused model retries forever.",
     "智能体循环要用 max_steps 和解析错误次数上限来约束，否则困惑的模型会无限重试。"),
    ("react-04", "react",
     "Never evaluate a calculator tool's input with eval; parse it with the ast module and allow only numbers and arithmetic operators.",
     "计算器工具绝不能用 eval 执行输入；应该用 ast 模块解析，只允许数字和算术运算符。"),
    ("react-05", "react",
     None,
     "ReAct 的 Action Input 可能跨多行，也可能是 JSON 或被反引号包住；解析时要截到下一个 Observation、Thought 或 Final Answer 为止。"),
    # judging
    ("judge-01", "judge",
     "Ask the judge to end with [[A]], [[B]] or [[C]] for a tie, and read the last marker in its reply.",
     "要求评委在结尾给出 [[A]]、[[B]] 或表示平局的 [[C]]，并读取回复中的最后一个标记。"),
    ("judge-02", "judge",
     "A judge that prefers the first answer whatever it says has position bias; when the two orders disagree the pair is inconsistent, not a win.",
     "无论内容如何都偏爱第一个回答的评委存在位置偏差；交换顺序后结论不一致，这一对就记为不一致，而不是胜。"),
    ("judge-03", "judge",
     "The Bradley-Terry model turns many pairwise wins and losses into one rating per model; a bootstrap over the comparisons gives confidence intervals.",
     "Bradley-Terry 模型把大量两两比较的胜负转换成每个模型的一个评分；对比较结果做 bootstrap 可以得到置信区间。"),
    ("judge-04", "judge",
     None,
     "计算胜率时，平局和不一致各算半场胜利，解析失败的对局不计入分母。"),
    # tokenizer and data
    ("tokenizer-01", "tokenizer",
     "Qwen tokenizers use <|im_end|> as the end-of-turn token and <|endoftext|> as the pad token.",
     "Qwen 的分词器用 <|im_end|> 作为轮次结束标记，用 <|endoftext|> 作为 pad token。"),
    ("tokenizer-02", "tokenizer",
     "Passing add_special_tokens=False stops the tokenizer from inserting a BOS token in front of text that already carries the chat template's special tokens.",
     "传入 add_special_tokens=False，分词器就不会在已经带有对话模板特殊标记的文本前再插入 BOS token。"),
    ("tokenizer-03", "tokenizer",
     None,
     "同一句话用不同分词器会得到不同数量的 token，中文在英文为主的词表里通常要占用更多 token。"),
]

# (fact key, topic, error text, English cause and fix, Chinese cause and fix)
ERRORS = [
    ("error-01", "train_loop", "CUDA out of memory. Tried to allocate",
     "the batch does not fit in GPU memory. Lower the micro-batch size and raise gradient accumulation, or enable gradient checkpointing",
     "batch 放不进显存。减小 micro-batch 大小并增加梯度累积步数，或者打开 gradient checkpointing"),
    ("error-02", "loss_mask", "ValueError: Expected input batch_size (8) to match target batch_size (7)",
     "logits and labels were shifted differently, so their lengths differ by one. Shift once, inside the loss",
     "logits 和 labels 的错位方式不同，长度差了一。只在损失函数内部错位一次"),
    ("error-03", "collate", "ValueError: Asking to pad but the tokenizer does not have a padding token",
     "the tokenizer has no pad token. Set tokenizer.pad_token to an existing token such as the eos token, and keep labels padded with -100",
     "分词器没有 pad token。把 tokenizer.pad_token 设为已有的 token（例如 eos token），labels 仍然用 -100 补齐"),
    ("error-04", "train_loop", "RuntimeError: Trying to backward through the graph a second time",
     "a tensor from an earlier micro-batch is reused after its graph was freed. Detach values you only log, such as the running loss",
     "复用了前一个 micro-batch 中计算图已被释放的张量。只用于日志的值（例如累计损失）要先 detach"),
    ("error-05", "lora", "ValueError: Target modules {'query'} not found in the base model",
     "target_modules names layers the model does not have. Print model.named_modules() and use its attribute names, such as q_proj",
     "target_modules 里的层名在模型中不存在。打印 model.named_modules()，使用其中的属性名，例如 q_proj"),
    ("error-06", "rag", "IndexError: index -1 is out of bounds",
     "faiss returned -1 ids because k exceeds the number of indexed vectors. Ask for min(k, n) results or drop the -1 ids",
     "k 大于已索引的向量数，faiss 返回了 -1。请求 min(k, n) 个结果，或者丢弃 -1 的 id"),
    ("error-07", "rag", "ZeroDivisionError: division by zero in BM25Okapi",
     "every document in the corpus is empty, so the average document length is 0. Drop empty documents before indexing",
     "语料中每篇文档都是空的，平均文档长度为 0。建索引前先去掉空文档"),
    ("error-08", "train_loop", "loss is nan after a few steps",
     "the learning rate is too high or fp16 overflowed. Lower the peak learning rate, add warmup, clip gradients, or train in bf16",
     "学习率过高或 fp16 溢出。降低峰值学习率、加上 warmup、做梯度裁剪，或者改用 bf16 训练"),
    ("error-09", "embedding", "RuntimeWarning: invalid value encountered in divide",
     "a zero vector was normalized, which gives NaN. Clamp the norm with a small epsilon before dividing",
     "对零向量做了归一化，得到 NaN。除法之前用一个很小的 epsilon 给范数设下限"),
    ("error-10", "react", "ReActParseError: Could not parse LLM output",
     "the reply has neither an Action with an Action Input nor a Final Answer. Return the expected format to the model as an observation and let it retry",
     "回复里既没有带 Action Input 的 Action，也没有 Final Answer。把期望的格式作为 observation 返回给模型，让它重试"),
    ("error-11", "judge", "VerdictParseError: no verdict marker found",
     "the judge's reply contains no [[A]], [[B]] or [[C]]. Count the game as an error, never as a tie",
     "评委的回复中没有 [[A]]、[[B]] 或 [[C]]。这一局记为错误，绝不能当作平局"),
    ("error-12", "packing", "RuntimeError: cu_seqlens must have dtype int32",
     "flash attention expects cumulative sequence lengths as int32. Build cu_seq_lens with torch.int32",
     "flash attention 要求累计序列长度是 int32。用 torch.int32 构造 cu_seq_lens"),
]

# (fact key, topic, setting, value, English reason, Chinese setting, Chinese reason)
SETTINGS = [
    ("setting-01", "lora", "LoRA rank r", "8 or 16",
     "small ranks already capture most instruction-tuning updates",
     "LoRA 的秩 r", "较小的秩已经能表达指令微调的大部分更新"),
    ("setting-02", "lora", "LoRA alpha", "twice the rank",
     "it keeps the scaling alpha / r at 2 when you change r",
     "LoRA 的 alpha", "这样改变 r 时缩放系数 alpha / r 保持为 2"),
    ("setting-03", "train_loop", "warmup length", "about 3% of the total steps",
     "short warmup is enough once Adam's moment estimates settle",
     "warmup 长度", "Adam 的矩估计稳定下来之后，很短的 warmup 就够了"),
    ("setting-04", "train_loop", "max_grad_norm", "1.0",
     "it stops rare loss spikes from wrecking the weights",
     "max_grad_norm（梯度裁剪阈值）", "它能防止偶发的损失尖峰破坏权重"),
    ("setting-05", "train_loop", "AdamW weight decay", "0.01 to 0.1",
     "decay on the weights acts as mild regularization",
     "AdamW 的 weight decay", "作用在权重上的衰减起到温和的正则化作用"),
    ("setting-06", "rag", "chunk size for retrieval", "200 to 500 characters with 10% to 20% overlap",
     "smaller chunks match questions precisely, larger ones keep more context",
     "检索切块大小", "块小匹配更精确，块大保留更多上下文"),
    ("setting-07", "rag", "BM25 k1 and b", "1.5 and 0.75",
     "k1 controls how fast term frequency saturates and b how strongly long documents are penalized",
     "BM25 的 k1 和 b", "k1 控制词频饱和的速度，b 控制对长文档的惩罚强度"),
    ("setting-08", "embedding", "InfoNCE temperature", "0.02 to 0.1",
     "lower temperatures focus the loss on the hardest negatives",
     "InfoNCE 的温度系数", "温度越低，损失越集中在最难的负样本上"),
    ("setting-09", "rag", "RRF constant k", "60",
     "it damps the influence of the very top ranks so one retriever cannot dominate",
     "RRF 的常数 k", "它削弱最靠前名次的影响，避免单个检索器主导结果"),
    ("setting-10", "prompting", "number of few-shot examples", "3 to 5",
     "more examples cost context length and rarely help further",
     "few-shot 示例数量", "更多示例会占用上下文长度，而收益很少"),
    ("setting-11", "prompting", "self-consistency samples", "5 to 20 at temperature 0.7",
     "the majority vote needs diverse reasoning paths",
     "自洽性采样次数", "多数投票需要多样化的推理路径"),
    ("setting-12", "loss_mask", "SFT epochs", "1 to 3",
     "more passes over a small set mostly memorize it",
     "SFT 训练轮数（epoch）", "在小数据集上多跑几轮，主要是在死记硬背"),
]

# (kind, lang, text, facts that answer it: a key above or a seed fact's term)
QUERIES = [
    # keyword: rare words, identifiers, error text and numbers from the passage
    ("keyword", "en", "return_offsets_mapping character offsets", ["loss_mask-03"]),
    ("keyword", "en", "ignore_index -100 cross-entropy", ["loss_mask-07", "loss mask"]),
    ("keyword", "en", "pad_to_multiple_of 8 tensor cores", ["collate-02"]),
    ("keyword", "en", "cu_seq_lens flash attention", ["packing-01", "error-12"]),
    ("keyword", "en", "DataCollatorWithFlattening position_ids", ["packing-03"]),
    ("keyword", "en", "1.909 not 1.5", ["train_loop-01"]),
    ("keyword", "en", "cosine schedule 0.9619 0.8536", ["train_loop-05"]),
    ("keyword", "en", "clip_grad_norm_ total norm", ["train_loop-09"]),
    ("keyword", "en", "adapter_model.safetensors adapter_config.json", ["lora-05"]),
    ("keyword", "en", "q_proj k_proj v_proj o_proj", ["lora-06", "error-05"]),
    ("keyword", "en", "r=4 alpha=8 rsLoRA scaling", ["lora-03"]),
    ("keyword", "en", "'1,234' 1234 '-3.50'", ["prompting-03"]),
    ("keyword", "en", "all-MiniLM-L6-v2 384", ["embedding-05"]),
    ("keyword", "en", "BM25Okapi hello world foo bar", ["rag-01", "error-07"]),
    ("keyword", "en", "faiss -1 ids docs[-1]", ["rag-02", "error-06"]),
    ("keyword", "en", "IndexFlatIP inner product", ["rag-03"]),
    ("keyword", "en", "overlap >= chunk_size loops forever", ["rag-06"]),
    ("keyword", "en", "[[A]] [[B]] [[C]] last marker", ["judge-01", "error-11"]),
    ("keyword", "en", "Bradley-Terry bootstrap", ["judge-03"]),
    ("keyword", "en", "<|endoftext|> pad token Qwen", ["tokenizer-01"]),
    ("keyword", "en", "add_special_tokens=False BOS", ["tokenizer-02"]),
    ("keyword", "en", "CUDA out of memory. Tried to allocate", ["error-01"]),
    ("keyword", "en", "Trying to backward through the graph a second time", ["error-04"]),
    ("keyword", "en", "invalid value encountered in divide", ["error-09"]),
    ("keyword", "en", "Asking to pad but the tokenizer does not have a padding token", ["error-03"]),
    ("keyword", "zh", "max_grad_norm 1.0", ["setting-04"]),
    ("keyword", "zh", "k1 和 b 取 1.5 和 0.75", ["setting-07"]),
    ("keyword", "zh", "cu_seqlens int32 报错", ["error-12"]),
    ("keyword", "zh", "Target modules not found 报错", ["error-05"]),
    ("keyword", "zh", "zero_grad optimizer.step() 顺序", ["train_loop-06"]),
    # paraphrase: the same need in other words
    ("paraphrase", "en", "why does my fine-tuned model never stop generating", ["EOS token"]),
    ("paraphrase", "en", "should the assistant role tag be trained on", ["loss_mask-01"]),
    ("paraphrase", "en", "is it ok to encode prompt and answer separately then concatenate the ids", ["loss_mask-02"]),
    ("paraphrase", "en", "my loss becomes NaN when no token is supervised in the batch", ["loss_mask-05"]),
    ("paraphrase", "en", "pad token same as eos token erases the end label", ["collate-01"]),
    ("paraphrase", "en", "which side to pad when generating many prompts at once", ["collate-05", "left padding"]),
    ("paraphrase", "en", "putting several short samples into a single row without pad tokens", ["packing", "packing-01"]),
    ("paraphrase", "en", "how to normalize the loss when accumulating gradients over micro-batches", ["gradient accumulation", "train_loop-01"]),
    ("paraphrase", "en", "learning rate ramps up linearly at the start of training", ["warmup"]),
    ("paraphrase", "en", "where does clipping go relative to backward and the optimizer update", ["train_loop-03", "gradient clipping"]),
    ("paraphrase", "en", "why are Adam's early updates tiny without correcting the moments", ["train_loop-04"]),
    ("paraphrase", "en", "why initialize one low-rank matrix to zero", ["lora-01", "lora-02"]),
    ("paraphrase", "en", "adding the adapter into the base weight for faster inference", ["merge", "lora-04"]),
    ("paraphrase", "en", "how to shorten a prompt with examples that is too long", ["prompting-01"]),
    ("paraphrase", "en", "sample several reasoning paths and vote", ["self-consistency", "setting-11"]),
    ("paraphrase", "en", "averaging hidden states while ignoring padding", ["embedding-01", "embedding"]),
    ("paraphrase", "en", "contrastive loss with the other passages in the batch as negatives", ["InfoNCE", "embedding-02"]),
    ("paraphrase", "en", "combining keyword search and vector search rankings", ["reciprocal rank fusion", "rag-04"]),
    ("paraphrase", "en", "splitting long documents into overlapping windows", ["rag-05", "setting-06"]),
    ("paraphrase", "en", "model makes up the tool result itself", ["react-01"]),
    ("paraphrase", "en", "letting an agent do arithmetic safely without eval", ["react-04"]),
    ("paraphrase", "en", "the evaluator model favours whichever answer is shown first", ["judge-02", "LLM as a judge"]),
    ("paraphrase", "en", "training loss goes down but validation loss goes up", ["overfitting"]),
    ("paraphrase", "zh", "模型生成完回答后停不下来是什么原因", ["EOS token"]),
    ("paraphrase", "zh", "梯度累积时损失应该怎么归一化", ["gradient accumulation", "train_loop-01"]),
    ("paraphrase", "zh", "学习率在训练开始时如何从零升高", ["warmup"]),
    ("paraphrase", "zh", "为什么 LoRA 的 B 矩阵初始化为零", ["lora-01"]),
    ("paraphrase", "zh", "多个短样本拼接成一行训练", ["packing", "packing-05"]),
    ("paraphrase", "zh", "评委模型总是偏向先出现的回答怎么办", ["judge-02", "LLM as a judge"]),
    ("paraphrase", "zh", "中文文本怎么建立关键词索引", ["rag-08"]),
    ("paraphrase", "zh", "工具调用报错时智能体应该怎么处理", ["react-02"]),
    ("paraphrase", "zh", "句向量如何计算", ["embedding", "embedding-01"]),
    ("paraphrase", "zh", "示例太多超出上下文怎么办", ["prompting-01"]),
    # cross-lingual: asked in the language the answer is not written in
    ("cross_lingual", "zh", "交叉熵默认忽略哪个 label 值", ["loss_mask-07"]),
    ("cross_lingual", "zh", "哪个 collator 可以把 batch 展平成一行", ["packing-03"]),
    ("cross_lingual", "zh", "余弦调度 warmup 2 步、总共 10 步时每一步的学习率", ["train_loop-05"]),
    ("cross_lingual", "zh", "梯度裁剪函数返回裁剪前还是裁剪后的范数", ["train_loop-09"]),
    ("cross_lingual", "zh", "PEFT 保存的适配器文件叫什么名字", ["lora-05"]),
    ("cross_lingual", "zh", "MiniLM 句向量模型的维度是多少", ["embedding-05"]),
    ("cross_lingual", "en", "system prompt and tool output are context, not supervised", ["loss_mask-08"]),
    ("cross_lingual", "en", "dynamic padding to the longest sequence in the batch", ["collate-06"]),
    ("cross_lingual", "en", "is L2 regularization the same as decoupled weight decay with Adam", ["train_loop-08"]),
    ("cross_lingual", "en", "does LoRA reduce activation memory", ["lora-07"]),
    ("cross_lingual", "en", "full-width colon in Chinese answer extraction", ["prompting-04"]),
    ("cross_lingual", "en", "English-only encoder for Chinese queries", ["embedding-06"]),
    ("cross_lingual", "en", "why mix keyword retrieval with vector retrieval", ["rag-10"]),
    ("cross_lingual", "en", "action input spanning several lines in JSON or backticks", ["react-05"]),
    ("cross_lingual", "en", "how ties and inconsistent pairs count in the win rate", ["judge-04"]),
    ("cross_lingual", "en", "Chinese text takes more tokens with an English-centric vocabulary", ["tokenizer-03"]),
]


def fact_key(term: str) -> str:
    """Key of a seed fact, from its term in data/scripts/facts.py: "LLM as a judge" -> "seed-llm-as-a-judge"."""
    return "seed-" + "-".join(term.lower().replace("-", " ").split())


def build_facts() -> list[tuple[str, str, str | None, str | None]]:
    """All facts as (key, topic, English text or None, Chinese text or None)."""
    facts = [(fact_key(term), SEED_TOPICS[term], en, zh) for term, en, zh in FACTS]
    facts.extend(NOTES)
    for key, topic, message, cause_en, cause_zh in ERRORS:
        facts.append((key, topic, f"Error '{message}': {cause_en}.", f"报错 '{message}'：{cause_zh}。"))
    for key, topic, name, value, reason_en, name_zh, reason_zh in SETTINGS:
        facts.append((key, topic, f"A common {name} is {value}, because {reason_en}.",
                      f"{name_zh}常取 {value}，因为{reason_zh}。"))
    return facts


def passage_id(lang: str, key: str) -> str:
    return f"{lang}-{key}"


def relevant_passages(passage_ids: list[str], lang: str) -> list[str]:
    """Passages of one fact that answer a query in `lang`: its own language first.

    The translation is judged relevant only when the fact has no passage in
    the query's language, so a Chinese question is answered by the Chinese
    passage and an English one by the English passage.
    """
    same = [pid for pid in passage_ids if pid.startswith(lang + "-")]
    return same or passage_ids


def build() -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    """Return (passages, queries, qrels) with qrels as (query id, passage id) pairs."""
    passages = []
    ids_by_fact: dict[str, list[str]] = {}
    for key, topic, en, zh in build_facts():
        if key in ids_by_fact:
            raise ValueError(f"duplicate fact key {key!r}")
        ids_by_fact[key] = []
        for lang, text in (("en", en), ("zh", zh)):
            if text is None:
                continue
            pid = passage_id(lang, key)
            passages.append({"id": pid, "lang": lang, "topic": topic, "fact": key, "text": text})
            ids_by_fact[key].append(pid)

    queries, qrels = [], []
    for number, (kind, lang, text, keys) in enumerate(QUERIES, start=1):
        qid = f"q{number:03d}"
        queries.append({"id": qid, "lang": lang, "kind": kind, "text": text})
        for key in keys:
            key = key if key in ids_by_fact else fact_key(key)
            if key not in ids_by_fact:
                raise ValueError(f"query {qid} names unknown fact {key!r}")
            qrels.extend((qid, pid) for pid in relevant_passages(ids_by_fact[key], lang))
        if kind == "cross_lingual" and any(pid.startswith(lang + "-") for q, pid in qrels if q == qid):
            raise ValueError(f"cross-lingual query {qid} has an answer in its own language")
    return passages, queries, qrels


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    passages, queries, qrels = build()
    write_jsonl(HERE / "corpus.jsonl", passages)
    write_jsonl(HERE / "queries.jsonl", queries)
    with (HERE / "qrels.tsv").open("w", encoding="utf-8", newline="\n") as handle:
        for qid, pid in qrels:
            handle.write(f"{qid}\t0\t{pid}\t1\n")
    languages = {lang: sum(p["lang"] == lang for p in passages) for lang in ("en", "zh")}
    print(f"wrote {len(passages)} passages ({languages['en']} en, {languages['zh']} zh), "
          f"{len(queries)} queries, {len(qrels)} judgements to {HERE}")


if __name__ == "__main__":
    main()
