"""Language identification for the ``language`` filter: py3langid against lingua on the xSID *valid* sets.

The question the filter answers is "is this utterance in language L?", and the failure that matters is the
teacher writing English when asked for German.  For every language L of the xSID valid sets under
``--data`` (``xsid/*.valid.conll``, read with ``tvd.formats.read_dataset(path, "xsid")``: en, de, it, ja
here) and every library and mode, an utterance is *accepted as L* when L has the highest probability among
the mode's candidates and at least ``min_confidence``:

  recall              share of L's own utterances accepted as L
  english_as_L        share of the English utterances accepted as L (for L = en: share of the other
                      languages' utterances accepted as English)
  others_as_L         share of the other languages' utterances (not en, not L) accepted as L: a third
                      language passing (Italian written when German was asked for)
  seconds_per_utt     classification time per utterance (the mode's calls only, after a warm-up; one thread)

Modes (candidate sets): ``open`` (every language the library knows: 140 for py3langid 0.4.0, 75 for lingua),
``massive`` (the 50 languages of MASSIVE 1.0, ``tvd.filters.language.MASSIVE_LANGUAGES``, plus L; for lingua
the 43 of them it knows), ``xsid`` (the xSID languages) and ``pair`` ({L, en}).  For py3langid a restricted
mode is its naive-Bayes posterior renormalised over the candidates (what its own ``set_languages`` computes);
for lingua it is a detector built from the candidates (``LanguageDetectorBuilder.from_languages``), as lingua
recommends.  lingua runs in its default high-accuracy mode with its models loaded before timing.

Only the valid sets are read: the filter's library, mode and ``min_confidence`` are chosen from this table
(README, "Language identification").  The last rows (``library="filter"``) run ``tvd.filters.language.in_language``
as shipped, so its defaults are measured too.

    python bench/language_id.py                      # both libraries, all modes: ~20 s on 2 cores
    python bench/language_id.py --libraries py3langid   # without lingua (not a tvd dependency: 96 MB wheel)

Results: bench/results/language_id.json (``records``: library, mode, min_confidence, language, n, recall,
english_as_L, n_english, others_as_L, seconds_per_utt), a ``summary`` per library, mode and threshold (means
over de / it / ja and the worst language) and a table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _protocol import RESULTS, data_missing, default_data, stamp
from tvd.data.atomic import write_json
from tvd.filters import language as language_filter
from tvd.filters.language import MASSIVE_LANGUAGES
from tvd.formats import read_dataset
from tvd.report.table import format_table

LIBRARIES = ("py3langid", "lingua")
MODES = ("open", "massive", "xsid", "pair")
THRESHOLDS = (0.0, 0.5, 0.8, 0.9, 0.95)
"""``min_confidence`` values scored; the probability is the library's, over the mode's candidates."""

Distribution = dict[str, float]
Classifier = Callable[[str], Distribution]
"""A text -> probability of each candidate language (ISO 639-1 codes, as xSID names its files)."""


def read_valid(data: Path) -> dict[str, list[str]]:
    """The utterance texts of every ``xsid/<language>.valid.conll`` under ``data``, by language."""
    paths = sorted((data / "xsid").glob("*.valid.conll"))
    if not paths:
        data_missing(data, "xsid/*.valid.conll")
    return {path.name.split(".")[0]: [u.text for u in read_dataset(path, "xsid").utterances] for path in paths}


# -- the libraries, behind one interface --------------------------------------------------------------------


def py3langid_classifiers(languages: Sequence[str]) -> dict[str, Classifier | dict[str, Classifier]]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def full(text: str) -> Distribution:
        return dict(identifier.rank(text))

    def restricted(candidates: Sequence[str]) -> Classifier:
        def classify(text: str) -> Distribution:
            probabilities = full(text)
            kept = {c: probabilities.get(c, 0.0) for c in candidates}
            total = sum(kept.values()) or 1.0
            return {c: p / total for c, p in kept.items()}

        return classify

    pairs = {language: restricted(sorted({language, "en"})) for language in languages}
    massive = {language: restricted(sorted({language, *MASSIVE_LANGUAGES})) for language in languages}
    return {"open": full, "massive": massive, "xsid": restricted(languages), "pair": pairs}


def lingua_classifiers(languages: Sequence[str]) -> dict[str, Classifier | dict[str, Classifier]]:
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError:
        sys.exit("lingua is not installed: pip install lingua-language-detector==2.1.1, or --libraries py3langid")

    def lingua_language(code: str) -> Language:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))

    def classifier(detector: Any) -> Classifier:
        def classify(text: str) -> Distribution:
            return {
                value.language.iso_code_639_1.name.lower(): value.value
                for value in detector.compute_language_confidence_values(text)
            }

        return classify

    def built(codes: Sequence[str]) -> Classifier:
        return classifier(
            LanguageDetectorBuilder.from_languages(*map(lingua_language, codes))
            .with_preloaded_language_models()
            .build()
        )

    every = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    pairs = {language: built(sorted({language, "en"})) for language in languages}
    known = {language.iso_code_639_1.name.lower() for language in Language.all()}
    massive = built(sorted({*languages, *(known & MASSIVE_LANGUAGES)}))  # lingua lacks am jv km kn ml my no
    return {"open": classifier(every), "massive": massive, "xsid": built(languages), "pair": pairs}


# -- scoring ------------------------------------------------------------------------------------------------


def best(distribution: Distribution) -> tuple[str | None, float]:
    if not distribution:
        return None, 0.0
    language = max(distribution, key=lambda code: distribution[code])
    return language, distribution[language]


def classify_all(classify: Classifier, texts: Sequence[str]) -> tuple[list[tuple[str | None, float]], float]:
    """The best candidate and its probability for each text, and the seconds per text."""
    classify(texts[0])  # warm-up: lazy loading and caches stay out of the timing
    started = time.perf_counter()
    out = [best(classify(text)) for text in texts]
    return out, (time.perf_counter() - started) / len(texts)


def accepted(decisions: Sequence[tuple[str | None, float]], language: str, threshold: float) -> float:
    return sum(top == language and confidence >= threshold for top, confidence in decisions) / len(decisions)


def score_library(library: str, valid: dict[str, list[str]]) -> list[dict[str, Any]]:
    languages = sorted(valid)
    made = (py3langid_classifiers if library == "py3langid" else lingua_classifiers)(languages)
    records: list[dict[str, Any]] = []
    for mode in MODES:
        for language in languages:
            chosen = made[mode]
            classify = chosen[language] if isinstance(chosen, dict) else chosen
            own, seconds = classify_all(classify, valid[language])
            if language == "en":  # the other languages' utterances taken for English
                others = [t for other in languages if other != "en" for t in valid[other]]
                if mode == "pair":  # a pair {en, en} is just English: score the others against their own pairs
                    foreign = [
                        d
                        for other in languages
                        if other != "en"
                        for d in classify_all(made["pair"][other], valid[other])[0]
                    ]
                else:
                    foreign = classify_all(classify, others)[0]
            else:
                foreign = classify_all(classify, valid["en"])[0]
            third = [t for other in languages if other not in ("en", language) for t in valid[other]]
            third_decisions = classify_all(classify, third)[0] if language != "en" else []
            for threshold in THRESHOLDS:
                records.append(
                    {
                        "library": library,
                        "mode": mode,
                        "min_confidence": threshold,
                        "language": language,
                        "n": len(own),
                        "recall": round(accepted(own, language, threshold), 4),
                        "english_as_L": round(accepted(foreign, language, threshold), 4),
                        "n_english": len(foreign),
                        "others_as_L": round(accepted(third_decisions, language, threshold), 4)
                        if third_decisions
                        else None,
                        "seconds_per_utt": round(seconds, 7),
                    }
                )
        print(f"  {library} {mode}: done")
    return records


def score_filter(valid: dict[str, list[str]]) -> list[dict[str, Any]]:
    """``in_language`` as shipped (its default mode and min_confidence), on the same texts."""
    records = []
    for language in sorted(valid):
        language_filter.in_language(valid[language][0], language)  # warm-up
        started = time.perf_counter()
        own = [language_filter.in_language(text, language) for text in valid[language]]
        seconds = (time.perf_counter() - started) / len(own)
        english = valid["en"] if language != "en" else [t for o in valid if o != "en" for t in valid[o]]
        foreign = [language_filter.in_language(text, language) for text in english]
        third = [t for other in valid if other not in ("en", language) for t in valid[other]]
        others = [language_filter.in_language(text, language) for text in third] if language != "en" else []
        records.append(
            {
                "library": "filter",
                "mode": language_filter.DEFAULT_MODE,
                "min_confidence": language_filter.DEFAULT_MIN_CONFIDENCE,
                "language": language,
                "n": len(own),
                "recall": round(sum(own) / len(own), 4),
                "english_as_L": round(sum(foreign) / len(foreign), 4),
                "n_english": len(foreign),
                "others_as_L": round(sum(others) / len(others), 4) if others else None,
                "seconds_per_utt": round(seconds, 7),
            }
        )
    return records


def summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per library, mode and threshold: the mean recall and English false-accept over the non-English languages,
    and the worst of each (the filter must work for every language)."""
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for record in records:
        if record["language"] != "en":
            groups.setdefault((record["library"], record["mode"], record["min_confidence"]), []).append(record)
    return [
        {
            "library": library,
            "mode": mode,
            "min_confidence": threshold,
            "mean_recall": round(statistics.mean(r["recall"] for r in rows), 4),
            "min_recall": min(r["recall"] for r in rows),
            "mean_english_as_L": round(statistics.mean(r["english_as_L"] for r in rows), 4),
            "max_english_as_L": max(r["english_as_L"] for r in rows),
            "mean_others_as_L": round(statistics.mean(r["others_as_L"] for r in rows), 4),
            "ms_per_utt": round(1000 * statistics.mean(r["seconds_per_utt"] for r in rows), 3),
        }
        for (library, mode, threshold), rows in groups.items()
    ]


