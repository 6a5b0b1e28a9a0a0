"""Accepted routings: the routing store, what changed against a candidate, output profiles and
export targets, and learning from them.

- `diff`: `routing_diff(candidate, accepted)`, the changes step by step, and `describe`;
- `store`: `AcceptedStore` (`<data home>/accepted/routings.json`), `Draft`, `AcceptedRouting`;
- `profiles`: `Profile`, `ProfileStore` (`<data home>/profiles/`), `apply_profile`;
- `exporters`: CSV, Excel, JSON and the database staging insert;
- `learning`: `acceptance_by_version`, `with_accepted` (a dataset including them).
"""

from routing_core.accepted.diff import describe, routing_diff
from routing_core.accepted.exporters import FILE_EXPORTS, StagingInsert, file_export
from routing_core.accepted.learning import acceptance_by_version, store_with_accepted, with_accepted
from routing_core.accepted.profiles import Profile, ProfileStore, apply_profile, profile_from_json
from routing_core.accepted.store import (
    AcceptedRouting,
    AcceptedStore,
    Draft,
    clean_steps,
    ops_frame,
)

__all__ = [
    "FILE_EXPORTS", "AcceptedRouting", "AcceptedStore", "Draft", "Profile", "ProfileStore", "StagingInsert",
    "acceptance_by_version", "apply_profile", "clean_steps", "describe", "file_export", "ops_frame",
    "profile_from_json", "routing_diff", "store_with_accepted", "with_accepted",
]
