"""Dataset readers and writers: native JSONL, SNIPS/ATIS BIO, xSID CoNLL, MASSIVE, Rasa, Hugging Face, LINGUIST.

All formats read into and write from :class:`~tvd.data.utterance.Utterance` lists.  Use
:func:`read_dataset`, :func:`write_dataset` and :func:`convert`; :func:`detect_format` guesses a format
from a path.  See :mod:`tvd.formats.registry` for the table of formats.
"""

from tvd.formats.base import FormatSpec, ReadResult, Record
from tvd.formats.registry import (
    FORMAT_REGISTRY,
    FORMATS,
    convert,
    destination_format,
    detect_format,
    get_format,
    read_dataset,
    write_dataset,
)

__all__ = [
    "FORMATS",
    "FORMAT_REGISTRY",
    "FormatSpec",
    "ReadResult",
    "Record",
    "convert",
    "destination_format",
    "detect_format",
    "get_format",
    "read_dataset",
    "write_dataset",
]
