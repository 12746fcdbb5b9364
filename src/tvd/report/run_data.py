"""The figures and rows an HTML run report shows, computed from a run directory's files.

:func:`report_data` turns :class:`~tvd.report.run_files.RunFiles` into a :class:`ReportData`: plain lists and
dicts, JSON-ready, so the page (:mod:`tvd.report.html`) only lays them out and the tests check the numbers
without a browser.  What it holds:

* ``facts``: the run summary (teacher, model, prompt settings, requests sent / cached / retried / failed,
  tokens, cost, time, data sizes) as (label, value) pairs;
* ``outcomes``: every completion's fate as bars: kept, re-valued variants, removed per filter reason, rejected
  per validation reason, failed per reason (reasons in the filters' chain order, zeros included: a filter that
  ran and removed nothing says so);
* ``comparison``: baseline vs augmented per metric with standard errors; ``intent_deltas`` / ``slot_deltas``:
  per-intent recall / precision / slot F1 and per-slot F1, both students and the difference;
  ``confusion``: intent confusion matrices per student from ``predictions/<student>.jsonl``;
* ``rows``: one table row per utterance of every data file (kept, re-valued, filtered, rejected, failed; for
  CLASP kept and rejected) and ``prompts`` by request id;
* ``slot_values``: per slot label the teacher's values with counts, whether each is novel (not among the seeds'
  values of that label) and, where the ``plausible`` filter ran, the share of wildcard-filled values that
  passed it; ``templates``: template diversity of the kept utterances.

The plausibility share is per utterance: the filter names no value, so a wildcard value counts as passed when
its utterance went past the filter (kept, or removed by a later filter) and as failed when the filter removed
it; utterances removed before the filter was reached are not counted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tvd.data.parse_tree import Tree
from tvd.data.utterance import Utterance
from tvd.errors import TvdError
from tvd.filters.template import template_of
from tvd.filters.values import value_key
from tvd.linguist.request import WILDCARD
from tvd.report.run_files import CLASP, RunFiles

KEPT, REVALUED, FILTERED, REJECTED, FAILED = "kept", "revalued", "filtered", "rejected", "failed"
STATUSES = (KEPT, REVALUED, FILTERED, REJECTED, FAILED)
PLAUSIBLE_REASON = "implausible_value"
TOP_TEMPLATES = 12


@dataclass
class ReportData:
    """Everything one run report shows (see the module docstring); :meth:`to_dict` is what the page embeds."""

    name: str
    kind: str
    intent: str | None
    facts: list[tuple[str, str]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    comparison: list[dict[str, Any]] = field(default_factory=list)
    seed_validation: dict[str, Any] | None = None
    intent_deltas: list[dict[str, Any]] = field(default_factory=list)
    slot_deltas: list[dict[str, Any]] = field(default_factory=list)
    confusion: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    prompts: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    slot_values: list[dict[str, Any]] = field(default_factory=list)
    templates: dict[str, Any] = field(default_factory=dict)

    def status_counts(self) -> dict[str, int]:
        """Table rows per status."""
        counts = Counter(row["status"] for row in self.rows)
        return {status: counts.get(status, 0) for status in STATUSES if counts.get(status, 0)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- formatting ------------------------------------------------------------------------------------------


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{int(value) // 60} min {int(value) % 60} s"


def model_of(fingerprint: str) -> str:
    """The model part of a teacher fingerprint (``llamacpp:gemma-3-270m-q4_k_m.gguf:253113024:...`` ->
    ``gemma-3-270m-q4_k_m.gguf``)."""
    parts = fingerprint.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else fingerprint


def _teacher_fingerprint(files: RunFiles) -> str | None:
    teacher = files.run.get("teacher")
    if isinstance(teacher, Mapping) and teacher.get("fingerprint"):
        return str(teacher["fingerprint"])
    for utterance in (*files.generated, *(u for u, _ in files.filtered)):
        if utterance.meta.get("teacher"):
            return str(utterance.meta["teacher"])
    return None


# -- summary -------------------------------------------------------------------------------------------------


def _facts(files: RunFiles) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    run, stats = files.run, files.stats
    fingerprint = _teacher_fingerprint(files)
    if files.kind == CLASP:
        facts.append(("strategy", str(files.summary.get("strategy", "-"))))
    if fingerprint:
        facts += [("teacher", fingerprint.split(":")[0]), ("model", model_of(fingerprint))]
        facts.append(("teacher fingerprint", fingerprint))
    generation = run.get("generation")
    if isinstance(generation, Mapping):
        facts.append(
            (
                "prompts",
                f"{generation.get('requests')} requests x {generation.get('samples_per_request')} samples, "
                f"{generation.get('examples_per_prompt')} examples each, wildcard rate "
                f"{generation.get('wildcard_rate')}, language {generation.get('language')}",
            )
        )
        facts.append(
            (
                "decoding",
                f"temperature {generation.get('temperature')}, top_p {generation.get('top_p')}, top_k "
                f"{generation.get('top_k')}, max_tokens {generation.get('max_tokens')}, seed {generation.get('seed')}"
                + (", grammar-constrained" if generation.get("constrained") else ", unconstrained"),
            )
        )
    if stats:
        facts.append(
            (
                "requests",
                f"{_count(stats.get('requests', 0))} requests, {_count(stats.get('planned', 0))} completions planned: "
                f"{_count(stats.get('sent', 0))} sent, {_count(stats.get('cached', 0))} cached, "
                f"{_count(stats.get('retried', 0))} retried ({_count(stats.get('retries', 0))} retries), "
                f"{_count(stats.get('failed', 0))} failed, {_count(stats.get('unsent', 0))} not sent"
                + (" (budget)" if stats.get("stopped_by_budget") else ""),
            )
        )
        facts.append(
            (
                "tokens",
                f"{_count(stats.get('prompt_tokens', 0))} prompt + {_count(stats.get('completion_tokens', 0))} "
                f"completion (sent this run: {_count(stats.get('sent_prompt_tokens', 0))} + "
                f"{_count(stats.get('sent_completion_tokens', 0))})",
            )
        )
        facts.append(("cost", f"${float(stats.get('cost_usd', 0.0)):.4f}"))
        if not stats.get("sent") and stats.get("cached"):
            time = "every completion came from the cache (the first run's time is not recorded)"
        else:
            time = (
                f"{_seconds(stats.get('elapsed_seconds'))} generating (teacher {_seconds(stats.get('teacher_seconds'))}"
                f", peak concurrency {stats.get('peak_concurrency', 1)})"
            )
        facts.append(("time", time))
    filters = run.get("filters")
    if isinstance(filters, list):
        facts.append(("filters", ", ".join(map(str, filters)) or "none"))
    data = run.get("data")
    if isinstance(data, Mapping):
        facts.append(("data", f"base {_count(data.get('base'))}, seeds {_count(data.get('seeds'))}, "
                              f"test {_count(data.get('test'))} utterances"))
    sizes = files.metrics.get("train_sizes")
    if isinstance(sizes, Mapping):
        facts.append(("training", ", ".join(f"{name} {_count(size)}" for name, size in sizes.items())
                      + f"; seeds x {files.metrics.get('seed_weight', run.get('seed_weight', '-'))}"))
    if files.stale_metrics:
        facts.append(("students", "metrics.json predates this generation (tvd generate ran after the last "
                                  "training): the student figures below are of the earlier data"))
    if run.get("tvd_version"):
        facts.append(("tvd", str(run["tvd_version"])))
    return facts


def _outcomes(files: RunFiles) -> list[dict[str, Any]]:
    def bar(label: str, count: int, group: str) -> dict[str, Any]:
        return {"label": label, "count": count, "group": group}

    kept = len(files.clasp_rows) if files.kind == CLASP else len(files.generated)
    bars = [bar("kept", kept, KEPT)]
    if files.kind != CLASP:
        if files.revalued or files.run.get("revalue") or files.metrics.get("revalue"):
            bars.append(bar("re-valued variants (added)", len(files.revalued), REVALUED))
        bars += [bar(reason, count, FILTERED) for reason, count in files.filter_counts.items()]
    rejected = Counter(str(r["reason"]) for r in files.rejects)
    bars += [bar(reason, count, REJECTED) for reason, count in rejected.most_common()]
    failed = Counter(str(f["reason"]) for f in files.failures)
    bars += [bar(reason, count, FAILED) for reason, count in failed.most_common()]
    return bars


# -- students ---------------------------------------------------------------------------------------------


def _pair(metrics: Mapping[str, Any], *path: str) -> tuple[float, float] | None:
    """``(value, se)`` at ``path`` (the last key's ``_se`` beside it), None when absent."""
    node: Any = metrics
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping) or not isinstance(node.get(path[-1]), int | float):
        return None
    se = node.get(f"{path[-1]}_se")
    return float(node[path[-1]]), float(se) if isinstance(se, int | float) else 0.0


