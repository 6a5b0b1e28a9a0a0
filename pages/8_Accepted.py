"""Accepted: the routings analysts accepted — search, reopen, correct, withdraw, export with an
output profile (CSV, Excel, JSON, or a database staging table), and a dataset that includes them."""

from __future__ import annotations

import json

import streamlit as st

from routing_core import database
from routing_core.accepted import (
    AcceptedStore,
    ProfileStore,
    StagingInsert,
    apply_profile,
    describe,
    file_export,
    profile_from_json,
    store_with_accepted,
)
from routing_core.platform.errors import UserError
from ui import auth, frame, guard, loaders
from ui.empty import empty_state
from ui.metrics import metrics as metric_row
from ui.nav import PREDICT
from ui.routing_editor import edit_routing
from ui.text import md

frame.page()

FLASH = "accepted_flash"
st.title("Accepted routings")
st.caption("The routings analysts accepted, one per item: what the ERP gets and what the next version "
           "learns from.")
if st.session_state.get(FLASH):
    st.toast(st.session_state.pop(FLASH), icon=":material/check_circle:")

store = AcceptedStore(loaders.data_root())
try:
    everything = store.all(include_withdrawn=True)
except UserError as exc:
    st.error(md(exc), icon=":material/error:")
    st.stop()
if not everything:
    empty_state("No routing has been accepted yet. Open a candidate on Predict, edit it and accept it.",
                PREDICT, "Go to Predict")
    st.stop()

live = [r for r in everything if r.status == "accepted"]
metric_row([("Accepted", f"{len(live):,}"),
            ("First candidate unchanged", f"{sum(r.outcome == 'first unchanged' for r in live):,}"),
            ("Changed", f"{sum(r.outcome == 'first changed' for r in live):,}"),
            ("Another picked", f"{sum(r.outcome == 'another picked' for r in live):,}")])

search = st.text_input("Search", key="accepted_search", placeholder="item, process code, version or who accepted")
withdrawn = st.toggle("Show withdrawn", key="accepted_withdrawn")
table = store.frame(search=search, include_withdrawn=withdrawn)
st.caption(f"{len(table):,} routing(s) shown.")
st.dataframe(table, hide_index=True, key="accepted_table",
             column_config={"total (min)": st.column_config.NumberColumn(format="%.1f")})
shown = [r for r in everything if r.item_code in set(table["item_code"])]

why = guard.reason("accept")
opened = st.selectbox("Open a routing", table["item_code"].tolist(), index=None, key="accepted_open",
                      placeholder="Choose an item to read, correct or withdraw")
if opened is not None:
    record = next(r for r in everything if r.item_code == opened)
    with st.container(border=True, key="accepted_detail"):
        score = "" if record.candidate_score is None else f", score {record.candidate_score:.2f}"
        origin = (f"from candidate #{record.candidate_rank} ({record.candidate_kind or 'kind not recorded'}{score}) "
                  f"of version {record.version}" if record.version else "typed by hand")
        st.markdown(f"**{md(record.item_code)}** · {record.status}, revision {record.revision} · {md(origin)} · "
                    f"accepted by {md(record.accepted_by)} at {md(record.accepted_at)}")
        if record.attributes:
            st.caption("Item: " + ", ".join(f"{md(k)} {md(v)}" for k, v in record.attributes.items()))
        attributes = sorted({a for s in [*record.steps, *record.candidate_steps] for a in s["attributes"]})
        codes = sorted({s["process_code"] for s in [*record.steps, *record.candidate_steps]}
                       | {s["process_code"] for r in live for s in r.steps})
        edited = edit_routing(record.steps, f"accepted_editor_{record.item_code}_{record.revision}", codes,
                              attributes, candidate=record.candidate_steps or None,
                              disabled=record.status != "accepted")
        if record.status == "accepted":
            c1, c2 = st.columns(2, vertical_alignment="bottom")
            if c1.button("Save correction", key="accepted_correct", disabled=why is not None or edited is None,
                         help=why or "Store the routing as edited above (its revision counts up)."):
                try:
                    store.correct(record.item_code, edited, user=auth.user())
                except UserError as exc:
                    st.error(md(exc), icon=":material/error:")
                else:
                    st.session_state[FLASH] = f"Corrected the routing of {record.item_code}."
                    st.rerun()
            reason = c2.text_input("Reason to withdraw", key="accepted_withdraw_reason")
            if c2.button("Withdraw", key="accepted_withdraw", disabled=why is not None,
                         help=why or "No longer exported or learned from; kept with its history."):
                try:
                    store.withdraw(record.item_code, user=auth.user(), reason=reason)
                except UserError as exc:
                    st.error(md(exc), icon=":material/error:")
                else:
                    st.session_state[FLASH] = f"Withdrew the routing of {record.item_code}."
                    st.rerun()
        with st.expander("History"):
            for h in record.history:
                st.markdown(f"- {md(h.get('at'))}: {md(h.get('action'))} by {md(h.get('user'))}"
                            + (f" ({md(h['reason'])})" if h.get("reason") else ""))
            if record.changes:
                st.markdown("Changes against the candidate: " + "; ".join(md(describe(c)) for c in record.changes))

