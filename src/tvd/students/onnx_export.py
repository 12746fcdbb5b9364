"""Export a trained encoder student to ONNX (fp32) and a dynamically quantised int8 copy.

:func:`export_onnx` writes ``model.onnx`` (the encoder and both heads: inputs ``input_ids`` and
``attention_mask`` ``[batch, sequence]``, outputs ``intent_logits`` ``[batch, intents]`` and ``emissions``
``[batch, sequence, tags]``) and ``model.int8.onnx`` (ONNX Runtime dynamic quantisation: int8 weights of the
MatMul/Gemm layers, activations quantised per call, no calibration data; *static* quantisation has been seen to
collapse slot F1 and is not offered) into the student directory, and records their sha256 in ``student.json``
(which :meth:`~tvd.students.encoder.EncoderStudent.load` checks before opening them).  The CRF,
if any, is decoded outside the graph from ``crf.npz``.  :func:`prediction_agreement` compares two runtimes.

Which layers become int8 is a named scheme (:data:`INT8_SCHEMES`, ``export_onnx(..., int8_scheme=)``,
``tvd export --int8-scheme``); ``bench/int8_schemes.py`` scores them on a validation split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tvd.data.utterance import Utterance
from tvd.errors import E_BAD_SCHEME, E_NO_RUNTIME, TvdError
from tvd.students.base import FILES_FIELD, file_record, read_metadata, write_metadata
from tvd.students.encoder import ONNX_FILE, ONNX_INT8_FILE, EncoderStudent
from tvd.students.encoder_inputs import encode_words

OPSET = 17
HEAD_PREFIXES = ("/intent_head/", "/slot_head/")  # node names of the heads in the exported graph
# int8 schemes: keyword arguments of onnxruntime's quantize_dynamic (besides the weight type, QInt8);
# "keep_heads" (ours) excludes the heads' nodes.
INT8_SCHEMES: dict[str, dict[str, Any]] = {
    "all": {},  # onnxruntime's defaults: every MatMul/Gemm weight and the embedding tables (Gather)
    "per-channel": {"per_channel": True},  # as "all", one scale per output channel
    "no-embeddings": {"op_types_to_quantize": ["MatMul", "Gemm"]},  # embedding tables stay fp32
    "no-heads": {"keep_heads": True},  # intent and slot heads stay fp32
    "encoder-matmuls": {"op_types_to_quantize": ["MatMul", "Gemm"], "keep_heads": True},  # both
}
DEFAULT_INT8_SCHEME = "all"


def export_onnx(
    directory: str | Path, *, quantize: bool = True, int8_scheme: str = DEFAULT_INT8_SCHEME
) -> dict[str, Path]:
    """Export the encoder student saved in ``directory``; returns the written files by runtime name.

    ``int8_scheme``: which weights the int8 copy quantises, a name from :data:`INT8_SCHEMES`."""
    if int8_scheme not in INT8_SCHEMES:
        raise TvdError(
            E_BAD_SCHEME, f"unknown int8 scheme {int8_scheme!r}", fix=f"use one of {', '.join(INT8_SCHEMES)}"
        )
    try:
        import onnx
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise TvdError(
            E_NO_RUNTIME, f"ONNX export needs onnx and onnxruntime ({exc})", fix="pip install 'tvd[encoder]'"
        ) from exc
    directory = Path(directory)
    student = EncoderStudent.load(directory, runtime="torch")
    model = student._model.cpu().eval()
    example = encode_words(student._tokenizer, [["play", "some", "music"], ["book", "a", "table", "now"]], 32)
    fp32 = directory / ONNX_FILE
    with torch.inference_mode():
        torch.onnx.export(
            model,
            (torch.from_numpy(example["input_ids"]), torch.from_numpy(example["attention_mask"])),
            str(fp32),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["intent_logits", "emissions"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "intent_logits": {0: "batch"},
                "emissions": {0: "batch", 1: "sequence"},
            },
            opset_version=OPSET,
        )
    written = {"onnx": fp32}
    if quantize:
        int8 = directory / ONNX_INT8_FILE
        options = dict(INT8_SCHEMES[int8_scheme])
        if options.pop("keep_heads", False):
            graph = onnx.load(str(fp32), load_external_data=False).graph
            options["nodes_to_exclude"] = [node.name for node in graph.node if node.name.startswith(HEAD_PREFIXES)]
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, **options)
        written["onnx-int8"] = int8
    metadata = read_metadata(directory)
    if not quantize:  # an int8 copy of the model.onnx just replaced is dropped with it (not served, not recorded)
        (directory / ONNX_INT8_FILE).unlink(missing_ok=True)
    # the exports join the sha256 record (what EncoderStudent.load checks before opening them); the other files
    # keep the record the load above verified
    kept = {k: v for k, v in metadata.get(FILES_FIELD, {}).items() if k not in (ONNX_FILE, ONNX_INT8_FILE)}
    metadata[FILES_FIELD] = {**kept, **file_record(directory, [path.name for path in written.values()])}
    metadata["onnx"] = {
        "opset": OPSET,
        "quantization": "onnxruntime dynamic, QInt8 weights" if quantize else None,
        "int8_scheme": int8_scheme if quantize else None,
        "bytes": {name: path.stat().st_size for name, path in written.items()},
    }
    write_metadata(directory, metadata)
    return written


def prediction_agreement(reference: Sequence[Utterance], other: Sequence[Utterance]) -> dict[str, Any]:
    """How often two runtimes' predictions agree: same intent, same slot spans, both (fractions of inputs)."""
    if len(reference) != len(other):
        raise ValueError("prediction lists differ in length")
    n = max(1, len(reference))
    same_intent = sum(a.intent == b.intent for a, b in zip(reference, other, strict=True))
    same_slots = sum(a.spans == b.spans for a, b in zip(reference, other, strict=True))
    same = sum(a.intent == b.intent and a.spans == b.spans for a, b in zip(reference, other, strict=True))
    return {
        "n": len(reference),
        "intent_agreement": same_intent / n,
        "slot_agreement": same_slots / n,
        "full_agreement": same / n,
    }
