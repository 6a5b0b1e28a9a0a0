"""Train: start a training (or a dry run) of a stored dataset and watch it live, also after a reload."""

from __future__ import annotations

import streamlit as st

from routing_core.engine.jobs import FINAL_STATES
from routing_core.engine.train_request import TrainRequest, plan_version_name
from routing_core.platform.errors import UserError
from routing_core.platform.export import display_safe
from routing_core.platform.limits import gb_text
from routing_core.scoring.evaluation import holdout_warning
from routing_core.scoring.holdout import describe_split
from ui import auth, frame, guard, loaders, train_jobs
from ui.empty import empty_state
from ui.metrics import metrics as metric_row
from ui.nav import MODELS, UPLOAD
from ui.text import md, pct, points, times

frame.page()

JOB = "train_job"  # session key: the job this session started
POLLING = "train_polling"  # session key: the live view was refreshing itself
SHOWN_ACTIVE = 3

st.title("Train a model")
manager = loaders.job_manager()
train_jobs.follow(JOB)
train_jobs.restore_dataset(manager, JOB)
record = loaders.pick_dataset("train_dataset")
if record is None:
    empty_state("There is no dataset to train on. Upload a routing export (or use the sample data) first.",
                UPLOAD, "Go to Upload")
    st.stop()
st.caption(f"{record.items:,} items, {record.rows:,} operations, {record.processes:,} processes.")

left, right = st.columns(2)
version = left.text_input(
    "Version name", key="train_version", max_chars=64, placeholder="automatic, e.g. v20261126-031522",
    help="Letters, digits, '.', '_' or '-'. Leave empty for a name from the current time.",
)
right.toggle("Dry run: plan only, write no version", key="train_dry_run",
             help="Validates the data, profiles it and estimates the training time.")
try:
    dated = loaders.date_columns_of(record)
except UserError as exc:  # a damaged dataset: said here; a training of it fails with the same reason
    dated = []
    st.error(md(f"This dataset cannot be read: {exc}"), icon=":material/error:")
a, b, c = st.columns(3)
test_size = a.slider("Test share (held-out items)", 0.05, 0.5, 0.2, 0.05, key="train_test_size")
split, date_column = "random", None
if dated:
    # a dataset with a date column (item creation, valid-from, order date) may be tested on its newest items
    how = st.radio("Hold out", ["random", "newest"], key="train_split", horizontal=True,
                   format_func=lambda s: "a random share of the items" if s == "random"
                   else "the newest items by a date (trained on the past, tested on what came next)")
    if how == "newest":
        split = "newest"
        date_column = st.selectbox("Date column", dated, key="train_date_column",
                                   help="Items without a date stay in training.")
seed = b.number_input("Seed", min_value=0, max_value=2**31 - 1, value=42, step=1, key="train_seed",
                      disabled=split == "newest", help="Orders the random split.")
top_k = c.number_input("Candidates per item (top-K)", min_value=1, max_value=20, value=5, step=1,
                       key="train_top_k")

if st.button("Start", key="train_start", type="primary", icon=":material/play_arrow:",
             disabled=guard.blocked("train"), help=guard.tip("train")):
    request = TrainRequest(
        dataset=record.name,
        version=version.strip() or None,
        dry_run=bool(st.session_state["train_dry_run"]),
        test_size=float(test_size),
        seed=int(seed),
        top_k=int(top_k),
        split=split,
        date_column=date_column,
    )
    try:
        train_jobs.open_job(JOB, manager.submit(request, user=auth.user()))
    except UserError as exc:
        st.error(md(exc), icon=":material/error:")
    else:
        st.toast("Dry run queued." if request.dry_run else "Training queued.", icon=":material/schedule:")


def jobs_to_show() -> list[dict]:
    """This session's job, then any other pending or running job (another tab, analyst or a reload)."""
    shown = []
    job_id = st.session_state.get(JOB)
    if job_id:
        try:
            shown.append(manager.get(job_id))
        except UserError:
            train_jobs.forget(JOB)
    others = [j for j in manager.active() if j["job_id"] != job_id]  # oldest (the running one) first
    return shown + others[:SHOWN_ACTIVE]


def stage_times(history: list[dict], total: float | None) -> str:
    """ "validate 0.1 s · profile 0.3 s · …": how long each stage of a finished job took."""
    ends = [h["at_sec"] for h in history[1:]] + [total if total is not None else history[-1]["at_sec"]]
    return " · ".join(f"{md(h['stage'])} {max(end - h['at_sec'], 0.0):.1f} s" for h, end in zip(history, ends, strict=True))


