"""The part of the Upload page a file and a database read share: column mapping, counts, preview,
warnings and saving as a dataset. Widget keys start with a prefix ("" for a file, "db_" for a
database read), so each source keeps its own choices."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

from routing_core.datasets import Dataset, DatasetRecord, RawTable
from routing_core.datasets.stats import missing_rates
from routing_core.mapping import mapping_memory
from routing_core.mapping.content import (
    apply_fix,
    check_mapping,
    decide_mapping,
    describe,
    explicit_form,
    fix_of,
)
from routing_core.mapping.proposals import MissingColumns, Proposal, propose_mapping, role_note
from routing_core.mapping.schema import (
    DURATION,
    DURATION_UNITS,
    REQUIRED,
    detect_mapping,
    resolve_mapping,
)
from routing_core.platform.errors import UserError
from routing_core.platform.export import display_safe
from routing_core.platform.names import check_name
from ui import guard, held, loaders, mapping_editor, missing_view
from ui.nav import DATASET, TRAIN
from ui.text import code, md

TARGETS = mapping_editor.TARGETS
# A role (item_code … duration_min) as this page names its choice: "*Process code (required)*".
WHERE = {(DURATION if key == "duration" else key): f"*{label}*" for key, label in TARGETS}


def _missing(dataset: Dataset) -> tuple[dict, dict]:
    """Both missing rates of the reviewed table, computed once per normalised table."""
    cached = held.get("upload_missing_of")
    if cached is None or cached[0] is not dataset:
        cached = (dataset, missing_rates(dataset))
        held.put("upload_missing_of", cached)
    return cached[1]


def role_key(role: str) -> str:
    """The mapping widget's key suffix of a role."""
    return "duration" if role == DURATION else role


def recognised_roles(columns: list[str]) -> set[str]:
    """The roles some column's name says."""
    return {DURATION if t in DURATION_UNITS else t for t in detect_mapping(columns).values()}


def forget(prefix: str) -> None:
    """Drop what the review of the last table kept in the session."""
    for key in ("upload_saved", "upload_proposals", "upload_notes", "upload_check"):
        st.session_state.pop(prefix + key, None)
    held.pop(prefix + "upload_norm", "upload_missing_of")


def init_mapping(raw: RawTable, prefix: str, name: str) -> None:
    """Set the mapping widgets to the mapping confirmed before for this set of headers, else to
    what the header suggests with the contents settling ambiguous names (failing both, what the
    contents propose)."""
    forget(prefix)
    columns = [str(c) for c in raw.frame.columns]
    remembered = mapping_memory.recall(loaders.data_root(), columns)
    notes: list[str] = []
    if remembered is not None:
        resolved = resolve_mapping(columns, remembered[0])
        notes.append(f"Opened with the mapping confirmed for these columns on {remembered[1][:10]}: "
                     f"{describe(resolved, quote=code)}.")
    else:
        decision = decide_mapping(raw.frame)
        resolved = decision.resolved
        notes.extend(f"{md(sentence)} The mapping is set that way." for sentence in decision.changed)
    mapping_editor.set_widgets(prefix, resolved)
    st.session_state[prefix + "upload_notes"] = notes
    st.session_state[f"{prefix}upload_name"] = name
    # Roles no name gave away: the contents propose a column; a clear one for a required role
    # is chosen right away (and the page says so).
    proposals = propose_mapping(raw.frame, explicit_form(columns, resolved))
    for proposal in proposals:
        if proposal.role in REQUIRED and proposal.confident:
            st.session_state[f"{prefix}map_{role_key(proposal.role)}"] = proposal.column
    st.session_state[prefix + "upload_proposals"] = proposals


def _use_fix(prefix: str, resolved: dict[str, str], fix: dict[str, str]) -> None:
    """on_click of "Use the mapping the contents suggest"."""
    mapping_editor.set_widgets(prefix, apply_fix(resolved, fix))


def _content_check(raw: RawTable, prefix: str, explicit: dict[str, str]) -> None:
    """Say where the chosen mapping and the contents disagree, before anything is stored, with a
    one-click fix."""
    columns = [str(c) for c in raw.frame.columns]
    try:
        resolved = resolve_mapping(columns, explicit)
    except UserError:
        return  # the normalising below says what is wrong
    key = (prefix, tuple(sorted(resolved.items())))
    cached = st.session_state.get(prefix + "upload_check")
    if cached is None or cached[0] != key:
        cached = (key, check_mapping(raw.frame, resolved))
        st.session_state[prefix + "upload_check"] = cached
    problems = cached[1]
    if not problems:
        return
    for problem in problems:
        st.warning(md(problem.sentence()), icon=":material/report:")
    fix = fix_of(problems)
    st.button("Use the mapping the contents suggest", key=f"{prefix}map_fix", icon=":material/auto_fix_high:",
              on_click=_use_fix, args=(prefix, resolved, fix),
              help=f"Sets: {describe(apply_fix(resolved, fix))}. Keep the mapping above to store it as it is.")


