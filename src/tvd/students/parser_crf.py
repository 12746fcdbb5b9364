"""A CPU semantic parser for shallow TOP trees (PIZZA): a CRF tagger over path labels + a tree builder.

Every word of a TOP tree gets one label, the path of nodes above it below the root, each level marked
``B`` (the node's first word) or ``I``: in ``(ORDER i want (PIZZAORDER (NUMBER two ) pizzas (NOT no (TOPPING
ham ) ) ) )`` the words get ``O``, ``O``, ``B-PIZZAORDER|B-NUMBER``, ``I-PIZZAORDER``, ``I-PIZZAORDER|B-NOT``,
``I-PIZZAORDER|I-NOT|B-TOPPING``.  The encoding is lossless for trees whose words are the utterance in
order (TOP): :func:`decode` rebuilds the tree, opening a node at every ``B`` or label change.  ``B`` is what
separates two adjacent orders or two adjacent toppings.

The CRF (sklearn-crfsuite) uses word, affix, shape and context features plus, optionally, a lexicon
(label -> known surface forms, e.g. PIZZA's catalogues): whether a word starts, continues or ends a known
multi-word value of each label; and word classes (class -> words, e.g. ``{"negation": ["no", "without",
"avoid", ...]}``): a word of a class is seen as its class in the context features, so what the training data
shows for "without" carries over to "no" and "avoid".  It trains in seconds on hundreds of trees on one core.

Contract like the intent/slot students: ``fit(trees)``, ``predict(texts) -> trees``, ``save(dir)``,
``load(dir)``.  Saved (format version 2) as ``student.json`` (kind ``parser-crf``, parameters, and the sha256 of
each file below), ``crf.crfsuite`` (crfsuite's own model file) and ``lexicon.json`` (the lexicon and word
classes); loading runs no code and checks each file against its recorded sha256 first.  Format version 1 stored
a pickle (``model.joblib``): refused (E408) unless ``load(dir, trust_pickle=True)``; ``tvd upgrade-student DIR
--trust-pickle`` rewrites it as version 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import sklearn_crfsuite

from tvd.data.parse_tree import Tree
from tvd.errors import E_BAD_PARSER_FILE, E_NO_PARSER_DATA, E_PARSER_NOT_FITTED, TvdError
from tvd.students.base import METADATA_FILE, PICKLE_FILE, pickle_refused, verified_bytes, write_metadata
from tvd.students.crfsuite_model import CrfsuiteModel

KIND = "parser-crf"
FORMAT_VERSION = 2
PICKLE_FORMAT_VERSION = 1  # model.joblib: read only with trust_pickle=True
CRF_FILE = "crf.crfsuite"
LEXICON_FILE = "lexicon.json"
MODEL_FILE = PICKLE_FILE  # format version 1's pickle
OUTSIDE = "O"


def encode(tree: Tree) -> tuple[list[str], list[str]]:
    """Words and path labels of a TOP tree (see the module docstring)."""
    words: list[str] = []
    labels: list[str] = []
    # the root's own level is dropped: its direct words are O, its children's paths start at them
    for child in tree.children:
        if isinstance(child, str):
            words.append(child)
            labels.append(OUTSIDE)
        else:
            _walk_node(child, [], words, labels)
    return words, labels


def _walk_node(node: Tree, prefix: list[str], words: list[str], labels: list[str]) -> None:
    """Label the words under ``node``: ``prefix`` is the path above it (already B/I-marked for this node's
    ancestors relative to this node's first word)."""
    first = True
    for child in node.children:
        mark = "B" if first else "I"
        level = [*([p if first else "I" + p[1:] for p in prefix]), f"{mark}-{node.label}"]
        if isinstance(child, str):
            words.append(child)
            labels.append("|".join(level))
        else:
            _walk_node(child, level, words, labels)
        first = False


def decode(words: Sequence[str], labels: Sequence[str], root: str = "ORDER") -> Tree:
    """Rebuild the tree from words and path labels (any label sequence gives a well-formed tree)."""
    top: list[Tree | str] = []
    # open nodes: (label, children)
    stack: list[tuple[str, list[Tree | str]]] = []

    def close_to(depth: int) -> None:
        while len(stack) > depth:
            label, children = stack.pop()
            node = Tree(label, tuple(children))
            (stack[-1][1] if stack else top).append(node)

    for word, tag in zip(words, labels, strict=True):
        levels = [] if tag == OUTSIDE else [part.split("-", 1) for part in tag.split("|")]
        keep = 0
        for depth, (mark, label) in enumerate(levels):
            if depth < len(stack) and stack[depth][0] == label and mark == "I":
                keep = depth + 1
            else:
                break
        close_to(keep)
        for _, label in levels[keep:]:
            stack.append((label, []))
        (stack[-1][1] if stack else top).append(word)
    close_to(0)
    return Tree(root, tuple(top)) if top else Tree(root, ("",))


def _shape(word: str) -> str:
    if word.isdigit():
        return "d"
    if any(ch.isdigit() for ch in word):
        return "dx"
    return "x"


class ParserCRF:
    """The CRF path tagger (see the module docstring).  ``lexicon``: label -> surface forms."""

    kind = KIND

    def __init__(
        self,
        lexicon: Mapping[str, Sequence[str]] | None = None,
        *,
        c1: float = 0.05,
        c2: float = 0.01,
        max_iterations: int = 150,
        root: str = "ORDER",
        delexicalise: bool = True,
        word_classes: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.lexicon = {label: sorted(set(values)) for label, values in (lexicon or {}).items()}
        self.word_classes = {name: sorted({w.lower() for w in words}) for name, words in (word_classes or {}).items()}
        self._class_of = {word: name for name, words in sorted(self.word_classes.items()) for word in words}
        self.c1, self.c2, self.max_iterations, self.root = c1, c2, max_iterations, root
        self.delexicalise = delexicalise
        self._crf: CrfsuiteModel | None = None
        self.train_seconds = 0.0
        self.n_train = 0
        self._index: dict[str, list[tuple[str, ...]]] = {}
        self._build_index()

    def _build_index(self) -> None:
        index: dict[str, list[tuple[str, ...]]] = {}
        for label, values in self.lexicon.items():
            index[label] = [tuple(v.split()) for v in values if v.split()]
        self._index = index

    # -- features ----------------------------------------------------------------------------------
    def _lexicon_marks(self, words: Sequence[str]) -> list[set[str]]:
        marks: list[set[str]] = [set() for _ in words]
        lowered = [w.lower() for w in words]
        for label, entries in self._index.items():
            for entry in entries:
                n = len(entry)
                for i in range(len(words) - n + 1):
                    if tuple(lowered[i : i + n]) == entry:
                        marks[i].add(f"B:{label}")
                        for j in range(i + 1, i + n):
                            marks[j].add(f"I:{label}")
        return marks

    def features(self, words: Sequence[str]) -> list[dict[str, Any]]:
        marks = self._lexicon_marks(words)
        lowered = [w.lower() for w in words]
        if self.delexicalise:
            # a word inside a known value is represented by its label(s): the structure around a value
            # (NOT scope, order boundaries) is learnt from the connecting words, not from the value itself;
            # a connecting word of a word class by its class
            shown = [
                "<" + "+".join(sorted({m[2:] for m in mark})) + ">"
                if mark
                else (f"<{self._class_of[word]}>" if word in self._class_of else word)
                for word, mark in zip(lowered, marks, strict=True)
            ]
        else:
            shown = lowered
        out: list[dict[str, Any]] = []
        for i, word in enumerate(lowered):
            f: dict[str, Any] = {"bias": 1.0, "w": shown[i], "shape": _shape(word)}
            if shown[i] == word:
                f["suf3"], f["pre3"] = word[-3:], word[:3]
            else:
                f["word"] = word  # kept, but as one feature among the label's
            for offset in (-2, -1, 1, 2):
                j = i + offset
                f[f"w{offset:+d}"] = shown[j] if 0 <= j < len(words) else ("<s>" if j < 0 else "</s>")
            f["w-1|w"] = f"{f['w-1']}|{shown[i]}"
            f["w|w+1"] = f"{shown[i]}|{f['w+1']}"
            if self.delexicalise:  # the nearest connecting words before this one (negation cues, "and")
                before = [shown[j] for j in range(i - 1, -1, -1) if not marks[j]][:2]
                for k, cue in enumerate(before):
                    f[f"cue-{k + 1}"] = cue
            for mark in marks[i]:
                f[f"lex={mark}"] = 1.0
            for offset in (-1, 1):
                j = i + offset
                if 0 <= j < len(words):
                    for mark in marks[j]:
                        f[f"lex{offset:+d}={mark}"] = 1.0
            if i == 0:
                f["BOS"] = 1.0
            if i == len(words) - 1:
                f["EOS"] = 1.0
            out.append(f)
        return out

    # -- contract ----------------------------------------------------------------------------------
    def fit(self, trees: Sequence[Tree]) -> Self:
        """Train on TOP trees (their words are the utterances)."""
        started = time.perf_counter()
        xs, ys = [], []
        for tree in trees:
            words, labels = encode(tree)
            if words:
                xs.append(self.features(words))
                ys.append(labels)
        if not xs:
            raise TvdError(
                E_NO_PARSER_DATA, "no training trees with words", fix="give TOP trees with the utterance inside"
            )
        crf = sklearn_crfsuite.CRF(
            algorithm="lbfgs",
            c1=self.c1,
            c2=self.c2,
            max_iterations=self.max_iterations,
            all_possible_transitions=True,
        )
        crf.fit(xs, ys)
        self._crf = CrfsuiteModel.from_trained(crf)
        self.n_train = len(xs)
        self.train_seconds = time.perf_counter() - started
        return self

    def _require_fitted(self) -> CrfsuiteModel:
        if self._crf is None:
            raise TvdError(E_PARSER_NOT_FITTED, "the parser student is not trained", fix="call fit() or load() first")
        return self._crf

    def predict(self, texts: Sequence[str]) -> list[Tree]:
        """TOP trees for utterances (whitespace-tokenised)."""
        crf = self._require_fitted()
        tokenised = [text.split() for text in texts]
        nonempty = [words for words in tokenised if words]
        tagged = iter(crf.predict([self.features(words) for words in nonempty]) if nonempty else [])
        return [decode(words, next(tagged), self.root) if words else Tree(self.root, ("",)) for words in tokenised]

    def metadata(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "c1": self.c1,
            "c2": self.c2,
            "max_iterations": self.max_iterations,
            "root": self.root,
            "delexicalise": self.delexicalise,
            "word_classes": sorted(self.word_classes),
            "n_train": self.n_train,
            "train_seconds": round(self.train_seconds, 2),
            "labels": len(self._require_fitted().labels),
        }

    def save(self, directory: str | Path) -> Path:
        crf = self._require_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CRF_FILE).write_bytes(crf.data)
        lexicon = {"lexicon": self.lexicon, "word_classes": self.word_classes}
        (directory / LEXICON_FILE).write_text(json.dumps(lexicon, ensure_ascii=False) + "\n", encoding="utf-8")
        (directory / MODEL_FILE).unlink(missing_ok=True)  # an older format's pickle must not lie beside this model
        write_metadata(directory, self.metadata(), files=[CRF_FILE, LEXICON_FILE])
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, trust_pickle: bool = False) -> Self:
        """Read a saved parser, checking each file against student.json's sha256 record before reading it.

        ``trust_pickle=True`` also reads format version 1 (``model.joblib``, a pickle: it runs code from the
        folder); without it such a folder is E408."""
        directory = Path(directory)
        meta_path = directory / METADATA_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TvdError(
                E_BAD_PARSER_FILE, f"cannot read {meta_path}: {exc}", fix="save the parser with ParserCRF.save"
            ) from exc
        version = meta.get("format_version")
        if meta.get("kind") != KIND or version not in (FORMAT_VERSION, PICKLE_FORMAT_VERSION):
            raise TvdError(
                E_BAD_PARSER_FILE,
                f"{meta_path} describes {meta.get('kind')!r} v{version}, not {KIND} v{FORMAT_VERSION}",
                file=meta_path,
                fix="re-train the parser with this version of tvd",
            )
        if version == PICKLE_FORMAT_VERSION:
            if not trust_pickle:
                raise pickle_refused(directory, "the parser")
            crf, lexicon, word_classes = cls._read_pickle(directory)
        else:
            crf, lexicon, word_classes = cls._read_files(directory, meta)
        try:
            parser = cls(
                lexicon,
                c1=meta["c1"],
                c2=meta["c2"],
                max_iterations=meta["max_iterations"],
                root=meta["root"],
                delexicalise=meta.get("delexicalise", False),
                word_classes=word_classes,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise TvdError(
                E_BAD_PARSER_FILE, f"{meta_path} lacks a parser parameter ({exc})", file=meta_path, fix="re-train"
            ) from exc
        parser._crf = crf
        parser.n_train = meta.get("n_train", 0)
        parser.train_seconds = meta.get("train_seconds", 0.0)
        return parser

    @staticmethod
    def _read_files(directory: Path, meta: dict[str, Any]) -> tuple[CrfsuiteModel, Any, Any]:
        """The CRF, lexicon and word classes of format version 2, each file checked before it is read."""
        try:
            crf = CrfsuiteModel(verified_bytes(directory, meta, CRF_FILE))
            lexicon = json.loads(verified_bytes(directory, meta, LEXICON_FILE).decode("utf-8"))
            if not isinstance(lexicon, dict) or not isinstance(lexicon.get("lexicon"), dict):
                raise ValueError(f"{LEXICON_FILE} holds no lexicon")
            word_classes = lexicon.get("word_classes") or None
            for table in (lexicon["lexicon"], word_classes or {}):
                if not isinstance(table, dict) or not all(
                    isinstance(words, list) and all(isinstance(w, str) for w in words) for words in table.values()
                ):
                    raise ValueError(f"{LEXICON_FILE}: lexicon and word classes map names to lists of strings")
        except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise TvdError(
                E_BAD_PARSER_FILE,
                f"the parser's files cannot be read ({exc})",
                file=directory,
                fix="re-train the parser; a file is damaged, or not one this version of tvd wrote",
            ) from exc
        return crf, lexicon["lexicon"], word_classes

    @staticmethod
    def _read_pickle(directory: Path) -> tuple[CrfsuiteModel, Any, Any]:
        """The CRF, lexicon and word classes of format version 1 (``model.joblib``): unpickling runs code from the
        folder, so only with ``trust_pickle``."""
        import joblib

        try:
            payload = joblib.load(directory / MODEL_FILE)
            crf, lexicon, word_classes = payload["crf"], payload["lexicon"], payload.get("word_classes")
            if not isinstance(crf, sklearn_crfsuite.CRF):
                raise TypeError("no sklearn_crfsuite.CRF")
            model = CrfsuiteModel.from_trained(crf)
        except Exception as exc:  # joblib/pickle raise many types on a damaged file
            raise TvdError(
                E_BAD_PARSER_FILE,
                f"{MODEL_FILE} cannot be read ({type(exc).__name__})",
                file=directory,
                fix="re-train the parser",
            ) from exc
        return model, lexicon, word_classes

    @classmethod
    def upgrade(cls, directory: str | Path, out: str | Path | None = None, *, trust_pickle: bool = False) -> Path:
        """Rewrite the parser in ``directory`` in the current format, into ``out`` (default: in place)."""
        return cls.load(directory, trust_pickle=trust_pickle).save(Path(out) if out is not None else Path(directory))
