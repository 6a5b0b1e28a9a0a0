"""Routing exports as datasets, one concern a module:

- `tables`: RawTable (a file as read) and Dataset (the canonical operations table);
- `reading`: bytes or a path to a RawTable (CSV sniffing and streaming; `parquet` for Parquet);
- `eventlog`: an event log (case, activity, timestamps) recognised and read as routings;
- `normalising`: RawTable + mapping to a Dataset (checks and dirt warnings);
- `batch`: items to predict from a file, every row accounted for;
- `profiling`: counts and classifications of a table grouped by item (imports no sibling);
- `stats`: a dataset's statistics and missing rates, as the Dataset page and `stats` show them;
- `store`: DatasetStore, the stored datasets with their records and statistics.

The names below are those the rest of the code imports from `routing_core.datasets`.
"""

from routing_core.datasets.batch import read_items
from routing_core.datasets.normalising import load_dataset, normalise, read_routings
from routing_core.datasets.profiling import item_table
from routing_core.datasets.reading import read_table
from routing_core.datasets.store import DatasetRecord, DatasetStore, data_home
from routing_core.datasets.tables import Dataset, RawTable

__all__ = ["Dataset", "DatasetRecord", "DatasetStore", "RawTable", "data_home", "item_table",
           "load_dataset", "normalise", "read_items", "read_routings", "read_table"]
