"""Hugging Face ``datasets``: in-memory conversion and ``save_to_disk`` directories.

:func:`to_hf_dataset` builds a :class:`datasets.Dataset` with columns ``text`` (string), ``tokens`` (list of
strings), ``tags`` (list of :class:`~datasets.ClassLabel` over ``O`` and ``B-``/``I-`` of every slot label),
``intent`` (:class:`~datasets.ClassLabel`; ``-1`` for an utterance without intent) and ``language``.
:func:`from_hf_dataset` reads such a dataset back, and also datasets from elsewhere: tag and intent
columns may be ClassLabel or plain strings, and column names default to the first present of
``tokens``/``words``, ``tags``/``ner_tags``/``slot_tags``, ``intent``/``label``, ``text``/``utt`` and
``language``/``lang``.  With a text column the tokens are located in it (the tokenisation is kept as the
utterance's own where needed); without one the text is the tokens joined by spaces.  Cells keep their types:
tokens, tags, intents, texts and languages must be strings (or, for tags and intent, ClassLabel ids in range;
``-1`` is "no intent"), never converted with ``str()``; a row that breaks this is E109 / E104.  A directory whose
Arrow data cannot be loaded or read is E103 as a whole.

On disk the format is a ``save_to_disk`` directory (``dataset_info.json`` + ``state.json``); a
``DatasetDict`` directory (``dataset_dict.json``) is read by choosing ``split``.  ``datasets`` is imported
only when this format is used: it is slow to import.

:func:`write` also writes a dataset card, ``README.md`` (:func:`dataset_card`): YAML metadata as the Hugging Face
Hub reads it, then what the data holds (intents, slot labels, languages, where the utterances came from and
which teacher model wrote them, from each utterance's ``meta``) and, when the caller knows the run that made the
data (``provenance``, e.g. from :func:`tvd.report.card.run_provenance`), the prompt settings, filters and their
counts, seed and base data sizes and the run's metrics.  The licence is left for the user to fill in: it depends
on the seed data's licence and the teacher model's terms, which only they know.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tvd.data.utterance import SpanError, Utterance, slot_labels
from tvd.errors import E_BAD_RECORD, E_BAD_TAGS, E_BAD_TEXT, E_UNREADABLE, TvdError
from tvd.formats.base import (
    FormatSpec,
    Record,
    atomic_directory,
    cannot_write,
    collect,
    record_error,
    require_encodable,
    require_exists,
    require_locatable_tokens,
)

if TYPE_CHECKING:
    from datasets import Dataset

NAME = "hf"
DATASET_MARKERS = ("dataset_info.json", "state.json")
CARD_FILE = "README.md"
DICT_MARKER = "dataset_dict.json"
TOKENS_COLUMNS = ("tokens", "words")
TAGS_COLUMNS = ("tags", "ner_tags", "slot_tags")
INTENT_COLUMNS = ("intent", "label")
TEXT_COLUMNS = ("text", "utt")
LANGUAGE_COLUMNS = ("language", "lang")


def is_dataset_directory(path: str | Path) -> bool:
    """Whether ``path`` is a ``save_to_disk`` directory of a Dataset or a DatasetDict."""
    path = Path(path)
    return path.is_dir() and (
        all((path / marker).is_file() for marker in DATASET_MARKERS) or (path / DICT_MARKER).is_file()
    )


def tag_names(labels: Iterable[str]) -> list[str]:
    """``O`` then ``B-x``, ``I-x`` for each label in sorted order: the ClassLabel names of the ``tags`` column."""
    names = ["O"]
    for label in sorted(set(labels)):
        names += [f"B-{label}", f"I-{label}"]
    return names


def to_hf_dataset(
    utterances: Sequence[Utterance],
    *,
    intent_names: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
) -> Dataset:
    """A :class:`datasets.Dataset` of ``utterances`` (columns ``text``, ``tokens``, ``tags``, ``intent``, ``language``).

    ``intent_names`` and ``labels`` fix the ClassLabel vocabularies (defaults: those of ``utterances``,
    sorted).  Raises E110 if a slot does not fall on token boundaries or an intent/label is not listed.
    """
    from datasets import ClassLabel, Dataset, Features, List, Value

    utterances = list(utterances)
    intents_vocab = (
        list(intent_names) if intent_names is not None else sorted({u.intent for u in utterances if u.intent})
    )
    tags_vocab = tag_names(labels if labels is not None else slot_labels(utterances))
    intent_ids = {name: i for i, name in enumerate(intents_vocab)}
    tag_ids = {name: i for i, name in enumerate(tags_vocab)}
    columns: dict[str, list[Any]] = {"text": [], "tokens": [], "tags": [], "intent": [], "language": []}
    for index, utterance in enumerate(utterances):
        require_encodable(NAME, index, utterance, "<dataset>")
        require_locatable_tokens(NAME, index, utterance, "<dataset>")
        if not utterance.language:
            raise cannot_write(NAME, index, utterance, "its language is empty (it would read back as the default)",
                               "give every utterance a language", "<dataset>")
        try:
            tokens, tags = utterance.to_bio()
        except SpanError as exc:
            raise cannot_write(NAME, index, utterance, str(exc), "write jsonl instead", "<dataset>") from exc
        unknown = [tag for tag in tags if tag not in tag_ids]
        if unknown or (utterance.intent is not None and utterance.intent not in intent_ids):
            raise cannot_write(NAME, index, utterance, "its intent or a slot label is not in the given vocabulary",
                               "add it to intent_names / labels", "<dataset>")
        columns["text"].append(utterance.text)
        columns["tokens"].append(tokens)
        columns["tags"].append([tag_ids[tag] for tag in tags])
        columns["intent"].append(intent_ids[utterance.intent] if utterance.intent is not None else -1)
        columns["language"].append(utterance.language)
    features = Features(
        {
            "text": Value("string"),
            "tokens": List(Value("string")),
            "tags": List(ClassLabel(names=tags_vocab)),
            "intent": ClassLabel(names=intents_vocab),
            "language": Value("string"),
        }
    )
    return Dataset.from_dict(columns, features=features)


def _pick(names: Iterable[str], given: str | None, candidates: Sequence[str], what: str, required: bool) -> str | None:
    names = list(names)
    if given is not None:
        if given not in names:
            raise TvdError(E_UNREADABLE, f"no {what} column {given!r}; columns: {', '.join(names)}",
                           fix=f"name the {what} column")
        return given
    found = next((name for name in candidates if name in names), None)
    if found is None and required:
        raise TvdError(E_UNREADABLE, f"no {what} column (looked for {', '.join(candidates)}); "
                       f"columns: {', '.join(names)}", fix=f"name the {what} column")
    return found


def _names_of(feature: Any) -> list[str] | None:
    """ClassLabel names of a column (or of the items of a list column), else ``None``."""
    from datasets import ClassLabel

    inner = getattr(feature, "feature", feature)
    if isinstance(inner, dict):  # old-style Sequence of a dict
        return None
    return list(inner.names) if isinstance(inner, ClassLabel) else None


def iter_dataset_records(
    ds: Dataset,
    *,
    source: str = "<dataset>",
    tokens_column: str | None = None,
    tags_column: str | None = None,
    intent_column: str | None = None,
    text_column: str | None = None,
    language_column: str | None = None,
    language: str | None = None,
) -> Iterator[Record]:
    """One record per row of ``ds``; ``line`` is the 1-based row number.  Column names: see the module doc."""
    names = ds.column_names
    tokens_col = _pick(names, tokens_column, TOKENS_COLUMNS, "tokens", True)
    tags_col = _pick(names, tags_column, TAGS_COLUMNS, "tags", True)
    intent_col = _pick(names, intent_column, INTENT_COLUMNS, "intent", False)
    text_col = _pick(names, text_column, TEXT_COLUMNS, "text", False)
    lang_col = _pick(names, language_column, LANGUAGE_COLUMNS, "language", False)
    tag_vocab = _names_of(ds.features[tags_col])
    intent_vocab = _names_of(ds.features[intent_col]) if intent_col else None
    for row_index, row in enumerate(_rows(ds, source)):
        number = row_index + 1
        raw = json.dumps({k: v for k, v in row.items() if k in {tokens_col, tags_col, intent_col, text_col}},
                         ensure_ascii=False, default=str)
        tokens, tags = row[tokens_col], row[tags_col]
        if not isinstance(tokens, list) or not isinstance(tags, list):
            yield record_error(E_BAD_RECORD, "tokens and tags must be lists", file=source, line=number, raw=raw,
                               fix="give list columns")
            continue
        if not all(isinstance(t, str) for t in tokens):
            yield record_error(E_BAD_RECORD, "tokens must be strings", file=source, line=number, raw=raw,
                               fix="give a list-of-strings tokens column")
            continue
        if tag_vocab is not None:
            if not all(_is_index(t, len(tag_vocab)) for t in tags):
                yield record_error(E_BAD_TAGS, "tag id outside the ClassLabel names", file=source, line=number,
                                   raw=raw, fix="fix the tag ids")
                continue
            tags = [tag_vocab[t] for t in tags]
        elif not all(isinstance(t, str) for t in tags):
            yield record_error(E_BAD_TAGS, "tags must be strings (or ClassLabel ids)", file=source, line=number,
                               raw=raw, fix="give a list-of-strings or ClassLabel tags column")
            continue
        intent = row[intent_col] if intent_col else None
        if intent_vocab is not None and intent is not None:
            if not (intent == -1 or _is_index(intent, len(intent_vocab))):
                yield record_error(E_BAD_RECORD, f"intent id {intent} outside the ClassLabel names", file=source,
                                   line=number, raw=raw, fix="fix the intent id")
                continue
            intent = intent_vocab[intent] if intent >= 0 else None
        text = row[text_col] if text_col else None
        lang = row[lang_col] if lang_col else None
        wrong = next((name for name, value in (("intent", intent), ("text", text), ("language", lang))
                      if value is not None and not isinstance(value, str)), None)
        if wrong is not None:
            yield record_error(E_BAD_RECORD, f"the {wrong} column must hold strings (or, for intent, ClassLabel ids)",
                               file=source, line=number, raw=raw, fix=f"give a string {wrong} column")
            continue
        if len(tokens) != len(tags):
            yield record_error(E_BAD_TAGS, f"{len(tokens)} tokens but {len(tags)} tags", file=source, line=number,
                               raw=raw, fix="give exactly one tag per token")
            continue
        try:
            utterance = Utterance.from_bio(tokens, tags, intent=intent, language=lang or language or "en", text=text)
        except SpanError as exc:
            code = E_BAD_TEXT if "not found" in str(exc) or "whitespace" in str(exc) else E_BAD_TAGS
            yield record_error(code, str(exc), file=source, line=number, raw=raw, fix="fix the row")
            continue
        yield Record(source, number, raw, utterance)


def _is_index(value: object, size: int) -> bool:
    """Whether ``value`` is an integer (not a bool) in ``range(size)``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size


