"""GBNF grammars that keep a small teacher's CLASP outputs well-formed TOP trees.

* :func:`skeleton_grammar` (RS, TS): the requested parse is fixed, slot values verbatim, in the order given;
  the teacher only writes the connecting words (at most ``max_words`` per gap).  The utterance therefore
  contains every value and its parse is the requested one.
* :func:`free_grammar` (GB, TB): any PIZZA-shaped tree (1-3 orders; pizza and drink slots; NOT and
  COMPLEX_TOPPING groups) whose slot values come from the catalogues (``values``: label -> surface forms),
  or are free words (at most 4) for a label without values (e.g. another language).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tvd.data.parse_tree import Tree

WORD_EN = "[a-z]+"
WORD_ANY = r'[^ \[\]<>\n|*\\=#{}()_~^$%@+"]+'
#: a word of letters: no digits, no punctuation or symbols (emoji among them), no space characters (tabs,
#: no-break or ideographic spaces: a model that may not write a space writes one of those and glues words);
#: ``'`` or ``-`` only between letters.  For connecting words and slot values in another language whose English
#: source has no digits: the 270M teacher "translated" ``ham`` into ``4-4`` and wrote ``ich möchte 1 11 Pizzen
#: mit 2 1/2`` with WORD_ANY, and ``Olivenhainen 😋``, ``und ▻►►►`` or fullwidth brackets inside words
#: (``(NUMBER a）Pizza mit TOPPING-Hame )``) with a class that only left out ASCII punctuation.
_NOT_LETTER = (
    ' \\[\\]<>\\n|*\\\\=#{}()_~^$%@+"\\t\\r\\u00A0\\u00AA\\u00BA'  # WORD_ANY's exclusions, tab, CR, spaces
    "\\u02B0-\\u02FF\\u2000-\\u2BFF\\u2E00-\\u2E7F\\u3000-\\u303F\\uE000-\\uF8FF\\uFE00-\\uFE6F\\uFF00-\\uFF60"
    "\\uFFF0-\\uFFFF\\U0001F000-\\U0001FAFF"  # modifiers, symbols, private use, fullwidth forms, emoji
    "0-9.,;:!?/&`'\u00b4\u00ab\u00bb\u00b7"  # digits, punctuation
)
_LETTER = f"[^{_NOT_LETTER}-]"
#: the letters of a Latin-script language: ASCII, Latin-1 and Latin Extended-A/B letters (no symbols)
_LATIN_LETTER = "[A-Za-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u024F]"
WORD_TEXT = f"{_LETTER}+ ([-'] {_LETTER}+)?"
WORD_LATIN = f"{_LATIN_LETTER}+ ([-'] {_LATIN_LETTER}+)?"
#: languages written in the Latin script: their words are :data:`WORD_LATIN` (the script constraint)
LATIN_SCRIPT = frozenset({
    "af", "az", "ca", "cs", "cy", "da", "de", "en", "es", "et", "eu", "fi", "fr", "ga", "gl", "hr", "hu", "id", "is",
    "it", "jv", "lt", "lv", "ms", "mt", "nl", "no", "pl", "pt", "ro", "sk", "sl", "sq", "sv", "sw", "tl", "tr", "vi",
})  # fmt: skip


def text_word(language: str) -> str:
    """The grammar's word of letters for ``language``: :data:`WORD_LATIN` for a Latin-script language, else
    :data:`WORD_TEXT` (any letters)."""
    return WORD_LATIN if language.split("-")[0].lower() in LATIN_SCRIPT else WORD_TEXT


MAX_VALUE_WORDS = 4
"""Most words of a free slot value (``skeleton_grammar(free_values=True)``)."""


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: English negation cues: with ``negation_cues`` the gap before a NOT must end with one of them
NEGATION_CUES_EN = (
    "no", "not", "without", "without any", "hold the", "avoid", "but no", "but not", "minus", "skip the",
    "none of the", "leave off the", "don't add", "do not put", "except", "no more",
)  # fmt: skip


def skeleton_grammar(
    semantics: Tree,
    *,
    source: Tree | None = None,
    max_words: int = 4,
    word: str = WORD_EN,
    negation_cues: tuple[str, ...] = (),
    free_values: bool = False,
    leading_space: bool = False,
) -> str:
    """A grammar admitting exactly ``semantics`` (a semantics-only tree) with connecting words around.

    ``source``: the real TOP tree ``semantics`` was made from (same shape, other values).  Where it has
    connecting words the teacher must write at least one (a base model otherwise tends to write none).
    ``negation_cues``: the gap right before each NOT ends with one of these (the teacher picks which and
    writes up to two words before it); without them a small teacher copies its shots' few cues.
    ``free_values`` (TB): only the shape is pinned, each slot's value is 1-4 free words (``word``; any word
    for a slot whose value in ``semantics`` has a digit).  ``leading_space``: the answer may start with one
    space (a prompt ending in a ``German:`` cue).
    """

    def gaps(tree: Tree | None, count: int) -> list[bool]:
        """For each of the ``count + 1`` gaps around a node's subtrees: did the source have words there?"""
        if tree is None:
            return [False] * (count + 1)
        out = [False]
        for child in tree.children:
            if isinstance(child, str):
                out[-1] = True
            else:
                out.append(False)
        return out if len(out) == count + 1 else [False] * (count + 1)

    def fill(required: bool) -> str:
        return "fill1" if required else "fill"

    def node(tree: Tree, src: Tree | None) -> str:
        if tree.is_preterminal():
            value = " ".join(tree.children)  # type: ignore[arg-type]
            if free_values:
                kind = "anyvalue" if any(c.isdigit() for c in value) else "value"
                return f"{_literal(f' ({tree.label}')} {kind} {_literal(' )')}"
            return _literal(f" ({tree.label} {value} )")
        subtrees = tree.subtrees
        src_subtrees = (
            src.subtrees if src is not None and len(src.subtrees) == len(subtrees) else [None] * len(subtrees)
        )
        need = gaps(src if src is not None and len(src.subtrees) == len(subtrees) else None, len(subtrees))
        parts = [_literal(f" ({tree.label}")]
        for i, child in enumerate(subtrees):
            gap = "neg" if negation_cues and child.label == "NOT" else fill(need[i])
            parts += [gap, node(child, src_subtrees[i])]
        parts += [fill(need[-1]), _literal(" )")]
        return " ".join(parts)

    body = node(semantics, source)
    body = body.replace(_literal(f" ({semantics.label}"), _literal(f"({semantics.label}"), 1)
    start = '" "? ' if leading_space else ""
    rules = [
        f"root ::= {start}{body}",
        f'fill ::= (" " word){{0,{max_words}}}',
        f'fill1 ::= (" " word){{1,{max_words}}}',
        f"word ::= {word}",
    ]
    if free_values:
        rules += [
            f'value ::= (" " word){{1,{MAX_VALUE_WORDS}}}',
            f'anyvalue ::= (" " {WORD_ANY}){{1,{MAX_VALUE_WORDS}}}',
        ]
    if negation_cues:
        cues = " | ".join(_literal(" " + cue) for cue in negation_cues)
        rules.append(f'neg ::= (" " word){{0,2}} ({cues})')
    return "\n".join(rules) + "\n"


