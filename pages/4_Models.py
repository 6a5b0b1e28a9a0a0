"""Models: every version with its key metrics; compare, inspect, activate, delete, download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from routing_core.accepted import AcceptedStore, acceptance_by_version
from routing_core.accepted.learning import OUTCOMES as ACCEPT_OUTCOMES
from routing_core.mapping import units
from routing_core.model.text import describe_reading
from routing_core.platform import formatting
from routing_core.platform.errors import UserError
from routing_core.platform.export import display_safe
from routing_core.scoring.compare import split_differences
from routing_core.scoring.evaluation import holdout_warning
from routing_core.scoring.holdout import describe_split
from routing_core.versions.manifest import MANIFESTS, MODELS
from routing_core.versions.registry import VersionInfo
from ui import auth, charts, compare_view, frame, guard, history, loaders
from ui.empty import empty_state
from ui.metrics import metrics as metric_row
from ui.nav import PREDICT, TRAIN
from ui.text import key_value_table, md, num, pct, points, times
from ui.units import switch as unit_switch

frame.page()

FLASH = "models_flash"  # a message to toast after the rerun that follows an action
CONFIRM = "models_confirm_delete"
COMPARED = ("routing_accuracy", "top_3_accuracy", "sequence_similarity", "f1_weighted")
SHARES = {"routing_accuracy", "top_3_accuracy"}  # shown in percent; the others are scores 0–1
LABELS = {
    "routing_accuracy": "routing accuracy",
    "top_3_accuracy": "top-3 accuracy",
    "sequence_similarity": "sequence similarity",
    "f1_weighted": "F1 (weighted)",
}

st.title("Model versions")
if st.session_state.get(FLASH):
    st.toast(st.session_state.pop(FLASH), icon=":material/check_circle:")

registry = loaders.registry()
infos = registry.list()
if not infos:
    empty_state("No model version yet. Train one on a dataset first.", TRAIN, "Go to Train")
    st.stop()


def metric(info: VersionInfo, key: str) -> float | None:
    value = (info.metrics or {}).get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def hundred(share: float | None) -> float | None:
    """A share 0–1 in percent, rounded as every page rounds it (tables print the rounded number)."""
    return formatting.percent_value(share)


def best_baseline(info: VersionInfo) -> tuple[str | None, dict]:
    metrics = info.metrics or {}
    name = metrics.get("best_baseline")
    return name, (metrics.get("baselines") or {}).get(name) or {}


def held_out(info: VersionInfo) -> str:
    """"random" or "newest by <date column>": how the version chose its test items."""
    split = (info.metrics or {}).get("split") or {}
    return f"newest by {split.get('date_column')}" if split.get("kind") == "newest" else "random"


table = pd.DataFrame(
    {
        "name": [i.name for i in infos],
        "active": [i.active for i in infos],  # beside the name: no scrolling to find it at 1,024 px
        "dataset": [i.dataset.get("name") for i in infos],
        "routing accuracy": [hundred(metric(i, "routing_accuracy")) for i in infos],
        "top-3": [hundred(metric(i, "top_3_accuracy")) for i in infos],
        "F1": [metric(i, "f1_weighted") for i in infos],
        "lift vs best baseline": [hundred(metric(i, "lift_over_best")) for i in infos],
        "test items": [metric(i, "test_items") for i in infos],
        "held out": [held_out(i) for i in infos],
        "created": times([i.created_at for i in infos]),
        "broken": [i.broken or "" for i in infos],
    }
)
if not table["broken"].astype(bool).any():
    table = table.drop(columns="broken")  # a column of blanks only pushes the figures out of view
DETAIL = "models_detail"
HELP = formatting.HELP
COLUMNS = {  # shares are shown as percentages with one decimal, lifts in percentage points
    "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", timezone="UTC"),
    "routing accuracy": st.column_config.NumberColumn(format="%.1f %%", help=HELP["routing_accuracy"]),
    "top-3": st.column_config.NumberColumn(format="%.1f %%", help=HELP["top_3_accuracy"]),
    "top-3 accuracy": st.column_config.NumberColumn(format="%.1f %%", help=HELP["top_3_accuracy"]),
    "sequence similarity": st.column_config.NumberColumn(format="%.3f", help=HELP["sequence_similarity"]),
    "F1": st.column_config.NumberColumn(format="%.3f", help=HELP["f1_weighted"]),
    "F1 (weighted)": st.column_config.NumberColumn(format="%.3f", help=HELP["f1_weighted"]),
    "coverage": st.column_config.NumberColumn(format="%.1f %%", help=HELP["coverage"]),
    "duration MAE (min)": st.column_config.NumberColumn(format="%.2f", help=HELP["duration_mae"]),
    "lift vs best baseline": st.column_config.NumberColumn(format="%+.1f pts", help=HELP["lift_over_best"]),
    "test items": st.column_config.NumberColumn(format="%d", help=HELP["test_items"]),
}
event = st.dataframe(
    display_safe(table),
    key="models_table",
    on_select="rerun",
    selection_mode="multi-row",
    hide_index=True,
    column_config=COLUMNS,
)
selected = [infos[i] for i in event.selection.rows if i < len(infos)]
# The row the user just ticked becomes the one shown in Details below.
ticked = [i for i in event.selection.rows if i not in st.session_state.get("models_prev_rows", [])]
st.session_state["models_prev_rows"] = list(event.selection.rows)
if ticked and ticked[0] < len(infos):
    st.session_state[DETAIL] = infos[ticked[0]].name

st.subheader("In use: what analysts accepted")
try:
    accepted = acceptance_by_version(AcceptedStore(loaders.data_root()).all())
except UserError as exc:
    st.error(md(exc), icon=":material/error:")
    accepted = None
if accepted is not None:
    learned = {i.name: i.dataset.get("accepted_routings") for i in infos}
    accepted = accepted[accepted["version"].isin(learned)].copy()
    if accepted.empty:
        st.caption("No routing has been accepted from these versions' candidates yet (Predict → Edit and accept).")
    else:
        for k in ACCEPT_OUTCOMES:
            accepted[f"{k} (share)"] = 100.0 * accepted[f"{k} (share)"]
        accepted["trained with accepted routings"] = [learned.get(v) for v in accepted["version"]]
        st.dataframe(accepted, key="models_accepted", hide_index=True, column_config={
            **{f"{k} (share)": st.column_config.NumberColumn(format="%.1f %%") for k in ACCEPT_OUTCOMES}})
        st.caption("Per version, the routings analysts accepted from its candidates: its first candidate as "
                   "proposed, its first candidate changed, or another candidate — the accuracy met in use, which "
                   "the held-out figures estimate. Withdrawn routings are not counted.")
    used = {n: c for n, c in learned.items() if c}
    if used:
        st.caption("Trained with accepted routings: " + ", ".join(f"{md(n)} ({c:,})" for n, c in used.items()) + ".")

st.subheader("Compare")
comparable = [i for i in selected if i.metrics]
if len(comparable) >= 2:
    st.markdown("**Each version on its own holdout** (the metrics recorded at training)")
    differences = split_differences(comparable)
    if differences:
        st.warning(
            "Not like for like. " + " ".join(md(d) for d in differences) + " Each was scored on "
            "different test items; compare them head to head below for a fair comparison.",
            icon=":material/warning:",
        )
    rows = []
    for info in comparable:
        name, base = best_baseline(info)
        rows.append({
            "version": info.name,
            "values": {k: metric(info, k) for k in COMPARED},
            "baseline": {k: base.get(k) for k in COMPARED},
            "baseline_name": name,
        })
    st.plotly_chart(charts.metrics_comparison_chart(rows, COMPARED, LABELS), key="models_compare_chart")
    st.caption("Bars: each version's metric on its own holdout; grey marks: its best baseline. Each panel's "
               "axis is zoomed to its values, so small differences show.")
    side = pd.DataFrame(
        [
            {"version": info.name,
             **{LABELS[k]: hundred(metric(info, k)) if k in SHARES else metric(info, k) for k in COMPARED},
             "duration MAE (min)": metric(info, "duration_mae_min"),
             "coverage": hundred(metric(info, "coverage")),
             "best baseline": best_baseline(info)[0],
             "lift vs best baseline": hundred(metric(info, "lift_over_best")),
             "test items": metric(info, "test_items")}
            for info in comparable
        ]
    )
    st.dataframe(display_safe(side), key="models_compare_table", hide_index=True, column_config=COLUMNS)
    usable = [i for i in comparable if not i.broken]
    if len(usable) >= 2:
        compare_view.render(usable)
    else:
        st.caption("Head to head needs two usable versions.")
else:
    st.info("Select two or more versions in the table (tick the rows) to compare their metrics.",
            icon=":material/compare_arrows:")

st.subheader("Details")
names = [i.name for i in infos]
wanted = st.query_params.get("version")
if wanted in names and st.session_state.get("models_followed_link") != wanted:
    st.session_state[DETAIL] = wanted  # arrived through a link to this version
    st.session_state["models_followed_link"] = wanted
if st.session_state.get(DETAIL) not in names:  # first visit, or the shown version was deleted
    st.session_state[DETAIL] = registry.active() if registry.active() in names else names[0]
labels = {i.name: formatting.version_label(i.name, (i.dataset or {}).get("name"), i.created_at, i.active)
          for i in infos}
name = st.selectbox("Version", names, key=DETAIL, format_func=labels.get)
info = infos[names.index(name)]

if info.broken:
    st.error(f"This version cannot be used: {md(info.broken)}", icon=":material/error:")
metrics = info.metrics or {}
if metrics:
    unit = unit_switch(units.version_unit(info.dataset, loaders.datasets()), "models_unit")
    metric_row([
        ("Routing accuracy", pct(metric(info, "routing_accuracy")), HELP["routing_accuracy"]),
        ("Top-3 accuracy", pct(metric(info, "top_3_accuracy")), HELP["top_3_accuracy"]),
        ("F1 (weighted)", num(metric(info, "f1_weighted")), HELP["f1_weighted"]),
        ("Duration MAE", units.duration_text(metric(info, "duration_mae_min"), unit, 2), HELP["duration_mae"]),
        ("Coverage", pct(metric(info, "coverage")), HELP["coverage"]),
    ])
    st.caption(f"Measured on {int(metric(info, 'test_items') or 0):,} held-out items: "
               + md(describe_split(metrics.get("split"), (info.params or {}).get("seed", metrics.get("seed"))))
               + ".", help="Random: a seeded share of the items. Newest: the newest items by a date column, "
               "the model trained on the older ones — as it will be used on items to come.")
    few = holdout_warning(metric(info, "test_items"))
    if few:
        st.warning(md(few), icon=":material/warning:")
    base_name, base = best_baseline(info)
    lift = metric(info, "lift_over_best")
    if lift is not None and lift <= 0:
        st.warning(
            f"Version **{md(info.name)}** is no better than its best baseline, {md(base_name)} "
            f"(routing accuracy {pct(base.get('routing_accuracy'))} against the model's "
            f"{pct(metric(info, 'routing_accuracy'))}, {points(lift)}). "
            "Prefer the baseline's simple rule, or train on more data.",
            icon=":material/warning:",
        )
    elif lift is not None:
        st.success(f"Better than its best baseline, {md(base_name)}, by {points(lift)} of routing accuracy.",
                   icon=":material/trending_up:")
    trial = metrics.get("baseline_trial") or {}
    if metrics.get("most_frequent_leads") and trial:
        st.info(
            "Predictions put the most frequent routing first: on items held out in training, the "
            f"model's first candidates were no closer to the recorded routings (sequence similarity "
            f"{num(trial.get('model_similarity'))} against {num(trial.get('most_frequent_similarity'))}). "
            "The item attributes say little about the routing; the model's candidates follow it.",
            icon=":material/info:",
        )
    reading = metrics.get("reading")
    if reading:
        with st.expander("What the model reads"):
            for line in describe_reading(reading):
                st.markdown(f"- {md(line)}")
    baselines = metrics.get("baselines") or {}
    if baselines:
        with st.expander("Baselines"):
            st.dataframe(
                pd.DataFrame(
                    [{"baseline": b, **{k: v.get(k) for k in ("routing_accuracy", "top_3_accuracy", "f1_weighted",
                                                              "sequence_similarity", "attribute")}}
                     for b, v in baselines.items()]
                ),
                hide_index=True,
                key="models_baselines",
                column_config={k: st.column_config.NumberColumn(format="%.3f")
                               for k in ("routing_accuracy", "top_3_accuracy", "f1_weighted", "sequence_similarity")},
            )
    with st.expander("Metrics"):
        shown = {k: v for k, v in metrics.items() if k not in ("baselines", "dataset_stats", "reading")}
        st.dataframe(display_safe(key_value_table(shown)), hide_index=True, key="models_metrics_table")
else:
    st.info("This version has no readable metrics.")
with st.expander("Manifest"):
    st.dataframe(display_safe(key_value_table(info.manifest or {})), hide_index=True, key="models_manifest_table")
with st.expander("Parameters"):
    st.dataframe(display_safe(key_value_table(info.params or {})), hide_index=True, key="models_params_table")

a, b, c, d = st.columns(4)
if a.button("Activate", key="models_activate",
            disabled=info.active or bool(info.broken) or guard.blocked("activate"),
            icon=":material/check_circle:", help=guard.tip("activate", "Make this the version Predict uses by default.")):
    try:
        registry.activate(info.name, user=auth.user())
    except UserError as exc:
        st.error(md(exc), icon=":material/error:")
    else:
        st.session_state[FLASH] = f"{md(info.name)} is now the active version."
        st.rerun()
b.download_button(
    "Download (zip)", data=lambda: registry.zip_bytes(info.name), file_name=f"{info.name}.zip",
    mime="application/zip", key="models_download", icon=":material/download:", on_click="ignore",
)
if c.button("Delete…", key="models_delete", icon=":material/delete:", disabled=guard.blocked("delete_version"),
            help=guard.tip("delete_version")):
    st.session_state[CONFIRM] = info.name
d.page_link(PREDICT.path, label="Predict with it", icon=PREDICT.icon)
history.expander(info.name)


def _dismiss() -> None:
    st.session_state.pop(CONFIRM, None)


@st.dialog("Delete model version", on_dismiss=_dismiss)
def confirm_delete(target: str) -> None:
    st.markdown(f"Delete version **{md(target)}** and its files? This cannot be undone.")
    if target == registry.active():
        st.warning("It is the active version: afterwards no version is active.", icon=":material/warning:")
    yes, no = st.columns(2)
    if yes.button("Delete", key="models_delete_confirm", type="primary"):
        try:
            registry.delete(target, user=auth.user())
        except UserError as exc:
            st.error(md(exc))
            return
        MODELS.invalidate(registry.root / target)
        MANIFESTS.invalidate(registry.root / target)
        st.session_state.pop(CONFIRM, None)
        st.session_state[FLASH] = f"Deleted version {md(target)}."
        st.rerun()
    if no.button("Keep it", key="models_delete_cancel"):
        st.session_state.pop(CONFIRM, None)
        st.rerun()


if st.session_state.get(CONFIRM) in names:
    confirm_delete(st.session_state[CONFIRM])