def _rows(ds: Dataset, source: str) -> Iterator[dict[str, Any]]:
    """The rows of ``ds``; a damaged Arrow file that fails while being read is E103 for the whole dataset."""
    rows = iter(ds)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # pyarrow raises many kinds for damaged data
            raise TvdError(E_UNREADABLE, f"cannot read the dataset's rows: {type(exc).__name__}: {exc}",
                           file=source, fix="write it again with save_to_disk") from exc
        yield row


def from_hf_dataset(ds: Dataset, **options: Any) -> list[Utterance]:
    """The utterances of ``ds``; the first malformed row raises.  ``options``: see :func:`iter_dataset_records`."""
    return collect(iter_dataset_records(ds, **options), format=NAME).utterances


def load(path: str | Path, *, split: str | None = None) -> Dataset:
    """The Dataset saved at ``path``; for a DatasetDict directory, its ``split`` (optional if it has only one)."""
    from datasets import DatasetDict, load_from_disk

    path = require_exists(path)
    if not is_dataset_directory(path):
        raise TvdError(E_UNREADABLE, "not a datasets save_to_disk directory (no dataset_info.json and state.json, "
                       "nor dataset_dict.json)", file=path, fix="give a directory written by save_to_disk")
    try:
        loaded = load_from_disk(str(path))
    except Exception as exc:  # datasets raises many kinds for a damaged directory
        raise TvdError(E_UNREADABLE, f"cannot load the dataset: {exc}", file=path,
                       fix="write it again with save_to_disk") from exc
    if isinstance(loaded, DatasetDict):
        splits = list(loaded)
        if split is None and len(splits) == 1:
            split = splits[0]
        if split not in loaded:
            raise TvdError(E_UNREADABLE, f"DatasetDict with splits {', '.join(splits)}; choose one", file=path,
                           fix=f"pass split= one of {', '.join(splits)}")
        return loaded[split]
    if split is not None:
        raise TvdError(E_UNREADABLE, f"split {split!r} given but this is a single Dataset", file=path,
                       fix="leave the split out")
    return loaded


