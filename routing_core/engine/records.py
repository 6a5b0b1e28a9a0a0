"""Schemas of the records pages read beside their own modules' (routing_core.platform.statefile.Field): what
a training job's request and result may hold, field by field, with ranges for numbers."""

from __future__ import annotations

from routing_core.platform.statefile import NUMBER, TEXT, Field

_WHEN = (*NUMBER, None)
_OPTIONAL_TEXT = (str, None)
_COUNT = (int, None)
_SECONDS = Field(_WHEN, low=0)
# What a finished job's result holds: a dry run's plan or a published version's summary.
RESULT_FIELDS = {
    "version": Field(_OPTIONAL_TEXT),
    "metrics": Field((dict, None), inner={
        **{k: Field(_WHEN, low=-1, high=1) for k in ("routing_accuracy", "top_3_accuracy", "lift_over_best")},
        "beats_baseline": Field((bool, None)), "best_baseline": Field(_OPTIONAL_TEXT)}),
    **{k: Field(_COUNT, low=0) for k in ("items", "rows", "processes", "train_items", "test_items", "features")},
    **{k: _SECONDS for k in ("training_duration_sec", "planning_sec", "estimated_sec", "estimated_peak_gb",
                             "memory_limit_gb")},
    "memory_warning": Field(_OPTIONAL_TEXT),
    "version_taken": Field((bool, None)),
    "params": Field((dict, None), inner={"top_k": Field(_COUNT, low=1, high=1000)}),
    "dataset": Field((dict, str, None), inner={"name": Field(_OPTIONAL_TEXT)}),  # a plan: an object
    **{k: Field((list, None), each=TEXT) for k in ("item_attributes", "operation_attributes", "warnings")},
}
REQUEST_FIELDS = {
    "dataset": Field(_OPTIONAL_TEXT), "version": Field(_OPTIONAL_TEXT),
    "test_size": Field(_WHEN, low=0, high=1), "seed": Field(_COUNT), "top_k": Field(_COUNT, low=1, high=1000),
}

# The fields of a job record the studio reads, with the JSON types each may hold.
JOB_FIELDS = {
    "job_id": Field(TEXT, required=True),
    "state": Field(TEXT, required=True),
    "stage": Field(_OPTIONAL_TEXT),
    "progress": Field(_WHEN, low=0, high=100),  # percent
    "message": Field(_OPTIONAL_TEXT),
    "dry_run": Field((bool, None)),
    "version": Field(_OPTIONAL_TEXT),
    "dataset": Field(_OPTIONAL_TEXT),
    "request": Field((dict, None), inner=REQUEST_FIELDS),
    "created_at": Field(_OPTIONAL_TEXT),
    "created_ts": _SECONDS,
    "started_ts": _SECONDS,
    "finished_ts": _SECONDS,
    "elapsed_sec": _SECONDS,
    "pid": Field((int, None)),
    "cancel_requested": Field((bool, None)),
    "result": Field((dict, None), inner=RESULT_FIELDS),
    "error": Field(_OPTIONAL_TEXT),
    "stages": Field((list, None)),
    "owner": Field(_OPTIONAL_TEXT),
    "cancelled_by": Field(_OPTIONAL_TEXT),
    "host": Field(_OPTIONAL_TEXT),
    "heartbeat_ts": _SECONDS,  # written by builds with leases; still read in their records
    "published": Field((bool, None)),  # its version renamed into place (worker.publishing)
    "scheduler": Field(_OPTIONAL_TEXT),
    "worker": Field(_OPTIONAL_TEXT),
    "attempts": Field((int, None), low=0),
}
