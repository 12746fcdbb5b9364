"""Teacher tuning as a job: LINGUIST instruction pairs from labelled datasets, then a LoRA adapter on them.

:func:`build_data` is ``tvd teacher build-data`` (read the datasets, build the pairs, write them);
``tvd teacher tune`` is :func:`tvd.tuning.tune` on the pairs file.  :func:`tune_adapter` does both into one
folder (the pairs as ``pairs.jsonl`` beside the adapter) and returns a folder that already holds an adapter as
it is, so a caller that tunes one adapter per set of held-out intents (the few-shot benchmark's folds) builds
each once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from tvd.formats import read_dataset
from tvd.linguist.instruction_data import InstructionPair, InstructionSettings, build_pairs, write_pairs
from tvd.tuning import ADAPTER_GGUF, TuneSettings, tune

PAIRS_FILE = "pairs.jsonl"


def build_data(
    datasets: Mapping[str, str | Path], out: str | Path, settings: InstructionSettings, *, fmt: str | None = None
) -> list[InstructionPair]:
    """Read ``datasets`` (name -> path, in format ``fmt``, detected per path when None), build
    ``settings.pairs`` instruction pairs from them and write the pairs to ``out`` (JSONL)."""
    loaded = {name: read_dataset(path, fmt).utterances for name, path in datasets.items()}
    pairs = build_pairs(loaded, settings)
    write_pairs(Path(out), pairs, settings)
    return pairs


def tune_adapter(
    datasets: Mapping[str, str | Path],
    folder: str | Path,
    data: InstructionSettings,
    tuning: TuneSettings,
    *,
    fmt: str | None = None,
    base_model: str | Path | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> Path:
    """The adapter folder: ``folder`` as it is when it holds an adapter already, else tuned now on pairs from
    ``datasets`` (:func:`build_data` into ``folder/pairs.jsonl``, then :func:`tvd.tuning.tune`)."""
    folder = Path(folder)
    if not (folder / ADAPTER_GGUF).is_file():
        pairs = build_data(datasets, folder / PAIRS_FILE, data, fmt=fmt)
        tune(pairs, folder, tuning, base_model=base_model, progress=progress)
    return folder
