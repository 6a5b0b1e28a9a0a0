"""Models page: the selected versions head to head on the same labelled items (routing_core.scoring.compare)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from routing_core.datasets import RawTable, normalise, read_table
from routing_core.mapping.schema import ITEM, PROCESS
from routing_core.platform import formatting
from routing_core.platform.errors import UserError
from routing_core.platform.export import display_safe, to_safe_csv
from routing_core.scoring.compare import (
    LABELS,
    PAIRED,
    Comparison,
    compare_models,
    recorded_split,
    training_items,
    unknown_to,
    unseen_ops,
    verdicts,
    vocabulary_overlap,
)
from routing_core.versions.registry import VersionInfo
from ui import charts, loaders, mapping_editor
from ui.text import md

RESULT = "compare_result"  # session key: (inputs key, Comparison | error message)
STORED, UPLOADED = "Items of a stored dataset that none of them trained on", "An uploaded labelled file"
SHARED = "A shared holdout of a stored dataset (each fitted again on the same items)"
SHARES = {"routing_accuracy", "top_3_accuracy", "step_accuracy", "coverage"}
KEYS = {v: k for k, v in LABELS.items()}


def _value(key: str, value: object) -> str:
    return formatting.percent(value) if key in SHARES else formatting.number(value)


def _pts(value: object) -> str:
    """A difference already in points (+1.6 pts), rounded as every figure is."""
    number = formatting.rounded(value, 1)
    return "—" if number is None else f"{number:+.1f}"


def _difference(diff: object, low: object, high: object) -> str:
    if formatting.rounded(diff, 1) is None:
        return "—"
    if formatting.rounded(low, 1) is None:
        return f"{_pts(diff)} pts"
    return f"{_pts(diff)} pts ({_pts(low)} to {_pts(high)})"


def metrics_table(c: Comparison) -> pd.DataFrame:
    """The comparison's metrics as people read them: values, and differences with their 95 % interval."""
    ref = c.versions[0]
    rows = []
    for r in c.metrics.to_dict("records"):
        key = KEYS[r["metric"]]
        row = {"metric": r["metric"], **{n: _value(key, r[n]) for n in c.versions}}
        for n in c.versions[1:]:
            col = f"{n} − {ref}"
            row[f"{col} (95 % interval)"] = _difference(r[f"{col} (pts)"], r[f"{col} 95% low"], r[f"{col} 95% high"])
        rows.append(row)
    return pd.DataFrame(rows)


def _training_items_of(info: VersionInfo, by_sha: dict) -> set[str]:
    sha = (info.dataset or {}).get("sha256")
    record = by_sha.get(sha)
    if record is None:
        raise UserError(
            f"Version {info.name} was trained on dataset '{(info.dataset or {}).get('name')}', which is no "
            "longer stored as it was, so the items it learned from are unknown. Compare on an uploaded "
            "labelled file instead."
        )
    test_size, seed, refit = recorded_split(info.params or {}, info.metrics)
    return training_items(loaders.dataset(record).ops, test_size, seed, refit, (info.metrics or {}).get("split"))


def _shared(infos: list[VersionInfo], record, test_size: float) -> Comparison:
    """Each version fitted again with its own parameters on the same share of the dataset."""
    from routing_core.scoring.shared_holdout import compare_on_shared_holdout

    dataset = loaders.dataset(record)
    splits = [(i.metrics or {}).get("split") or {} for i in infos]
    newest = splits[0] if splits[0].get("kind") == "newest" and all(s == splits[0] for s in splits) else None
    bar = st.progress(0.0, "Fitting")
    try:
        return compare_on_shared_holdout({i.name: i.params or {} for i in infos}, dataset, test_size,
                                         split=newest, progress=lambda f, m: bar.progress(min(f, 1.0), m))
    finally:
        bar.empty()


def _run(infos: list[VersionInfo], source: str, record, upload, mapping=None,
         test_size: float = 0.2) -> Comparison:
    if source == SHARED:
        return _shared(infos, record, test_size)
    registry = loaders.registry()
    models = {i.name: registry.load_model(i.name) for i in infos}
    if source == STORED:
        by_sha = {r.sha256: r for r in loaders.datasets()}
        trained = {i.name: _training_items_of(i, by_sha) for i in infos}
        ops, note = unseen_ops(loaders.dataset(record).ops, trained)
        where = f"dataset {record.name}: {note}"
    else:
        ops = normalise(upload, mapping).ops
        where = f"file {upload.source_name}: {ops['item_code'].nunique():,} labelled items"
        unknown = vocabulary_overlap(ops, models)
        if unknown is not None:  # said before any score: a score here would mean nothing
            raise UserError(unknown)
        strangers = unknown_to(ops, models)
        if strangers:
            where += (f" (the process codes are almost all unknown to {', '.join(strangers)}: "
                      "trained on another plant's codes, it cannot score here)")
    bar = st.progress(0.0, "Predicting")
    try:
        return compare_models(models, ops, source=where, progress=lambda f, m: bar.progress(min(f, 1.0), m))
    finally:
        bar.empty()


