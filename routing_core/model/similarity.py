"""How alike two routings are: the edit distance between their steps, and the similarity the
model's trial and the evaluation both score with (routing_core.scoring.evaluation)."""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance between two sequences of steps (insert, delete, substitute cost 1), by
    rapidfuzz (C++; an evaluation computes it for every test item)."""
    return int(Levenshtein.distance(list(a), list(b)))


def sequence_similarity(pred: Sequence, true: Sequence) -> float:
    """1 − Levenshtein(pred, true) / max(len): 1 for equal sequences, 0 for nothing in common."""
    longest = max(len(pred), len(true))
    return 1.0 if longest == 0 else 1.0 - levenshtein(pred, true) / longest
