"""The transformers teacher on tiny randomly initialised models that the tests build and save.

A byte-level BPE tokenizer is trained offline on a few lines, then saved with a 2-layer GPT-2, a 2-layer
T5 and a LoRA adapter (peft) for the GPT-2.  Their outputs are random text, which is all these tests need:
seeded reproducibility, batch independence, stop strings, end-of-sequence handling, token counts,
agreement with transformers' own greedy decoding, and the error messages.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tvd.errors import TvdError  # noqa: E402
from tvd.teachers.base import GenerationParams  # noqa: E402
from tvd.teachers.registry import make_teacher  # noqa: E402
from tvd.teachers.transformers_lm import TransformersTeacher  # noqa: E402

PROMPT = "<examples>\nplay some jazz by miles davis\nbook a table for two in rome\n"
OTHER = "what is the weather in oslo"
CORPUS = [
    "play some jazz by miles davis",
    "book a table for two in rome",
    "what is the weather in oslo",
    "add this song to my road trip playlist",
    "<examples> [1 jazz ] [2 rome ] </examples>",
]
PAD, EOS = 0, 1


def _tokenizer() -> Any:
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 3, vocab_size=300, min_frequency=1, special_tokens=["<pad>", "<eos>"])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<eos>", pad_token="<pad>")


def _gpt2(folder: Path, tokenizer: Any, eos_logit: float | None = None) -> Path:
    """A 2-layer GPT-2; with ``eos_logit`` its hidden state is pinned so that EOS has about that logit."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=96,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=EOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        tie_word_embeddings=eos_logit is None,
    )
    model = transformers.GPT2LMHeadModel(config)
    if eos_logit is not None:
        with torch.no_grad():
            hidden = torch.randn(32, generator=torch.Generator().manual_seed(1))
            hidden /= hidden.norm()
            model.transformer.ln_f.weight.zero_()
            model.transformer.ln_f.bias.copy_(hidden)
            model.lm_head.weight.normal_(0, 0.5)
            model.lm_head.weight[EOS] = hidden * eos_logit
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    tokenizer = _tokenizer()
    paths = {"gpt2": _gpt2(root / "gpt2", tokenizer), "eos": _gpt2(root / "eos", tokenizer, eos_logit=3.0)}
    torch.manual_seed(0)
    t5 = transformers.T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        pad_token_id=PAD,
        eos_token_id=EOS,
        decoder_start_token_id=PAD,
    )
    transformers.T5ForConditionalGeneration(t5).save_pretrained(root / "t5")
    tokenizer.save_pretrained(root / "t5")
    paths["t5"] = root / "t5"
    peft = pytest.importorskip("peft")
    base = transformers.GPT2LMHeadModel.from_pretrained(paths["gpt2"])
    torch.manual_seed(1)
    lora = peft.get_peft_model(
        base,
        peft.LoraConfig(r=4, lora_alpha=32, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False),
    )
    lora.save_pretrained(root / "lora")
    paths["lora"] = root / "lora"
    return paths


@pytest.fixture(scope="module")
def gpt2(models: dict[str, Path]) -> TransformersTeacher:
    return TransformersTeacher(models["gpt2"], batch_size=4)


def texts(completions: list[Any]) -> list[str]:
    return [completion.text for completion in completions]


SAMPLED = GenerationParams(max_tokens=12, temperature=1.0, top_p=0.95, top_k=40, seed=3, stop=())


# -- causal model ---------------------------------------------------------------------------------------
def test_loads_causal_model_and_counts_tokens(gpt2: TransformersTeacher, models: dict[str, Path]) -> None:
    assert gpt2.kind == "causal" and gpt2.device.type in ("cpu", "cuda", "mps") and not gpt2.concurrent
    assert gpt2.model_id.startswith("gpt2:") and gpt2.fingerprint().startswith("transformers:gpt2:")
    expected = len(gpt2.tokenizer(PROMPT, add_special_tokens=False)["input_ids"])
    assert gpt2.count_tokens(PROMPT) == expected and 5 < expected < len(PROMPT)


