"""Predict: ranked candidate routings for one item (known or typed) or for a batch file."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from routing_core.datasets import RawTable, read_table
from routing_core.datasets.batch import read_batch
from routing_core.engine.batch import predict_frame
from routing_core.mapping import units
from routing_core.mapping.schema import ITEM
from routing_core.model import batch_warnings
from routing_core.model.explain import reasons_in_words
from routing_core.platform.errors import UserError
from routing_core.platform.export import display_safe, to_safe_csv
from routing_core.platform.formatting import plain_label, version_label
from ui import accept_view, charts, frame, held, loaders, mapping_editor
from ui.empty import empty_state
from ui.metrics import metrics as metric_row
from ui.metrics import row as metric_box
from ui.nav import MODELS, TRAIN
from ui.summary import (
    NONE_CHOICE,
    blank_is_a_value,
    form_value,
    item_summary,
    reference_attributes,
)
from ui.text import md, pct
from ui.units import switch as unit_switch

# A batch table shows at most this many rows (the download holds all): a longer one would be kept
# whole by the server for the session, for the browser to page through.
TABLE_ROWS = 10_000

frame.page()

KIND_COLOR = {"known": "green", "model": "blue", "baseline": "violet", "fallback": "orange"}
MAX_PICK = 20_000  # beyond this many items the known-item picker becomes a text box
MAX_CHOICES = 200  # distinct values offered for a categorical attribute

st.title("Predict routings")
registry = loaders.registry()
usable = [i for i in registry.list() if not i.broken]
names = [i.name for i in usable]
active = registry.active()
gone = st.session_state.get("predict_version")
if gone is not None and gone not in names:
    # Deleted by another session (or its files broke) while this one had it selected. Setting the
    # picker's value (not just forgetting it) makes the browser show the version now used.
    st.warning(f"Model version **{md(gone)}** is no longer available: it was deleted or its files are broken.",
               icon=":material/warning:")
    if names:
        st.session_state["predict_version"] = active if active in names else names[0]
    else:
        del st.session_state["predict_version"]
if not usable:
    empty_state("No usable model version yet. Train one first.", TRAIN, "Go to Train")
    st.stop()

top = st.columns([3, 1], vertical_alignment="bottom")
labels = {i.name: version_label(i.name, (i.dataset or {}).get("name"), i.created_at, i.name == active)
          for i in usable}
version = top[0].selectbox(
    "Model version", names, index=names.index(active) if active in names else 0, key="predict_version",
    format_func=labels.get,
)
info = usable[names.index(version)]
try:
    model = registry.load_model(version)
except UserError as exc:
    st.error(md(exc), icon=":material/error:")
    st.page_link(MODELS.path, label="Check the versions", icon=MODELS.icon)
    st.stop()
# keyed per version: each version starts at the number of candidates it was trained to give
top_k = top[1].number_input("Candidates", min_value=1, max_value=20, value=min(max(int(info.params.get("top_k") or 5), 1), 20),
                            step=1, key=f"predict_top_k_{version}")
ignore_history = st.toggle("Ignore known routings", key="predict_ignore_history",
                               help="Predict items of the training data as if they were new.")

# The training dataset gives the known items and the values each attribute takes.
record, known_items = None, None
dataset_name = info.dataset.get("name")
try:
    if dataset_name in loaders.store().names():
        candidate = loaders.store().record(dataset_name)
        if candidate.sha256 == info.dataset.get("sha256"):
            record = candidate
    known_items = loaders.items(record) if record is not None else None
except UserError as exc:  # a damaged dataset: predict without its known items
    record = None
    st.caption(md(f"The training dataset is unreadable: {exc}"))
plant_codes = accept_view.plant_codes(model, record)
unit = unit_switch(units.version_unit(info.dataset, loaders.datasets()), "predict_unit")


SCORE_HELP = ("The model's estimate, from 0 to 1, that this routing is the item's routing. Scores of one "
              "item's candidates are comparable; 0.90 against 0.05 means the first is far more likely.")
KIND_HELP = {
    "known": "known: the item's own routing in the training data (ignore known routings to predict it anyway)",
    "model": "model: proposed by the model from similar items and from how likely each step is for this item",
    "baseline": "baseline: the most frequent routing, put first because the model did not beat it on items "
                "held out in training",
    "fallback": "fallback: nothing in the training data is similar enough; the most frequent routing of the "
                "closest group, to be checked by hand",
}
COMPACT_BELOW = 0.2  # candidates after the first with a lower score are drawn folded


def step_probability(step) -> float | None:
    """How sure the model is that this step belongs to the routing, when the model says so."""
    value = getattr(step, "probability", None)
    return None if value is None else float(value)


def step_reasons(c, query: pd.DataFrame | None) -> list[str]:
    """Per step of a candidate, the item's attributes that weigh most for and against it (none for
    an item's own known routing, or without the item's attributes)."""
    if query is None or c.kind == "known":
        return [""] * len(c.steps)
    return reasons_in_words(model, query, c.processes)


def show_references(c, query: pd.DataFrame | None) -> None:
    """The reference items with their attributes beside the query item's; differing values marked."""
    if not c.references:
        st.caption("No reference items.")
        return
    if query is None:
        st.dataframe(display_safe(pd.DataFrame(c.references, columns=[ITEM, "similarity"])), hide_index=True,
                     column_config={"similarity": st.column_config.NumberColumn(format="%.2f")})
        return
    table, differs = reference_attributes(query, c.references, known_items, list(model.item_attributes_))
    table = display_safe(table.astype({"similarity": "float64"}))  # the item's own row: a blank, not "None"
    style = table.style.apply(lambda _: differs.map(lambda d: "background-color: #fde2c8" if d else "")
                              .to_numpy(), axis=None).format(precision=2, na_rep="—")
    st.dataframe(style, hide_index=True,
                 column_config={"similarity": st.column_config.NumberColumn(format="%.2f")})
    st.caption("Shaded: a value that differs from this item's. Similarity 1.00 means the same attributes.")


