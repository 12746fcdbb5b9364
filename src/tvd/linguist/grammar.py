"""GBNF grammars that force a teacher's output into the numbered-bracket format of one request.

The grammar admits exactly the include block's slots (each once per include entry, in any order when
there are at most :data:`MAX_PERMUTED` of them), writes fixed values verbatim, and lets wildcard slots
take a value of at most :data:`MAX_VALUE_WORDS` words.  Free text around the slots is at most
``max_words`` words per gap.  A word never contains brackets, angle brackets, newlines or markup
characters (``| * \\ = # { } ( ) _ ~ ^ $ % @ + "``): a small model that starts to babble (numbers,
tables, code) is cut short instead of running to ``max_tokens``.  Constrained decoding therefore never
produces an unparseable output; truncation can still leave one incomplete, and the parser rejects it with its reason.
"""

from __future__ import annotations

from itertools import permutations

from tvd.linguist.request import LinguistRequest

MAX_PERMUTED = 4
MAX_VALUE_WORDS = 6
_WORD = r'[^ \[\]<>\n|*\\=#{}()_~^$%@+"]+'
_STRICT_WORD = r'[^ \[\]<>\n|*\\=#{}()_~^$%@+"\t\r\u00A0\u2000-\u200B\u3000]+'


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def output_grammar(
    request: LinguistRequest,
    *,
    same_language_fixed_values: bool = True,
    max_words: int = 8,
    leading_space: bool = False,
) -> str:
    """A GBNF grammar for one completion of ``request``.

    ``same_language_fixed_values``: write fixed include values verbatim.  When the request asks for
    another language than the fixed values are in, pass ``False`` to let the teacher translate them.
    ``max_words``: most words of free text before, between and after the slots.  ``leading_space``: for a
    prompt that ends right after a ``Name:`` cue, let the completion start with one space, and keep other
    space characters (no-break, ideographic, tabs) out of words: a model that wants to write the space and
    may not otherwise writes a no-break space instead and glues every word into one (the LINGUIST prompt ends
    with a newline and keeps the original grammar, byte for byte, so cached completions stay valid).
    """
    numbers = request.numbers
    rules = [f"word ::= {_STRICT_WORD if leading_space else _WORD}"]
    slot_rules: list[str] = []
    needs_value = False
    for i, slot in enumerate(request.include):
        fixed = not slot.is_wildcard and same_language_fixed_values
        needs_value = needs_value or not fixed
        name = f"slot{i}"
        rules.append(f'{name} ::= "[{numbers[slot.label]} " {_literal(slot.value) if fixed else "value"} " ]"')
        slot_rules.append(name)
    if needs_value:
        rules.append(f'value ::= word (" " word){{0,{MAX_VALUE_WORDS - 1}}}')

    if not slot_rules:
        body = f'word (" " word){{0,{max(max_words - 1, 0)}}} end'
    else:
        orders = list(dict.fromkeys(permutations(slot_rules))) if len(slot_rules) <= MAX_PERMUTED else [slot_rules]
        body = "lead (" + " | ".join(" gap ".join(order) for order in orders) + ") tail"
        rules += [
            f'lead ::= (word " "){{0,{max_words}}}',
            f'gap ::= " " (word " "){{0,{max_words}}}',
            f'tail ::= (" " word){{0,{max_words}}} end',
        ]
    rules.append(r"end ::= [?.!]?")
    start = '" "? ' if leading_space else ""
    return "\n".join([f'root ::= {start}{body} "\\n"?', *rules]) + "\n"
