"""Student commands: ``tvd export`` (encoder student to ONNX fp32 + int8) and ``tvd upgrade-student`` (a saved
student or parser of an older format rewritten in the current one)."""

from __future__ import annotations

from pathlib import Path

import click

from tvd.errors import E_DESTINATION, E_NOT_EXPORTABLE, TvdError

TRUST_PICKLE_HELP = (
    "Also load a folder of an older format stored as a pickle (model.joblib).  Loading a pickle runs code from "
    "the folder: only for a folder you trust; convert it once with `tvd upgrade-student DIR --trust-pickle`."
)


def check_directory_destination(out: Path, what: str) -> None:
    """E111 unless ``out`` can be the directory a ``what`` is saved to: checked before training, not after it."""
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise TvdError(
            E_DESTINATION,
            f"--out {'names' if existing == out else 'lies under'} an existing file; a {what} is saved as a directory",
            file=existing,
            fix=f"pass a directory path (new, or a {what} directory to overwrite)",
        )


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


@click.command(name="upgrade-student", short_help="Rewrite a saved student or parser of an older format safely.")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), help="Write the upgraded folder here.  [default: MODEL_DIR]"
)
@click.option(
    "--trust-pickle",
    is_flag=True,
    help="Read a folder stored as a pickle (model.joblib).  This runs code from MODEL_DIR: only for a folder you "
    "trust, once, to convert it.",
)
def upgrade_student(model_dir: Path, out: Path | None, trust_pickle: bool) -> None:
    """Rewrite the student (or `tvd parser` parser) in MODEL_DIR in the current format.

    \b
    crf student, parser (format 1: model.joblib, a pickle): loaded with --trust-pickle
        (which runs the pickle's code, so only for a folder you trust) and saved again as
        crf.crfsuite + JSON + npz, with the sha256 of each file in student.json; the pickle
        is deleted from the folder written.
    encoder student (format 1): its files (safetensors, JSON, npz, ONNX) are kept as they
        are and their sha256 recorded in student.json.

    Afterwards `tvd evaluate`, `tvd serve` and `load_student` read the folder without --trust-pickle.
    """
    from tvd.students.base import read_metadata, student_class
    from tvd.students.parser_crf import KIND as PARSER_KIND
    from tvd.students.parser_crf import ParserCRF

    kind = read_metadata(model_dir)["kind"]
    upgrade = ParserCRF.upgrade if kind == PARSER_KIND else student_class(kind, file=model_dir).upgrade
    target = upgrade(model_dir, out, trust_pickle=trust_pickle)
    click.echo(f"upgraded {kind} {'parser' if kind == PARSER_KIND else 'student'} -> {target}")