PIZZA_SLOTS = ("NUMBER", "SIZE", "STYLE", "TOPPING")
DRINK_SLOTS = ("NUMBER", "SIZE", "DRINKTYPE", "VOLUME", "CONTAINERTYPE")


def free_grammar(
    values: Mapping[str, Sequence[str]], *, max_words: int = 4, word: str = WORD_EN, max_orders: int = 3
) -> str:
    """A grammar for any PIZZA-shaped TOP tree; slot values from ``values`` where a label has some."""
    rules = [
        f'root ::= "(ORDER" fill order (fill order){{0,{max_orders - 1}}} fill " )"',
        "order ::= pizza | drink",
        'pizza ::= " (PIZZAORDER" (fill pslot){1,6} fill " )"',
        "pslot ::= number | size | style | topping | complex | not",
        'not ::= " (NOT" fill (topping | style | complex) fill " )"',
        'complex ::= " (COMPLEX_TOPPING" fill (quantity fill topping | topping fill quantity) fill " )"',
        'drink ::= " (DRINKORDER" (fill dslot){1,4} fill " )"',
        "dslot ::= number | size | drinktype | volume | containertype",
        f'fill ::= (" " word){{0,{max_words}}}',
        f"word ::= {word}",
        'value ::= word (" " word){0,3}',
    ]
    for label in ("NUMBER", "SIZE", "STYLE", "TOPPING", "QUANTITY", "DRINKTYPE", "VOLUME", "CONTAINERTYPE"):
        name = label.lower()
        forms = sorted({v for v in values.get(label, ()) if v.strip()})
        choice = "(" + " | ".join(_literal(v) for v in forms) + ")" if forms else "value"
        rules.append(f'{name} ::= " ({label} " {choice} " )"')
    return "\n".join(rules) + "\n"
