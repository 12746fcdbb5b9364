"""GBNF grammars that force a teacher's output into the numbered-bracket format of one request.

The grammar admits exactly the include block's slots (each once per include entry, in any order when
there are at most :data:`MAX_PERMUTED` of them), writes fixed values verbatim, lets wildcard slots take any
bracket-free value, and keeps free text free of brackets, angle brackets and newlines.  Constrained
decoding therefore never produces an unparseable output; truncation (``max_tokens``) can still leave an
output incomplete, and the parser rejects it with its reason.
"""

from __future__ import annotations

from itertools import permutations

from tvd.linguist.request import LinguistRequest

MAX_PERMUTED = 4
_FREE = r"[^\[\]<>\n]"


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def output_grammar(request: LinguistRequest, *, same_language_fixed_values: bool = True) -> str:
    """A GBNF grammar for one completion of ``request``.

    ``same_language_fixed_values``: write fixed include values verbatim.  When the request asks for
    another language than the fixed values are in, pass ``False`` to let the teacher translate them.
    """
    numbers = request.numbers
    rules: list[str] = []
    slot_rules: list[str] = []
    needs_value = False
    for i, slot in enumerate(request.include):
        fixed = not slot.is_wildcard and same_language_fixed_values
        needs_value = needs_value or not fixed
        value = _literal(slot.value) if fixed else "value"
        name = f"slot{i}"
        rules.append(f'{name} ::= "[{numbers[slot.label]} " {value} " ]"')
        slot_rules.append(name)

    if not slot_rules:
        body = "lead-word tail"
        rules.append(rf"lead-word ::= [^ \[\]<>\n] {_FREE}*")
    else:
        orders = list(dict.fromkeys(permutations(slot_rules))) if len(slot_rules) <= MAX_PERMUTED else [slot_rules]
        body = "lead (" + " | ".join(" gap ".join(order) for order in orders) + ") tail"
        rules += [f'lead ::= ({_FREE}* " ")?', f'gap ::= " " ({_FREE}* " ")?']
        if needs_value:
            rules.append(r"value ::= [^\[\]<>\n* ] [^\[\]<>\n*]*")
    header = [f'root ::= {body} "\\n"?', f"tail ::= {_FREE}*"]
    return "\n".join(header + rules) + "\n"
