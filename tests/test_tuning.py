"""LoRA tuning of a LINGUIST teacher, on a tiny Llama written as a GGUF by the tests.

The adapter is trained for real (a few steps, high learning rate so that it changes the outputs), then
served by llama.cpp from the exported adapter GGUF and compared with transformers + peft greedy decoding:
the q / k row permutation and the alpha scaling must be right for the two to agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("gguf")

from test_teachers_transformers_lm import PROMPT, _write_tiny_llama_gguf  # noqa: E402
from tvd.errors import TvdError  # noqa: E402
from tvd.linguist.instruction_data import InstructionPair  # noqa: E402
from tvd.tuning import (  # noqa: E402
    ADAPTER_GGUF,
    MANIFEST,
    TuneSettings,
    check_language_unseen,
    check_unseen,
    read_manifest,
    tune,
)

PAIRS = [
    InstructionPair(
        prompt="<examples>\nplay some jazz by miles davis\n",
        target="book a table for [1 two ] in [2 rome ]",
        dataset="snips",
        intent=intent,
        n_examples=1,
        language="en",
    )
    for intent in ("BookRestaurant", "PlayMusic")
]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("tuned")
    base = folder / "tiny.gguf"
    _model, tokenizer = _write_tiny_llama_gguf(base)
    settings = TuneSettings(steps=4, batch_size=2, learning_rate=0.05, rank=4, alpha=8.0, warmup_steps=1)
    steps: list[int] = []
    manifest = tune(PAIRS, folder / "adapter", settings, base_model=base, progress=lambda s, loss: steps.append(s))
    return {"base": base, "adapter": folder / "adapter", "manifest": manifest, "steps": steps, "tokenizer": tokenizer}


def test_tune_writes_peft_gguf_and_manifest(tuned: dict[str, Any]) -> None:
    adapter = tuned["adapter"]
    assert (adapter / "adapter_config.json").is_file() and (adapter / ADAPTER_GGUF).is_file()
    manifest = json.loads((adapter / MANIFEST).read_text())
    assert manifest == read_manifest(adapter)
    assert manifest["trained_on"] == ["snips:BookRestaurant", "snips:PlayMusic"]
    assert tuned["steps"] == [1, 2, 3, 4] and len(manifest["losses"]) == 4
    assert manifest["losses"][-1] < manifest["losses"][0]  # it learns the one target


def test_leave_target_out_is_enforced(tuned: dict[str, Any]) -> None:
    check_unseen(tuned["adapter"], ["snips:GetWeather", "atis:BookRestaurant"])
    with pytest.raises(TvdError) as info:
        check_unseen(tuned["adapter"], ["snips:PlayMusic"])
    assert info.value.code == "E355" and "PlayMusic" in info.value.message


def test_leave_target_language_out_is_enforced(tuned: dict[str, Any], tmp_path: Path) -> None:
    assert tuned["manifest"]["target_languages"] == ["en"]
    check_language_unseen(tuned["adapter"], "de")
    with pytest.raises(TvdError) as info:
        check_language_unseen(tuned["adapter"], "en")
    assert info.value.code == "E355"
    old = tmp_path / "old"  # an adapter from before the manifest named its languages: refused, not trusted
    old.mkdir()
    manifest = {k: v for k, v in tuned["manifest"].items() if k != "target_languages"}
    (old / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(TvdError) as info:
        check_language_unseen(old, "de")
    assert info.value.code == "E355"


def test_not_an_adapter_folder_is_e357(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        read_manifest(tmp_path)
    assert info.value.code == "E357"


def test_no_pairs_and_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        tune([], tmp_path)
    assert info.value.code == "E353"
    with pytest.raises(TvdError) as info:
        tune(PAIRS, tmp_path, TuneSettings(steps=0))
    assert info.value.code == "E354"


def _greedy_transformers(base: Path, adapter: Path | None) -> str:
    from tvd.teachers.base import GenerationParams
    from tvd.teachers.transformers_lm import TransformersTeacher

    teacher = TransformersTeacher(base, adapter_path=adapter, merge_adapter=False)
    return teacher.generate(PROMPT, 1, GenerationParams(max_tokens=8, temperature=0.0, stop=()))[0].text


def _greedy_llamacpp(base: Path, lora: Path | None) -> str:
    pytest.importorskip("llama_cpp")
    from tvd.teachers.base import GenerationParams
    from tvd.teachers.llamacpp import LlamaCppTeacher

    with LlamaCppTeacher(base, n_ctx=128, lora_path=lora) as teacher:
        return teacher.generate(PROMPT, 1, GenerationParams(max_tokens=8, temperature=0.0, stop=()))[0].text


def _visible(text: str) -> str:
    """The text without U+FFFD: a random tiny model emits byte tokens that the two detokenisers render
    differently (transformers as U+FFFD, llama.cpp drops them)."""
    return text.replace("\ufffd", "")


def test_llamacpp_adapter_gives_the_same_greedy_output_as_peft(tuned: dict[str, Any]) -> None:
    base, adapter = tuned["base"], tuned["adapter"]
    with_peft = _visible(_greedy_transformers(base, adapter))
    with_gguf = _visible(_greedy_llamacpp(base, adapter / ADAPTER_GGUF))
    assert with_gguf == with_peft and len(with_gguf) >= 4
    assert with_peft != _visible(_greedy_transformers(base, None))  # the adapter matters
    assert _visible(_greedy_llamacpp(base, None)) == _visible(_greedy_transformers(base, None))


def test_missing_lora_file_is_e305(tuned: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from tvd.teachers.llamacpp import LlamaCppTeacher

    with pytest.raises(TvdError) as info:
        LlamaCppTeacher(tuned["base"], lora_path=tmp_path / "nope.gguf")
    assert info.value.code == "E305"


def test_llamacpp_adapter_logits_match_peft(tuned: dict[str, Any]) -> None:
    """Stricter than greedy text: every position's logits agree, so a wrong q / k permutation or scale fails."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import numpy as np
    from peft import PeftModel

    from tvd.tuning import load_base

    base, adapter = tuned["base"], tuned["adapter"]
    model, tokenizer = load_base(base)
    ids = tokenizer(PROMPT)["input_ids"]
    with torch.no_grad():
        plain = model(torch.tensor([ids])).logits[0].numpy()
        peft_logits = PeftModel.from_pretrained(model, adapter).eval()(torch.tensor([ids])).logits[0].numpy()
    llm = llama_cpp.Llama(
        str(base), lora_path=str(adapter / ADAPTER_GGUF), n_ctx=128, logits_all=True, verbose=False, n_threads=1
    )
    llm.eval(ids)
    ours = np.array(llm.scores[: len(ids)])
    assert np.abs(plain - peft_logits).max() > 0.1  # the adapter changes the logits...
    assert np.abs(ours - peft_logits).max() < 0.02 * np.abs(plain - peft_logits).max()  # ...exactly as peft does


