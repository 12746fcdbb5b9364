"""A trained crfsuite model held as the bytes of crfsuite's own model file, tagging through python-crfsuite.

sklearn-crfsuite trains a CRF into a crfsuite model file (a binary format of weights, labels and attribute
names that crfsuite reads without running any code) and tags with ``pycrfsuite.Tagger`` opened on that file.
:class:`CrfsuiteModel` keeps those bytes (what the CRF and parser students save as ``crf.crfsuite``) and a
tagger opened on them with ``Tagger.open_inmemory``, so a trained and a loaded model tag through the same call.
The tagger is not thread-safe (neither was sklearn-crfsuite's).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycrfsuite

MODEL_MAGIC = b"lCRF"  # the first bytes of a crfsuite model file
HEADER_BYTES = 48  # crfsuite's header; pycrfsuite refuses shorter data


class CrfsuiteModel:
    """A crfsuite model: its file's bytes and a tagger opened on them.  Raises ``ValueError`` for bytes that are
    not a crfsuite model."""

    def __init__(self, data: bytes) -> None:
        data = bytes(data)
        if not data.startswith(MODEL_MAGIC) or len(data) <= HEADER_BYTES:
            raise ValueError("not a crfsuite model file (no lCRF header)")
        tagger = pycrfsuite.Tagger()
        tagger.open_inmemory(data)  # crfsuite reads from this buffer: keep it referenced for the tagger's life
        self.data = data
        self._tagger = tagger
        self.labels: list[str] = list(tagger.labels())

    @classmethod
    def from_trained(cls, crf: Any) -> CrfsuiteModel:
        """The model a fitted ``sklearn_crfsuite.CRF`` trained into its model file."""
        filename = getattr(getattr(crf, "modelfile", None), "name", None)
        if filename is None:
            raise ValueError("the CRF has no model file (is it fitted?)")
        return cls(Path(filename).read_bytes())

    def tag(self, features: Sequence[dict[str, Any]]) -> list[str]:
        """The label sequence of one sequence of feature dicts (python-crfsuite's format)."""
        return list(self._tagger.tag(features))

    def predict(self, sequences: Sequence[Sequence[dict[str, Any]]]) -> list[list[str]]:
        """The label sequences of several sequences (what ``sklearn_crfsuite.CRF.predict`` returns)."""
        return [self.tag(features) for features in sequences]
