"""Export a peft LoRA adapter as a llama.cpp adapter GGUF (``adapter.gguf``, the ``lora_path`` of ``llamacpp``).

The file has ``general.type=adapter``, ``adapter.type=lora``, ``adapter.lora.alpha`` and the tensors
``blk.<layer>.<module>.weight.lora_a`` / ``.lora_b`` in float32.  Two architectures are supported: ``llama``
(SmolLM2 and other llama-style models) and Gemma 3 (``gemma3`` / ``gemma3_text``, the embedded teacher).
llama.cpp stores the q / k projections of llama-architecture models with their rows permuted (rotary-embedding
layout; transformers undoes that on load), so ``lora_b`` of q_proj / k_proj is permuted the same way; Gemma's
converter does not permute, so neither does the export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tvd.errors import E_GGUF_EXPORT, TvdError
from tvd.tuning.optional import require

ADAPTER_GGUF = "adapter.gguf"
# transformers model_type -> (llama.cpp architecture, whether q / k rows are permuted)
_ARCHITECTURES = {"llama": ("llama", True), "gemma3": ("gemma3", False), "gemma3_text": ("gemma3", False)}
# peft module name (within a decoder layer) -> llama.cpp tensor name
_GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def _permute(weights: Any, n_head: int) -> Any:
    """llama.cpp's q / k row permutation (convert_hf_to_gguf ``LlamaModel.permute``)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def export_gguf_lora(model: Any, path: Path, alpha: float) -> int:
    """Write the peft ``model``'s LoRA weights as a llama.cpp adapter GGUF; returns the tensor count."""
    gguf = require("gguf")
    import numpy as np

    config = model.get_base_model().config
    model_type = getattr(config, "model_type", "llama")
    if model_type not in _ARCHITECTURES:
        raise TvdError(
            E_GGUF_EXPORT,
            f"GGUF adapter export supports {sorted(_ARCHITECTURES)} models, not {model_type!r}",
            fix="use the PEFT adapter with the transformers teacher (adapter_path)",
        )
    arch, permuted = _ARCHITECTURES[model_type]
    n_head = config.num_attention_heads
    n_head_kv = getattr(config, "num_key_value_heads", None) or n_head
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items() if "lora_" in k}
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    count = 0
    for key in sorted(state):
        if ".lora_A." not in key:
            continue
        prefix = key.split(".lora_A.")[0]  # base_model.model.model.layers.N.self_attn.q_proj
        layer = int(prefix.split(".layers.")[1].split(".")[0])
        module = prefix.split(f".layers.{layer}.")[1]
        name = f"blk.{layer}.{_GGUF_NAMES[module]}.weight"
        lora_a = state[key]
        lora_b = state[key.replace(".lora_A.", ".lora_B.")]
        if permuted and module == "self_attn.q_proj":
            lora_b = _permute(lora_b, n_head)
        elif permuted and module == "self_attn.k_proj":
            lora_b = _permute(lora_b, n_head_kv)
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(lora_a, dtype=np.float32))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(lora_b, dtype=np.float32))
        count += 2
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return count
