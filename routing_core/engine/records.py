"""The job record (`jobs/<id>.json`) as the studio reads it: a training job's state, its request and,
once finished, its result, field by field with ranges for numbers (routing_core.platform.statefile)."""

from typing import Annotated, Any

from pydantic import Field, StrictInt

from routing_core.platform.limits import MAX_TOP_K
from routing_core.platform.statefile import Count, Flag, StateRecord, Text, number

Seconds = number(low=0)
Gigabytes = number(low=0)
TopK = Annotated[StrictInt, Field(ge=1, le=MAX_TOP_K)]


class ResultMetrics(StateRecord):
    """The figures a finished job shows beside its version."""

    routing_accuracy: number(-1, 1) | None = None
    top_3_accuracy: number(-1, 1) | None = None
    lift_over_best: number(-1, 1) | None = None
    beats_baseline: Flag | None = None
    best_baseline: Text | None = None


class PlannedDataset(StateRecord):
    name: Text | None = None


class ResultParams(StateRecord):
    top_k: TopK | None = None


class JobResult(StateRecord):
    """What a finished job's result holds: a dry run's plan or a published version's summary."""

    version: Text | None = None
    metrics: ResultMetrics | None = None
    items: Count | None = None
    rows: Count | None = None
    processes: Count | None = None
    train_items: Count | None = None
    test_items: Count | None = None
    features: Count | None = None
    training_duration_sec: Seconds | None = None
    planning_sec: Seconds | None = None
    estimated_sec: Seconds | None = None
    estimated_peak_gb: Gigabytes | None = None
    memory_limit_gb: Gigabytes | None = None
    memory_warning: Text | None = None
    version_taken: Flag | None = None
    params: ResultParams | None = None
    dataset: PlannedDataset | Text | None = None  # a plan: an object; a published version: its name
    item_attributes: list[Text] | None = None
    operation_attributes: list[Text] | None = None
    warnings: list[Text] | None = None


class JobRequest(StateRecord):
    dataset: Text | None = None
    version: Text | None = None
    test_size: number(0, 1) | None = None
    seed: StrictInt | None = None
    top_k: TopK | None = None


class JobRecord(StateRecord):
    """The fields of a job record the studio reads."""

    job_id: Text
    state: Text
    stage: Text | None = None
    progress: number(0, 100) | None = None  # percent
    message: Text | None = None
    dry_run: Flag | None = None
    version: Text | None = None
    dataset: Text | None = None
    request: JobRequest | None = None
    created_at: Text | None = None
    created_ts: Seconds | None = None
    started_ts: Seconds | None = None
    finished_ts: Seconds | None = None
    elapsed_sec: Seconds | None = None
    pid: StrictInt | None = None
    cancel_requested: Flag | None = None
    result: JobResult | None = None
    error: Text | None = None
    stages: list[Any] | None = None
    owner: Text | None = None
    cancelled_by: Text | None = None
    host: Text | None = None
    heartbeat_ts: Seconds | None = None  # written by builds with leases; still read in their records
    published: Flag | None = None  # its version renamed into place (worker.publishing)
    scheduler: Text | None = None
    worker: Text | None = None
    attempts: Count | None = None