# ------------------------------------------------------------------ export
st.subheader("Export with a profile")
profiles = ProfileStore(loaders.data_root())
try:
    profiles.ensure_example()
    names = profiles.names()
except (UserError, OSError) as exc:
    st.error(md(exc), icon=":material/error:")
    st.stop()
exported = [r for r in shown if r.status == "accepted"]
st.caption(f"The {len(exported):,} accepted routing(s) shown above (withdrawn ones are never exported), "
           "one row per step.")
name = st.selectbox("Output profile", names, key="accepted_profile")
try:
    profile = profiles.get(name)
    rows = apply_profile(exported, profile)
except UserError as exc:
    st.error(md(exc), icon=":material/error:")
    profile, rows = None, None
if profile is not None:
    st.caption(f"Operations numbered from {profile.op_start} by {profile.op_step}; times in {profile.time_unit}; "
               f"CSV delimited by {profile.delimiter!r} in {profile.encoding}.")
    st.dataframe(rows.head(200), hide_index=True, key="accepted_rows")
    cols = st.columns(3)
    for col, kind, label in zip(cols, ("csv", "xlsx", "json"), ("Download CSV", "Download Excel", "Download JSON"),
                                strict=True):
        target = file_export(kind)
        try:
            data = target.data(rows, profile)
        except UserError as exc:
            col.error(md(exc), icon=":material/error:")
            continue
        col.download_button(label, data=data, file_name=f"routings_{profile.name}{target.suffix}", mime=target.mime,
                            key=f"accepted_download_{kind}", icon=":material/download:", on_click="ignore",
                            disabled=not len(rows))
    with st.expander("To a database staging table"):
        try:
            staged = [s for s in database.connections(loaders.data_root()).values() if s.staging_table]
        except UserError as exc:
            st.error(md(exc), icon=":material/error:")
            staged = []
        if not staged:
            st.caption("No connection names a staging table. Add `staging_table = \"…\"` to a [connections.NAME] "
                       "entry of the secrets file (see the README); it is the only table Routing Studio writes to.")
        else:
            conn = st.selectbox("Connection", [s.name for s in staged], key="accepted_connection")
            spec = next(s for s in staged if s.name == conn)
            target = StagingInsert(spec)
            st.info(target.plan(rows, len(exported)), icon=":material/info:")
            db_why = guard.reason("export_database")
            sure = st.checkbox("Write these rows", key="accepted_db_confirm", disabled=db_why is not None)
            if st.button("Insert into the staging table", key="accepted_db_write", type="primary",
                         disabled=db_why is not None or not sure or not len(rows), help=db_why):
                try:
                    done = target.insert(rows, user=auth.user(), routings=len(exported), home=loaders.data_root())
                except UserError as exc:
                    st.error(md(exc), icon=":material/error:")
                else:
                    st.success(f"Inserted {done:,} row(s) into {spec.staging_table} of '{spec.name}'.",
                               icon=":material/check_circle:")
    with st.expander("Profiles"):
        st.caption("A profile maps the routing's fields onto the ERP's columns. Fields: item_code, operation, seq, "
                   "process_code, time, time_unit, version, candidate_rank, accepted_by, accepted_at, revision, or "
                   "any attribute name; a column may hold a constant instead.")
        text = st.text_area("Profile (JSON)", value=json.dumps(profile.to_json(), indent=1, ensure_ascii=False),
                            height=240, key=f"accepted_profile_json_{name}")
        if st.button("Save profile", key="accepted_profile_save", disabled=why is not None,
                     help=why or "Save under the name the JSON gives (a new name makes a new profile)."):
            try:
                saved = profiles.save(profile_from_json(json.loads(text)), user=auth.user())
            except json.JSONDecodeError as exc:
                st.error(f"Not valid JSON: {md(exc)}", icon=":material/error:")
            except UserError as exc:
                st.error(md(exc), icon=":material/error:")
            else:
                st.session_state[FLASH] = f"Saved profile {saved.name}."
                st.rerun()

# ------------------------------------------------------------------ learn
st.subheader("Learn from them")
records = loaders.datasets()
if records:
    c1, c2 = st.columns(2, vertical_alignment="bottom")
    base = c1.selectbox("Dataset to add them to", [r.name for r in records], key="accepted_base")
    new_name = c2.text_input("New dataset name", value=f"{base}-accepted"[:64], key="accepted_new_name")
    st.caption("Each accepted routing replaces its item's routing in a copy of the dataset, or adds the item; "
               "a version trained on the copy records how many it used.")
    up_why = guard.reason("upload")
    if st.button("Make the dataset", key="accepted_make_dataset", disabled=up_why is not None or not live,
                 help=up_why):
        try:
            rec, used = store_with_accepted(loaders.data_root(), base, new_name, user=auth.user())
        except UserError as exc:
            st.error(md(exc), icon=":material/error:")
        else:
            st.success(f"Stored dataset {md(rec.name)} with {used:,} accepted routing(s): train on it on the "
                       "Train page.", icon=":material/check_circle:")
