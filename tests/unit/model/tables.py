"""Small hand-made tables and the model parts fitted on them, shared by the tests of each part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from routing_core.model.config import FeatureConfig
from routing_core.model.features import Encoded, ItemFeaturizer
from routing_core.model.vocabulary import Vocabulary, check_ops, item_frame

OPTIONS = [("N", "N"), ("Y", "N"), ("N", "Y")]  # heat and coat never together


def options_table(per_combo: int = 20, seed: int = 0) -> pd.DataFrame:
    """Base routing CUT > DRILL > INSPECT; heat adds HEAT after CUT, coat adds COAT before
    INSPECT. Times grow with size; the work center is carried per step."""
    rng = np.random.default_rng(seed)
    rows, i = [], 0
    for heat, coat in OPTIONS:
        for _ in range(per_combo):
            code = f"P-{i:04d}"
            i += 1
            steps = ["CUT", *(["HEAT"] if heat == "Y" else []), "DRILL",
                     *(["COAT"] if coat == "Y" else []), "INSPECT"]
            size = float(rng.uniform(10, 100))
            for j, s in enumerate(steps):
                rows.append({"item_code": code, "seq": 10 * (j + 1), "process_code": s,
                             "duration_min": size / 10 + 2 * j, "heat": heat, "coat": coat,
                             "size": size, "work_center": f"WC-{s}"})
    return pd.DataFrame(rows)


def long_table(routings: list[tuple[str, list[str]]]) -> pd.DataFrame:
    """An operations table from (item code, steps in order)."""
    return pd.DataFrame(
        [{"item_code": code, "seq": 10 * (j + 1), "process_code": p}
         for code, steps in routings for j, p in enumerate(steps)]
    )


@dataclass
class Fitted:
    ops: pd.DataFrame
    vocab: Vocabulary
    items: pd.DataFrame
    featurizer: ItemFeaturizer
    enc: Encoded
    X: np.ndarray
    Xo: np.ndarray
    Z: np.ndarray


def fitted_parts(ops: pd.DataFrame, item_attributes: list[str], operation_attributes=(),
                 **featurizer_args) -> Fitted:
    """The vocabulary and featurizer of a table, and its items as the model reads them."""
    ops = check_ops(ops)
    vocab = Vocabulary().fit(ops, list(operation_attributes))
    items = item_frame(ops, vocab.items_, item_attributes)
    use_code = featurizer_args.pop("use_code", False)
    f = ItemFeaturizer(attributes=item_attributes, use_code=use_code, config=FeatureConfig(**featurizer_args)).fit(items, vocab.item_routing_, steps=vocab.presence_)
    enc = f.encode(items)
    return Fitted(ops, vocab, items, f, enc, f.dense(enc), f.ordinal(enc), f.imputation_design(enc)[0])
