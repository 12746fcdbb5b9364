"""The manifest of a tuned adapter, ``tvd_adapter.json``, and the leave-target-out check it makes possible.

The manifest (written by :func:`tvd.tuning.lora.tune`) holds ``base_model`` and ``base_fingerprint``,
``trained_on`` (the sorted ``dataset:intent`` keys of the training pairs), ``target_languages`` (the languages
of the targets it was trained to write), ``pairs`` and
``pairs_skipped_too_long``, ``settings`` (the :class:`~tvd.tuning.lora.TuneSettings` fields), ``device``,
``load_seconds``, ``train_seconds``, ``seconds_per_step`` and ``losses`` (one per step).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tvd.errors import E_NOT_TUNED, E_TARGET_LEAK, TvdError

MANIFEST = "tvd_adapter.json"


def write_manifest(adapter_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` as ``adapter_dir/tvd_adapter.json`` (indented JSON); returns its path."""
    path = Path(adapter_dir) / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(adapter_dir: str | Path) -> dict[str, Any]:
    """The parsed manifest of a tuned-adapter folder; raises E357 when the folder has none."""
    path = Path(adapter_dir) / MANIFEST
    if not path.is_file():
        raise TvdError(
            E_NOT_TUNED, "not a tuned-teacher folder (no tvd_adapter.json)", file=path, fix="run `tvd teacher tune`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def check_unseen(adapter_dir: str | Path, keys: Sequence[str]) -> None:
    """Refuse (E355) when the adapter was trained on any ``dataset:intent`` in ``keys`` (leave-target-out)."""
    seen = set(read_manifest(adapter_dir)["trained_on"])
    leaked = sorted(set(keys) & seen)
    if leaked:
        raise TvdError(
            E_TARGET_LEAK,
            f"the tuned teacher was trained on {leaked}: generating for it would leak the target",
            file=Path(adapter_dir) / MANIFEST,
            fix="tune an adapter with these intents excluded (tvd teacher build-data --exclude ...)",
        )


def check_language_unseen(adapter_dir: str | Path, language: str) -> None:
    """Raise E355 when the adapter was trained on target utterances in ``language``: a teacher that writes a
    language for a cross-lingual benchmark must not have seen that language's labelled data (leave-target-
    language-out).  Adapters from before the manifest listed languages are refused too."""
    manifest = read_manifest(adapter_dir)
    seen = manifest.get("target_languages")
    if seen is None or language in seen:
        raise TvdError(
            E_TARGET_LEAK,
            f"the tuned teacher was trained on {language!r} targets (or does not say which languages it saw)",
            file=Path(adapter_dir) / MANIFEST,
            fix=f"tune an adapter without {language!r} data (tvd teacher build-data without that dataset)",
        )
