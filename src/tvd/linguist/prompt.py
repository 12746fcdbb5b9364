"""The LINGUIST prompt: five XML-like blocks; the teacher's answer is the next line of the examples block.

Layout (reconstructed from the paper's description)::

    <language> English </language> <intent> GetWeather </intent>
    <include> [1 dallas ], [2 * ] </include>
    <labels> [1=city], [2=day_of_week] </labels>
    <examples>
    will it rain in [1 boston ] on [2 friday ]
    weather for [1 austin ] [2 tomorrow ]

The prompt ends inside the open ``<examples>`` block, one example per line, so the completion is simply
one more example: the line a pretrained (not instruction-tuned) model is most likely to write.  Measured
on the embedded Gemma 3 270M with the output grammar: 12/12 valid, sensible-looking utterances this way,
against 0/12 (all babble cut off at ``max_tokens``) when the prompt closed the examples block and opened
an ``<output>`` block instead.  With zero examples the block is empty and the teacher writes its first
line from the intent and label names alone.
"""

from __future__ import annotations

from tvd.formats.brackets import render_brackets
from tvd.linguist.request import LinguistRequest, language_name

EXAMPLES_OPEN = "<examples>"
EXAMPLES_CLOSE = "</examples>"


def build_prompt(request: LinguistRequest) -> str:
    """The prompt text for ``request``; the teacher's completion is one bracketed utterance."""
    numbers = request.numbers
    include = ", ".join(f"[{numbers[slot.label]} {slot.value} ]" for slot in request.include)
    labels = ", ".join(f"[{number}={label}]" for label, number in numbers.items())
    lines = [
        f"<language> {language_name(request.language)} </language> <intent> {request.intent} </intent>",
        f"<include> {include} </include>" if include else "<include> </include>",
        f"<labels> {labels} </labels>",
        EXAMPLES_OPEN,
        *(render_brackets(example, numbers) for example in request.examples),
    ]
    return "\n".join(lines) + "\n"
