"""The local Transformers backend on the real SmolLM2-135M-Instruct (lemur_core.assets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lemur_core import GenerationParams, Message, Role

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2() -> Iterator[Any]:
    try:
        from lemur_core.assets import smollm2_hf_dir

        path = smollm2_hf_dir()
    except (FileNotFoundError, ImportError) as exc:
        pytest.skip(f"SmolLM2 is not available offline here: {exc}")
    import torch
    from lemur_agents.models.transformers_local import TransformersChatModel

    threads = torch.get_num_threads()
    # One thread: on a shared 2-core box OpenMP spin-waiting made generation 6x slower.
    yield TransformersChatModel(path, batch_size=4, name="smollm2", num_threads=1)
    torch.set_num_threads(threads)


def _conv(question: str) -> list[Message]:
    return [
        Message(role=Role.SYSTEM, content="You are a helpful assistant."),
        Message(role=Role.USER, content=question),
    ]


def test_prompt_is_the_tokenizers_chat_template(smollm2: Any) -> None:
    conversation = _conv("What is 2+2?")
    expected = smollm2.tokenizer.apply_chat_template(
        [{"role": m.role.value, "content": m.content} for m in conversation],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert smollm2.render(conversation) == expected
    assert expected.endswith("<|im_start|>assistant\n")
    assert smollm2.count_tokens(conversation) == len(smollm2.tokenizer(expected).input_ids)


QUESTIONS = ["Hi!", "Count from 1 to 10, separated by commas."]
PARAMS = GenerationParams(max_new_tokens=8, temperature=0.0)


@pytest.fixture(scope="module")
def one_by_one(smollm2: Any) -> list[str]:
    return [smollm2.generate([_conv(q)], PARAMS)[0] for q in QUESTIONS]


def test_batched_greedy_generation_equals_one_by_one(smollm2: Any, one_by_one: list[str]) -> None:
    # Prompts of different lengths exercise left padding: a padding bug changes the output.
    batched = smollm2.generate([_conv(q) for q in QUESTIONS], PARAMS)
    assert batched == one_by_one
    assert all(text.strip() for text in batched)
    counts = smollm2.last_completion_tokens
    assert len(counts) == 2 and all(0 < c <= PARAMS.max_new_tokens for c in counts)


FEW_SHOT = "".join(f"Q: What is {a} + {a}?\nA: {2 * a}\n\n" for a in range(2, 9))
# Four prompts sharing a long few-shot prefix (questions of different lengths), one unrelated.
SHARED = [FEW_SHOT + f"Q: {q}\nA:" for q in ("What is 9 + 9?", "What is 12 + 30?", "Hi", "2+2?")]
MIXED = [*SHARED, "Name a colour."]


def _hf_alone(model: Any, question: str, max_new_tokens: int) -> str:
    """Hugging Face's own greedy generate on one unpadded prompt: the reference."""
    import torch

    ids = model.tokenizer(model.render(_conv(question)), add_special_tokens=False).input_ids
    with torch.no_grad():
        out = model.model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=model.tokenizer.pad_token_id,
        )
    return str(model.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True))


def test_shared_prefix_batches_equal_hugging_face_one_prompt_at_a_time(smollm2: Any) -> None:
    # Five prompts, batch_size 4: two batches, the prompts reordered by prefix inside; the
    # answers must come back in input order and token for token as HF gives them alone.
    params = GenerationParams(max_new_tokens=12, temperature=0.0)
    batched = smollm2.generate([_conv(q) for q in MIXED], params)
    assert batched == [_hf_alone(smollm2, q, 12) for q in MIXED]


def test_the_shared_prefix_runs_once_and_each_row_only_its_own_suffix(smollm2: Any) -> None:
    from lemur_agents.models.transformers_local import _common_prefix_length

    prompts = [smollm2._prompt_ids(_conv(q)) for q in SHARED]
    shared = _common_prefix_length(prompts)
    assert shared > 0.8 * min(len(p) for p in prompts)  # the few-shot block and the template
    widths: list[tuple[int, int]] = []
    hook = smollm2.model.register_forward_pre_hook(
        lambda _m, _a, kw: widths.append(tuple(kw["input_ids"].shape)), with_kwargs=True
    )
    try:
        smollm2.generate([_conv(q) for q in SHARED], GenerationParams(max_new_tokens=2))
    finally:
        hook.remove()
    longest = max(len(p) for p in prompts)
    # the prefix once at batch 1, then the 4 rows' suffixes, then one token per row per step
    assert widths[0] == (1, shared)
    assert widths[1] == (4, longest - shared)
    assert all(w == (4, 1) for w in widths[2:])


def test_common_prefix_leaves_every_row_a_token_of_its_own() -> None:
    from lemur_agents.models.transformers_local import _common_prefix_length

    assert _common_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5]]) == 3
    assert _common_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the shorter keeps its 3
    assert _common_prefix_length([[7, 8]]) == 1
    assert _common_prefix_length([[1, 2], [3, 4]]) == 0


def test_stop_sequences_end_and_are_cut_from_the_completion(
    smollm2: Any, one_by_one: list[str]
) -> None:
    full = one_by_one[1].strip()
    stop = full[2:4] if len(full) > 4 else full[-1:]
    cut = smollm2.generate([_conv(QUESTIONS[1])], PARAMS.model_copy(update={"stop": (stop,)}))[0]
    assert stop not in cut and one_by_one[1].startswith(cut)