def shown_version(job: dict) -> str:
    """" of version **v1**" — left out for a dry run without a chosen name (its name is thrown away)."""
    if job.get("dry_run") and not (job.get("request") or {}).get("version"):
        return ""
    return f" of version **{md(job.get('version') or 'automatic')}**"


def show_job(job: dict, primary: bool) -> None:
    """One job: live progress while it runs, its outcome when it is done."""
    kind = "Dry run" if job.get("dry_run") else "Training"
    with st.container(border=True, key=f"train_job_{job['job_id']}"):
        st.markdown(
            f"**{kind}**{shown_version(job)} on dataset **{md(job.get('dataset'))}** · {job['state']}"
            + train_jobs.started_by(job)
        )
        state = job["state"]
        if state in ("pending", "running"):
            stage = job.get("stage") or "waiting"
            progress = float(job.get("progress") or 0.0)
            st.progress(min(int(progress), 100), text=f"{stage} · {progress:.0f} % · {job.get('elapsed_sec') or 0:.0f} s")
            st.caption(md(job.get("message") or ""))
            train_jobs.where_runs(job)
            train_jobs.queue_place(manager, job)
            train_jobs.cancel_button(manager, job, "train_cancel" if primary else f"train_cancel_{job['job_id']}")
        elif state == "completed":
            # The bar stays, full, so the run's end reads like its progress did.
            st.progress(100, text=f"done · 100 % · {job.get('elapsed_sec') or 0:.1f} s")
            if job.get("stages"):
                st.caption("Time per stage: " + stage_times(job["stages"], job.get("elapsed_sec")))
            if job.get("dry_run"):
                show_plan(job.get("result") or {}, job)
            else:
                show_published(job.get("result") or {}, job)
        elif state == "failed":
            st.error(md(job.get("error") or "The training failed."), icon=":material/error:")
        else:
            st.warning(train_jobs.cancelled(job), icon=":material/cancel:")


def _dataset_name(dataset: object) -> object:
    return dataset.get("name") if isinstance(dataset, dict) else dataset


def show_plan(plan: dict, job: dict) -> None:
    st.success(
        f"Dry run finished in {plan.get('planning_sec', 0):.1f} s: no version was written.",
        icon=":material/check_circle:",
    )
    peak, limit = plan.get("estimated_peak_gb"), plan.get("memory_limit_gb")
    shown = [
        ("Items", f"{plan.get('items', 0):,}", f"held out for testing: {plan.get('test_items', 0):,}"),
        ("Operations", f"{plan.get('rows', 0):,}"),
        ("Features", plan.get("features", 0)),
        ("Estimated time", f"{plan.get('estimated_sec', 0):.0f} s"),
    ]
    if isinstance(peak, int | float):
        shown.append(("Estimated peak memory", f"{peak:.1f} GB",
                      f"the training worker's limit: {gb_text(limit)} GB" if isinstance(limit, int | float) else None))
    metric_row(shown)
    if plan.get("memory_warning"):
        st.warning(md(plan["memory_warning"]), icon=":material/memory:")
    few = holdout_warning(plan.get("test_items"))
    if few:
        st.warning(md(few), icon=":material/warning:")
    request = dict(job.get("request") or {})
    # The name typed now (after the plan) wins over the plan's; none: an automatic one at training.
    named = plan_version_name(st.session_state.get("train_version"), request.get("version"))
    taken = bool(named) and (loaders.registry().exists(named) if named != request.get("version")
                             else bool(plan.get("version_taken")))
    if taken:
        st.warning(f"The version name {md(named)} is taken; choose another before training.")
    params = plan.get("params") or {}
    st.markdown(
        f"**The plan.** Dataset **{md(_dataset_name(plan.get('dataset')) or job.get('dataset'))}**: "
        f"{plan.get('items', 0):,} items in {plan.get('rows', 0):,} operations of "
        f"{plan.get('processes', 0):,} processes. {plan.get('train_items', 0):,} items to learn from, "
        f"{plan.get('test_items', 0):,} held out to measure the model (test share {request.get('test_size', 0.2)}, "
        f"{md(describe_split(plan.get('split'), request.get('seed', 42)))}); "
        f"{params.get('top_k', request.get('top_k', 5))} candidates per item. "
        f"The published version is {'named ' + md(named) if named else 'named automatically when it is trained'}."
    )
    with st.expander("What the model will read"):
        st.dataframe(
            display_safe({
                "column": list(plan.get("item_attributes") or []) + list(plan.get("operation_attributes") or []),
                "used as": ["item attribute (the model learns from it)"] * len(plan.get("item_attributes") or [])
                + ["operation attribute (carried onto predicted steps)"] * len(plan.get("operation_attributes") or []),
            }),
            hide_index=True,
        )
        for warning in plan.get("warnings") or []:
            st.caption(md(warning))
    if st.button("Train it now", key=f"train_now_{job['job_id']}", type="primary", icon=":material/play_arrow:",
                 disabled=taken or guard.blocked("train"),
                 help=guard.tip("train", "Start the training this plan describes"
                                + (f", as version {named}." if named else ", named automatically."))):
        try:
            guard.require("train")
            train_jobs.open_job(JOB, manager.submit(
                TrainRequest.from_dict({**request, "dry_run": False, "version": named}), user=auth.user()))
        except UserError as exc:
            st.error(md(exc), icon=":material/error:")
        else:
            st.rerun()


