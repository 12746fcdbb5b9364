"""Student commands: ``tvd export`` (encoder student to ONNX fp32 + int8)."""

from __future__ import annotations

from pathlib import Path

import click

from tvd.errors import E_NOT_EXPORTABLE, TvdError


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
    from tvd.students.base import STUDENTS, read_metadata

    kind = read_metadata(model_dir)["kind"]
    if kind not in STUDENTS or not STUDENTS.get(kind).exportable:
        raise TvdError(
            E_NOT_EXPORTABLE,
            "only encoder students can be exported to ONNX",
            file=model_dir,
            fix="pass an encoder student",
        )
    from tvd.students.onnx_export import export_onnx

    for runtime, path in export_onnx(model_dir, quantize=not no_int8, int8_scheme=int8_scheme).items():
        click.echo(f"{runtime:10s} {path} ({path.stat().st_size / 1e6:.1f} MB)")