def candidate_body(c, key: str, query: pd.DataFrame | None) -> None:
    st.markdown(" → ".join(md(s.process_code) for s in c.steps))
    steps = [asdict(s) for s in c.steps]
    st.plotly_chart(charts.step_timeline_chart(steps, title=f"Candidate {c.rank}: steps", unit=unit),
                    key=f"{key}_steps_{c.rank}")
    st.caption("Blue bars: the estimated time of each step, one after the other. Red lines: the likely range "
               "(low–high) of that step's time among similar items.")
    rows = []
    for step, s in zip(c.steps, steps, strict=True):
        row = {k: v for k, v in s.items() if k not in ("attributes", "probability", "reasons")}
        prob = step_probability(step)
        if prob is not None:
            row["probability"] = prob
        rows.append(row | s["attributes"])
    st.caption("Steps")
    st.dataframe(
        display_safe(units.in_unit(pd.DataFrame(rows), unit)),
        hide_index=True,
        column_config={
            "process_code": "process",
            units.renamed("duration_min", unit): st.column_config.NumberColumn(units.name(unit), format="%.1f"),
            units.renamed("duration_low", unit): st.column_config.NumberColumn(f"low ({unit})", format="%.1f"),
            units.renamed("duration_high", unit): st.column_config.NumberColumn(f"high ({unit})", format="%.1f"),
            "probability": st.column_config.NumberColumn(
                "probability", format="%.2f", help="How sure the model is that this step belongs."),
        },
    )
    reasons = [(step, line) for step, line in zip(c.steps, step_reasons(c, query), strict=True) if line]
    if reasons:
        with st.expander("Why these steps"):
            st.caption("The item's attributes that weigh most for and against each step, in points of the "
                       "step's probability against an average training item (from the model's additive "
                       "step model). Steps every item has need no reason.")
            for step, line in reasons:
                st.markdown(f"**{md(step.process_code)}** (step {step.seq}): {md(line)}")
    st.caption("Reference items: training items this candidate rests on, with their attributes")
    show_references(c, query)