def show_published(result: dict, job: dict) -> None:
    version = result.get("version") or job.get("version")
    metrics = result.get("metrics") or {}
    st.success(
        f"Version **{md(version)}** is ready (in {result.get('training_duration_sec', 0):.1f} s): "
        f"routing accuracy {pct(metrics.get('routing_accuracy'))}, top-3 {pct(metrics.get('top_3_accuracy'))}.",
        icon=":material/check_circle:",
    )
    few = holdout_warning(result.get("test_items"))
    if few:
        st.warning(md(few), icon=":material/warning:")
    if metrics and not metrics.get("beats_baseline", True):
        st.warning(
            f"It is no better than its best baseline ({md(metrics.get('best_baseline'))}: "
            f"routing accuracy {points(metrics.get('lift_over_best'))} against it).",
            icon=":material/warning:",
        )
    st.page_link(MODELS.path, label=f"Open {version} in Models", icon=MODELS.icon,  # a checked name
                 query_params={"version": version})
    train_jobs.make_active(version, f"train_activate_{job['job_id']}")


jobs = jobs_to_show()
active = any(j["state"] not in FINAL_STATES for j in jobs)
st.session_state[POLLING] = active


@st.fragment(run_every=1.0 if active else None)
def live() -> None:
    current = jobs_to_show()
    if not current:
        st.info("No training is running. Choose the options above and press Start.", icon=":material/info:")
    for i, job in enumerate(current):
        show_job(job, primary=i == 0 and job["job_id"] == st.session_state.get(JOB))
    if st.session_state.get(POLLING) and all(j["state"] in FINAL_STATES for j in current):
        # The last job ended: one full rerun stops the polling and refreshes the jobs table and sidebar.
        st.session_state[POLLING] = False
        st.rerun()


st.subheader("Progress")
live()

st.subheader("Recent jobs")
recent = manager.list()[:20]
broken_jobs = manager.broken()
if broken_jobs:
    with st.expander(f"{len(broken_jobs)} job record(s) cannot be read and are left out",
                     icon=":material/warning:"):
        for _, reason in broken_jobs:
            st.caption(md(reason))
if recent:
    picked = st.dataframe(
        display_safe(
            {
                "state": [j["state"] for j in recent],
                "started by": [train_jobs.owner(j) for j in recent],
                "kind": ["dry run" if j.get("dry_run") else "training" for j in recent],
                "dataset": [j.get("dataset") for j in recent],
                "version": [None if j.get("dry_run") and not (j.get("request") or {}).get("version")
                            else j.get("version") for j in recent],
                "progress": [float(j.get("progress") or 0) for j in recent],
                "elapsed (s)": [float(j.get("elapsed_sec") or 0) for j in recent],
                "created": times([j.get("created_at") for j in recent]),
                "message": [j.get("error") or j.get("message") for j in recent],
                "worker": [j.get("worker") for j in recent],
                "job": [j["job_id"] for j in recent],  # last: long, and only needed to tell two apart
            }
        ),
        key="train_jobs",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        column_config={
            "progress": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f %%"),
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss", timezone="UTC"),
            "elapsed (s)": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    st.caption("Pick a row to open that job above: its progress, or its result.")
    train_jobs.open_selected(picked, recent, JOB)
else:
    st.caption("No jobs yet.")
