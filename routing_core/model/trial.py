"""Checks a model makes on its own training data: whether it beats the most frequent routing on
items it did not see, and the code dropout that teaches the trees where a codeless item goes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from routing_core.mapping.schema import ITEM
from routing_core.model.config import TrialConfig
from routing_core.model.similarity import sequence_similarity


def code_dropout(featurizer, Xo: np.ndarray, share: float, random_state: int,
                 seed_offset: int = TrialConfig.dropout_seed) -> np.ndarray:
    """The tree features with the code tokens of a share of the items blanked.

    Trees grown only on items with codes send an item without one down whichever branch held
    more items at every split on the code; grown with some items codeless, they learn where
    those go, and split them further on the attributes."""
    cols = featurizer.code_columns_ordinal_
    if not len(cols) or share <= 0:
        return Xo
    rng = np.random.default_rng(random_state + seed_offset)
    rows = rng.random(len(Xo)) < share
    out = Xo.copy()
    out[np.ix_(rows, cols)] = np.nan
    return out


def baseline_trial(model, ops: pd.DataFrame, items: pd.DataFrame, config: TrialConfig) -> dict | None:
    """Whether the model's first candidates beat the most frequent routing on items it did not
    see: a model fitted on part of the items (baseline_fit at most) answers others (baseline_held
    at most, a quarter of the items), and both answers are scored by sequence similarity to the
    recorded routings; the model loses when it is worse by more than two standard errors of the
    paired difference. On data whose attributes say little (a job-shop log with only a short
    description), the most frequent routing can be the closer guess on average: then it leads
    the candidates, and the trial's figures say why. `items`: the item table of `ops`."""
    from sklearn.base import clone

    v = model.vocab_
    n = v.n_items_
    if n < config.baseline_min_items:
        return None
    rng = np.random.default_rng(model.random_state + config.baseline_seed)
    order = rng.permutation(n)
    n_held = min(config.baseline_held, n // config.baseline_held_parts)
    held, fit = order[:n_held], order[n_held : n_held + config.baseline_fit]
    fit_codes = set(v.items_[fit].tolist())
    trial = clone(model).set_params(baseline_check=False)
    trial.fit(ops[ops[ITEM].isin(fit_codes)], model.item_attributes_, model.operation_attributes_)
    held = np.sort(held)
    frame = items.iloc[held].reset_index(drop=True)
    firsts = [p.candidates[0].processes for p in trial.predict(frame, top_k=1, ignore_history=True)]
    common = v.routing_processes(int(np.bincount(v.item_routing_[fit], minlength=len(v.routings_)).argmax()))
    model_sim, base_sim = [], []
    for i, first in zip(held.tolist(), firsts, strict=True):
        truth = v.routing_processes(int(v.item_routing_[i]))
        model_sim.append(sequence_similarity(first, truth))
        base_sim.append(sequence_similarity(common, truth))
    diff = np.asarray(model_sim) - np.asarray(base_sim)
    m, b = float(np.mean(model_sim)), float(np.mean(base_sim))
    # The baseline leads only when the model is worse by more than chance (two standard errors
    # of the paired difference): a trial on a few hundred items is noisy, and a wrong lead
    # costs every prediction.
    margin = 2.0 * float(diff.std(ddof=1)) / np.sqrt(len(diff)) if len(diff) > 1 else np.inf
    return {"items": int(n_held), "model_similarity": round(m, 4),
            "most_frequent_similarity": round(b, 4), "margin": round(margin, 4),
            "model_wins": not (b - m > margin)}
