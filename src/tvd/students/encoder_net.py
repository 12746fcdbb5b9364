"""The torch network of the encoder student: a pretrained transformer encoder with two heads (JointBERT style).

* Intent: a linear layer on the first position's (``[CLS]``) hidden state.
* Slots: a linear layer on every sub-word's hidden state giving per-label emissions; the student reads
  the emissions of each word's first sub-word only (the others are never labelled).
* Optional linear-chain CRF over the word-level emissions (:class:`LinearChainCrf`): learned start, end
  and transition scores, trained with the sequence negative log-likelihood and decoded with Viterbi.  The
  ONNX export contains the encoder and heads only; Viterbi decoding runs in NumPy on the exported emissions
  with the saved transition scores (:func:`viterbi_numpy`), by default constrained to valid BIO sequences
  (:func:`bio_constraints`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class LinearChainCrf(nn.Module):
    """A linear-chain CRF over ``num_tags`` tags: start, end and tag-to-tag transition scores."""

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]

    def neg_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of ``-log p(tags | emissions)``; ``mask`` marks real words (left-aligned)."""
        batch, length, _ = emissions.shape
        maskf = mask.to(emissions.dtype)
        rows = torch.arange(batch, device=emissions.device)
        # score of the gold path
        score = self.start[tags[:, 0]] + emissions[rows, 0, tags[:, 0]]
        for t in range(1, length):
            step = self.transitions[tags[:, t - 1], tags[:, t]] + emissions[rows, t, tags[:, t]]
            score = score + step * maskf[:, t]
        last = mask.long().sum(dim=1) - 1
        score = score + self.end[tags[rows, last]]
        # log partition function
        alpha = self.start.unsqueeze(0) + emissions[:, 0]
        for t in range(1, length):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions.unsqueeze(0), dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end.unsqueeze(0), dim=1)
        return (log_z - score).mean()


def viterbi_numpy(emissions: np.ndarray, start: np.ndarray, end: np.ndarray, transitions: np.ndarray) -> list[int]:
    """The best tag sequence for one sentence's ``[words, tags]`` emissions."""
    if len(emissions) == 0:
        return []
    score = start + emissions[0]
    back = []
    for t in range(1, len(emissions)):
        total = score[:, None] + transitions
        back.append(total.argmax(axis=0))
        score = total.max(axis=0) + emissions[t]
    best = [int((score + end).argmax())]
    for pointers in reversed(back):
        best.append(int(pointers[best[-1]]))
    return best[::-1]


BIO_PENALTY = -1e4  # added to forbidden scores: far below any learned score, finite so sums stay exact


def bio_constraints(tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Start and transition penalties ``([L], [L, L])`` that forbid invalid BIO sequences in Viterbi decoding:
    ``I-X`` first, or after anything but ``B-X`` / ``I-X`` (AllenNLP's ``allowed_transitions`` for BIO)."""
    start = np.zeros(len(tags), dtype=np.float32)
    transitions = np.zeros((len(tags), len(tags)), dtype=np.float32)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            start[j] = BIO_PENALTY
            for i, before in enumerate(tags):
                if before[2:] != tag[2:] or before == "O":
                    transitions[i, j] = BIO_PENALTY
    return start, transitions


class JointModel(nn.Module):
    """Encoder + intent head + slot head (+ optional CRF).  ``forward`` returns intent logits and emissions."""

    def __init__(self, encoder: nn.Module, hidden: int, n_intents: int, n_tags: int, *, crf: bool, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(hidden, n_intents)
        self.slot_head = nn.Linear(hidden, n_tags)
        self.crf = LinearChainCrf(n_tags) if crf else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs: Any = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
        )
        hidden = self.dropout(outputs.last_hidden_state)
        return self.intent_head(hidden[:, 0]), self.slot_head(hidden)

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the pretrained encoder (trained with the higher head learning rate)."""
        params = list(self.intent_head.parameters()) + list(self.slot_head.parameters())
        if self.crf is not None:
            params += list(self.crf.parameters())
        return params


def gather_words(emissions: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
    """Word-level emissions ``[B, W, L]`` from sub-word emissions ``[B, T, L]`` at the first-sub-word positions."""
    index = word_index.unsqueeze(2).expand(-1, -1, emissions.shape[2])
    return torch.gather(emissions, 1, index)