def _read(file, reference: VersionInfo) -> RawTable | None:
    """The uploaded labelled file, read once; the mapping editor opens at the columns the reference
    version was trained on (or the file's own names and contents)."""
    key = (file.file_id, reference.name)
    if st.session_state.get("compare_read", (None,))[0] != key:
        try:
            raw: RawTable | str = read_table(file.getvalue(), name=file.name)
            note = mapping_editor.open_for_version("compare_", raw.frame, (reference.dataset or {}).get("mapping"),
                                                   (ITEM, PROCESS), reference.name)
        except UserError as exc:
            raw, note = str(exc), ""
        st.session_state["compare_read"] = (key, raw, note)
    _, raw, note = st.session_state["compare_read"]
    if isinstance(raw, str):
        st.error(md(raw), icon=":material/error:")
        return None
    st.caption(note)
    return raw


def render(infos: list[VersionInfo]) -> None:
    """The head-to-head section for the selected (usable) versions, first one the reference."""
    st.markdown("**Head to head on the same items**")
    st.caption(
        "Each version predicts the same labelled items (known routings ignored, as in training's holdout). "
        f"Differences are from **{md(infos[0].name)}**, in percentage points, with a 95 % paired-bootstrap "
        "interval over the items: an interval that includes 0 does not tell the versions apart."
    )
    source = st.radio("Compare on", [STORED, SHARED, UPLOADED], key="compare_source", horizontal=True)
    record = upload = mapping = None
    test_size = 0.2
    if source in (STORED, SHARED):
        record = loaders.pick_dataset("compare_dataset", "Dataset to take the items from")
        if record is None:
            st.info("No dataset is stored.")
            return
        inputs = (record.name, record.sha256)
    if source == SHARED:
        test_size = st.slider("Held-out share", 0.05, 0.5, 0.2, 0.05, key="compare_shared_share")
        st.caption(
            f"Each version is fitted again with its own parameters on the same {1 - test_size:.0%} of the "
            f"items and all predict the same other {test_size:.0%}, so versions that learned every item "
            "can still be told apart. This trains one model per version: it takes as long as training them."
        )
        inputs = (*inputs, test_size)
    if source == UPLOADED:
        file = st.file_uploader("Labelled file (item, process, sequence, duration and attributes)",
                                type=["csv", "tsv", "txt", "parquet"], key="compare_file")
        if file is None:
            return
        upload = _read(file, infos[0])
        if upload is None:
            return
        choices, unit = mapping_editor.render(upload.frame.columns, "compare_")
        try:
            mapping = mapping_editor.explicit(upload.frame.columns, choices, unit)
        except UserError as exc:
            st.error(md(exc), icon=":material/error:")
            return
        inputs = (file.file_id, tuple(sorted(mapping.items())))
    key = (tuple(loaders.version_identity(i) for i in infos), source, *inputs)
    if st.button("Compare head to head", key="compare_run", type="primary", icon=":material/compare_arrows:"):
        try:
            result: Comparison | str = _run(infos, source, record, upload, mapping, test_size)
        except UserError as exc:
            result = str(exc)
        st.session_state[RESULT] = (key, result)
    stored = st.session_state.get(RESULT)
    if stored is None or stored[0] != key:
        return
    result = stored[1]
    if isinstance(result, str):
        st.error(md(result), icon=":material/error:")
        return
    show(result)


def show(c: Comparison) -> None:
    st.caption(f"On {md(c.source)}.")
    for line in verdicts(c):
        st.markdown(f"**{md(line)}**", help=formatting.HELP["routing_accuracy"])
    st.dataframe(metrics_table(c), hide_index=True, key="compare_metrics")
    ref = c.versions[0]
    rows = []
    for r in c.metrics.to_dict("records"):
        if KEYS[r["metric"]] not in PAIRED:
            continue
        for n in c.versions[1:]:
            col = f"{n} − {ref}"
            label = r["metric"] if len(c.versions) == 2 else f"{r['metric']}: {n}"
            rows.append({"label": label, "diff": r[f"{col} (pts)"], "low": r[f"{col} 95% low"],
                         "high": r[f"{col} 95% high"]})
    st.plotly_chart(charts.paired_difference_chart(rows), key="compare_diff_chart")

    table = c.disagreements
    st.markdown(f"**Where the first candidates differ: {len(table):,} of {c.n_items:,} items**")
    if table.empty:
        st.caption("Every version put the same routing first for every item.")
        return
    left, right = st.columns([2, 1])
    who = sorted(table["who was right"].unique())
    chosen = left.multiselect("Who was right", who, default=who, key="compare_who")
    text = right.text_input("Item contains", key="compare_item_filter")
    shown = table[table["who was right"].isin(chosen)]
    if text:
        shown = shown[shown["item"].str.contains(text, case=False, regex=False)]
    st.dataframe(display_safe(shown), hide_index=True, key="compare_items")
    st.download_button(
        "Download the disagreements (CSV)", data=to_safe_csv(shown), file_name="disagreements.csv",
        mime="text/csv", key="compare_download", icon=":material/download:", on_click="ignore",
    )
