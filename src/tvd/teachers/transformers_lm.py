"""A local Hugging Face model as teacher: causal or seq2seq, optional LoRA adapter, batched, seeded.

Loading.  ``model_path`` is a model folder (``config.json`` + weights + tokenizer), or a GGUF file (or a
folder plus ``gguf_file=``), which transformers de-quantises on load (needs the ``gguf`` package; slow
and memory-hungry for real models: Gemma 3 270M took 47 s and 2.6 GB, see ``docs/teachers.md``).
Everything is read with ``local_files_only=True``: nothing is ever fetched from a hub.  ``kind="auto"``
reads ``is_encoder_decoder`` from the config.  ``adapter_path`` is a PEFT (LoRA) adapter folder, merged
into the weights by default for speed.  ``device="auto"`` takes the GPU when there is one; ``dtype="auto"``
is float32 on the CPU and bfloat16 (or float16) on a GPU.

Sampling.  transformers' own sampling draws from one random stream for the whole batch, so a sample's
text would depend on what else is in the batch.  Here every row of a batch (prompt ``j``, sample ``i``)
has its own ``torch.Generator`` seeded with ``params.seed + i``, and one uniform number per step picks the
token from the row's (repetition-penalised, temperature-scaled, top-k, top-p) distribution by inverse
CDF; transformers then decodes greedily over the chosen token (:class:`_RowSampler`).  So sample ``i``
of a prompt is the same whatever ``n``, the batch size or the other prompts in the batch are, up to
float rounding: padding and batch shape can change logits in the last bits, which changes a token only
when the uniform draw falls right on a boundary between two tokens.  ``temperature <= 0`` is greedy.
(One more batch effect: near a model's position limit, ``max_tokens`` is cut to the room the batch's
longest prompt leaves.)  The prompt is sent as it is, without a chat template: LINGUIST prompts are
written for base models that continue text.

Batching.  :meth:`generate_batch` (several prompts x ``n`` samples) and :meth:`generate_requests` (any
``(prompt, params)`` jobs, grouped by parameters) fill batches of ``batch_size`` rows.

Stop strings end a row as soon as its decoded continuation contains one (:class:`_StopOnStrings`) and are
cut from the text.  Token counts come from the tokenizer: ``prompt_tokens`` is the prompt's length,
``completion_tokens`` the tokens generated up to and including the end-of-sequence token or the token
that completed a stop string.  Grammars (``params.grammar``) are not supported by plain transformers and
are ignored: the output parser validates every completion anyway.

Threads: ``torch_threads`` sets ``torch.set_num_threads`` (process-wide) when running on the CPU.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tvd.errors import (
    E_ADAPTER_MISMATCH,
    E_HF_NOT_FOUND,
    E_HF_PROMPT_TOO_LONG,
    E_HF_SETTINGS,
    E_HF_UNUSABLE,
    E_NO_TRANSFORMERS,
    TvdError,
)
from tvd.teachers.base import Completion, GenerationParams, Teacher, file_fingerprint

INSTALL_FIX = "pip install 'teaching-via-data[transformers]' (installs torch, transformers and peft)"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
_KINDS = ("auto", "causal", "seq2seq")
_DTYPES = ("auto", "float32", "bfloat16", "float16")


def _import(name: str, what: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise TvdError(
            E_NO_TRANSFORMERS,
            f"the transformers teacher needs {what}, which is not importable ({exc})",
            fix=INSTALL_FIX,
        ) from exc


def folder_fingerprint(folder: Path, only: str | None = None) -> str:
    """``name:hash`` of a model or adapter folder: its config and weight files (names, sizes, head and tail)."""
    digest = hashlib.sha256()
    files = [folder / only] if only else sorted(folder.iterdir())
    for path in files:
        if path.is_file() and (path.suffix in _WEIGHT_SUFFIXES or path.name.endswith("config.json")):
            digest.update(f"{file_fingerprint(path)};".encode())
    return f"{only or folder.name}:{digest.hexdigest()[:16]}"


class TransformersTeacher(Teacher):
    """A local Hugging Face model (see the module docstring).

    ``model_path``: a model folder or a ``.gguf`` file.  ``adapter_path``: a PEFT adapter folder.
    ``kind``: ``auto``, ``causal`` or ``seq2seq``.  ``device``: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
    ``batch_size``: rows (prompt x sample) generated together.  ``torch_threads``: CPU threads.
    ``gguf_file``: a GGUF file name inside ``model_path``.  ``dtype``: ``auto``, ``float32``, ``bfloat16``
    or ``float16``.  ``tokenizer_path``: where the tokenizer is, if not beside the model.
    ``merge_adapter``: merge the LoRA weights into the model (faster; same outputs up to rounding).
    ``trust_remote_code``: allow model code shipped in the folder (off by default).
    ``timeout_s``: accepted so that one config shape fits every backend; a local generation is not
    interrupted.
    """

    backend = "transformers"
    concurrent = False

    def __init__(
        self,
        model_path: str | Path,
        adapter_path: str | Path | None = None,
        kind: str = "auto",
        device: str = "auto",
        batch_size: int = 8,
        torch_threads: int = 1,
        gguf_file: str | None = None,
        dtype: str = "auto",
        *,
        tokenizer_path: str | Path | None = None,
        merge_adapter: bool = True,
        trust_remote_code: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        if kind not in _KINDS or dtype not in _DTYPES or batch_size < 1 or torch_threads < 1:
            raise TvdError(
                E_HF_SETTINGS,
                f"bad transformers settings: kind={kind!r}, dtype={dtype!r}, batch_size={batch_size}, "
                f"torch_threads={torch_threads}",
                fix=f"use kind in {_KINDS}, dtype in {_DTYPES}, batch_size >= 1, torch_threads >= 1",
            )
        self.torch = _import("torch", "torch")
        self.transformers = _import("transformers", "transformers")
        path = Path(model_path).expanduser()
        if path.is_file() and path.suffix == ".gguf" and gguf_file is None:
            path, gguf_file = path.parent, path.name
        if not path.is_dir():
            raise TvdError(
                E_HF_NOT_FOUND,
                "model folder not found" if not path.exists() else "model path is neither a folder nor a .gguf file",
                file=path,
                fix="set teacher.options.model_path to a local Hugging Face model folder (config.json, weights, "
                "tokenizer) or a .gguf file",
            )
        if gguf_file is not None:
            if not (path / gguf_file).is_file():
                raise TvdError(
                    E_HF_NOT_FOUND, "GGUF file not found", file=path / gguf_file, fix="check teacher.options.gguf_file"
                )
            _import("gguf", "the gguf package (to read GGUF files)")
        elif not (path / "config.json").is_file():
            raise TvdError(
                E_HF_UNUSABLE,
                "not a Hugging Face model folder (no config.json)",
                file=path,
                fix="point model_path at a folder written by save_pretrained, or at a .gguf file",
            )
        self.model_path = path
        self.gguf_file = gguf_file
        self.adapter_path = Path(adapter_path).expanduser() if adapter_path is not None else None
        if self.adapter_path is not None:
            _import("peft", "peft (for LoRA adapters)")
            adapter = self.adapter_path
            if not (adapter / "adapter_config.json").is_file():
                raise TvdError(
                    E_HF_NOT_FOUND if not adapter.exists() else E_HF_UNUSABLE,
                    "adapter folder not found"
                    if not adapter.exists()
                    else "not a PEFT adapter folder (no adapter_config.json)",
                    file=adapter,
                    fix="set teacher.options.adapter_path to a folder written by a PEFT model's save_pretrained",
                )
        self.batch_size = batch_size
        self.device = self._pick_device(device)
        if self.device.type == "cpu":
            self.torch.set_num_threads(torch_threads)
        self.dtype_name = self._pick_dtype(dtype)
        started = time.perf_counter()
        load = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        if gguf_file is not None:
            load["gguf_file"] = gguf_file
        config = self._load(lambda: self.transformers.AutoConfig.from_pretrained(str(path), **load), path)
        self.kind = (
            kind if kind != "auto" else ("seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal")
        )
        auto = (
            self.transformers.AutoModelForSeq2SeqLM
            if self.kind == "seq2seq"
            else self.transformers.AutoModelForCausalLM
        )
        dtype_value = getattr(self.torch, self.dtype_name)
        model = self._load(lambda: auto.from_pretrained(str(path), dtype=dtype_value, **load), path)
        tokenizer_source = Path(tokenizer_path).expanduser() if tokenizer_path is not None else path
        tokenizer_load = dict(load) if tokenizer_path is None else {"local_files_only": True}
        self.tokenizer = self._load(
            lambda: self.transformers.AutoTokenizer.from_pretrained(str(tokenizer_source), **tokenizer_load),
            tokenizer_source,
        )
        if self.adapter_path is not None:
            model = self._attach_adapter(model, merge_adapter)
        self.model = model.to(self.device).eval()
        self._prepare_tokenizer()
        #: Seconds it took to load model, tokenizer and adapter.
        self.load_seconds = time.perf_counter() - started
        parts = [folder_fingerprint(path, gguf_file)]
        if self.adapter_path is not None:
            parts.append("lora=" + folder_fingerprint(self.adapter_path))
        parts.append(self.dtype_name)
        self._model_id = "|".join(parts)

    # -- loading -----------------------------------------------------------------------------------
    def _pick_device(self, device: str) -> Any:
        torch = self.torch
        if device == "auto":
            if torch.cuda.is_available():
                device = "cuda"
            elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                device = "mps"
            else:
                device = "cpu"
        try:
            chosen = torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise TvdError(
                E_HF_SETTINGS, f"unknown device {device!r}: {exc}", fix="use auto, cpu, cuda or cuda:N"
            ) from exc
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise TvdError(
                E_HF_SETTINGS, f"device {device!r} asked for, but torch sees no CUDA GPU", fix="use device: auto or cpu"
            )
        return chosen

    def _pick_dtype(self, dtype: str) -> str:
        if dtype != "auto":
            return dtype
        if self.device.type == "cuda":
            return "bfloat16" if self.torch.cuda.is_bf16_supported() else "float16"
        return "float32"

    def _load(self, loader: Any, where: Path) -> Any:
        """Run a ``from_pretrained`` call, turning its failures into a TvdError naming the folder."""
        try:
            return loader()
        except Exception as exc:  # OSError, ValueError, safetensors' and torch's own errors...
            raise TvdError(
                E_HF_UNUSABLE,
                f"transformers could not load it: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                file=where,
                fix="check that the folder is complete (config, weights, tokenizer) and that this transformers "
                "version supports the architecture",
            ) from exc

    def _attach_adapter(self, model: Any, merge: bool) -> Any:
        peft = _import("peft", "peft (for LoRA adapters)")
        adapter = self.adapter_path
        assert adapter is not None
        try:
            model = peft.PeftModel.from_pretrained(model, str(adapter), local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise TvdError(
                E_ADAPTER_MISMATCH,
                f"the LoRA adapter does not fit this model: {str(exc).splitlines()[0]}",
                file=adapter,
                fix="use the adapter trained on this base model",
            ) from exc
        return model.merge_and_unload() if merge else model

    def _prepare_tokenizer(self) -> None:
        tokenizer = self.tokenizer
        if self.kind == "causal":
            tokenizer.padding_side = "left"  # generation continues right after each prompt
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token_id is None:
                raise TvdError(
                    E_HF_UNUSABLE,
                    "the tokenizer has neither a padding nor an end-of-sequence token",
                    file=self.model_path,
                    fix="save the tokenizer with a pad_token or eos_token",
                )
            tokenizer.pad_token = tokenizer.eos_token
        config = self.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self._max_positions = getattr(self.model.config, "max_position_embeddings", None)

    @property
    def model_id(self) -> str:
        return self._model_id

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the model's tokenizer (no special tokens)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- generation --------------------------------------------------------------------------------
    def generate(self, prompt: str, n: int, params: GenerationParams) -> list[Completion]:
        """``n`` completions of ``prompt``; sample ``i`` is drawn with seed ``params.seed + i``."""
        return self.generate_batch([prompt], n, params)[0]

    def generate_batch(self, prompts: Sequence[str], n: int, params: GenerationParams) -> list[list[Completion]]:
        """``n`` completions of each prompt (sample ``i`` with seed ``params.seed + i``), ``batch_size``
        rows at a time; the same as :meth:`generate` per prompt (see the module docstring on rounding)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        requests = [(prompt, replace(params, seed=params.seed + i)) for prompt in prompts for i in range(n)]
        flat = self.generate_requests(requests)
        return [flat[j * n : (j + 1) * n] for j in range(len(prompts))]

    def generate_requests(self, requests: Sequence[tuple[str, GenerationParams]]) -> list[Completion]:
        """One completion per ``(prompt, params)`` request, sampled with that request's ``params.seed``:
        each equals ``generate(prompt, 1, params)[0]``.  Requests whose parameters differ only in the
        seed are generated together, ``batch_size`` rows at a time (an engine holding many single-sample
        jobs can hand them over in one call)."""
        if self.model is None:
            raise TvdError(E_HF_UNUSABLE, "the transformers teacher was closed", fix="create a new teacher")
        groups: dict[GenerationParams, list[int]] = {}
        for index, (_, params) in enumerate(requests):
            groups.setdefault(replace(params, seed=0), []).append(index)
        results: list[Completion | None] = [None] * len(requests)
        for shared, indices in groups.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                prompts = [requests[k][0] for k in chunk]
                seeds = [requests[k][1].seed for k in chunk]
                for k, completion in zip(chunk, self._generate_rows(prompts, seeds, shared), strict=True):
                    results[k] = completion
        return [completion for completion in results if completion is not None]

    def _generate_rows(self, prompts: list[str], seeds: list[int], params: GenerationParams) -> list[Completion]:
        torch = self.torch
        started = time.perf_counter()
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True)
        prompt_lengths = encoded["attention_mask"].sum(dim=1).tolist()
        width = encoded["input_ids"].shape[1]
        budget = self._budget(max(prompt_lengths), width, params.max_tokens)
        encoded = {key: value.to(self.device) for key, value in encoded.items()}
        sampler = _RowSampler(torch, seeds, params)
        offset = width if self.kind == "causal" else 1  # seq2seq outputs start with the decoder start token
        stopper = _StopOnStrings(torch, self.tokenizer, offset, [stop for stop in params.stop if stop], self._eos_ids)
        config = self._generation_config(budget)
        with torch.inference_mode():
            output = self.model.generate(
                **encoded,
                generation_config=config,
                logits_processor=self.transformers.LogitsProcessorList([sampler]),
                stopping_criteria=self.transformers.StoppingCriteriaList([stopper]),
            )
        seconds = round(time.perf_counter() - started, 4)
        completions = []
        for row in range(len(prompts)):
            generated = output[row, offset:].tolist()
            length = stopper.ended_at.get(row, len(generated))
            text = self.tokenizer.decode(generated[:length], skip_special_tokens=True)
            cut = min((text.find(stop) for stop in params.stop if stop and stop in text), default=-1)
            if cut >= 0:
                text = text[:cut]
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=int(prompt_lengths[row]),
                    completion_tokens=length,
                    finish_reason="stop" if row in stopper.ended_at else "length",
                    extra={"seed": seeds[row], "batch_seconds": seconds, "batch_rows": len(prompts)},
                )
            )
        return completions

    def _budget(self, longest_prompt: int, width: int, max_tokens: int) -> int:
        """New tokens allowed: ``max_tokens``, within the model's position limit where it has one."""
        limit = self._max_positions
        if limit is None:
            return max_tokens if max_tokens > 0 else 256
        room = limit - width if self.kind == "causal" else limit - 1
        if longest_prompt >= limit or room < 1:
            raise TvdError(
                E_HF_PROMPT_TOO_LONG,
                f"the prompt has {longest_prompt} tokens, too many for the model's {limit} positions",
                file=self.model_path,
                fix="use fewer or shorter examples in the prompt, or a model with a longer context",
            )
        return min(max_tokens, room) if max_tokens > 0 else room

    def _generation_config(self, budget: int) -> Any:
        """The model's generation config with its sampling switched off: :class:`_RowSampler` samples."""
        config = copy.deepcopy(self.model.generation_config)
        config.update(
            max_new_tokens=budget,
            max_length=None,
            min_new_tokens=None,
            min_length=0,
            do_sample=False,
            num_beams=1,
            num_return_sequences=1,
            temperature=None,
            top_k=None,
            top_p=None,
            repetition_penalty=None,
            no_repeat_ngram_size=None,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        if config.eos_token_id is None and self.tokenizer.eos_token_id is not None:
            config.eos_token_id = self.tokenizer.eos_token_id
        return config

    def close(self) -> None:
        """Drop the model (and free GPU memory)."""
        self.model = None
        torch = getattr(self, "torch", None)
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


class _RowSampler:
    """A logits processor that samples each row with its own seeded generator (see the module docstring).

    It returns scores that are 0 for the chosen token and -inf elsewhere, so transformers' greedy step
    takes exactly that token.  Every step draws one uniform number per row, finished rows included, so a
    row's random stream never depends on the other rows.
    """

    def __init__(self, torch: Any, seeds: list[int], params: GenerationParams) -> None:
        self.torch = torch
        self.params = params
        self.greedy = params.temperature <= 0
        self.generators = []
        for seed in seeds:
            generator = torch.Generator(device="cpu")
            generator.manual_seed(seed % (1 << 63))
            self.generators.append(generator)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch, params = self.torch, self.params
        scores = scores.float()
        if params.repeat_penalty != 1.0:  # as transformers' RepetitionPenaltyLogitsProcessor
            seen = torch.gather(scores, 1, input_ids)
            seen = torch.where(seen < 0, seen * params.repeat_penalty, seen / params.repeat_penalty)
            scores = scores.scatter(1, input_ids, seen)
        if self.greedy:
            chosen = scores.argmax(dim=-1)
        else:
            scores = scores / params.temperature
            k = params.top_k if 0 < params.top_k < scores.shape[-1] else scores.shape[-1]
            values, indices = torch.topk(scores, k, dim=-1)  # sorted, best first
            probs = torch.softmax(values, dim=-1)
            if params.top_p < 1.0:
                before = probs.cumsum(dim=-1) - probs  # mass of the better tokens
                keep = before < params.top_p
                keep[:, 0] = True  # the best token always stays
                probs = torch.where(keep, probs, torch.zeros_like(probs))
            cdf = probs.cumsum(dim=-1).cpu()
            draws = torch.stack([torch.rand((), generator=g) for g in self.generators]) * cdf[:, -1]
            picks = torch.searchsorted(cdf, draws.unsqueeze(1), right=True).clamp(max=k - 1)
            chosen = indices.gather(1, picks.to(indices.device)).squeeze(1)
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen.unsqueeze(1), 0.0)
        return out


class _StopOnStrings:
    """A stopping criterion: a row ends at an end-of-sequence token or once its text holds a stop string.

    ``ended_at`` maps a row to the number of tokens it generated, the ending token included.
    """

    def __init__(self, torch: Any, tokenizer: Any, offset: int, stops: list[str], eos_ids: set[int]) -> None:
        self.torch = torch
        self.tokenizer = tokenizer
        self.offset = offset
        self.stops = stops
        self.eos_ids = eos_ids
        self.ended_at: dict[int, int] = {}

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        generated = input_ids[:, self.offset :]
        count = generated.shape[1]
        done = []
        for row in range(generated.shape[0]):
            if row not in self.ended_at and count > 0:
                last = int(generated[row, -1])
                if last in self.eos_ids:
                    self.ended_at[row] = count
                elif self.stops:
                    text = self.tokenizer.decode(generated[row].tolist(), skip_special_tokens=True)
                    if any(stop in text for stop in self.stops):
                        self.ended_at[row] = count
            done.append(row in self.ended_at)
        return self.torch.tensor(done, dtype=self.torch.bool, device=input_ids.device)
