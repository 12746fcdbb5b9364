"""The optional libraries teacher tuning needs (torch, transformers, peft, gguf), imported on first use.

They come with the ``tune`` extra; a missing one is a coded error (E351) naming the extra, not an ImportError.
"""

from __future__ import annotations

import importlib
from typing import Any

from tvd.errors import E_NO_TUNING_LIBS, TvdError

INSTALL_FIX = "pip install 'teaching-via-data[tune]' (torch, transformers, peft, gguf and the SmolLM2 GGUF)"


def require(name: str) -> Any:
    """The module ``name``; raises :class:`TvdError` E351 when it is not importable."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise TvdError(
            E_NO_TUNING_LIBS, f"tuning needs {name}, which is not importable ({exc})", fix=INSTALL_FIX
        ) from exc