def show_candidate(c, key: str, said: str = "", query: pd.DataFrame | None = None) -> None:
    """One candidate routing as a card: rank, score, kind, total time, steps, references (its note
    unless it is `said` above the cards already). After the first, a low-score candidate is folded."""
    total = units.duration_text(c.total_duration_min, unit)
    if c.rank > 1 and c.score < COMPACT_BELOW:
        routing = " → ".join(md(s.process_code) for s in c.steps)
        with st.expander(f"#{c.rank} · score {c.score:.2f} · {c.kind} · {total} · {routing}",
                         key=f"{key}_compact_{c.rank}"):
            if c.note and c.note != said:
                st.caption(md(c.note))
            candidate_body(c, key, query)
        return
    with st.container(border=True, key=f"{key}_card_{c.rank}"):
        head = metric_box()
        head.markdown(f"### #{c.rank}", width="content")
        head.metric("Score", f"{c.score:.2f}", help=SCORE_HELP, width="content")
        head.metric("Total time", total, width="content")
        head.badge(c.kind, color=KIND_COLOR.get(c.kind, "gray"), help=KIND_HELP.get(c.kind))
        if c.note and c.note != said:
            st.caption(md(c.note))
        candidate_body(c, key, query)


def show_prediction(items: pd.DataFrame, key: str) -> None:
    prediction = model.predict(items, top_k=int(top_k), ignore_history=bool(ignore_history))[0]
    st.subheader(f"Candidates for {md(prediction.item_code)}")
    if prediction.message:
        (st.warning if prediction.fallback else st.info)(md(prediction.message))
    # What the blank attributes were taken to be (an item known from history weighs nothing).
    guesses = model.likely_values(items, limit=3) if not prediction.known else None
    if guesses is not None and not guesses.empty:
        said = "; ".join(
            f"{md(attr)}: " + ", ".join(f"{md(v)} {pct(p, 0)}" for v, p in zip(g["value"], g["probability"], strict=True))
            for attr, g in guesses.groupby("attribute", sort=False))
        st.caption(f"Blank attributes, weighed as the model takes them to be: {said}.")
    read = model.text_reading(items)
    if not read.empty:
        said = "; ".join(
            f"{md(r.attribute)}: " + (md(r.words) or "no word it knows") + (f" ({md(r.numbers)})" if r.numbers else "")
            for r in read.itertuples())
        st.caption(f"Read from the text: {said}.")
    if len(prediction.candidates) < int(top_k):
        st.caption(
            f"{len(prediction.candidates)} candidate(s) of the {int(top_k)} asked for: the model proposes only "
            "distinct routings of similar training items and step sets its step probabilities support, and no "
            "other came up for this item."
        )
    with st.expander("What score and kind mean"):
        st.markdown(f"**Score**: {md(SCORE_HELP)}")
        for text in KIND_HELP.values():
            st.markdown(f"- {md(text)}")
        st.markdown(f"Candidates after the first with a score under {COMPACT_BELOW:.2f} are folded; open one to "
                    "see its steps.")
    for c in prediction.candidates:
        show_candidate(c, key, said=prediction.message, query=items)
    accept_view.edit_candidate(model, prediction, items, version, key, plant_codes)


