"""The training loop of the encoder student: optimiser, schedule, epochs, checkpoints, averaging, selection.

:func:`train_joint_model` fine-tunes a :class:`~tvd.students.encoder_net.JointModel` in place
(:class:`~tvd.students.encoder.EncoderStudent` builds the model and calls it from ``fit``):

* AdamW in two parameter groups (encoder ``lr``, heads and CRF ``head_lr``) with ``weight_decay``; linear
  warm-up over the first ``warmup`` share of the steps, then linear decay to 0; gradient norm clipped at 1.
* Each epoch: a random permutation of the utterances, sorted by length within windows of
  :data:`LENGTH_WINDOW` batches (less padding), then the batches in random order.
* Loss: intent cross-entropy + slot loss (CRF negative log-likelihood, or token cross-entropy without CRF)
  on each word's first sub-word.
* Checkpoints (``checkpoint_dir``): after every epoch the model, optimiser, scheduler and torch RNG states,
  the epoch count, epoch seconds, validation scores, best weights and running weight sum are written
  atomically to ``checkpoint_dir/checkpoint.pt``; a restarted run with the same ``fingerprint`` resumes
  after the last finished epoch, one with another fingerprint is refused (E423).  Everything in it is tensors
  and plain data (state dicts, lists of floats, the RNG state tensor), so it is read with
  ``torch.load(weights_only=True)``, which unpickles no other objects.
* Averaging (``average_epochs=N``): the kept weights are the mean of the weights after each of the last N
  epochs.  Selection (``score``): every epoch's weights are scored; the best epoch (the later one on a tie)
  is kept, with the average as one more candidate.
* Progress (``progress``): a :class:`TrainingProgress` report every :data:`PROGRESS_EVERY` steps and after
  each epoch's validation score; :func:`print_progress` prints them as lines.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tvd.errors import E_CHECKPOINT, TvdError
from tvd.students.encoder_inputs import encode_words
from tvd.students.encoder_net import JointModel, gather_words

CHECKPOINT_FILE = "checkpoint.pt"
PROGRESS_EVERY = 50  # steps between progress reports; a report's loss is the mean over the last this many steps
LENGTH_WINDOW = 50  # batches per window whose utterances are sorted by length


@dataclass(frozen=True)
class TrainingSettings:
    """The optimisation settings of one training run (the encoder student's parameters of the same names)."""

    epochs: int
    lr: float  # encoder learning rate
    head_lr: float  # heads and CRF learning rate
    batch_size: int
    warmup: float  # share of the steps with a linear warm-up
    weight_decay: float
    average_epochs: int  # 0: off; N: keep the mean of the weights after each of the last N epochs
    max_length: int  # sub-words per utterance; later words are not trained on


@dataclass(frozen=True)
class TrainingProgress:
    """One progress report of a training run.

    Reports come every :data:`PROGRESS_EVERY` steps (``validation_accuracy`` is None) and, with validation,
    after each epoch's score (``validation_accuracy`` set, ``step == steps``)."""

    epoch: int  # the current epoch, from 1
    epochs: int  # epochs in the run
    step: int  # steps finished in this epoch
    steps: int  # steps per epoch
    loss: float  # mean training loss over this epoch's last PROGRESS_EVERY steps
    seconds: float  # since this epoch started
    validation_accuracy: float | None = None  # sentence accuracy on the validation data after this epoch


ProgressCallback = Callable[[TrainingProgress], None]


def print_progress(report: TrainingProgress) -> None:
    """Print a report as one line (``epoch 3/14 step 50/412 loss 0.1234 20s``, or the validation score)."""
    if report.validation_accuracy is None:
        print(
            f"epoch {report.epoch}/{report.epochs} step {report.step}/{report.steps} "
            f"loss {report.loss:.4f} {report.seconds:.0f}s",
            flush=True,
        )
    else:
        print(
            f"epoch {report.epoch}/{report.epochs} validation sentence accuracy {report.validation_accuracy:.4f}",
            flush=True,
        )


@dataclass(frozen=True)
class TrainingResult:
    """What a training run reports besides the trained model."""

    epoch_seconds: list[float]  # wall-clock seconds of each epoch (of earlier runs too, when resumed)
    # with ``score``: sentence_accuracy_by_epoch, selected_epoch (a number, or "average of the last N") and,
    # with averaging, sentence_accuracy_of_average; empty without
    selection: dict[str, Any]


@dataclass
class _RunState:
    """The training state a checkpoint carries besides the model, optimiser, scheduler and RNG states."""

    epoch: int = 0  # epochs finished
    epoch_seconds: list[float] = field(default_factory=list)
    validation_scores: list[float] = field(default_factory=list)  # score after each epoch
    best_state: dict[str, Any] | None = None  # the weights of the best-scoring epoch so far
    weight_sum: dict[str, Any] | None = None  # sum of the weights after each averaged epoch so far


def _load_checkpoint(
    path: Path, fingerprint: str, model: JointModel, optimizer: Any, scheduler: Any, device: Any
) -> _RunState:
    """Restore the model, optimiser, scheduler and RNG from ``path``; returns the rest of the run state."""
    state = torch.load(path, map_location=device, weights_only=True)  # tensors and plain data only: no pickled code
    if state.get("fingerprint") != fingerprint:
        raise TvdError(
            E_CHECKPOINT,
            "the checkpoint was written by a training run with other data or parameters",
            file=path,
            fix="delete the checkpoint directory, or pass another checkpoint_dir",
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    run = _RunState(
        epoch=state["epoch"],
        epoch_seconds=state["epoch_seconds"],
        validation_scores=state.get("validation_scores", []),
        best_state=state.get("best_state"),
        weight_sum=state.get("weight_sum"),
    )
    torch.set_rng_state(state["rng"])
    return run


def _save_checkpoint(
    path: Path, fingerprint: str, model: JointModel, optimizer: Any, scheduler: Any, run: _RunState
) -> None:
    """Write the state after ``run.epoch`` epochs to ``path`` (through a temporary file, so never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "fingerprint": fingerprint,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": run.epoch,
        "epoch_seconds": run.epoch_seconds,
        "rng": torch.get_rng_state(),
        "validation_scores": run.validation_scores,
        "best_state": run.best_state,
        "weight_sum": run.weight_sum,
    }
    torch.save(state, path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)


def _epoch_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """One epoch's batches of utterance indices: similar lengths together, batches in random order."""
    order = torch.randperm(len(lengths)).tolist()
    window = batch_size * LENGTH_WINDOW
    order = [i for w in range(0, len(order), window) for i in sorted(order[w : w + window], key=lambda i: lengths[i])]
    batches = [order[b : b + batch_size] for b in range(0, len(order), batch_size)]
    return [batches[b] for b in torch.randperm(len(batches)).tolist()]


def _batch_loss(
    model: JointModel,
    tokenizer: Any,
    words: Sequence[Sequence[str]],
    tags: Sequence[Sequence[int]],
    intents: torch.Tensor,
    batch: list[int],
    max_length: int,
    device: Any,
) -> torch.Tensor:
    """Intent cross-entropy + slot loss of one batch (the slot loss on each kept word's first sub-word)."""
    enc = encode_words(tokenizer, [words[i] for i in batch], max_length)
    width = max(1, max(len(s) for s in enc["starts"]))
    word_index = torch.zeros(len(batch), width, dtype=torch.long)
    gold = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.bool)
    for row, (i, starts) in enumerate(zip(batch, enc["starts"], strict=True)):
        kept = [(w, p) for w, p in enumerate(starts) if p >= 0]
        for column, (w, position) in enumerate(kept):
            word_index[row, column] = position
            gold[row, column] = tags[i][w]
            mask[row, column] = True
        if not kept:  # an empty utterance: one "O" at [CLS] keeps the CRF defined
            mask[row, 0] = True
    word_index, gold, mask = word_index.to(device), gold.to(device), mask.to(device)
    intent_logits, emissions = model(
        torch.from_numpy(enc["input_ids"]).to(device), torch.from_numpy(enc["attention_mask"]).to(device)
    )
    word_emissions = gather_words(emissions, word_index)
    loss = torch.nn.functional.cross_entropy(intent_logits, intents[batch].to(device))
    if model.crf is not None:
        return loss + model.crf.neg_log_likelihood(word_emissions, gold, mask)
    return loss + torch.nn.functional.cross_entropy(word_emissions[mask], gold[mask])


def _select(
    model: JointModel, run: _RunState, settings: TrainingSettings, score: Callable[[JointModel], float] | None
) -> dict[str, Any]:
    """Load the weights to keep into ``model`` (best epoch, average, or the last epoch); returns the selection."""
    averaged: dict[str, Any] | None = None
    if run.weight_sum is not None:
        dtypes = {k: v.dtype for k, v in model.state_dict().items()}
        averaged = {k: (v / settings.average_epochs).to(dtypes[k]) for k, v in run.weight_sum.items()}
    selection: dict[str, Any] = {}
    if run.validation_scores:
        scores = run.validation_scores
        best = max(range(len(scores)), key=lambda e: (scores[e], e))
        best_state = run.best_state
        selection = {"sentence_accuracy_by_epoch": [round(a, 4) for a in scores], "selected_epoch": best + 1}
        if averaged is not None:
            model.load_state_dict(averaged)
            average_score = score(model)  # type: ignore[misc]
            selection["sentence_accuracy_of_average"] = round(average_score, 4)
            if average_score >= scores[best]:
                best_state, selection["selected_epoch"] = averaged, f"average of the last {settings.average_epochs}"
        model.load_state_dict(best_state)  # type: ignore[arg-type]
    elif averaged is not None:
        model.load_state_dict(averaged)
    return selection


def train_joint_model(
    model: JointModel,
    tokenizer: Any,
    words: Sequence[Sequence[str]],
    tags: Sequence[Sequence[int]],
    intents: Sequence[int],
    settings: TrainingSettings,
    *,
    device: Any,
    fingerprint: str,
    checkpoint_dir: str | Path | None = None,
    score: Callable[[JointModel], float] | None = None,
    progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Train ``model`` (already on ``device``) in place and leave it in eval mode with the kept weights.

    ``words[i]`` are utterance i's words, ``tags[i]`` their BIO tag indices and ``intents[i]`` its intent
    index.  ``fingerprint`` identifies the run's data and parameters in checkpoints.  ``score(model)``: the
    validation score of the model as it is now (it may switch the model to eval mode; it is switched back),
    which turns on best-epoch selection.  ``progress``: called with a :class:`TrainingProgress` report.
    """
    head_ids = {id(p) for p in model.head_parameters()}
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": settings.lr},
            {"params": model.head_parameters(), "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    steps_per_epoch = math.ceil(len(words) / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    warm = max(1, int(total * settings.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warm, max(0.0, (total - step) / max(1, total - warm)))
    )
    intent_ids = torch.tensor(list(intents))
    lengths = [len(w) for w in words]
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir else None
    run = _RunState()
    if checkpoint is not None and checkpoint.is_file():
        run = _load_checkpoint(checkpoint, fingerprint, model, optimizer, scheduler, device)
    for epoch in range(run.epoch, settings.epochs):
        epoch_started = time.perf_counter()
        model.train()
        losses: list[float] = []
        for step, batch in enumerate(_epoch_batches(lengths, settings.batch_size)):
            loss = _batch_loss(model, tokenizer, words, tags, intent_ids, batch, settings.max_length, device)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if progress is not None and (step + 1) % PROGRESS_EVERY == 0:
                progress(
                    TrainingProgress(
                        epoch + 1,
                        settings.epochs,
                        step + 1,
                        steps_per_epoch,
                        float(np.mean(losses[-PROGRESS_EVERY:])),
                        time.perf_counter() - epoch_started,
                    )
                )
        run.epoch_seconds.append(round(time.perf_counter() - epoch_started, 1))
        if epoch >= settings.epochs - settings.average_epochs:
            weights = {k: v.detach().cpu().double() for k, v in model.state_dict().items()}
            run.weight_sum = weights if run.weight_sum is None else {k: run.weight_sum[k] + weights[k] for k in weights}
        if score is not None:
            accuracy = score(model)
            model.train()
            if not run.validation_scores or accuracy >= max(run.validation_scores):
                run.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            run.validation_scores.append(accuracy)
            if progress is not None:
                progress(
                    TrainingProgress(
                        epoch + 1,
                        settings.epochs,
                        steps_per_epoch,
                        steps_per_epoch,
                        float(np.mean(losses[-PROGRESS_EVERY:])),
                        time.perf_counter() - epoch_started,
                        validation_accuracy=accuracy,
                    )
                )
        run.epoch = epoch + 1
        if checkpoint is not None:
            _save_checkpoint(checkpoint, fingerprint, model, optimizer, scheduler, run)
    selection = _select(model, run, settings, score)
    model.eval()
    return TrainingResult(epoch_seconds=run.epoch_seconds, selection=selection)
