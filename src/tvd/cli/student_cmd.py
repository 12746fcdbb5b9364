"""Student commands: ``tvd export`` (encoder student to ONNX fp32 + int8) and ``--param`` parsing for ``tvd train``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tvd.errors import TvdError

E_BAD_PARAM_OPTION = "E424"  # a --param that is not KEY=VALUE


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    """``("epochs=4", "encoder=all-minilm-l6-v2")`` -> ``{"epochs": 4, "encoder": "all-minilm-l6-v2"}``."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise TvdError(E_BAD_PARAM_OPTION, f"--param {item!r} is not KEY=VALUE", fix="write e.g. --param epochs=4")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


@click.command(short_help="Export an encoder student to ONNX (fp32 and dynamic int8).")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--no-int8", is_flag=True, help="Write only the fp32 model.onnx.")
@click.option(
    "--int8-scheme",
    default="all",
    show_default=True,
    help="Which weights become int8: all, per-channel, no-embeddings (embedding tables stay fp32), no-heads "
    "(intent and slot heads stay fp32), encoder-matmuls (both).  bench/int8_schemes.py compares them.",
)
def export(model_dir: Path, no_int8: bool, int8_scheme: str) -> None:
    """Export the encoder student in MODEL_DIR (from `tvd train --student encoder`) to ONNX.

    Writes MODEL_DIR/model.onnx (fp32) and MODEL_DIR/model.int8.onnx (ONNX Runtime dynamic int8
    quantisation of the weights; no calibration data).  Afterwards `tvd serve MODEL_DIR` and
    `load_student(MODEL_DIR)` use the int8 model with ONNX Runtime (one thread) instead of torch.
    Needs the `encoder` extra (onnx, onnxruntime).
    """
    from tvd.students.base import read_metadata

    if read_metadata(model_dir)["kind"] != "encoder":
        raise TvdError(
            "E422", "only encoder students can be exported to ONNX", file=model_dir, fix="pass an encoder student"
        )
    from tvd.students.onnx_export import export_onnx

    for runtime, path in export_onnx(model_dir, quantize=not no_int8, int8_scheme=int8_scheme).items():
        click.echo(f"{runtime:10s} {path} ({path.stat().st_size / 1e6:.1f} MB)")
