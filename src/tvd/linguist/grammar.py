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


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def output_grammar(request: LinguistRequest, *, same_language_fixed_values: bool = True, max_words: int = 8) -> str:
    """A GBNF grammar for one completion of ``request``.

    ``same_language_fixed_values``: write fixed include values verbatim.  When the request asks for
    another language than the fixed values are in, pass ``False`` to let the teacher translate them.
    ``max_words``: most words of free text before, between and after the slots.
    """
    numbers = request.numbers
    rules = [f"word ::= {_WORD}"]
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
    return "\n".join([f'root ::= {body} "\\n"?', *rules]) + "\n"
