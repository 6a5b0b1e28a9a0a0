"""Cache: what the manifest cache and the loaded-model cache hold; clear them with one button."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from routing_core.versions import manifest
from ui import auth, frame, guard, loaders
from ui.empty import empty_state
from ui.metrics import metrics as metric_row
from ui.nav import TRAIN
from ui.text import md

frame.page()

st.title("Manifest cache")
st.caption(
    "Parsed manifests and loaded models are kept in memory and refresh by themselves when a "
    "manifest file changes. After touching model files by hand, clear them here."
)

if st.session_state.get("cache_flash"):
    st.toast(st.session_state.pop("cache_flash"), icon=":material/delete_sweep:")
INVALIDATED = "cache_invalidated"  # what the last "Invalidate" dropped, shown until the next action


def of(entry: dict, folder: Path) -> bool:
    """Whether a cache entry (a version folder, or a manifest file in it) belongs to this folder."""
    path = Path(entry["path"])
    return path == folder or path.parent == folder

if st.button("Clear the cache", key="cache_clear", type="primary", icon=":material/delete_sweep:",
             disabled=guard.blocked("clear_cache"),
             help=guard.tip("clear_cache", "Forget every parsed manifest and every loaded model; they reload on next use.")):
    cleared = manifest.clear_all(user=auth.user())
    st.toast(
        f"Cache cleared: {cleared['manifests']} manifest(s) and {cleared['models']} loaded model(s).",
        icon=":material/delete_sweep:",
    )

manifests = manifest.MANIFESTS.stats()
models = manifest.MODELS.stats()
metric_row([
    ("Manifests cached", manifests["size"]),
    ("Manifest hits / misses", f"{manifests['hits']} / {manifests['misses']}"),
    ("Models loaded", models["size"]),
    ("Model hits / misses", f"{models['hits']} / {models['misses']}"),
])

st.subheader("Manifests")
if manifests["entries"]:
    st.dataframe(
        pd.DataFrame(manifests["entries"])[["version", "hits", "age_sec", "loaded_at", "path"]],
        hide_index=True, column_config={"age_sec": st.column_config.NumberColumn("age (s)", format="%.1f")},
    )
else:
    st.caption("No manifest is cached.")
st.subheader("Loaded models")
if models["entries"]:
    st.dataframe(
        pd.DataFrame(models["entries"])[["version", "hits", "age_sec", "loaded_at", "manifest_sha256", "path"]],
        hide_index=True, column_config={"age_sec": st.column_config.NumberColumn("age (s)", format="%.1f")},
    )
else:
    st.caption("No model is loaded.")

st.subheader("One version")
registry = loaders.registry()
names = registry.names()
if not names:
    empty_state("No model version yet, so nothing of this models folder is cached. Train one first.",
                TRAIN, "Go to Train")
    st.stop()
left, right = st.columns([3, 1], vertical_alignment="bottom")
version = left.selectbox("Version", sorted(names), key="cache_version")
if right.button("Invalidate", key="cache_invalidate", icon=":material/refresh:", disabled=guard.blocked("clear_cache"),
                help=guard.tip("clear_cache", "Forget this version's manifest and loaded model only.")):
    path = registry.root / version
    before = {kind: [e["loaded_at"] for e in cache.stats()["entries"] if of(e, path)]
              for kind, cache in (("manifest", manifest.MANIFESTS), ("model", manifest.MODELS))}
    dropped = manifest.clear_version(path, user=auth.user())
    st.session_state["cache_flash"] = f"{md(version)}: {dropped} cache entr{'y' if dropped == 1 else 'ies'} dropped."
    st.session_state[INVALIDATED] = {"version": version, "path": str(path), "dropped": dropped, "before": before}
    st.rerun()

done = st.session_state.get(INVALIDATED)
if done and done["version"] in names:
    kinds = [k for k, v in done["before"].items() if v]
    st.success(
        f"Invalidated **{md(done['version'])}**: {done['dropped']} entr{'y' if done['dropped'] == 1 else 'ies'} "
        f"dropped ({', '.join(kinds) or 'nothing was cached'}).", icon=":material/check_circle:")
    again = [e["loaded_at"] for e in manifests["entries"] if of(e, Path(done["path"]))]
    lines = []
    if again:
        lines.append(f"Its manifest was read again from disk at once (the sidebar and the versions list use it): "
                     f"loaded at {md(again[0])}"
                     + (f", where the dropped one was loaded at {md(done['before']['manifest'][0])}."
                        if done["before"]["manifest"] else "."))
    if not [e for e in models["entries"] if of(e, Path(done["path"]))]:
        lines.append("Its model is no longer in memory; it loads again, hash-checked, on its next prediction.")
    for line in lines:
        st.caption(line)
