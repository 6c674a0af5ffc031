"""Shipped instruct presets: ``tiny`` (offline, stdlib-generated) and ``lemur-chat-v1`` (Table 1).

Each is registered on :class:`InstructConfig` (``InstructConfig.preset("tiny")``); the package
imports this module, so the presets exist wherever the config does.
"""

from __future__ import annotations

from lemur_data.instruct.config import (
    DecontamSpec,
    EmbedderSpec,
    InstructConfig,
    SemanticDedupSpec,
    SourceFormat,
    SourceSpec,
    StdlibOptions,
    StdlibTask,
    TokenCounterSpec,
)

# Paper Table 1 (arXiv 2310.06830, Appendix A.2): instances per source after the authors'
# filtering. ShareGPT & Chatlogs and Evol-CodeAlpaca are one row each over two HF datasets.
PAPER_COUNTS = {
    "OpenAssistant 1": 34_546,
    "OpenOrca": 200_000,
    "ShareGPT & Chatlogs": 81_319,
    "Evol-CodeAlpaca": 51_952,
}

_CHATLOGS_FILES = tuple(
    f"chatlogs_v2_cleaned.{part}.en.jsonl"
    for part in ("lt500w", "500_1000w", "1000_1500w", "1500_2000w", "2000_3000w", "gt3000w")
)


@InstructConfig.register_preset("tiny")
def tiny_config() -> InstructConfig:
    """Three generated sources from the running interpreter's stdlib; ~1000-1500 examples."""
    return InstructConfig(
        name="tiny",
        sources=(
            SourceSpec(
                name="stdlib-explain",
                format=SourceFormat.STDLIB,
                group="Python stdlib: explain",
                stdlib=StdlibOptions(task=StdlibTask.EXPLAIN, max_examples=500),
                english_filter=True,
            ),
            SourceSpec(
                name="stdlib-write",
                format=SourceFormat.STDLIB,
                group="Python stdlib: write",
                stdlib=StdlibOptions(task=StdlibTask.WRITE, max_examples=500, seed=1),
                semantic_dedup=True,
            ),
            SourceSpec(
                name="stdlib-fix",
                format=SourceFormat.STDLIB,
                group="Python stdlib: fix",
                stdlib=StdlibOptions(task=StdlibTask.FIX, max_examples=400, seed=2),
            ),
        ),
        # Hashed n-grams keep the tiny build within seconds on a shared 2-core CPU (MiniLM in
        # NumPy embedded 3-7 rows/s there under load); `embedder: {kind: minilm-numpy}` swaps it in.
        semantic_dedup=SemanticDedupSpec(
            threshold=0.95, embedder=EmbedderSpec(kind="hashed-ngrams")
        ),
        decontam=DecontamSpec(humaneval=True),
    )


@InstructConfig.register_preset("lemur-chat-v1")
def lemur_chat_v1_config() -> InstructConfig:
    """Paper Table 1 by Hugging Face name: ~300K examples for Lemur-Chat."""
    share = "ShareGPT & Chatlogs"
    evol = "Evol-CodeAlpaca"
    return InstructConfig(
        name="lemur-chat-v1",
        sources=(
            SourceSpec(
                name="oasst1",
                format=SourceFormat.OASST1,
                group="OpenAssistant 1",
                hf_dataset="OpenAssistant/oasst1",
                hf_split="train",
                # Closest to Table 1 (34,546 instances, 1.6 rounds) by oasst1's shape: one
                # thread per best reply of every answered prompt (docs: data-instruct.md).
                oasst_policy="top_ranked_paths",
                paper_count=PAPER_COUNTS["OpenAssistant 1"],
            ),
            SourceSpec(
                name="openorca-gpt4",
                format=SourceFormat.OPENORCA,
                group="OpenOrca",
                hf_dataset="Open-Orca/OpenOrca",
                hf_data_files=("1M-GPT4-Augmented.parquet",),
                take=200_000,
                paper_count=PAPER_COUNTS["OpenOrca"],
            ),
            SourceSpec(
                name="sharegpt",
                format=SourceFormat.SHAREGPT,
                group=share,
                hf_dataset="anon8231489123/ShareGPT_Vicuna_unfiltered",
                hf_data_files=("ShareGPT_V3_unfiltered_cleaned_split.json",),
                english_filter=True,
                semantic_dedup=True,
                max_tokens_per_example=4096,
                paper_count=PAPER_COUNTS[share],
            ),
            SourceSpec(
                name="chatlogs",
                format=SourceFormat.SHAREGPT,
                group=share,
                hf_dataset="winglian/chatlogs-en-cleaned",
                hf_data_files=_CHATLOGS_FILES,
                english_filter=True,
                semantic_dedup=True,
                max_tokens_per_example=4096,
            ),
            SourceSpec(
                name="evol-codealpaca",
                format=SourceFormat.EVOL_CODEALPACA,
                group=evol,
                hf_dataset="theblackcat102/evol-codealpaca-v1",
                paper_count=PAPER_COUNTS[evol],
            ),
            SourceSpec(
                name="evol-instruct-code-80k",
                format=SourceFormat.EVOL_CODEALPACA,
                group=evol,
                hf_dataset="nickrosh/Evol-Instruct-Code-80k-v1",
            ),
        ),
        semantic_dedup=SemanticDedupSpec(
            threshold=0.95,
            embedder=EmbedderSpec(
                kind="sentence-transformers",
                model="hkunlp/instructor-large",
                instruction="Represent the user request for finding duplicates: ",
                max_tokens=512,
            ),
            block_size=4096,
        ),
        decontam=DecontamSpec(humaneval=True),
        tokens=TokenCounterSpec(tokenizer="meta-llama/Llama-2-70b-hf"),
    )
