"""Limits on what one file may expand to, and on the state files of the models and data folders.

Every limit has a default sized for the machine the studio is built for (2 cores, 24 GB of
memory shared by the dashboard, its training worker and the command line) and can be changed
with the environment variable named beside it, read each time a limit is checked:

| limit | default | variable | why |
|---|---|---|---|
| rows of one file | 10,000,000 | ROUTING_MAX_ROWS | a file of that many rows is read and profiled within the machine's memory |
| columns of one file | 20,000 | ROUTING_MAX_COLUMNS | wide exports of 10,000 columns are read |
| cells (rows × columns) | 200,000,000 | ROUTING_MAX_CELLS | a frame of that size is 1.6 GB of numbers |
| decoded bytes of one file | 1 GiB | ROUTING_MAX_DECODED_BYTES | Parquet columns as decoded, text after re-encoding; a frame takes 2–3 times that |
| row groups of one Parquet file | 10,000 | ROUTING_MAX_ROW_GROUPS | each costs its metadata and a read; writers make groups of 10⁵–10⁶ rows |
| bytes of one line of a CSV | 4 MiB | ROUTING_MAX_LINE_BYTES | a row (and so a cell) longer than that is no routing export |
| bytes of a Parquet file's metadata | 32 MiB | ROUTING_MAX_PARQUET_METADATA | the footer is parsed whole before anything else |
| distinct items | 2,000,000 | ROUTING_MAX_ITEMS | one item table row each, in every model |
| distinct process codes | 200,000 | ROUTING_MAX_PROCESS_CODES | the model keeps the 2,000 most widespread and pools the rest; more is no routing export |
| bytes of a state file | 16 MiB | ROUTING_MAX_STATE_BYTES | manifest, metrics, job and dataset records |
| bytes of a training job record | 1 MiB | ROUTING_MAX_JOB_RECORD_BYTES | every page reads every record; one is a few KB |
| nesting of a state file | 64 | ROUTING_MAX_STATE_DEPTH | the deepest record written is 6 levels |
| memory of the training worker | 12 GB | ROUTING_TRAIN_MEMORY_GB | half the machine, several times a large training's measured peak (docs/benchmarks.md) |

A file over a limit is refused with one message naming the limit, the figure found and the
variable that raises it; nothing is stored. The figures are found before the file is parsed:
Parquet from its footer and metadata (row groups, rows, uncompressed bytes), CSV from its size
and a count of its lines (a streaming count of its rows when the lines are over a limit), so a
file is refused without taking the memory it would decode to. Stored datasets are read back under
the same limits; a device or FIFO given as a file is refused without reading it.

The memory limit (GB of 2³⁰ bytes, fractions allowed) is the data segment (`RLIMIT_DATA`) the
training worker sets on itself when it starts: a job that needs more ends `failed` with "ran out
of the memory limit (N GB)", and a dry run whose estimated peak passes it warns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from routing_core.platform.errors import UserError


@dataclass(frozen=True)
class Limit:
    """One limit: what it counts, its default and the environment variable that overrides it."""

    what: str
    default: int
    env: str

    @property
    def value(self) -> int:
        raw = os.environ.get(self.env, "").strip().replace("_", "")
        if not raw:
            return self.default
        try:
            value = int(float(raw))
        except ValueError:
            raise UserError(f"{self.env}={raw!r} is not a whole number.") from None
        if value < 1:
            raise UserError(f"{self.env} must be 1 or more (got {value}).")
        return value

    def check(self, found: int, where: str, detail: str = "") -> None:
        """UserError if `found` is over the limit: names the limit, the figure and the variable."""
        limit = self.value
        if found > limit:
            raise UserError(
                f"{where} has {found:,} {self.what}{detail}; the limit is {limit:,} "
                f"(set {self.env} to change it). Nothing was stored."
            )


MAX_ROWS = Limit("rows", 10_000_000, "ROUTING_MAX_ROWS")
MAX_COLUMNS = Limit("columns", 20_000, "ROUTING_MAX_COLUMNS")
MAX_CELLS = Limit("cells (rows × columns)", 200_000_000, "ROUTING_MAX_CELLS")
MAX_DECODED_BYTES = Limit("bytes once decoded", 1 << 30, "ROUTING_MAX_DECODED_BYTES")
MAX_ROW_GROUPS = Limit("row groups", 10_000, "ROUTING_MAX_ROW_GROUPS")
MAX_LINE_BYTES = Limit("bytes in one line", 4 << 20, "ROUTING_MAX_LINE_BYTES")
MAX_PARQUET_METADATA = Limit("bytes of metadata", 32 << 20, "ROUTING_MAX_PARQUET_METADATA")
MAX_ITEMS = Limit("distinct items", 2_000_000, "ROUTING_MAX_ITEMS")
MAX_PROCESS_CODES = Limit("distinct process codes", 200_000, "ROUTING_MAX_PROCESS_CODES")
MAX_STATE_BYTES = Limit("bytes", 16 << 20, "ROUTING_MAX_STATE_BYTES")
MAX_JOB_RECORD_BYTES = Limit("bytes", 1 << 20, "ROUTING_MAX_JOB_RECORD_BYTES")
MAX_STATE_DEPTH = Limit("levels of nesting", 64, "ROUTING_MAX_STATE_DEPTH")


@dataclass(frozen=True)
class MemoryLimit:
    """A limit in GB (2³⁰ bytes, fractions allowed) and the environment variable that overrides it."""

    what: str
    default_gb: float
    env: str

    @property
    def value(self) -> float:
        """The limit in GB; UserError naming the variable when it is set to something unusable."""
        raw = os.environ.get(self.env, "").strip().replace("_", "")
        if not raw:
            return self.default_gb
        try:
            value = float(raw)
        except ValueError:
            raise UserError(f"{self.env}={raw!r} is not a number of GB.") from None
        if not 0 < value < 1 << 20:  # also refuses nan and inf
            raise UserError(f"{self.env} must be a number of GB above 0 (got {raw!r}).")
        return value

    @property
    def bytes(self) -> int:
        return int(self.value * (1 << 30))


def gb_text(gb: float) -> str:
    """A number of GB as people write it: 12, 0.4, 1.25."""
    return f"{round(gb, 2):g}"


TRAIN_MEMORY_GB = MemoryLimit("memory of the training worker", 12.0, "ROUTING_TRAIN_MEMORY_GB")

ALL = (MAX_ROWS, MAX_COLUMNS, MAX_CELLS, MAX_DECODED_BYTES, MAX_ROW_GROUPS, MAX_LINE_BYTES, MAX_PARQUET_METADATA,
       MAX_ITEMS, MAX_PROCESS_CODES,
       MAX_STATE_BYTES, MAX_JOB_RECORD_BYTES, MAX_STATE_DEPTH)