one, batch = st.tabs(["One item", "Batch file"])
with one:
    mode = st.radio("Item", ["Pick a known item", "Type its attributes"], horizontal=True, key="predict_mode")
    if mode == "Pick a known item":
        if known_items is None:
            st.info(
                "The dataset this version was trained on is no longer stored, so its items cannot be listed. "
                "Type the item's attributes instead.", icon=":material/info:",
            )
        else:
            codes = known_items[ITEM].astype("str").tolist()
            if len(codes) <= MAX_PICK:
                code = st.selectbox("Known item", codes, index=None, key="predict_item",
                                    placeholder="Choose an item of the training data")
            else:
                code = st.text_input("Known item code", key="predict_item_code") or None
            if code is not None:
                row = known_items[known_items[ITEM].astype("str") == code]
                if row.empty:
                    st.warning(f"No item {md(code)} in dataset {md(dataset_name)}.")
                else:
                    show_prediction(row.head(1), "predict_known")
    else:
        with st.form("predict_form"):
            st.caption("Attributes the model uses; leave a field empty when it is unknown.")
            values: dict[str, object] = {ITEM: st.text_input("Item code (optional: a new item may have none yet)",
                                                             key="predict_code")}
            cols = st.columns(3)
            inputs = loaders.attribute_inputs(record, MAX_CHOICES) if record is not None else {}
            nones = blank_is_a_value(model, known_items)
            for n, attr in enumerate(model.item_attributes_):
                cell, label, key = cols[n % 3], plain_label(attr), f"predict_attr_{attr}"
                kind, detail = inputs.get(attr, ("text", None))
                if kind == "date" and isinstance(detail, int):  # a year
                    values[attr] = cell.number_input(label, value=float(detail), key=key,
                                                     help="A year: this year for a new item.")
                elif kind == "date":
                    values[attr] = cell.text_input(
                        label, value=str(detail), key=key,
                        help="A date attribute: today for a new item (the model learned its practice over time).",
                    ) or None
                elif kind == "number":
                    values[attr] = cell.number_input(
                        label, value=None, key=key, placeholder=None if detail is None else f"e.g. {detail:g}"
                    )
                elif kind == "choice" and attr in nones:
                    share = nones[attr]
                    values[attr] = form_value(cell.selectbox(
                        label, [NONE_CHOICE, *detail], index=None, key=key, placeholder="blank = unknown",
                        help=f"“{NONE_CHOICE}”: no value, as "
                             + (f"{pct(share)} of the training items have" if share is not None else
                                "many training items have")
                             + "; the model learned it as a value of its own (a blank here is read the same way).",
                    ))
                elif kind == "choice":
                    values[attr] = cell.selectbox(label, detail, index=None, key=key, placeholder="blank = unknown")
                else:
                    values[attr] = cell.text_input(label, key=key) or None
            submitted = st.form_submit_button("Predict", type="primary", key="predict_submit")
        if submitted:
            st.session_state["predict_typed"] = values
        typed = st.session_state.get("predict_typed")
        if typed:
            item = {k: v for k, v in typed.items() if v not in (None, "")}
            item[ITEM] = str(typed.get(ITEM) or "").strip() or "new item"
            show_prediction(pd.DataFrame([item]), "predict_typed")

