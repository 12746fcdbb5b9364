"""Evaluation of predictions against gold utterances (intent and slot metrics with standard errors)."""

from tvd.evaluate.metrics import IntentScores, Metrics, SlotScores, evaluate, slot_scores

__all__ = ["IntentScores", "Metrics", "SlotScores", "evaluate", "slot_scores"]
