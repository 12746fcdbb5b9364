"""Regenerate the new-intent example (base.jsonl, seed.jsonl, test.jsonl) from the SNIPS benchmark.

The scenario: an assistant knows six SNIPS intents and gains a seventh, BookRestaurant, for which only
ten annotated utterances exist.  The files are cut deterministically from the standard SNIPS joint
splits (github.com/MiuLab/SlotGated-SLU ``data/snips``, derived from github.com/sonos/nlu-benchmark,
CC0 1.0):

- ``seed.jsonl``: the 10 seed examples of the new intent, drawn from SNIPS train by the few-shot
  protocol (:func:`tvd.data.fewshot.novel_intent_split`, k=10, seed 0), so the example matches the
  benchmark's seed-0 draw;
- ``base.jsonl``: a sample of ``--base-per-intent`` train utterances of each of the six other intents;
- ``test.jsonl``: SNIPS test utterances: all of the new intent's and ``--test-per-intent`` of each other
  intent (``--test-per-intent 0`` takes the whole test split; the files then exceed 300 KB).

Every file is native JSONL: one ``Utterance.to_dict()`` per line, in SNIPS file order.

Usage::

    python examples/new-intent/make_example.py [--data DIR] [--out DIR]

``--data`` (or the environment variable ``TVD_DATA``) is the data folder holding ``snips/`` or the
``snips`` folder itself; the default is ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

from tvd.data.fewshot import novel_intent_split
from tvd.data.utterance import SpanError, Utterance

NEW_INTENT = "BookRestaurant"
K = 10
SEED = 0
HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1].parent / "shared" / "data"


def find_snips(data: Path) -> Path:
    """The SNIPS folder (holding ``train/`` and ``test/``) under ``data``; exits with a message if absent."""
    for candidate in (data, data / "snips"):
        if all((candidate / split / "seq.in").is_file() for split in ("train", "test")):
            return candidate
    sys.exit(
        f"error: no SNIPS data under {data} (looked for {data}/snips/train/seq.in and {data}/train/seq.in)\n"
        "  fix: pass --data DIR or set TVD_DATA to the folder holding snips/ (the MiuLab/SlotGated-SLU\n"
        "  data/snips layout: train/ and test/, each with seq.in, seq.out and label)"
    )


def read_split(folder: Path) -> list[Utterance]:
    """One SNIPS split: parallel ``seq.in`` (tokens), ``seq.out`` (BIO tags) and ``label`` (intent) files."""
    files = [(folder / name).read_text(encoding="utf-8").splitlines() for name in ("seq.in", "seq.out", "label")]
    if len({len(lines) for lines in files}) != 1:
        sys.exit(f"error: {folder}: seq.in, seq.out and label have different line counts")
    utterances = []
    for number, (tokens, tags, intent) in enumerate(zip(*files, strict=True), start=1):
        try:
            utterances.append(Utterance.from_bio(tokens.split(), tags.split(), intent=intent.strip()))
        except SpanError as error:
            sys.exit(f"error: {folder}/seq.out:{number}: {error}")
    return utterances


def sample_per_intent(utterances: list[Utterance], per_intent: int, rng: random.Random) -> list[Utterance]:
    """``per_intent`` utterances of each intent (all when it has fewer or ``per_intent`` is 0), file order."""
    chosen: set[int] = set()
    for intent in sorted({u.intent for u in utterances if u.intent}):
        indices = [i for i, u in enumerate(utterances) if u.intent == intent]
        chosen.update(indices if per_intent <= 0 else rng.sample(indices, min(per_intent, len(indices))))
    return [u for i, u in enumerate(utterances) if i in chosen]


def write_jsonl(path: Path, utterances: list[Utterance]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for utterance in utterances:
            handle.write(json.dumps(utterance.to_dict(), ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TVD_DATA", DEFAULT_DATA)))
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--base-per-intent", type=int, default=100)
    parser.add_argument("--test-per-intent", type=int, default=30)
    args = parser.parse_args(argv)

    snips = find_snips(args.data)
    train, test = read_split(snips / "train"), read_split(snips / "test")
    split = novel_intent_split(train, NEW_INTENT, k=K, seed=SEED)
    base = sample_per_intent(list(split.base), args.base_per_intent, random.Random(SEED))
    test_new = [u for u in test if u.intent == NEW_INTENT]
    test_other = sample_per_intent(
        [u for u in test if u.intent != NEW_INTENT], args.test_per_intent, random.Random(SEED)
    )
    chosen_test = {id(u) for u in (*test_new, *test_other)}

    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "base.jsonl": base,
        "seed.jsonl": list(split.seed_examples),
        "test.jsonl": [u for u in test if id(u) in chosen_test],
    }
    for name, utterances in outputs.items():
        write_jsonl(args.out / name, utterances)
        size = (args.out / name).stat().st_size
        print(f"{args.out / name}: {len(utterances)} utterances, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
