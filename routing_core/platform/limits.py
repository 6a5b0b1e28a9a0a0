"""Limits on what one file may expand to, and on the state files of the models and data folders.

Every limit has a default sized for the machine the studio is built for (2 cores, 24 GB of
memory shared by the dashboard, its training worker and the command line) and can be changed
with its environment variable, read each time a limit is checked. The defaults, their units and
why they have those values are the fields of `routing_core.platform.settings.Settings` (the
README's table of settings is printed from them).

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

from dataclasses import dataclass

from routing_core.platform.errors import UserError
from routing_core.platform.settings import Settings, env_name, setting


@dataclass(frozen=True)
class Setting:
    """A figure held by one field of `Settings`: what it counts, its default and value in force."""

    what: str
    name: str

    @property
    def env(self) -> str:
        """The environment variable that changes it."""
        return env_name(self.name)

    @property
    def default(self):
        return Settings.model_fields[self.name].default

    @property
    def value(self):
        """The figure in force; UserError naming the variable when it is set to something unusable."""
        return setting(self.name)


class Limit(Setting):
    """One limit on a count."""

    def check(self, found: int, where: str, detail: str = "") -> None:
        """UserError if `found` is over the limit: names the limit, the figure and the variable."""
        limit = self.value
        if found > limit:
            raise UserError(
                f"{where} has {found:,} {self.what}{detail}; the limit is {limit:,} "
                f"(set {self.env} to change it). Nothing was stored."
            )


MAX_ROWS = Limit("rows", "max_rows")
MAX_COLUMNS = Limit("columns", "max_columns")
MAX_CELLS = Limit("cells (rows × columns)", "max_cells")
MAX_DECODED_BYTES = Limit("bytes once decoded", "max_decoded_bytes")
MAX_ROW_GROUPS = Limit("row groups", "max_row_groups")
MAX_LINE_BYTES = Limit("bytes in one line", "max_line_bytes")
MAX_PARQUET_METADATA = Limit("bytes of metadata", "max_parquet_metadata")
MAX_ITEMS = Limit("distinct items", "max_items")
MAX_PROCESS_CODES = Limit("distinct process codes", "max_process_codes")
MAX_STATE_BYTES = Limit("bytes", "max_state_bytes")
MAX_JOB_RECORD_BYTES = Limit("bytes", "max_job_record_bytes")
MAX_STATE_DEPTH = Limit("levels of nesting", "max_state_depth")


class MemoryLimit(Setting):
    """A limit in GB (2³⁰ bytes, fractions allowed)."""

    @property
    def default_gb(self) -> float:
        return self.default

    @property
    def bytes(self) -> int:
        return int(self.value * (1 << 30))


def gb_text(gb: float) -> str:
    """A number of GB as people write it: 12, 0.4, 1.25."""
    return f"{round(gb, 2):g}"


TRAIN_MEMORY_GB = MemoryLimit("memory of the training worker", "train_memory_gb")

# The most candidates a version is trained to show per item: a record asking for more is refused
# when read, so a training asking for more is refused before it starts.
MAX_TOP_K = 1000

ALL = (MAX_ROWS, MAX_COLUMNS, MAX_CELLS, MAX_DECODED_BYTES, MAX_ROW_GROUPS, MAX_LINE_BYTES, MAX_PARQUET_METADATA,
       MAX_ITEMS, MAX_PROCESS_CODES,
       MAX_STATE_BYTES, MAX_JOB_RECORD_BYTES, MAX_STATE_DEPTH)
