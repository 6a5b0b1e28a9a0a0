"""The bundled SQLite database behind the `sample` connection, built from the sample data."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from routing_core.database.connections import sample_spec
from routing_core.mapping.schema import ITEM

ITEM_COLUMNS = ("item_code", "part_type", "material", "outer_diameter_mm", "length_mm", "weight_kg",
                "tolerance_class", "surface_treatment", "heat_treated", "threaded")
ROUTING_COLUMNS = ("item_code", "seq", "process_code", "duration_min", "work_center", "outsourced")
_build_lock = threading.Lock()


def ensure_sample_db(home: str | os.PathLike | None = None) -> Path:
    """The bundled SQLite database, built from the sample data on first use (written atomically).

    Tables `item_master` and `routing_operation`, with the views `v_item` and `v_routing` an ERP
    would offer over them.
    """
    from routing_core.synthetic.sample import generate

    path = Path(sample_spec(home).url.database)
    if path.is_file():
        return path
    with _build_lock:
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = generate()
        items = frame.drop_duplicates(ITEM)[list(ITEM_COLUMNS)]
        ops = frame[list(ROUTING_COLUMNS)]
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            db = sqlite3.connect(tmp)
            try:
                items.to_sql("item_master", db, index=False)
                ops.to_sql("routing_operation", db, index=False)
                db.executescript(
                    "CREATE UNIQUE INDEX ix_item ON item_master(item_code);"
                    "CREATE INDEX ix_routing_item ON routing_operation(item_code, seq);"
                    "CREATE VIEW v_item AS SELECT * FROM item_master;"
                    "CREATE VIEW v_routing AS SELECT * FROM routing_operation;"
                )
                db.commit()
            finally:
                db.close()
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path
