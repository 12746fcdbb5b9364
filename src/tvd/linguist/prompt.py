"""The LINGUIST prompt: five XML-like blocks, then an open ``<output>`` block for the teacher to fill.

Layout (reconstructed from the paper's description; see ``docs`` in the README)::

    <language> English </language> <intent> GetWeather </intent>
    <include> [1 dallas ], [2 * ] </include>
    <labels> [1=city], [2=day_of_week] </labels>
    <examples>
    will it rain in [1 boston ] on [2 friday ]
    weather for [1 austin ] [2 tomorrow ]
    </examples>
    <output>

Examples sit one per line: small base models imitate line-shaped lists far more reliably than a
``|``-separated run.
"""

from __future__ import annotations

from tvd.formats.brackets import render_brackets
from tvd.linguist.request import LinguistRequest, language_name

OUTPUT_OPEN = "<output>"


def build_prompt(request: LinguistRequest) -> str:
    """The prompt text for ``request``; the teacher's completion is one bracketed utterance."""
    numbers = request.numbers
    include = ", ".join(f"[{numbers[slot.label]} {slot.value} ]" for slot in request.include)
    labels = ", ".join(f"[{number}={label}]" for label, number in numbers.items())
    lines = [
        f"<language> {language_name(request.language)} </language> <intent> {request.intent} </intent>",
        f"<include> {include} </include>" if include else "<include> </include>",
        f"<labels> {labels} </labels>",
    ]
    if request.examples:
        lines.append("<examples>")
        lines.extend(render_brackets(example, numbers) for example in request.examples)
        lines.append("</examples>")
    else:
        lines.append("<examples> </examples>")
    lines.append(OUTPUT_OPEN)
    return "\n".join(lines) + " "