def test_sampling_is_reproducible_per_seed(gpt2: TransformersTeacher) -> None:
    first = gpt2.generate(PROMPT, 3, SAMPLED)
    assert texts(first) == texts(gpt2.generate(PROMPT, 3, SAMPLED))
    assert len(set(texts(first))) == 3  # three seeds, three different random texts
    for completion in first:
        assert completion.prompt_tokens == gpt2.count_tokens(PROMPT)
        assert 1 <= completion.completion_tokens <= 12
    assert [c.extra["seed"] for c in first] == [3, 4, 5]
    # sample i is drawn with seed + i, whatever n is
    assert texts(gpt2.generate(PROMPT, 1, SAMPLED)) == texts(first)[:1]
    shifted = GenerationParams(**{**SAMPLED.to_dict(), "stop": (), "seed": 4})
    assert texts(gpt2.generate(PROMPT, 2, shifted)) == texts(first)[1:]
    other = GenerationParams(**{**SAMPLED.to_dict(), "stop": (), "seed": 99})
    assert texts(gpt2.generate(PROMPT, 3, other)) != texts(first)


def test_a_batch_of_prompts_gives_what_each_prompt_gives_alone(gpt2: TransformersTeacher) -> None:
    batched = gpt2.generate_batch([OTHER, PROMPT, "play"], 3, SAMPLED)  # 9 rows in batches of 4
    alone = [gpt2.generate(prompt, 3, SAMPLED) for prompt in (OTHER, PROMPT, "play")]
    assert [texts(row) for row in batched] == [texts(row) for row in alone]
    assert [c.prompt_tokens for c in batched[0]] == [gpt2.count_tokens(OTHER)] * 3


def test_mixed_requests_equal_single_calls(gpt2: TransformersTeacher) -> None:
    cold = GenerationParams(max_tokens=8, temperature=0.7, seed=11, stop=())
    hot = GenerationParams(max_tokens=8, temperature=1.3, seed=11, stop=())
    requests = [(PROMPT, cold), (OTHER, hot), (OTHER, cold), (PROMPT, hot), (PROMPT, replace(cold, seed=12))]
    together = gpt2.generate_requests(requests)
    assert texts(together) == [gpt2.generate(prompt, 1, params)[0].text for prompt, params in requests]
    assert together[0].text != together[3].text and together[0].text != together[4].text