def _comparison(named: Mapping[str, Mapping[str, Any]], intent: str | None) -> list[dict[str, Any]]:
    getters: list[tuple[str, tuple[str, ...]]] = [
        ("intent accuracy", ("intent_accuracy",)),
        ("slot F1", ("slots", "f1")),
        ("sentence accuracy", ("sentence_accuracy",)),
    ]
    if intent is not None:
        getters += [
            (f"{intent} recall", ("per_intent", intent, "recall")),
            (f"{intent} precision", ("per_intent", intent, "precision")),
            (f"{intent} slot F1", ("per_intent_slots", intent, "f1")),
        ]
    rows = []
    for label, path in getters:
        values = {name: _pair(metrics, *path) for name, metrics in named.items()}
        if all(v is None for v in values.values()):
            continue
        row: dict[str, Any] = {"metric": label, "values": {k: v for k, v in values.items() if v is not None}}
        if "baseline" in values and "augmented" in values and values["baseline"] and values["augmented"]:
            row["delta"] = values["augmented"][0] - values["baseline"][0]
        rows.append(row)
    return rows


def _delta_row(key: str, name: str, base: float | None, aug: float | None, **extra: Any) -> dict[str, Any]:
    return {
        key: name,
        **extra,
        "baseline": base,
        "augmented": aug,
        "delta": aug - base if base is not None and aug is not None else None,
    }


