"""BIO / CoNLL in the SNIPS and ATIS layout: a directory with three parallel files.

* ``seq.in``: one utterance a line, tokens separated by whitespace (SNIPS lines end in a space and some
  hold double spaces; any run of whitespace separates tokens);
* ``seq.out``: the BIO tags, as many as tokens (``O``, ``B-<label>``, ``I-<label>``);
* ``label``: the intent, kept as written (ATIS joint intents such as ``atis_flight#atis_airfare`` stay one
  string).

The text of an utterance is its tokens joined by single spaces.  The writer therefore refuses an
utterance whose text is not exactly its tokens joined by single spaces (for example Japanese without
spaces, where a slot boundary inside a word would become a space) or whose slots do not fall on token
boundaries: such utterances need ``jsonl`` or ``xsid``, which keep the text (or ``respace=True``, which
accepts the changed spacing).  It also refuses what would not read back: a slot label holding whitespace
(its tag would split in two), an intent that is not one line.  Each line of the three files is decoded on its
own: a line that is not valid UTF-8 makes its utterance a malformed record (E112).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tvd.data.utterance import SpanError, Utterance
from tvd.errors import E_BAD_RECORD, E_BAD_TAGS, E_LINE_COUNT, E_UNREADABLE, TvdError
from tvd.formats.base import (
    FormatSpec,
    Record,
    atomic_directory,
    cannot_write,
    read_lines,
    record_error,
    require_encodable,
    require_exists,
)

NAME = "bio"
TOKENS_FILE = "seq.in"
TAGS_FILE = "seq.out"
INTENT_FILE = "label"
FILES = (TOKENS_FILE, TAGS_FILE, INTENT_FILE)
BOM = "\ufeff"


def is_bio_directory(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding a ``seq.in`` file."""
    return (Path(path) / TOKENS_FILE).is_file()


def _bad_tag(tag: str) -> bool:
    return not (tag == "O" or (len(tag) > 2 and tag[0] in "BI" and tag[1] == "-"))


def iter_records(path: str | Path, *, language: str | None = None) -> Iterator[Record]:
    """Records of a ``seq.in`` / ``seq.out`` / ``label`` directory; every utterance gets ``language``."""
    directory = require_exists(path)
    if not directory.is_dir():
        raise TvdError(E_UNREADABLE, "the bio format is a directory holding seq.in, seq.out and label",
                       file=directory, fix="give the directory, not one of its files")
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise TvdError(E_UNREADABLE, f"missing {', '.join(missing)}", file=directory,
                       fix="a bio dataset directory needs seq.in, seq.out and label")
    token_lines, tag_lines, intent_lines = (read_lines(directory / name) for name in FILES)
    lang = language or "en"
    common = min(len(token_lines), len(tag_lines), len(intent_lines))
    for index in range(common):
        number = index + 1
        lines = (token_lines[index], tag_lines[index], intent_lines[index])
        raw = "\t".join(line.text for line in lines)
        bad = next((line.error for line in lines if line.error is not None), None)
        if bad is not None:
            yield Record(bad.file or str(directory), number, raw, error=bad)
            continue
        tokens, tags, intent = lines[0].text.split(), lines[1].text.split(), lines[2].text.strip()
        if not tokens and not tags and not intent:
            yield record_error(E_BAD_RECORD, "empty line in seq.in, seq.out and label", file=directory / TOKENS_FILE,
                               line=number, raw=raw, fix="remove the empty line from all three files")
            continue
        if not tokens:
            yield record_error(E_BAD_RECORD, "empty utterance", file=directory / TOKENS_FILE, line=number, raw=raw,
                               fix="every line of seq.in needs at least one token")
            continue
        if len(tokens) != len(tags):
            yield record_error(E_BAD_TAGS, f"{len(tokens)} tokens in seq.in but {len(tags)} tags in seq.out",
                               file=directory / TAGS_FILE, line=number, raw=raw,
                               fix="give exactly one tag per token")
            continue
        bad = next((tag for tag in tags if _bad_tag(tag)), None)
        if bad is not None:
            yield record_error(E_BAD_TAGS, f"tag {bad!r} is not O, B-<label> or I-<label>",
                               file=directory / TAGS_FILE, line=number, raw=raw, fix="fix the tag")
            continue
        if not intent:
            yield record_error(E_BAD_RECORD, "empty intent", file=directory / INTENT_FILE, line=number, raw=raw,
                               fix="write the intent on this line of the label file")
            continue
        try:
            utterance = Utterance.from_bio(tokens, tags, intent=intent, language=lang)
        except SpanError as exc:
            yield record_error(E_BAD_TAGS, str(exc), file=directory / TAGS_FILE, line=number, raw=raw,
                               fix="fix the tags")
            continue
        yield Record(str(directory / TOKENS_FILE), number, raw, utterance)
    counts = {name: len(lines) for name, lines in zip(FILES, (token_lines, tag_lines, intent_lines), strict=True)}
    if len(set(counts.values())) > 1:
        shortest = min(counts, key=lambda name: counts[name])
        yield record_error(
            E_LINE_COUNT,
            "the parallel files differ in length: " + ", ".join(f"{n} has {c} lines" for n, c in counts.items()),
            file=directory / shortest,
            line=common + 1,
            raw="",
            fix="seq.in, seq.out and label need one line per utterance each",
        )



