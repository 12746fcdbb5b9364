"""The CRF student on Japanese: script tokens and character n-gram features, trained and tested on xSID ja.

Train on ``xsid/ja.valid.conll`` (150 utterances, 9 intents; in the last row also ``en.valid.conll``: 300
English utterances of the same label scheme), test on ``ja.test.conll`` restricted to the intents seen in training
(246 of 250: ``alarm/time_left_on_alarm`` has no training example).  Scored as everywhere in the project
(``tvd.evaluate``: intent accuracy, slot F1 in seqeval's default mode on the *gold* tokens, bootstrap
standard errors).  Every cell trains the default CRF student (100 L-BFGS iterations, SVM intent model), once
with the character n-gram features (``char_ngrams=True``, the default) and once without.

Tokenisations (train and test alike):

  source          xSID's own tokens for every utterance (each kanji a token, kana words as the text's spaces
                  cut them)
  as-read         the utterances as ``read_dataset`` gives them: xSID's tokens where whitespace would not
                  reproduce them, none on the rest (26 of 150 valid, 28 of 250 test utterances, which the
                  student then reads in its own tokens): what ``tvd train`` on xSID ja does
  spaced          the same word-segmented text without its tokens, read in the student's tokens
                  (``tvd.data.tokenize.model_tokens``: every kana and kanji a token)
  raw             the text as a user types it (spaces removed), in the student's tokens: what ``predict`` on
                  a raw string and ``tvd serve`` do now
  raw-runs        the text as typed, in script runs (``script_tokens``: a token per run of one script), the
                  alternative to character tokens
  raw-whitespace  the text as typed, in whitespace tokens (the whole sentence one token at prediction): what
                  the CRF did before script tokens reached it

For the raw rows the gold is the same unspaced text with xSID's tokens and slots moved onto it.

Mismatched rows (``test_tokens: as-read``): training data without xSID's tokens (``spaced`` or ``raw``: like
generated data, which has no source tokenisation; ``spaced-runs``: script runs given as tokens, as
``bench/crosslingual_xsid.py`` gives its generated data) and the xSID test set as read: the cross-lingual
benchmark's situation, where the character n-grams bridge the two tokenisations.

    python bench/japanese_crf.py                 # 19 CRF trainings, about 15 s on 2 cores

Results: bench/results/japanese_crf.json (``records``: tokens, test_tokens, char_ngrams, train, n_train, n_test,
intent_acc, slot_f1 and their standard errors, seconds) and a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from _protocol import RESULTS, data_missing, default_data, stamp
from tvd.data.atomic import write_json
from tvd.data.tokenize import script_tokens
from tvd.data.utterance import Span, Utterance
from tvd.evaluate import evaluate
from tvd.formats import read_dataset
from tvd.report.table import format_table
from tvd.students import make_student

TOKENISATIONS = ("source", "as-read", "spaced", "raw", "raw-runs", "raw-whitespace")


def unspaced(utterance: Utterance) -> Utterance:
    """The utterance with every whitespace character removed from its text, its tokens and spans moved along."""
    keep = [i for i, ch in enumerate(utterance.text) if not ch.isspace()]
    new = {old: new for new, old in enumerate(keep)}
    text = "".join(utterance.text[i] for i in keep)

    def moved(start: int, end: int) -> tuple[int, int]:
        return new[start], new[end - 1] + 1  # tokens and spans start and end on non-space characters

    spans = tuple(Span(*moved(s.start, s.end), s.label) for s in utterance.spans)
    tokens = tuple(moved(s, e) for s, e in utterance.token_offsets())
    return utterance.replace(text=text, spans=spans, tokens=tokens)


def whitespace_tokens(utterance: Utterance, *, training: bool) -> Utterance:
    """The utterance with explicit whitespace tokens (cut at slot boundaries in training only, as
    ``Utterance.token_offsets`` does), so the student reads them instead of its own."""
    source = utterance.replace(tokens=None) if training else utterance.replace(tokens=None, spans=())
    return utterance.replace(tokens=tuple(source.token_offsets()))


def run_tokens(utterance: Utterance, *, training: bool) -> Utterance:
    """The utterance with explicit script-run tokens (``script_tokens``; slot boundaries in training only)."""
    source = utterance.replace(tokens=None) if training else utterance.replace(tokens=None, spans=())
    return utterance.replace(tokens=script_tokens(source).tokens)


def prepared(train: list[Utterance], test: list[Utterance], tokens: str) -> tuple[list, list, list]:
    """(training data, test inputs, gold) for one tokenisation."""
    if tokens == "source":  # explicit tokens: the source's, or its whitespace tokens where it dropped them
        explicit = [u.replace(tokens=tuple(u.token_offsets())) for u in train]
        return explicit, [u.replace(tokens=tuple(u.token_offsets())) for u in test], test
    if tokens == "as-read":
        return train, test, test
    if tokens == "spaced":
        return [u.replace(tokens=None) for u in train], [u.replace(tokens=None) for u in test], test
    gold = [unspaced(u) for u in test]
    raw_train = [unspaced(u) for u in train]
    if tokens == "raw":
        return [u.replace(tokens=None) for u in raw_train], [u.replace(tokens=None) for u in gold], gold
    tokenise = run_tokens if tokens == "raw-runs" else whitespace_tokens
    return [tokenise(u, training=True) for u in raw_train], [tokenise(u, training=False) for u in gold], gold


def run_cell(
    train: list[Utterance], test: list[Utterance], tokens: str, char_ngrams: bool, english: list[Utterance]
) -> dict[str, Any]:
    data, inputs, gold = prepared(train, test, tokens)
    started = time.perf_counter()
    student = make_student("crf", char_ngrams=char_ngrams).fit([*data, *english])
    metrics = evaluate(gold, student.predict(inputs))
    return {
        "tokens": tokens,
        "test_tokens": tokens,
        "char_ngrams": char_ngrams,
        "train": "ja.valid+en.valid" if english else "ja.valid",
        "n_train": len(data) + len(english),
        "n_test": len(gold),
        "intent_acc": round(metrics.intent_accuracy, 4),
        "intent_acc_se": round(metrics.intent_accuracy_se, 4),
        "slot_f1": round(metrics.slot_f1, 4),
        "slot_f1_se": round(metrics.slots.f1_se, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_mismatched(train: list[Utterance], test: list[Utterance], tokens: str, char_ngrams: bool) -> dict[str, Any]:
    """Train in the student's own tokens (``spaced``, ``raw``) or in script runs (``spaced-runs``), test on xSID
    ja as read (its own tokens)."""
    if tokens == "spaced":
        data = [u.replace(tokens=None) for u in train]
    elif tokens == "raw":
        data = [unspaced(u).replace(tokens=None) for u in train]
    else:
        data = [run_tokens(u, training=True) for u in train]
    started = time.perf_counter()
    student = make_student("crf", char_ngrams=char_ngrams).fit(data)
    metrics = evaluate(test, student.predict(test))
    return {
        "tokens": tokens,
        "test_tokens": "as-read",
        "char_ngrams": char_ngrams,
        "train": "ja.valid",
        "n_train": len(data),
        "n_test": len(test),
        "intent_acc": round(metrics.intent_accuracy, 4),
        "intent_acc_se": round(metrics.intent_accuracy_se, 4),
        "slot_f1": round(metrics.slot_f1, 4),
        "slot_f1_se": round(metrics.slots.f1_se, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--out", type=Path, default=RESULTS / "japanese_crf.json")
    args = parser.parse_args(argv)

    xsid = args.data / "xsid"
    for name in ("ja.valid.conll", "ja.test.conll", "en.valid.conll"):
        if not (xsid / name).is_file():
            data_missing(args.data, f"xsid/{name}")
    train = read_dataset(xsid / "ja.valid.conll", "xsid").utterances
    seen = {u.intent for u in train}
    test = [u for u in read_dataset(xsid / "ja.test.conll", "xsid").utterances if u.intent in seen]
    english = read_dataset(xsid / "en.valid.conll", "xsid").utterances

    records = []
    for tokens in TOKENISATIONS:
        for char_ngrams in (False, True):
            records.append(run_cell(train, test, tokens, char_ngrams, []))
            print(f"  {tokens:15s} char_ngrams={char_ngrams!s:5s} slot F1 {100 * records[-1]['slot_f1']:.1f}")
    records.append(run_cell(train, test, "raw", True, english))
    for tokens in ("spaced", "raw", "spaced-runs"):
        for char_ngrams in (False, True):
            records.append(run_mismatched(train, test, tokens, char_ngrams))
    write_json(args.out, {**stamp("japanese_crf.py", argv), "records": records})
    rows = [{**r, "char_ngrams": str(r["char_ngrams"]).lower()} for r in records]
    columns = [
        ("tokens", "train tokens"),
        ("test_tokens", "test tokens"),
        ("char_ngrams", "char n-grams"),
        "train",
        ("intent_acc", "intent acc"),
        ("slot_f1", "slot F1"),
    ]
    print(f"\n{format_table(rows, columns)}\n\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
