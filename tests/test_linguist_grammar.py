"""LINGUIST output grammar (GBNF), checked by translating it into a Python regex."""

from __future__ import annotations

import re

from tvd.linguist.grammar import output_grammar
from tvd.linguist.request import LinguistRequest


def _grammar_language(grammar: str) -> re.Pattern[str]:
    """Translate our GBNF (only literals, char classes, ?, *, |, groups) into a Python regex, to check it."""
    rules = {}
    for line in grammar.strip().splitlines():
        name, body = line.split(" ::= ", 1)
        rules[name] = body

    def expand(body: str, depth: int = 0) -> str:
        out, i = [], 0
        while i < len(body):
            ch = body[i]
            if ch == '"':
                j = i + 1
                literal = []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                        literal.append({"n": "\n"}.get(body[j], body[j]))
                    else:
                        literal.append(body[j])
                    j += 1
                out.append(re.escape("".join(literal)))
                i = j + 1
            elif ch == "[":
                j = body.index("]", i + 2)
                while body[j - 1] == "\\":
                    j = body.index("]", j + 1)
                out.append(body[i : j + 1])
                i = j + 1
            elif ch in "()|?*+ ":
                out.append("" if ch == " " else ch)
                i += 1
            elif ch == "{":
                j = body.index("}", i)
                out.append(body[i : j + 1])
                i = j + 1
            else:
                match = re.match(r"[a-z0-9-]+", body[i:])
                assert match, body[i:]
                out.append("(?:" + expand(rules[match.group(0)], depth + 1) + ")")
                i += len(match.group(0))
        return "".join(out)

    return re.compile(expand(rules["root"]))


def test_grammar_admits_valid_outputs_and_nothing_malformed(request_):
    language = _grammar_language(output_grammar(request_))
    assert language.fullmatch("what is the weather in [2 dallas ] on [1 saturday ]\n")
    assert language.fullmatch("[1 tonight ] in [2 dallas ]?")
    assert not language.fullmatch("weather in [2 houston ] on [1 saturday ]")  # fixed value forced
    assert not language.fullmatch("weather in [2 dallas ]")  # wildcard slot required
    assert not language.fullmatch("weather in [2 dallas ] on [1 * ]")
    assert not language.fullmatch("weather [3 cold ] in [2 dallas ] on [1 monday ]")
    assert not language.fullmatch("weather in [2 dallas ] on [1 mon ] </examples>")
    assert not language.fullmatch("28 | 30 | 31 [2 dallas ] on [1 mon ]")  # markup characters
    assert not language.fullmatch("a b c d e f g h i j [2 dallas ] on [1 mon ]")  # babble is bounded
    translated = _grammar_language(output_grammar(request_, same_language_fixed_values=False))
    assert translated.fullmatch("Wetter in [2 Dallas ] am [1 Montag ]")


def test_grammar_without_slots_needs_some_text(weather_seeds):
    request = LinguistRequest("GetWeather", ("city",))
    language = _grammar_language(output_grammar(request))
    assert language.fullmatch("how is the weather")
    assert not language.fullmatch("")
    assert not language.fullmatch("weather in [1 x ]")
