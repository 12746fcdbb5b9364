"""Model inputs of the encoder student: words -> sub-word ids, attention mask and first-sub-word positions.

Shared by training (:mod:`tvd.students.encoder_train`), prediction (:mod:`tvd.students.encoder`) and the ONNX
export (:mod:`tvd.students.onnx_export`); NumPy only, so the ONNX runtime path needs no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def encode_words(tokenizer: Any, word_lists: Sequence[Sequence[str]], max_length: int) -> dict[str, Any]:
    """Sub-word ids, attention mask and, per sentence, each word's first sub-word position (-1 if truncated)."""
    lists = [list(words) if words else ["."] for words in word_lists]  # an empty input still gets a [CLS]
    encoded = tokenizer(
        lists, is_split_into_words=True, truncation=True, max_length=max_length, padding=True, return_tensors="np"
    )
    starts: list[list[int]] = []
    for row, words in enumerate(lists):
        first = [-1] * len(words)
        previous = None
        for position, word in enumerate(encoded.word_ids(row)):
            if word is not None and word != previous:
                first[word] = position
            previous = word
        starts.append(first if word_lists[row] else [])
    return {
        "input_ids": encoded["input_ids"].astype(np.int64),
        "attention_mask": encoded["attention_mask"].astype(np.int64),
        "starts": starts,
    }
