"""What the model returns: candidate routings per item, as dataclasses and as a long table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from routing_core.mapping.schema import DURATION, ITEM, PROCESS, SEQ
from routing_core.model.config import SHOWN_NAMES


def shares(weights) -> np.ndarray:
    """Non-negative weights as probabilities that sum to 1, each within [0, 1] on any CPU: a
    division (or a later sum of some of them) can land one rounding step above 1, which is not a
    probability. All zero stays all zero."""
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    total = w.sum()
    return np.clip(w / total, 0.0, 1.0) if total > 0 else w


def probability(value) -> np.ndarray | float:
    """A value that means a probability (a sum of shares, a blend of them) kept within [0, 1]."""
    return np.clip(value, 0.0, 1.0)


@dataclass
class Step:
    """One operation of a proposed routing."""

    seq: int
    process_code: str
    duration_min: float | None
    duration_low: float | None
    duration_high: float | None
    attributes: dict[str, object] = field(default_factory=dict)
    # How sure the model is that this step belongs to the item's routing (None: a known routing).
    probability: float | None = None


@dataclass
class Candidate:
    """One proposed routing of an item."""

    rank: int
    score: float
    steps: list[Step]
    total_duration_min: float | None
    references: list[tuple[str, float]]
    kind: str  # "known" | "model" | "baseline" (the most frequent routing leads) | "fallback"
    note: str = ""

    @property
    def processes(self) -> list[str]:
        return [s.process_code for s in self.steps]


@dataclass
class ItemPrediction:
    """The ranked candidates for one item (never empty)."""

    item_code: str
    candidates: list[Candidate]
    known: bool
    fallback: bool
    message: str = ""

    @property
    def best_similarity(self) -> float:
        """Similarity of the closest reference behind the top candidate (0 when there is none)."""
        top = self.candidates[0] if self.candidates else None
        return max((s for _, s in top.references), default=0.0) if top else 0.0


def predictions_frame(predictions: list[ItemPrediction], operation_attributes: list[str]) -> pd.DataFrame:
    """Long form: item_code, rank, score, kind, seq, process_code, durations, op attributes, references."""
    fixed = {ITEM, "rank", "score", "kind", SEQ, PROCESS, DURATION, "duration_low", "duration_high",
             "step_probability", "references", "note"}
    # An operation attribute that shares a name with an output field gets its own column name.
    out_name = {col: f"{col} (attribute)" if col in fixed else col for col in operation_attributes}
    rows = []
    for pred in predictions:
        for c in pred.candidates:
            refs = "; ".join(f"{code} ({sim:.2f})" for code, sim in c.references)
            for s in c.steps:
                row = {
                    ITEM: pred.item_code, "rank": c.rank, "score": round(c.score, 4), "kind": c.kind,
                    SEQ: s.seq, PROCESS: s.process_code, DURATION: _minutes(s.duration_min),
                    "duration_low": _minutes(s.duration_low), "duration_high": _minutes(s.duration_high),
                    "step_probability": None if s.probability is None else round(float(s.probability), 3),
                }
                for col in operation_attributes:
                    row[out_name[col]] = s.attributes.get(col)
                row["references"] = refs
                row["note"] = c.note
                rows.append(row)
    columns = [ITEM, "rank", "score", "kind", SEQ, PROCESS, DURATION, "duration_low", "duration_high",
               "step_probability", *out_name.values(), "references", "note"]
    return pd.DataFrame(rows, columns=columns)


def _minutes(value: float | None) -> float | None:
    """A time for a table: to the thousandth of a minute (estimates carry no more)."""
    return None if value is None else round(float(value), 3)


# At least this share of a batch falling back says the file is unlike the training data.
FALLBACK_ALERT_SHARE = 0.5  # convention: half


def batch_warnings(model, items: pd.DataFrame, predictions: pd.DataFrame) -> list[str]:
    """What makes a batch's predictions weak, in words: attributes the model learned from that
    the file lacks, and most items falling back (a file from elsewhere, or mapped otherwise)."""
    warnings = []
    learned = [c for c in getattr(model, "item_attributes_", []) if c != ITEM]
    absent = [c for c in learned if c not in items.columns]
    if learned and len(absent) == len(learned):
        warnings.append(
            f"The file holds none of the attributes this version learned from ({_some(learned)}): "
            "the predictions rest on the item codes alone."
        )
    elif absent:
        warnings.append(
            f"The file lacks {len(absent)} of the {len(learned)} attributes this version learned from "
            f"({_some(absent)}): they count as blank for every item."
        )
    firsts = predictions[predictions["rank"] == 1].drop_duplicates(ITEM)
    fallback = int((firsts["kind"] == "fallback").sum())
    if len(firsts) and fallback / len(firsts) >= FALLBACK_ALERT_SHARE:
        warnings.append(
            f"{fallback:,} of {len(firsts):,} items are unlike every training item and got the most "
            "frequent routing of their group: is the file from another plant, or are its columns "
            "named differently?"
        )
    return warnings


def _some(names: list[str], limit: int = SHOWN_NAMES) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