def table(records: list[dict[str, Any]]) -> str:
    """Per library, mode and language at min_confidence 0, and the filter as shipped."""
    shown = [
        {**r, "ms": f"{1000 * r['seconds_per_utt']:.3f}", "threshold": str(r["min_confidence"])}
        for r in records
        if r["min_confidence"] == 0.0 or r["library"] == "filter"
    ]
    columns = [
        "library",
        "mode",
        ("threshold", "min conf"),
        ("language", "L"),
        ("recall", "recall %"),
        ("english_as_L", "English as L %"),
        ("others_as_L", "others as L %"),
        ("ms", "ms/utt"),
    ]
    return format_table(shown, columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    parser.add_argument("--out", type=Path, default=RESULTS / "language_id.json")
    args = parser.parse_args(argv)

    valid = read_valid(args.data)
    if "en" not in valid:
        data_missing(args.data, "xsid/en.valid.conll")
    print("valid sets: " + ", ".join(f"{language} {len(texts)}" for language, texts in valid.items()))
    records: list[dict[str, Any]] = []
    for library in args.libraries:
        records += score_library(library, valid)
    records += score_filter(valid)
    write_json(
        args.out,
        {
            **stamp("language_id.py", argv),
            "sizes": {language: len(texts) for language, texts in valid.items()},
            "summary": summary(records),
            "records": records,
        },
    )
    print(f"\n{table(records)}\n\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