def review(
    raw: RawTable,
    prefix: str,
    make: Callable[[Mapping[str, str]], Dataset],
    save: Callable[[str, Dataset], tuple[DatasetRecord, bool]],
    fix: str,
    same: str,
    what: str = "file",
) -> None:
    """Mapping widgets, the normalised table's numbers, preview and warnings, and the save form.

    `make` normalises with a mapping, `save` stores under a name; `fix` says what to change
    after an error, `same` what is already stored ("This file with this mapping"), `what` what was
    read ("file").
    """
    st.subheader("Column mapping")
    st.caption(
        "Detected from the column names (failing that, from the contents); change any of them. "
        "“—” leaves a target unmapped."
    )
    columns = [str(c) for c in raw.frame.columns]
    choices, unit = mapping_editor.render(columns, prefix)
    chosen = dict(choices)

    for note in st.session_state.get(prefix + "upload_notes", []):
        st.info(note, icon=":material/fact_check:")
    proposals: list[Proposal] = st.session_state.get(prefix + "upload_proposals", [])
    for proposal in proposals:
        current = chosen[role_key(proposal.role)]
        if proposal.role in REQUIRED and proposal.confident and current == proposal.column:
            note = role_note(proposal.role, proposal, WHERE[proposal.role], chosen=True, quote=code)
        elif proposal.role not in REQUIRED and current is None:
            note = role_note(proposal.role, proposal, WHERE[proposal.role], quote=code)
        else:
            continue  # a required role left open is the error below; a chosen column needs no word
        st.info(note, icon=":material/lightbulb:")

    try:
        explicit = mapping_editor.explicit(columns, choices, unit)
    except UserError as exc:
        st.error(md(exc), icon=":material/error:")
        st.stop()
    _content_check(raw, prefix, explicit)

    norm_key = tuple(sorted(explicit.items()))
    cached = held.get(prefix + "upload_norm")
    if cached is None or cached[0] != norm_key:
        try:
            result = make(explicit)
        except MissingColumns as exc:  # said in this page's terms (the core's text is for any reader)
            notes = exc.notes(WHERE, recognised_roles(columns), quote=code)
            result = " ".join([md(exc.heading), *notes]) + md(exc.hint)
        except UserError as exc:
            result = md(exc)
        cached = (norm_key, result)
        held.put(prefix + "upload_norm", cached)
        st.session_state.pop(prefix + "upload_saved", None)  # a changed mapping is not what was saved
    dataset = cached[1]
    if isinstance(dataset, str):
        st.error(dataset, icon=":material/error:")  # Markdown, user text escaped
        st.caption(f"Nothing was stored. {fix}")
        st.stop()

    a, b, c, d = st.columns(4)
    a.metric("Operations", f"{len(dataset.ops):,}")
    b.metric("Items", f"{dataset.n_items:,}")
    c.metric("Processes", f"{dataset.ops['process_code'].nunique():,}")
    d.metric("Attributes", len(dataset.item_attributes) + len(dataset.operation_attributes))
    if dataset.item_attributes:
        st.caption("Item attributes (model features): " + md(", ".join(dataset.item_attributes)))
    if dataset.operation_attributes:
        st.caption("Operation attributes (carried onto steps): " + md(", ".join(dataset.operation_attributes)))

    with st.expander("Missing values per column"):
        st.caption("Item attributes: the share of items with no value on any of their rows, beside the "
                   "share of rows. The Dataset page shows the same figures once saved.")
        per_item, per_row = _missing(dataset)
        missing_view.table(per_item, per_row, dataset.item_attributes, key=prefix + "upload_missing")

    st.subheader("Preview")
    st.dataframe(display_safe(dataset.ops.head(50)), key=prefix + "upload_preview", hide_index=True)

    st.subheader("Warnings")
    if dataset.warnings:
        for warning in dataset.warnings:
            st.warning(md(warning), icon=":material/warning:")
    else:
        st.success(f"No problems found in the {what}.", icon=":material/check_circle:")

    st.subheader("Save")
    with st.form(prefix + "upload_save_form", border=False):
        name = st.text_input("Dataset name", key=prefix + "upload_name", max_chars=64)
        pressed = st.form_submit_button("Save dataset", type="primary", key=prefix + "upload_save",
                                        disabled=guard.blocked("upload"), help=guard.tip("upload"))
    if pressed:
        try:
            guard.require("upload")
            record, created = save(check_name(name.strip(), "dataset name"), dataset)
        except UserError as exc:
            st.session_state.pop(prefix + "upload_saved", None)
            st.error(md(exc), icon=":material/error:")
        else:
            st.session_state[loaders.CURRENT_DATASET] = record.name
            st.session_state[prefix + "upload_saved"] = (
                f"Saved as dataset **{md(record.name)}** ({record.items:,} items, {record.rows:,} operations)."
                if created
                else f"{same} is already stored as dataset **{md(record.name)}**."
            )
    if st.session_state.get(prefix + "upload_saved"):
        st.success(st.session_state[prefix + "upload_saved"], icon=":material/check_circle:")
        left, right = st.columns(2)
        left.page_link(DATASET.path, label="Look at the dataset", icon=DATASET.icon)
        right.page_link(TRAIN.path, label="Train a model on it", icon=TRAIN.icon)
