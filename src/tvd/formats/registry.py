"""The dataset formats by name: detection, reading, writing and conversion.

=========  =====================================================  ============================
name       what                                                   path
=========  =====================================================  ============================
jsonl      native: one ``Utterance.to_dict()`` per line           ``.jsonl`` / ``.json`` file
bio        SNIPS/ATIS ``seq.in`` / ``seq.out`` / ``label``         directory
xsid       xSID CoNLL blocks                                      ``.conll`` file
massive    MASSIVE JSONL (``annot_utt`` ``[label : value]``)       ``.jsonl`` / ``.json`` file
rasa       Rasa 3 YAML NLU                                        ``.yml`` / ``.yaml`` file
hf         Hugging Face ``datasets`` ``save_to_disk``              directory
linguist   LINGUIST numbered brackets with a ``# labels:`` map    ``.txt`` / ``.linguist`` file
=========  =====================================================  ============================

Formats are lazy entries of :data:`FORMAT_REGISTRY` (``"tvd.formats.<name>:FORMAT"``, a
:class:`~tvd.formats.base.FormatSpec`), imported when first used; an installed package adds a format through
the entry-point group ``tvd.formats``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tvd.data.utterance import Utterance
from tvd.errors import E_UNKNOWN_FORMAT, TvdError
from tvd.formats.base import FormatSpec, JsonLineError, ReadResult, collect, load_json, read_lines, require_exists
from tvd.registry import Registry

FORMATS: tuple[str, ...] = ("jsonl", "bio", "xsid", "massive", "rasa", "hf", "linguist")
"""The formats built into tvd, in the order the table above lists them."""

FORMAT_REGISTRY: Registry[FormatSpec] = Registry("formats", "format", E_UNKNOWN_FORMAT)
"""Dataset formats: name -> :class:`FormatSpec`."""

for _name in FORMATS:
    FORMAT_REGISTRY.register(_name, f"tvd.formats.{_name}:FORMAT")


def _choices() -> str:
    return ", ".join(FORMAT_REGISTRY.names())


def get_format(name: str) -> FormatSpec:
    """The format called ``name``; raises E102 listing the choices."""
    return FORMAT_REGISTRY.get(name)


def _first_json_record(path: Path) -> Any:
    """The first JSON line of ``path`` that parses (lines that are not valid UTF-8 or not JSON are passed over)."""
    for line in read_lines(path):
        if line.error is None and line.text.strip():
            try:
                return load_json(line.text)
            except JsonLineError:
                continue
    return None


def detect_format(path: str | Path) -> str:
    """The format of ``path`` from its layout and extension (for ``.jsonl``/``.json``, from its first record)."""
    from tvd.formats import bio, hf

    path = require_exists(path)
    if path.is_dir():
        if bio.is_bio_directory(path):
            return "bio"
        if hf.is_dataset_directory(path):
            return "hf"
    else:
        suffix = path.suffix.lower()
        if suffix == ".conll":
            return "xsid"
        if suffix in (".jsonl", ".json"):
            first = _first_json_record(path)
            return "massive" if isinstance(first, dict) and "annot_utt" in first else "jsonl"
        if suffix in (".yml", ".yaml"):
            return "rasa"
        if suffix in (".txt", ".linguist"):
            return "linguist"
    raise TvdError(
        E_UNKNOWN_FORMAT,
        "cannot tell the dataset format from this path",
        file=path,
        fix=f"name it with --from (one of: {_choices()})",
    )


def destination_format(path: str | Path) -> str:
    """The format a destination path implies: by extension, ``bio`` for a path without one."""
    suffix = Path(path).suffix.lower()
    by_suffix = {".conll": "xsid", ".jsonl": "jsonl", ".json": "jsonl", ".yml": "rasa", ".yaml": "rasa",
                 ".txt": "linguist", ".linguist": "linguist", "": "bio"}
    if suffix not in by_suffix:
        raise TvdError(E_UNKNOWN_FORMAT, "cannot tell the output format from this path", file=path,
                       fix=f"name it with --to (one of: {_choices()})")
    return by_suffix[suffix]


def read_dataset(
    path: str | Path,
    fmt: str | None = None,
    *,
    skip_errors: bool = False,
    language: str | None = None,
    labels: Iterable[str] | None = None,
    **options: Any,
) -> ReadResult:
    """Read the dataset at ``path`` in format ``fmt`` (detected when ``None``).

    Strict (default): the first malformed record raises a :class:`TvdError` naming file and line.
    ``skip_errors``: malformed records are skipped and listed in ``ReadResult.problems``.
    ``language``: the language of utterances whose file does not state one.  ``labels``: the allowed slot
    labels; another label makes its record malformed.  ``options`` go to the format's reader (``hf``:
    ``split`` and column names).
    """
    require_exists(path)
    name = fmt or detect_format(path)
    spec = get_format(name)
    records = spec.iter_records(path, language=language, **options)
    return collect(records, skip_errors=skip_errors, labels=labels, format=name)


def write_dataset(
    utterances: Iterable[Utterance], path: str | Path, fmt: str | None = None, **options: Any
) -> None:
    """Write ``utterances`` to ``path`` in format ``fmt`` (from the path's extension when ``None``), atomically.

    Raises :class:`TvdError` (E110) naming the first utterance the format cannot express; nothing is
    written then.  ``options`` go to the format's writer (``bio``: ``respace``).
    """
    get_format(fmt or destination_format(path)).write(list(utterances), path, **options)


def convert(
    src: str | Path,
    dst: str | Path,
    src_fmt: str | None = None,
    dst_fmt: str | None = None,
    *,
    skip_errors: bool = False,
    language: str | None = None,
    read_options: dict[str, Any] | None = None,
    write_options: dict[str, Any] | None = None,
) -> ReadResult:
    """Read ``src`` and write its utterances to ``dst``; returns what was read (with any skipped problems)."""
    result = read_dataset(src, src_fmt, skip_errors=skip_errors, language=language, **(read_options or {}))
    write_dataset(result.utterances, dst, dst_fmt, **(write_options or {}))
    return result