def render(
    utterances: Iterable[Utterance], path: str | Path = "<memory>", *, respace: bool = False
) -> tuple[str, str, str]:
    """The contents of ``seq.in``, ``seq.out`` and ``label``; raises E110 for an utterance bio cannot express.

    ``respace`` writes utterances whose text is not their tokens joined by single spaces anyway (``sweater?``
    tokenised ``sweater`` / ``?`` reads back as ``sweater ?``); by default they raise.
    """
    token_lines, tag_lines, intent_lines = [], [], []
    fix = "write jsonl or xsid instead, which keep the text and its tokenisation (or allow respacing)"
    for index, utterance in enumerate(utterances):
        require_encodable(NAME, index, utterance, path)
        if not utterance.intent or utterance.intent != utterance.intent.strip() or "\n" in utterance.intent:
            reason = f"the label file needs a one-line intent, got {utterance.intent!r}"
            raise cannot_write(NAME, index, utterance, reason, "give every utterance an intent", path)
        bad_label = next((s.label for s in utterance.spans if any(ch.isspace() for ch in s.label)), None)
        if bad_label is not None:
            raise cannot_write(NAME, index, utterance, f"slot label {bad_label!r} holds whitespace, which would split "
                               "its B-/I- tag in seq.out", "rename the slot label (e.g. spaces to '_')", path)
        if index == 0 and (utterance.text.startswith(BOM) or utterance.intent.startswith(BOM)):
            raise cannot_write(NAME, index, utterance, "the first line would start with U+FEFF, which reads as a "
                               "byte-order mark and is dropped", "remove the leading U+FEFF", path)
        try:
            tokens, tags = utterance.to_bio()
        except SpanError as exc:
            raise cannot_write(NAME, index, utterance, str(exc), fix, path) from exc
        if not tokens:
            raise cannot_write(NAME, index, utterance, "it has no tokens", "drop empty utterances", path)
        if any(ch.isspace() for token in tokens for ch in token):
            raise cannot_write(NAME, index, utterance, "a token holds whitespace", fix, path)
        if " ".join(tokens) != utterance.text and not respace:
            raise cannot_write(NAME, index, utterance, "its text is not its tokens joined by single spaces", fix, path)
        token_lines.append(" ".join(tokens) + "\n")
        tag_lines.append(" ".join(tags) + "\n")
        intent_lines.append(utterance.intent + "\n")
    return "".join(token_lines), "".join(tag_lines), "".join(intent_lines)


def write(utterances: Iterable[Utterance], path: str | Path, *, respace: bool = False) -> None:
    """Write a bio directory (``seq.in``, ``seq.out``, ``label``), replacing an existing bio directory atomically.

    ``respace``: see :func:`render`.
    """
    contents = render(utterances, path, respace=respace)
    with atomic_directory(path, is_bio_directory) as tmp:
        for name, text in zip(FILES, contents, strict=True):
            (tmp / name).write_text(text, encoding="utf-8", newline="\n")


FORMAT = FormatSpec("bio", "seq.in / seq.out / label directory (SNIPS, ATIS)", True, iter_records, write)