with batch:
    st.caption(
        "One row per item with its code and attributes (a routing export works too: the first row of each "
        "item is used). The result has one row per predicted step."
    )
    upload = st.file_uploader("Items file", type=["csv", "tsv", "txt", "parquet"], key="predict_batch_file")
    if upload is not None:
        # Read once per file and version; the item code column opens at the one the version was trained on.
        # (again after a reconnect, keeping the column chosen: tables are held while the browser is connected)
        read_key = (upload.file_id, version)
        kept = held.get("predict_batch_read", (None, None))
        raw: RawTable | str | None = kept[1] if kept[0] == read_key else None
        if raw is None:
            try:
                raw = read_table(upload.getvalue(), name=upload.name)
                if st.session_state.get("predict_batch_opened", (None,))[0] != read_key:
                    st.session_state["predict_batch_opened"] = (read_key, mapping_editor.open_for_version(
                        "predict_", raw.frame, (info.dataset or {}).get("mapping"), (ITEM,), version))
            except UserError as exc:
                raw = str(exc)
                st.session_state.pop("predict_batch_opened", None)
            held.put("predict_batch_read", (read_key, raw))
        note = st.session_state.get("predict_batch_opened", (None, ""))[1]
        if isinstance(raw, str):
            st.error(md(raw), icon=":material/error:")
            st.stop()
        st.caption(note)
        choices, _ = mapping_editor.render(raw.frame.columns, "predict_", roles=(ITEM,))
        batch_key = (upload.file_id, *loaders.version_identity(info), int(top_k), bool(ignore_history),
                     choices[ITEM])
        cached = held.get("predict_batch")
        if cached is None or cached[0] != batch_key:
            warnings: list[str] = []
            summary = None
            try:
                explicit = mapping_editor.explicit(raw.frame.columns, choices, "min")
                items, summary = read_batch(raw, explicit)
                bar = st.progress(0.0, text="Predicting")

                def progress(done: int, total: int) -> None:
                    bar.progress(done / total, text=f"Predicting: partition {done} of {total}")

                result: pd.DataFrame | str = predict_frame(model, items, top_k=int(top_k),
                                                           ignore_history=bool(ignore_history), progress=progress)
                bar.empty()
                warnings = batch_warnings(model, items, result)
            except UserError as exc:
                result = str(exc)
            cached = (batch_key, result, None, warnings, None, summary,
                      None if isinstance(result, str) else items)
        if not isinstance(cached[1], str) and cached[4] != unit:  # the download in the unit shown
            cached = (*cached[:2], to_safe_csv(units.in_unit(cached[1], unit)), cached[3], unit, *cached[5:])
        held.put("predict_batch", cached)
        result = cached[1]
        if isinstance(result, str):
            st.error(md(result), icon=":material/error:")
        else:
            firsts = result[result["rank"] == 1].drop_duplicates(ITEM)
            kinds = firsts["kind"].value_counts()
            for warning in cached[3]:
                st.warning(md(warning), icon=":material/warning:")
            summary = cached[5]
            account = summary.sentences()
            if summary.generated or summary.refused:
                st.warning(md(" ".join(account)), icon=":material/rule:")
            else:
                st.caption(md(" ".join(account)))
            metric_row([("Items", f"{firsts[ITEM].nunique():,}"), ("Known", f"{int(kinds.get('known', 0)):,}"),
                        ("Model", f"{int(kinds.get('model', 0)):,}"),
                        ("Fallback", f"{int(kinds.get('fallback', 0)):,}")])
            if kinds.get("baseline", 0):
                st.caption(f"{int(kinds['baseline']):,} items have the most frequent routing first: the model did "
                           "not beat it on items held out in training.")
            summary_rows = item_summary(result)
            st.markdown("**One row per item** (its first candidate)"
                        + (f": the first {TABLE_ROWS:,} of {len(summary_rows):,}" if len(summary_rows) > TABLE_ROWS else ""))
            st.dataframe(display_safe(units.in_unit(summary_rows.head(TABLE_ROWS), unit)), hide_index=True,
                         key="predict_batch_summary",
                         column_config={"score": st.column_config.NumberColumn(format="%.2f"),
                                        units.renamed("total time (min)", unit):
                                            st.column_config.NumberColumn(format="%.1f")})
            st.markdown(f"**Every step of every candidate** (what the download holds; times in {units.name(unit)})"
                        + (f": the first {TABLE_ROWS:,} of {len(result):,} rows" if len(result) > TABLE_ROWS else ""))
            st.dataframe(display_safe(units.in_unit(result.head(TABLE_ROWS), unit)), hide_index=True)
            st.download_button(
                "Download CSV", data=cached[2], file_name=f"routings_{version}.csv",
                mime="text/csv",
                key="predict_download", icon=":material/download:", on_click="ignore",
            )
            accept_view.accept_batch(result, cached[6], version, list(model.operation_attributes_), "predict_batch")