def _get(node: Any, *path: str) -> float | None:
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def _intent_deltas(base: Mapping[str, Any], aug: Mapping[str, Any]) -> list[dict[str, Any]]:
    intents = sorted(set(base.get("per_intent", {})) | set(aug.get("per_intent", {})))
    rows = []
    for intent in intents:
        support = _get(aug, "per_intent", intent, "support") or _get(base, "per_intent", intent, "support") or 0
        row: dict[str, Any] = {"intent": intent, "support": int(support)}
        for metric, path in (
            ("recall", ("per_intent", intent, "recall")),
            ("precision", ("per_intent", intent, "precision")),
            ("slot_f1", ("per_intent_slots", intent, "f1")),
        ):
            row[metric] = _delta_row("metric", metric, _get(base, *path), _get(aug, *path))
        rows.append(row)
    rows.sort(key=lambda r: (-(r["recall"]["delta"] or 0.0), -(r["slot_f1"]["delta"] or 0.0), r["intent"]))
    return rows


def _slot_deltas(base: Mapping[str, Any], aug: Mapping[str, Any]) -> list[dict[str, Any]]:
    labels = sorted(set(base.get("per_slot_label", {})) | set(aug.get("per_slot_label", {})))
    rows = [
        _delta_row(
            "label",
            label,
            _get(base, "per_slot_label", label, "f1"),
            _get(aug, "per_slot_label", label, "f1"),
            n_gold=int(_get(aug, "per_slot_label", label, "n_gold") or _get(base, "per_slot_label", label, "n_gold")
                       or 0),
        )
        for label in labels
    ]
    rows.sort(key=lambda r: (-(r["delta"] or 0.0), r["label"]))
    return rows