def test_greedy_matches_transformers_own_greedy_decoding(gpt2: TransformersTeacher) -> None:
    for penalty in (1.0, 1.3):
        params = GenerationParams(max_tokens=10, temperature=0.0, repeat_penalty=penalty, stop=())
        ours = gpt2.generate(PROMPT, 2, params)
        assert ours[0].text == ours[1].text
        encoded = gpt2.tokenizer(PROMPT, return_tensors="pt")
        reference = gpt2.model.generate(
            **encoded, do_sample=False, max_new_tokens=10, repetition_penalty=penalty, pad_token_id=PAD
        )
        expected = gpt2.tokenizer.decode(reference[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        assert ours[0].text == expected


def test_top_k_one_and_tiny_top_p_are_greedy(gpt2: TransformersTeacher) -> None:
    greedy = texts(gpt2.generate(PROMPT, 1, GenerationParams(max_tokens=10, temperature=0.0, stop=())))
    top_k = GenerationParams(max_tokens=10, temperature=1.5, top_k=1, seed=7, stop=())
    top_p = GenerationParams(max_tokens=10, temperature=1.5, top_k=0, top_p=1e-6, seed=7, stop=())
    assert texts(gpt2.generate(PROMPT, 2, top_k)) == greedy * 2
    assert texts(gpt2.generate(PROMPT, 2, top_p)) == greedy * 2


def test_stop_strings_end_and_cut_the_completion(gpt2: TransformersTeacher) -> None:
    params = GenerationParams(max_tokens=20, temperature=0.0, stop=())
    [full] = gpt2.generate(PROMPT, 1, params)
    assert full.finish_reason == "length" and full.completion_tokens == 20 and len(full.text) > 6
    stop = full.text[4:6]
    cut = full.text.find(stop)
    [stopped] = gpt2.generate(PROMPT, 1, GenerationParams(max_tokens=20, temperature=0.0, stop=(stop, "never")))
    assert stopped.text == full.text[:cut]
    assert stopped.finish_reason == "stop" and stopped.completion_tokens < 20


def test_end_of_sequence_ends_rows_independently(models: dict[str, Path]) -> None:
    teacher = TransformersTeacher(models["eos"], batch_size=8)
    params = GenerationParams(max_tokens=16, temperature=1.0, top_k=0, top_p=1.0, seed=0, stop=())
    batched = teacher.generate_batch([PROMPT, OTHER], 6, params)
    lengths = [c.completion_tokens for row in batched for c in row]
    assert len(set(lengths)) > 2  # rows end at different steps
    for completion in (c for row in batched for c in row):
        assert "<eos>" not in completion.text
        if completion.completion_tokens < 16:  # ended early: only an end-of-sequence token does that here
            assert completion.finish_reason == "stop"
    assert any(c.finish_reason == "stop" for row in batched for c in row)
    teacher.batch_size = 1
    assert [texts(row) for row in batched] == [texts(teacher.generate(p, 6, params)) for p in (PROMPT, OTHER)]
    [greedy] = teacher.generate(PROMPT, 1, GenerationParams(max_tokens=16, temperature=0.0, stop=()))
    assert greedy.finish_reason == "stop" and greedy.completion_tokens <= 16


def test_prompt_longer_than_the_context_is_e334(gpt2: TransformersTeacher) -> None:
    with pytest.raises(TvdError) as info:
        gpt2.generate(" ".join(CORPUS * 6), 1, SAMPLED)
    assert info.value.code == "E334"


def test_max_tokens_is_clamped_to_the_room_left(gpt2: TransformersTeacher) -> None:
    prompt = "play"
    while gpt2.count_tokens(prompt) < 70:
        prompt += " some jazz"
    room = 96 - gpt2.count_tokens(prompt)
    assert 0 < room < 40
    [completion] = gpt2.generate(prompt, 1, GenerationParams(max_tokens=200, temperature=0.0, stop=()))
    assert completion.completion_tokens == room and completion.finish_reason == "length"


# -- seq2seq model --------------------------------------------------------------------------------------
def test_seq2seq_model(models: dict[str, Path]) -> None:
    teacher = TransformersTeacher(models["t5"], batch_size=3)
    assert teacher.kind == "seq2seq"
    first = teacher.generate(PROMPT, 3, SAMPLED)
    assert texts(first) == texts(teacher.generate(PROMPT, 3, SAMPLED)) and len(set(texts(first))) == 3
    assert texts(teacher.generate_batch([OTHER, PROMPT], 3, SAMPLED)[1]) == texts(first)
    assert first[0].prompt_tokens == len(teacher.tokenizer(PROMPT)["input_ids"])
    greedy = GenerationParams(max_tokens=10, temperature=0.0, stop=())
    encoded = teacher.tokenizer(PROMPT, return_tensors="pt")
    reference = teacher.model.generate(**encoded, do_sample=False, max_new_tokens=10)
    assert teacher.generate(PROMPT, 1, greedy)[0].text == teacher.tokenizer.decode(
        reference[0], skip_special_tokens=True
    )


# -- LoRA adapter ---------------------------------------------------------------------------------------
def test_lora_adapter_changes_outputs_merged_or_not(models: dict[str, Path], gpt2: TransformersTeacher) -> None:
    params = GenerationParams(max_tokens=10, temperature=0.0, stop=())
    merged = TransformersTeacher(models["gpt2"], adapter_path=models["lora"])
    unmerged = TransformersTeacher(models["gpt2"], adapter_path=models["lora"], merge_adapter=False)
    assert "lora=lora:" in merged.model_id and merged.model_id != gpt2.model_id
    assert texts(merged.generate(PROMPT, 1, params)) == texts(unmerged.generate(PROMPT, 1, params))
    assert texts(merged.generate(PROMPT, 1, params)) != texts(gpt2.generate(PROMPT, 1, params))


def test_registry_builds_it_from_options(models: dict[str, Path]) -> None:
    teacher = make_teacher("transformers", model_path=str(models["gpt2"]), kind="causal", batch_size=2, timeout_s=9)
    assert isinstance(teacher, TransformersTeacher) and teacher.batch_size == 2


# -- errors ---------------------------------------------------------------------------------------------
def test_missing_folder_is_e331(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        TransformersTeacher(tmp_path / "nowhere")
    assert info.value.code == "E331" and "nowhere" in str(info.value)


def test_folder_without_config_is_e332(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        TransformersTeacher(tmp_path)
    assert info.value.code == "E332"


def test_broken_weights_are_e332(tmp_path: Path, models: dict[str, Path]) -> None:
    for path in models["gpt2"].iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(TvdError) as info:
        TransformersTeacher(tmp_path)
    assert info.value.code == "E332"


def test_bad_adapter_paths(tmp_path: Path, models: dict[str, Path]) -> None:
    with pytest.raises(TvdError) as info:
        TransformersTeacher(models["gpt2"], adapter_path=tmp_path / "missing")
    assert info.value.code == "E331"
    with pytest.raises(TvdError) as info:
        TransformersTeacher(models["gpt2"], adapter_path=tmp_path)
    assert info.value.code == "E332"


@pytest.mark.parametrize("options", [{"kind": "decoder"}, {"dtype": "int3"}, {"batch_size": 0}, {"device": "tpu:x"}])
def test_bad_options_are_e335(models: dict[str, Path], options: dict[str, Any]) -> None:
    with pytest.raises(TvdError) as info:
        TransformersTeacher(models["gpt2"], **options)
    assert info.value.code == "E335"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_e335(models: dict[str, Path]) -> None:
    with pytest.raises(TvdError) as info:
        TransformersTeacher(models["gpt2"], device="cuda")
    assert info.value.code == "E335"


def test_missing_torch_says_how_to_install(monkeypatch: pytest.MonkeyPatch, models: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(TvdError) as info:
        TransformersTeacher(models["gpt2"])
    assert info.value.code == "E330" and "teaching-via-data[transformers]" in (info.value.fix or "")


# -- GGUF -------------------------------------------------------------------------------------------------
def _permute(weight: Any, heads: int) -> Any:
    """llama.cpp's row order for q/k projections (transformers undoes it when it reads a GGUF)."""
    return (
        weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def _write_tiny_llama_gguf(path: Path) -> tuple[Any, Any]:
    """A 2-layer Llama with the byte-level BPE tokenizer, written as an f32 GGUF; returns (model, tokenizer)."""
    gguf = pytest.importorskip("gguf")
    tokenizer = _tokenizer()
    hidden, layers, heads, ffn = 32, 2, 4, 64
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        bos_token_id=EOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    model = transformers.LlamaForCausalLM(config).eval()
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    names["lm_head.weight"] = "output.weight"
    for i in range(layers):
        for ours, theirs in (
            ("input_layernorm", "attn_norm"),
            ("self_attn.q_proj", "attn_q"),
            ("self_attn.k_proj", "attn_k"),
            ("self_attn.v_proj", "attn_v"),
            ("self_attn.o_proj", "attn_output"),
            ("post_attention_layernorm", "ffn_norm"),
            ("mlp.gate_proj", "ffn_gate"),
            ("mlp.up_proj", "ffn_up"),
            ("mlp.down_proj", "ffn_down"),
        ):
            names[f"model.layers.{i}.{ours}.weight"] = f"blk.{i}.{theirs}.weight"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(128)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base((getattr(config, "rope_parameters", None) or {}).get("rope_theta", 10000.0))
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_vocab_size(len(tokenizer))
    tokens = [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in ("<pad>", "<eos>") else 1 for token in tokens])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(EOS)
    writer.add_eos_token_id(EOS)
    writer.add_pad_token_id(PAD)
    state = model.state_dict()
    for name, gguf_name in names.items():
        weight = state[name].detach().numpy().astype("float32")
        if gguf_name.endswith(("attn_q.weight", "attn_k.weight")):
            weight = _permute(weight, heads)
        writer.add_tensor(gguf_name, weight)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model, tokenizer


def test_gguf_file_loads_and_matches_the_original_model(tmp_path: Path) -> None:
    model, tokenizer = _write_tiny_llama_gguf(tmp_path / "tiny.gguf")
    teacher = TransformersTeacher(tmp_path / "tiny.gguf")
    assert teacher.gguf_file == "tiny.gguf" and teacher.model_id.startswith("tiny.gguf:")
    assert teacher.tokenizer(PROMPT)["input_ids"] == tokenizer(PROMPT)["input_ids"]
    params = GenerationParams(max_tokens=10, temperature=0.0, stop=())
    encoded = tokenizer(PROMPT, return_tensors="pt")
    reference = model.generate(**encoded, do_sample=False, max_new_tokens=10, pad_token_id=PAD)
    expected = tokenizer.decode(reference[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
    assert teacher.generate(PROMPT, 1, params)[0].text == expected
    same = TransformersTeacher(tmp_path, gguf_file="tiny.gguf")
    assert same.model_id == teacher.model_id


def test_missing_gguf_file_is_e331(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        TransformersTeacher(tmp_path, gguf_file="absent.gguf")
    assert info.value.code == "E331"
