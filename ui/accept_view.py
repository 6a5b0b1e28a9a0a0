"""The Predict page's editing and accepting: one candidate opened as an editable routing and
accepted, or a whole batch's first candidates accepted at once after a look at the low scores."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import streamlit as st

from routing_core.accepted import AcceptedStore, Draft
from routing_core.mapping.schema import DURATION, ITEM, PROCESS, SEQ
from routing_core.platform.errors import UserError
from ui import auth, guard, loaders
from ui.nav import ACCEPTED
from ui.routing_editor import edit_routing
from ui.text import md

LOW_SCORE = 0.5  # the batch's first candidates under this score are listed for a look before accepting


def accepted_store() -> AcceptedStore:
    return AcceptedStore(loaders.data_root())


def _item_attributes(model, items: pd.DataFrame) -> dict:
    row = items.iloc[0]
    return {a: row[a] for a in getattr(model, "item_attributes_", []) if a in items.columns and a != ITEM}


def code_probabilities(model, items: pd.DataFrame) -> dict[str, float]:
    """The model's probability that the item's routing has each process code (its first occurrence)."""
    try:
        probs = model.step_probabilities(items.head(1))[0]
    except (UserError, ValueError, KeyError):
        return {}
    return {str(t): float(p) for t, p in zip(model.tokens_, probs, strict=True) if "#" not in str(t)}


def edit_candidate(model, prediction, items: pd.DataFrame, version: str, key: str, codes: list[str]) -> None:
    """Open one of the item's candidates as an editable routing and accept it."""
    with st.container(key=f"{key}_edit"):
        _edit_candidate(model, prediction, items, version, key, codes)


def _edit_candidate(model, prediction, items: pd.DataFrame, version: str, key: str, codes: list[str]) -> None:
    st.subheader("Edit and accept")
    candidates = prediction.candidates
    rank = st.selectbox("Start from candidate", [c.rank for c in candidates], key=f"{key}_edit_rank",
                        format_func=lambda r: f"#{r} · score {candidates[r - 1].score:.2f} · {candidates[r - 1].kind}")
    chosen = candidates[rank - 1]
    attributes = list(getattr(model, "operation_attributes_", []))
    steps = [asdict(s) for s in chosen.steps]
    st.caption("Change a step's process, time or work centre in its cell; add a step in the empty row at the "
               "bottom, delete one by selecting its row; move one by giving it a seq between its new neighbours'.")
    edited = edit_routing(steps, f"{key}_editor_{version}_{prediction.item_code}_{rank}", codes, attributes,
                          probabilities=code_probabilities(model, items), candidate=steps)
    why = guard.reason("accept")
    done = st.session_state.get(f"{key}_accepted")
    if st.button("Accept this routing", type="primary", key=f"{key}_accept", disabled=edited is None or why is not None,
                 help=why or "Store it as the item's routing in the routing store (Accepted page)."):
        try:
            record = accepted_store().accept(Draft(
                item_code=prediction.item_code, steps=edited, attributes=_item_attributes(model, items),
                version=version, candidate_rank=chosen.rank, candidate_kind=chosen.kind,
                candidate_score=chosen.score, candidate_steps=steps), user=auth.user())
        except UserError as exc:
            st.error(md(exc), icon=":material/error:")
        else:
            done = (record.item_code, record.revision, len(record.changes))
            st.session_state[f"{key}_accepted"] = done
    if done and done[0] == prediction.item_code:
        st.success(f"Accepted the routing of {md(done[0])} (revision {done[1]}, {done[2]} change(s) against the "
                   "candidate).", icon=":material/check_circle:")
        st.page_link(ACCEPTED.path, label="Open the accepted routings", icon=ACCEPTED.icon)


def batch_drafts(result: pd.DataFrame, items: pd.DataFrame, version: str, attributes: list[str]) -> list[Draft]:
    """Each item's first candidate as a routing to accept, from the batch's long table."""
    firsts = result[result["rank"] == 1]
    item_rows = items.drop_duplicates(ITEM).set_index(items.drop_duplicates(ITEM)[ITEM].astype(str))
    item_attrs = [c for c in items.columns if c != ITEM]
    drafts = []
    for code, rows in firsts.groupby(ITEM, sort=False):
        steps = [{"seq": r[SEQ], "process_code": r[PROCESS], "duration_min": r[DURATION],
                  "attributes": {a: r.get(a) for a in attributes if a in rows.columns}}
                 for r in rows.to_dict("records")]
        found = item_rows.loc[str(code)] if str(code) in item_rows.index else None
        drafts.append(Draft(
            item_code=str(code), steps=steps, version=version, candidate_rank=1,
            candidate_kind=str(rows["kind"].iloc[0]), candidate_score=float(rows["score"].iloc[0]),
            candidate_steps=steps,
            attributes={} if found is None else {a: found[a] for a in item_attrs}))
    return drafts


def accept_batch(result: pd.DataFrame, items: pd.DataFrame, version: str, attributes: list[str], key: str) -> None:
    """Accept every item's first candidate in one action, after the low scores were looked at."""
    firsts = result[result["rank"] == 1].drop_duplicates(ITEM)
    low = firsts[firsts["score"] < LOW_SCORE]
    st.markdown("**Accept the whole batch** (each item's first candidate)")
    if len(low):
        st.caption(f"{len(low):,} item(s) have a first candidate scored under {LOW_SCORE:.2f}: look at them first.")
        st.dataframe(low[[ITEM, "score", "kind"]].assign(
            routing=[" → ".join(result[(result[ITEM] == c) & (result["rank"] == 1)][PROCESS].astype(str))
                     for c in low[ITEM]]), hide_index=True, key=f"{key}_low")
    reviewed = st.checkbox(f"I have looked at the {len(low):,} low score(s)" if len(low) else
                           "Every first candidate scores 0.50 or more", key=f"{key}_reviewed", value=not len(low))
    why = guard.reason("accept")
    if st.button(f"Accept {len(firsts):,} routings", key=f"{key}_accept_all", disabled=why is not None or not reviewed,
                 help=why or "Each item's first candidate, stored in one change (all or none)."):
        try:
            made = accepted_store().accept_many(batch_drafts(result, items, version, attributes), user=auth.user())
        except UserError as exc:
            st.error(md(exc), icon=":material/error:")
        else:
            st.success(f"Accepted {len(made):,} routings.", icon=":material/check_circle:")
            st.page_link(ACCEPTED.path, label="Open the accepted routings", icon=ACCEPTED.icon)


def plant_codes(model, record) -> list[str]:
    """The plant's process codes: the training dataset's, else those the model knows."""
    codes = [str(p) for p in getattr(getattr(model, "vocab_", None), "processes_", [])]
    if record is not None:
        try:
            ops = loaders.dataset(record).ops
            codes = sorted({*codes, *ops[PROCESS].dropna().astype(str).unique().tolist()})
        except UserError:
            pass
    return [c for c in codes if c and c is not np.nan]
