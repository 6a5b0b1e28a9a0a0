"""Cache: what the manifest cache and the loaded-model cache hold; clear them with one button."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from routing_core import manifest
from ui import auth, frame, guard, loaders
from ui.empty import empty_state
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
a, b, c, d = st.columns(4)
a.metric("Manifests cached", manifests["size"])
b.metric("Manifest hits / misses", f"{manifests['hits']} / {manifests['misses']}")
c.metric("Models loaded", models["size"])
d.metric("Model hits / misses", f"{models['hits']} / {models['misses']}")

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
    dropped = manifest.MANIFESTS.invalidate(path) + manifest.MODELS.invalidate(path)
    st.session_state["cache_flash"] = f"{md(version)}: {dropped} cache entr{'y' if dropped == 1 else 'ies'} dropped."
    st.rerun()
