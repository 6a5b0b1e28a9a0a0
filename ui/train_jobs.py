"""The Train page's jobs: who started each, the queue, cancelling, and opening a job's result.

The job a session follows is also in the page's address (`?job=<id>`), so a reload, or the link
sent to a colleague, opens the same job with its result.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from routing_core.platform.errors import UserError
from ui import auth, guard, loaders
from ui.text import md

PARAM = "job"


def follow(key: str) -> None:
    """A job named in the address becomes the one this session follows (after a reload, too); a
    job the session follows is put back in the address when a visit to another page dropped it,
    so a reload still finds it."""
    wanted = st.query_params.get(PARAM)
    if wanted and not st.session_state.get(key):
        st.session_state[key] = wanted
    elif st.session_state.get(key) and wanted != st.session_state[key]:
        st.query_params[PARAM] = st.session_state[key]


def restore_dataset(manager, key: str) -> None:
    """A session that follows a job (a reload with `?job=`) and has not picked a dataset yet starts
    at that job's dataset, unless the address names one."""
    job_id = st.session_state.get(key)
    if not job_id or st.session_state.get(loaders.CURRENT_DATASET) or st.query_params.get(loaders.DATASET_PARAM):
        return
    try:
        dataset = manager.get(job_id).get("dataset")
    except (UserError, KeyError):
        return
    if dataset:
        st.session_state[loaders.CURRENT_DATASET] = dataset


def open_job(key: str, job_id: str) -> None:
    """Follow `job_id` from now on, in the session and in the address."""
    st.session_state[key] = job_id
    st.query_params[PARAM] = job_id


def forget(key: str) -> None:
    """The followed job is gone: stop following it."""
    st.session_state.pop(key, None)
    st.query_params.pop(PARAM, None)


def owner(job: dict) -> str:
    return str(job.get("owner") or "unknown")


def started_by(job: dict) -> str:
    """" · started by **ana**" for a job's first line."""
    return f" · started by **{md(owner(job))}**"


def where_runs(job: dict) -> None:
    """Which worker of the cluster runs a job, or that it waits for one."""
    if job.get("state") == "running" and job.get("worker"):
        st.caption(f"Running on worker **{md(job['worker'])}**.")
    elif job.get("state") == "pending" and job.get("scheduler"):
        st.caption(f"Waiting for a free worker of the cluster at {md(job['scheduler'])}.")


def queue_place(manager, job: dict) -> None:
    """A waiting job's place in the queue and, when known, its estimated start."""
    if job.get("state") != "pending":
        return
    try:
        place, start = manager.queue_position(job["job_id"])
    except (UserError, KeyError):
        return
    if not place:
        return
    text = "Next in the queue" if place == 1 else f"Place {place} in the queue"
    if start:
        moment = datetime.fromtimestamp(float(start), UTC)
        wait = max(0, round((moment - datetime.now(UTC)).total_seconds() / 60))
        text += f", estimated start {moment:%H:%M} UTC (in about {wait} min)"
    st.caption(text + ".")


def cancel_button(manager, job: dict, key: str) -> None:
    """Cancel, for the job's owner and admins; others see it disabled with who may."""
    who = str(job.get("owner") or "")  # a job of no known owner is another's: an admin's to cancel
    if st.button("Cancel", key=key, icon=":material/cancel:", disabled=guard.blocked("cancel_own", who),
                 help=guard.tip("cancel_own", owner=who)):
        try:
            manager.cancel(job["job_id"], user=auth.user())
        except UserError as exc:
            st.error(md(exc), icon=":material/error:")
        else:
            st.toast("Cancelling…", icon=":material/cancel:")


def cancelled(job: dict) -> str:
    by = job.get("cancelled_by")
    return f"Cancelled by {md(by)}: no version was written." if by else "Cancelled: no version was written."


def make_active(version: str, key: str) -> None:
    """"Make active" for a finished training's version, for those allowed."""
    registry = loaders.registry()
    if not registry.exists(version):
        st.caption(f"Version {md(version)} has been deleted since.")
        return
    active = registry.active() == version
    if st.button("Make active", key=key, icon=":material/check_circle:",
                 disabled=active or guard.blocked("activate"),
                 help="It is the active version." if active else
                 guard.tip("activate", "Make it the version Predict uses by default.")):
        try:
            registry.activate(version, user=auth.user())
        except UserError as exc:
            st.error(md(exc), icon=":material/error:")
        else:
            st.toast(f"{md(version)} is now the active version.", icon=":material/check_circle:")
            st.rerun()


def open_selected(event, recent: list[dict], key: str) -> None:
    """A row picked in the recent jobs opens that job above (its progress or its result)."""
    rows = [r for r in event.selection.rows if r < len(recent)]
    if rows and recent[rows[0]]["job_id"] != st.session_state.get(key):
        open_job(key, recent[rows[0]]["job_id"])
        st.rerun()