def iter_records(
    path: str | Path, *, language: str | None = None, split: str | None = None, **columns: str | None
) -> Iterator[Record]:
    """Records of a ``save_to_disk`` directory; ``split`` picks a DatasetDict split; ``columns``: column names."""
    ds = load(path, split=split)
    source = str(path) if split is None else f"{path}[{split}]"
    yield from iter_dataset_records(ds, source=source, language=language, **columns)



def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _counts_table(counts: Counter[str], what: str) -> list[str]:
    lines = [f"| {what} | utterances |", "|---|---:|"]
    lines += [f"| {name} | {n:,} |" for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    return lines


def _percent(value: Any) -> str:
    return f"{100 * value:.1f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _provenance_lines(provenance: Mapping[str, Any]) -> list[str]:
    lines = ["", "## How it was made", ""]
    if provenance.get("run"):
        lines.append(f"- run: `{provenance['run']}` (its `report.html` shows every utterance, kept or not)")
    if provenance.get("source_file"):
        lines.append(f"- this dataset: `{provenance['source_file']}` of that run")
    teacher = provenance.get("teacher")
    if isinstance(teacher, Mapping):
        lines.append(f"- teacher: `{teacher.get('backend')}`, model fingerprint `{teacher.get('fingerprint')}`")
    if provenance.get("intent"):
        lines.append(f"- new intent: `{provenance['intent']}`")
    generation = provenance.get("generation")
    if isinstance(generation, Mapping):
        settings = ", ".join(f"{k}: {json.dumps(v)}" for k, v in generation.items() if v not in (None, [], {}))
        lines.append(f"- prompt settings (LINGUIST): {settings}")
    data = provenance.get("data")
    if isinstance(data, Mapping):
        lines.append(f"- seed data: {data.get('seeds')} utterances; base data: {data.get('base')}; "
                     f"test data: {data.get('test')}")
    stats = provenance.get("stats")
    if isinstance(stats, Mapping):
        lines.append(f"- completions: {stats.get('samples')} ({stats.get('accepted')} valid, {stats.get('rejected')} "
                     f"rejected {json.dumps(stats.get('rejected_by_reason', {}))}, {stats.get('failed')} failed)")
    filters = provenance.get("filters")
    if isinstance(filters, list):
        counts = provenance.get("filter_counts") or {}
        removed = ", ".join(f"{reason} {n}" for reason, n in counts.items()) or "none"
        lines.append(f"- filters, in order: {', '.join(map(str, filters)) or 'none'}; removed: {removed}")
    if provenance.get("revalue") is not None:
        lines.append(f"- re-valued variants per kept utterance: {provenance['revalue']}")
    metrics = provenance.get("metrics")
    if isinstance(metrics, Mapping) and metrics:
        lines += ["", "## Metrics of the run", "",
                  "Students trained without (baseline) and with (augmented) the generated data, on the run's "
                  "held-out test set, in percent:", "",
                  "| metric | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
        names = list(dict.fromkeys(k for scores in metrics.values() for k in scores))
        for name in names:
            lines.append(f"| {name} | " + " | ".join(_percent(scores.get(name)) for scores in metrics.values()) + " |")
    return lines


def dataset_card(utterances: Sequence[Utterance], provenance: Mapping[str, Any] | None = None) -> str:
    """The ``README.md`` of a dataset folder (see the module docstring): Hub metadata, contents, provenance."""
    provenance = provenance or {}
    intents = Counter(u.intent or "(none)" for u in utterances)
    labels = Counter(span.label for u in utterances for span in u.spans)
    languages = sorted({u.language for u in utterances}) or ["en"]
    sources = Counter(str(u.meta.get("source", "not recorded")) for u in utterances)
    teachers = Counter(str(u.meta["teacher"]) for u in utterances if u.meta.get("teacher"))
    name = str(provenance.get("name") or provenance.get("run") or "tvd dataset")
    lines = [
        "---",
        "license: null  # set this: the data derives from your seed data and from the teacher model's outputs",
        "language:",
        *(f"- {language}" for language in languages),
        "task_categories:",
        "- token-classification",
        "- text-classification",
        "tags:",
        "- intent-classification",
        "- slot-filling",
        *(["- synthetic"] if teachers else []),
        f"size_categories: {_size_category(len(utterances))}",
        f"pretty_name: {json.dumps(name)}",
        "---",
        "",
        f"# {name}",
        "",
        f"{len(utterances):,} utterances annotated with an intent and slots, saved as a Hugging Face `datasets` "
        "folder by teaching-via-data (`tvd`): load it with `datasets.load_from_disk`. Columns: `text`, `tokens`, "
        "`tags` (BIO, ClassLabel), `intent` (ClassLabel), `language`.",
        "",
        "## Contents",
        "",
        *_counts_table(intents, "intent"),
        "",
        f"Slot labels ({len(labels)}): " + (", ".join(f"`{label}` {n:,}" for label, n in sorted(labels.items()))
                                             or "none") + ".",
        "",
        "Where the utterances come from (`meta.source`): "
        + ", ".join(f"{source} {n:,}" for source, n in sources.most_common()) + ".",
    ]
    if teachers:
        lines += ["", "Teacher models (fingerprints: backend, model file, size, hash of its ends, options):", ""]
        lines += [f"- `{fingerprint}`: {n:,} utterances" for fingerprint, n in teachers.most_common()]
    if provenance:
        lines += _provenance_lines(provenance)
    lines += [
        "",
        "## Licence",
        "",
        "Not set: fill in `license:` above. Synthetic utterances derive from the seed examples shown to the teacher "
        "and from the teacher model's outputs, so the seed data's licence and the model's terms of use apply.",
        "",
    ]
    return "\n".join(lines)


def write(
    utterances: Iterable[Utterance], path: str | Path, *, provenance: Mapping[str, Any] | None = None
) -> None:
    """Save ``to_hf_dataset(utterances)`` with ``save_to_disk``, replacing an existing dataset directory atomically,
    with its card (:func:`dataset_card` with ``provenance``) as ``README.md``."""
    utterances = list(utterances)
    try:
        ds = to_hf_dataset(utterances)
    except TvdError as exc:
        raise TvdError(exc.code, exc.message, file=path, fix=exc.fix) from exc
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()  # a progress bar for writing a file is noise on the command line
    try:
        with atomic_directory(path, is_dataset_directory) as tmp:
            ds.save_to_disk(str(tmp), num_shards=1)  # one shard even for no rows: datasets cannot load zero shards
            (tmp / CARD_FILE).write_text(dataset_card(utterances, provenance), encoding="utf-8")
    finally:
        if not was_disabled:
            enable_progress_bars()


FORMAT = FormatSpec("hf", "Hugging Face datasets save_to_disk directory", True, iter_records, write)
