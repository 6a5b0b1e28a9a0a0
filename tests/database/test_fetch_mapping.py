"""`fetch` checks the mapping against the rows it read: a contradicted one stores nothing unless --map
confirms it (a real SQLite database)."""

from __future__ import annotations

import json
import sqlite3

from routing_core.cli.commands import main
from routing_core.datasets import DatasetStore
from tests.unit.test_cli_mapping import fooling_exports


def test_fetch_refuses_a_contradicted_mapping_unless_confirmed(tmp_path, capsys):
    import pandas as pd

    frame = pd.read_csv(fooling_exports(tmp_path))
    db = tmp_path / "plant.sqlite"
    with sqlite3.connect(db) as con:
        frame.to_sql("ops", con, index=False)
    home = tmp_path / "data"
    base = ["--data-home", str(home), "fetch", "plant", "--db-url", f"sqlite:///{db}", "--table", "ops"]
    assert main(base) == 2
    said = capsys.readouterr().err
    assert "the mapping disagrees with the contents" in said and "'process' holds step numbers 1–" in said
    assert DatasetStore(home).names() == []
    assert main([*base, "--map", "process=process_code"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["created"] and DatasetStore(home).record("plant").mapping["process"] == "process_code"