def confusion_matrix(predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Intent confusion of prediction records: ``labels`` (gold and predicted intents, sorted; ``<none>`` for no
    intent) and ``matrix[gold][predicted]`` counts in that order."""
    pairs = [
        (str(p["gold"].get("intent") or "<none>"), str(p["predicted"].get("intent") or "<none>")) for p in predictions
    ]
    labels = sorted({g for g, _ in pairs} | {q for _, q in pairs})
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for gold, predicted in pairs:
        matrix[index[gold]][index[predicted]] += 1
    return {"labels": labels, "matrix": matrix, "n": len(pairs)}


# -- rows -----------------------------------------------------------------------------------------------------


def _spans(utterance: Utterance) -> list[list[Any]]:
    return [[s.start, s.end, s.label] for s in utterance.spans]


def _utterance_row(utterance: Utterance, status: str, reason: str = "") -> dict[str, Any]:
    meta = utterance.meta
    note = ""
    if status == REVALUED and meta.get("revalued_from"):
        note = f"re-valued from: {meta['revalued_from']}"
    return {
        "status": status,
        "reason": reason,
        "text": utterance.text,
        "spans": _spans(utterance),
        "request": str(meta.get("request_id", "")),
        "note": note,
    }


def _record_row(record: Mapping[str, Any], status: str) -> dict[str, Any]:
    return {
        "status": status,
        "reason": str(record.get("reason", "")),
        "text": str(record.get("raw") or ""),
        "spans": [],
        "request": str(record.get("request_id", "")),
        "note": str(record.get("message") or ""),
    }


def indent_tree(top: str, indent: str = "  ") -> str:
    """A TOP / EXR tree as indented brackets: one node per line, a slot node (only words below it) on one line,
    words between nodes on their own line.  Text that is not a tree comes back as it is."""
    try:
        tree = Tree.from_top(top)
    except TvdError:
        return top
    lines: list[str] = []

    def walk(node: Tree, depth: int) -> None:
        pad = indent * depth
        if node.is_preterminal():
            lines.append(f"{pad}({node.label} {' '.join(str(c) for c in node.children)} )")
            return
        lines.append(f"{pad}({node.label}")
        words: list[str] = []
        for child in node.children:
            if isinstance(child, Tree):
                if words:
                    lines.append(indent * (depth + 1) + " ".join(words))
                    words = []
                walk(child, depth + 1)
            else:
                words.append(child)
        if words:
            lines.append(indent * (depth + 1) + " ".join(words))
        lines[-1] += " )"

    walk(tree, 0)
    return "\n".join(lines)


def tree_spans(text: str, top: str) -> list[list[Any]]:
    """``[start, end, label]`` of each slot node (a node with only words below it) of the TOP tree ``top`` in
    ``text``, when the tree's words are the text's words in order; otherwise none."""
    try:
        tree = Tree.from_top(top)
    except TvdError:
        return []
    tagged: list[tuple[str, int | None, str | None]] = []  # (word, slot node number, its label)

    def walk(node: Tree) -> None:
        if node.is_preterminal() and node is not tree:
            number = len({n for _, n, _ in tagged if n is not None})
            tagged.extend((str(word), number, node.label) for word in node.children)
            return
        for child in node.children:
            if isinstance(child, Tree):
                walk(child)
            else:
                tagged.append((child, None, None))

    walk(tree)
    offsets = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if [text[a:b] for a, b in offsets] != [word for word, _, _ in tagged]:
        return []
    spans: list[list[Any]] = []
    previous: int | None = None
    for (start, end), (_, number, label) in zip(offsets, tagged, strict=True):
        if number is None:
            previous = None
            continue
        if number == previous:
            spans[-1][1] = end
        else:
            spans.append([start, end, label])
        previous = number
    return spans


def _clasp_rows(files: RunFiles) -> list[dict[str, Any]]:
    rows = []
    for record in files.clasp_rows:
        text, top, exr = str(record["train.SRC"]), str(record["train.TOP"]), record.get("train.EXR")
        rows.append(
            {
                "status": KEPT,
                "reason": "",
                "text": text,
                "spans": tree_spans(text, top),
                "request": str(record.get("request_id", "")),
                "note": "",
                "trees": [["TOP", indent_tree(top)], *([["EXR", indent_tree(str(exr))]] if exr else [])],
            }
        )
    for record in files.rejects:
        row = _record_row(record, REJECTED)
        if record.get("expected"):
            row["trees"] = [["expected", indent_tree(str(record["expected"]))]]
        rows.append(row)
    rows += [_record_row(f, FAILED) for f in files.failures]
    return rows


def _linguist_rows(files: RunFiles) -> list[dict[str, Any]]:
    rows = [_utterance_row(u, KEPT) for u in files.generated]
    rows += [_utterance_row(u, REVALUED) for u in files.revalued]
    rows += [_utterance_row(u, FILTERED, reason) for u, reason in files.filtered]
    rows += [_record_row(r, REJECTED) for r in files.rejects]
    rows += [_record_row(f, FAILED) for f in files.failures]
    return rows


# -- values and templates ---------------------------------------------------------------------------------


def _wildcards(files: RunFiles, request_id: str) -> set[str] | None:
    """The labels the request asked the teacher to fill (include value ``*``); None without its prompt record."""
    prompt = files.prompts.get(request_id)
    if prompt is None or not isinstance(prompt.get("include"), list):
        return None
    return {str(item[0]) for item in prompt["include"] if isinstance(item, list) and len(item) == 2
            and item[1] == WILDCARD}


def _judged_by_plausible(files: RunFiles) -> tuple[bool, set[str]]:
    """Whether the plausible filter ran, and the reasons of the filters after it in the chain (their removals
    passed it)."""
    reasons = list(files.filter_counts)
    if PLAUSIBLE_REASON not in reasons:
        return False, set()
    return True, set(reasons[reasons.index(PLAUSIBLE_REASON) + 1 :])


def _slot_values(files: RunFiles) -> list[dict[str, Any]]:
    if files.kind == CLASP:
        return _clasp_values(files)
    seed_values: dict[str, set[str]] = {}
    for seed in files.seeds:
        for span in seed.spans:
            seed_values.setdefault(span.label, set()).add(value_key(seed.value(span)))
    plausible_ran, after = _judged_by_plausible(files)
    teacher: list[tuple[Utterance, str]] = [(u, "") for u in files.generated] + list(files.filtered)
    per_label: dict[str, dict[str, dict[str, Any]]] = {}
    judged: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    for utterance, reason in teacher:
        wildcards = _wildcards(files, str(utterance.meta.get("request_id", "")))
        for span in utterance.spans:
            value = utterance.value(span)
            entry = per_label.setdefault(span.label, {}).setdefault(
                value_key(value), {"value": value, "kept": 0, "filtered": 0, "wildcard": 0}
            )
            entry["kept" if not reason else "filtered"] += 1
            is_wildcard = wildcards is not None and span.label in wildcards
            entry["wildcard"] += int(is_wildcard)
            if plausible_ran and is_wildcard and (not reason or reason == PLAUSIBLE_REASON or reason in after):
                judged[span.label] += 1
                passed[span.label] += int(reason != PLAUSIBLE_REASON)
    revalued: dict[str, Counter[str]] = {}
    for utterance in files.revalued:
        for span in utterance.spans:
            revalued.setdefault(span.label, Counter())[value_key(utterance.value(span))] += 1
    labels = []
    for label in sorted(per_label):
        values = []
        for key, entry in per_label[label].items():
            novel = None if not files.seeds else key not in seed_values.get(label, set())
            values.append({**entry, "novel": novel, "revalued": revalued.get(label, Counter()).get(key, 0)})
        values.sort(key=lambda v: (-(v["kept"] + v["filtered"]), v["value"]))
        kept_values = [v for v in values if v["kept"]]
        novel_kept = [v for v in kept_values if v["novel"]]
        labels.append(
            {
                "label": label,
                "values": values,
                "distinct": len(values),
                "distinct_kept": len(kept_values),
                "novel_share": len(novel_kept) / len(kept_values) if files.seeds and kept_values else None,
                "plausible_judged": judged[label] if plausible_ran else None,
                "plausible_share": passed[label] / judged[label] if judged[label] else None,
            }
        )
    return labels


def _clasp_values(files: RunFiles) -> list[dict[str, Any]]:
    per_label: dict[str, Counter[str]] = {}
    shown: dict[tuple[str, str], str] = {}
    for record in files.clasp_rows:
        try:
            pairs = Tree.from_top(str(record["train.TOP"])).slot_values()
        except TvdError:
            continue
        for label, value in pairs:
            per_label.setdefault(label, Counter())[value_key(value)] += 1
            shown.setdefault((label, value_key(value)), value)
    return [
        {
            "label": label,
            "values": [
                {"value": shown[(label, k)], "kept": n, "filtered": 0, "wildcard": 0, "novel": None, "revalued": 0}
                for k, n in counts.most_common()
            ],
            "distinct": len(counts),
            "distinct_kept": len(counts),
            "novel_share": None,
            "plausible_judged": None,
            "plausible_share": None,
        }
        for label, counts in sorted(per_label.items())
    ]


def template_diversity(utterances: Iterable[Utterance]) -> dict[str, Any]:
    """Distinct delexicalised templates (:func:`~tvd.filters.template.template_of`) of ``utterances``: how many,
    their share of the utterances, and the most repeated ones with their counts."""
    counts = Counter(template_of(u) for u in utterances)
    total = sum(counts.values())
    return {
        "utterances": total,
        "distinct": len(counts),
        "share": len(counts) / total if total else None,
        "top": [[template, n] for template, n in counts.most_common(TOP_TEMPLATES) if n > 1],
    }


# -- all ------------------------------------------------------------------------------------------------------


def report_data(files: RunFiles) -> ReportData:
    """The report of one run directory's files (see the module docstring)."""
    intent = files.run.get("intent") or files.metrics.get("intent")
    data = ReportData(name=files.name, kind=files.kind, intent=str(intent) if intent else None)
    data.facts = _facts(files)
    data.outcomes = _outcomes(files)
    named = files.metrics.get("metrics")
    if isinstance(named, Mapping) and named:
        data.comparison = _comparison(named, data.intent)
        if "baseline" in named and "augmented" in named:
            data.intent_deltas = _intent_deltas(named["baseline"], named["augmented"])
            data.slot_deltas = _slot_deltas(named["baseline"], named["augmented"])
    validation = files.metrics.get("seed_validation")
    data.seed_validation = validation if isinstance(validation, dict) else None
    data.confusion = {name: confusion_matrix(rows) for name, rows in files.predictions.items() if rows}
    if files.kind == CLASP:
        data.rows = _clasp_rows(files)
    else:
        data.rows = _linguist_rows(files)
        data.prompts = {rid: str(p.get("prompt", "")) for rid, p in files.prompts.items()}
        data.templates = template_diversity(files.generated)
    data.slot_values = _slot_values(files)
    labels = {str(span[2]) for row in data.rows for span in row["spans"]}
    data.labels = sorted(labels | {v["label"] for v in data.slot_values})
    return data