@pytest.mark.slow
def test_gemma_adapter_export_matches_peft_on_the_embedded_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded Gemma 3 270M with a random LoRA: llama.cpp serving the exported adapter moves the logits
    the way peft does, and an export that permuted q / k rows as for llama (Gemma's converter does not) moves
    them measurably less alike."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import numpy as np
    import peft

    from tvd.teachers.embedded_model import resolve_model_path
    from tvd.tuning import TARGET_MODULES, export_gguf_lora, gguf_export, load_base

    base = resolve_model_path("gemma3-270m")
    model, tokenizer = load_base(base)
    assert model.config.model_type.startswith("gemma3")
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=list(TARGET_MODULES), task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, config)
    generator = torch.Generator().manual_seed(0)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            parameter.data = torch.randn(parameter.shape, generator=generator) * 0.05
    assert export_gguf_lora(model, tmp_path / ADAPTER_GGUF, 8.0) == 2 * len(TARGET_MODULES) * 18
    monkeypatch.setitem(gguf_export._ARCHITECTURES, model.config.model_type, ("gemma3", True))
    export_gguf_lora(model, tmp_path / "permuted.gguf", 8.0)
    ids = tokenizer("weather in dallas on")["input_ids"]
    with torch.no_grad():
        tuned_logits = model(torch.tensor([ids])).logits[0].float().numpy()
        with model.disable_adapter():
            plain_logits = model(torch.tensor([ids])).logits[0].float().numpy()

    def served(lora: Path | None) -> Any:
        options = {"lora_path": str(lora)} if lora else {}
        llm = llama_cpp.Llama(str(base), n_ctx=64, logits_all=True, verbose=False, n_threads=1, **options)
        assert llm.tokenize(b"weather in dallas on", add_bos=True) == ids
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)])

    plain = served(None)
    theirs = (tuned_logits - plain_logits).ravel()
    ours = np.corrcoef((served(tmp_path / ADAPTER_GGUF) - plain).ravel(), theirs)[0, 1]
    permuted = np.corrcoef((served(tmp_path / "permuted.gguf") - plain).ravel(), theirs)[0, 1]
    print(f"delta max {np.abs(theirs).max():.2f}, correlation {ours:.3f}, permuted export {permuted:.3f}")
    assert np.abs(theirs).max() > 1.0  # the adapter moves the logits...
    assert ours > 0.95  # ...llama.cpp moves them the same way...
    assert ours - permuted > 0.05  # ...and a wrong export is told apart
