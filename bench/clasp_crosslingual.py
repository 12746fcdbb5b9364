"""CLASP TS / TB in German: valid pairs, pairs in German, and TS's translated slot values as German words.

Runs the library job of ``tvd clasp`` (:func:`tvd.jobs.clasp.clasp_job`, no subprocess) for TS and TB on
``examples/clasp/de.yaml`` with the embedded teacher (``tvd clasp``'s default, batched decoding), for each seed.
``--count N`` pairs per strategy and seed: ``ceil(N / pool size)`` samples of each of the config's English parses.
Completions are cached in ``bench/work/clasp_crosslingual/cache.sqlite`` (resumable; a re-run validates again
and sends only what is missing).  Per strategy and seed it reports:

* ``planned``: pairs planned; ``valid``: accepted by the job's validation (which now includes its
  ``wrong_language`` check); ``valid_structure``: valid but for that check; ``valid_german``: valid and in
  German by the ``language`` filter
  (:func:`tvd.filters.language.in_language` on the utterance text, its default candidates: German and the 50
  MASSIVE languages); ``valid_german_no_digit``: of those, the ones without a digit (no English source has
  one: py3langid takes ``ich möchte 1 1 45 45`` for German); ``valid_german_values_german``: of those, the
  ones whose every slot value is a target-language word (below) for its English value (py3langid judges the
  whole utterance, and ``kann ich one medium pizza mit extra cheese`` is German to it);
* TS only: the value translations (TS's first step) and the share of the values the teacher translated (not
  given by the glossary) that are **target-language words** (:func:`target_language_word`), and that are
  correct translations (:data:`REFERENCE_DE`, German only).

A target-language word (what is checked, and why): a small teacher's "translations" were number salad
(``ham`` -> ``4-4``) or the English word again, and single words are too short for a language identifier alone
(py3langid over {de, en} gives ``two`` 0.80 German and ``Oliven`` 0.29), so a value counts when it is the
config's glossary translation of its English value, or else when all of these hold:

1. ``changed``: it differs from the English value (case and spacing ignored), except for an English value with
   no letters (a number in digits stays as it is);
2. ``letters``: letters, spaces, hyphens and apostrophes only, where the English value had letters only;
3. ``not_english``: it is not an English surface form of the PIZZA catalogues (any label; checked when the PIZZA
   folder is there: ``$TVD_DATA/pizza`` or ``--data``), which catches an English word other than the source;
4. ``german``: py3langid over the candidates {de, en} gives German at least the probability of English (ties
   go to German: the preference for the target language that a one-word text needs).

No German word list ships with a package the project already has, hence the combination.  Results:
``bench/results/clasp_crosslingual.json`` (records merged by label, strategy and seed).

    python bench/clasp_crosslingual.py --seeds 0 1 2 --count 24 --label parallel
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from _protocol import REPO, RESULTS, WORK, default_data, merge_records, stamp
from tvd.clasp.resolve import Catalogs
from tvd.config import TeacherConfig, load_clasp_config, parse_options
from tvd.data.atomic import atomic_write_text
from tvd.data.parse_tree import Tree
from tvd.engine.cache import CompletionCache
from tvd.filters.language import in_language, probabilities
from tvd.jobs.clasp import clasp_job
from tvd.jobs.teacher import build_teacher

CONFIG = REPO / "examples" / "clasp" / "de.yaml"
#: German translations of the 17 slot values of examples/clasp/de.yaml's pool (hand-written for this benchmark,
#: casefolded, inflected forms included): a value translation among them is ``correct``.  A German word is not
#: necessarily its translation (``a`` -> ``Wähler``, "voter", passes every check of a target-language word).
REFERENCE_DE = {
    "a": {"ein", "eine", "einen"},
    "one": {"ein", "eine", "einen", "eins"},
    "two": {"zwei"},
    "three": {"drei"},
    "large": {"groß", "große", "großen", "großer"},
    "small": {"klein", "kleine", "kleinen", "kleiner"},
    "medium": {"mittel", "mittlere", "mittleren", "mittelgroß", "mittelgroße", "mittelgroßen", "mittelgroßer"},
    "ham": {"schinken"},
    "mushrooms": {"pilze", "pilzen", "champignons"},
    "onions": {"zwiebeln"},
    "cheese": {"käse"},
    "extra": {"extra", "zusätzlich", "zusätzlichen", "zusätzlicher", "viel"},
    "pepperoni": {"peperoni", "pepperoni", "salami", "peperonisalami"},
    "olives": {"oliven"},
    "tuna": {"thunfisch"},
    "cokes": {"cola", "colas", "coca-cola"},
    "vegetarian": {"vegetarisch", "vegetarische", "vegetarischen", "vegetarischer"},
}
_LETTERS = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")  # letters, words joined by space / hyphen / apostrophe
_HAS_LETTER = re.compile(r"[^\W\d_]")


def _plain(text: str) -> str:
    return " ".join(text.lower().split())


def word_checks(
    source: str, value: str, glossary: dict[str, str], english: frozenset[str], language: str = "de"
) -> dict[str, bool]:
    """Each criterion of :func:`target_language_word` for the translation ``value`` of the English ``source``."""
    if glossary.get(source) == value:
        return {"glossary": True}
    source_letters = _LETTERS.match(source.strip()) is not None
    scores = probabilities(value, [language, "en"])
    return {
        "glossary": False,
        "changed": _plain(value) != _plain(source) or not _HAS_LETTER.search(source),
        "letters": _LETTERS.match(value.strip()) is not None or not source_letters,
        "not_english": _plain(value) not in english,
        "german": scores[language] >= scores["en"],
    }


def target_language_word(checks: dict[str, bool]) -> bool:
    """A glossary entry, or every criterion of :func:`word_checks` met (see the module docstring)."""
    return checks["glossary"] or all(v for k, v in checks.items() if k != "glossary")


def english_forms(data: Path) -> frozenset[str]:
    """Every surface form of the PIZZA catalogues (lower case), or none without the folder."""
    if not (data / "catalogs").is_dir():
        return frozenset()
    catalogs = Catalogs.load(data / "catalogs")
    return frozenset(_plain(v) for label in catalogs.entries for v in catalogs.values(label))


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def values_are_words(row: dict[str, Any], pool: list[Tree], glossary: dict[str, str], english: frozenset[str],
                     language: str) -> bool:  # fmt: skip
    """Whether every slot value of a pair is a target-language word (:func:`target_language_word`) for the English
    value it stands for (the grammars of TS and TB keep the English parse's slots in their order)."""
    source = pool[int(row["request_id"].split("-")[1])]
    pairs = zip(source.semantics_only().slot_values(), Tree.from_top(row["train.TOP"]).slot_values(), strict=True)
    return all(target_language_word(word_checks(en, tgt, glossary, english, language)) for (_, en), (_, tgt) in pairs)


def measure(
    run: Any, planned: int, language: str, pool: list[Tree], glossary: dict[str, str], english: frozenset[str]
) -> dict[str, Any]:
    stats = run.result.stats.to_dict()
    texts = [r["train.SRC"] for r in run.rows]
    in_target = [t for t in texts if in_language(t, language)]
    wrong_language = stats["rejected_by_reason"].get("wrong_language", 0)
    no_digit = [t for t in in_target if not any(c.isdigit() for c in t)]
    german_rows = [r for r in run.rows if in_language(r["train.SRC"], language)]
    words = [r for r in german_rows if values_are_words(r, pool, glossary, english, language)]
    return {
        "planned": planned,
        "valid": len(texts),
        "valid_structure": len(texts) + wrong_language,
        "valid_german": len(in_target),
        "valid_german_no_digit": len(no_digit),
        "valid_german_values_german": len(words),
        "valid_share": round(len(texts) / planned, 3) if planned else 0.0,
        "valid_german_share": round(len(in_target) / planned, 3) if planned else 0.0,
        "rejected_by_reason": stats["rejected_by_reason"],
        "teacher_seconds": stats["teacher_seconds"],
        "sent": stats["sent"],
        "examples": texts[:6],
        "german_examples": [r["train.TOP"] for r in run.rows if in_language(r["train.SRC"], language)][:4],
    }


def value_record(
    step: dict[str, Any], pool_values: list[str], glossary: dict[str, str], english: frozenset[str], language: str
) -> dict[str, Any]:
    """TS's value translations judged: over the values the teacher translated (not given by the glossary), and
    over every value of the pool (a glossary entry counts as a word; a value left untranslated does not)."""
    translations: dict[str, str] = step["translations"]
    given = set(step.get("from_glossary", ()))
    judged = {}
    for source in pool_values:
        value = translations.get(source)
        checks = word_checks(source, value, glossary, english, language) if value is not None else {"missing": False}
        judged[source] = (value, target_language_word(checks) if value is not None else False, checks)
    asked = [s for s in pool_values if s not in given]
    words = [s for s in asked if judged[s][1]]
    reference = REFERENCE_DE if language == "de" else {}
    correct = [s for s in asked if s in reference and (judged[s][0] or "").casefold() in reference[s]]
    failed = Counter(
        k for s in asked if not judged[s][1] for k, ok in judged[s][2].items() if k != "glossary" and not ok
    )
    return {
        "pool_values": len(pool_values),
        "from_glossary": len(given),
        "asked": len(asked),
        "completions": step["stats"].get("planned", 0),
        "target_language_words": len(words),
        "correct": len(correct) if reference else None,
        "share": round(len(words) / len(asked), 3) if asked else 0.0,
        "all_values_share": round(sum(j[1] for j in judged.values()) / len(pool_values), 3) if pool_values else 0.0,
        "failed_checks": dict(sorted(failed.items())),
        "translations": {s: [v, ok] for s, (v, ok, _) in judged.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(CONFIG), help="a CLASP config (default: examples/clasp/de.yaml)")
    ap.add_argument("--strategies", nargs="+", choices=["ts", "tb"], default=["ts", "tb"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--count", type=int, default=24, help="pairs per strategy and seed (default 24)")
    ap.add_argument("--label", default="current", help="the name of the code version measured (records' key)")
    ap.add_argument("--data", default=str(default_data() / "pizza"), help="PIZZA folder (catalogues: English forms)")
    ap.add_argument("--work", default=str(WORK / "clasp_crosslingual"))
    ap.add_argument("--out", default=str(RESULTS / "clasp_crosslingual.json"))
    ap.add_argument("--teacher", default="llamacpp", help="teacher backend (`tvd teacher list`; default: embedded)")
    ap.add_argument("--teacher-option", action="append", default=[], metavar="KEY=VALUE", help="teacher option")
    args = ap.parse_args(argv)

    base = load_clasp_config(args.config)
    pool_size = len(base.pool) if isinstance(base.pool, list) else 0
    if not pool_size:
        raise SystemExit(f"{args.config}: this benchmark needs a `pool:` list of TOP trees")
    samples = math.ceil(args.count / pool_size)
    glossary = {str(en): str(tgt) for en, tgt in base.glossary}
    pool = [Tree.from_top(str(top)) for top in base.pool]
    pool_values = sorted({v for top in pool for _, v in top.semantics_only().slot_values()})
    english = english_forms(Path(args.data))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    teacher_config = TeacherConfig(backend=args.teacher, options=parse_options(args.teacher_option, "--teacher-option"))
    records: list[dict[str, Any]] = []
    with build_teacher(teacher_config) as teacher, CompletionCache(work / "cache.sqlite") as cache:
        teacher_name = f"{args.teacher} ({teacher.fingerprint()})"
        for seed in args.seeds:
            for strategy in args.strategies:
                config = base.model_copy(update={"strategy": strategy, "count": samples, "seed": seed})
                started = time.perf_counter()
                run = clasp_job(config, teacher, cache, progress=False)
                record: dict[str, Any] = {
                    "label": args.label,
                    "strategy": strategy,
                    "seed": seed,
                    **measure(run, pool_size * samples, base.language, pool, glossary, english),
                    "seconds": round(time.perf_counter() - started, 1),
                }
                if strategy == "ts":
                    record["values"] = value_record(run.summary["value_translation"], pool_values, glossary, english,
                                                    base.language)  # fmt: skip
                records.append(record)
                out = work / f"{args.label}-{strategy}-seed{seed}"
                out.mkdir(exist_ok=True)
                rejects = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in run.result.rejects)
                atomic_write_text(out / "rejects.jsonl", rejects)
                rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in run.rows)
                atomic_write_text(out / "generated.jsonl", rows)
                values_line = ""
                if "values" in record:
                    v = record["values"]
                    values_line = f"; values: {v['target_language_words']}/{v['asked']} German words"
                print(
                    f"{args.label} {strategy} seed {seed}: {record['valid']}/{record['planned']} valid, "
                    f"{record['valid_german']} valid and German{values_line}; rejected {record['rejected_by_reason']}"
                    f" ({record['sent']} sent, {record['seconds']} s)"
                )
    path = Path(args.out)
    merged = merge_records(path, records, key=lambda r: (r["label"], r["strategy"], r["seed"]))
    summary: dict[str, Any] = {}
    for label in dict.fromkeys(r["label"] for r in merged):
        for strategy in ("ts", "tb"):
            rows = [r for r in merged if r["label"] == label and r["strategy"] == strategy]
            if not rows:
                continue
            entry = {
                "seeds": [r["seed"] for r in rows],
                "planned": sum(r["planned"] for r in rows),
                "valid": sum(r["valid"] for r in rows),
                "valid_structure": sum(r.get("valid_structure", r["valid"]) for r in rows),
                "valid_german": sum(r["valid_german"] for r in rows),
                "valid_german_no_digit": sum(r.get("valid_german_no_digit", 0) for r in rows),
                "valid_german_values_german": sum(r.get("valid_german_values_german", 0) for r in rows),
                "valid_german_share_median": statistics.median(r["valid_german_share"] for r in rows),
            }
            if strategy == "ts":
                entry["value_words"] = sum(r["values"]["target_language_words"] for r in rows)
                entry["values_asked"] = sum(r["values"]["asked"] for r in rows)
                entry["values_correct"] = sum(r["values"].get("correct") or 0 for r in rows)
            summary[f"{label}/{strategy}"] = entry
    document = {
        **stamp("clasp_crosslingual.py", argv),
        "settings": {
            "teacher": f"{teacher_name}, grammar-constrained, temperature 0.7, batched",
            "config": _shown(Path(args.config)),
            "pairs_per_strategy_and_seed": pool_size * samples,
            "language_filter": "tvd.filters.language.in_language(utterance text, language), default candidates",
            "target_language_word": "glossary entry, or changed + letters + not an English catalogue form + "
            "py3langid {de, en}: p(de) >= p(en)",
            "english_catalogue_forms": len(english),
            "loadavg_after": os.getloadavg()[0],
        },
        "summary": summary,
        "records": merged,
    }
    atomic_write_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    for key, entry in summary.items():
        print(key, json.dumps(entry, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
