"""`accept` (a file of routings) and `accepted` (list, export with a profile) on the command line."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from routing_core.accepted import AcceptedStore
from routing_core.cli.commands import main
from routing_core.datasets import DatasetStore, load_dataset
from routing_core.engine.train_request import TrainRequest
from routing_core.engine.training import run_training
from routing_core.synthetic.sample import SampleConfig, sample_csv_bytes
from tests.conftest import ADMIN

ROUTINGS = """Teil;Arbeitsgang;Nr;Dauer [min];work_center;Werkstoff
P-1;SAW;1;3;S1;S45C
P-1;LATHE;2;12;L1;S45C
P-2;MILL;1;45;M1;AL
"""


def run(capsys, *args) -> tuple[int, object]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def test_accept_a_file_then_list_and_export(tmp_path, capsys):
    home = tmp_path / "home"
    path = tmp_path / "routings.csv"
    path.write_text(ROUTINGS, encoding="utf-8")
    code, said = run(capsys, "--data-home", home, "accept", path, "--map", "Teil=item_code",
                     "--map", "Arbeitsgang=process_code")
    assert code == 0 and said == {"accepted": 2, "outcomes": {"typed": 2}}
    code, listed = run(capsys, "--data-home", home, "accepted", "list")
    assert {r["item_code"]: r["routing"] for r in listed} == {"P-1": "SAW → LATHE", "P-2": "MILL"}
    out = tmp_path / "sap.csv"
    code, said = run(capsys, "--data-home", home, "accepted", "export", "--profile", "sap-routing", "--out", out)
    assert code == 0 and said["rows"] == 3
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    got = sorted((r["MATNR"], r["VORNR"], r["ARBPL"], r["LTXA1"], r["VGW01"], r["VGE01"]) for r in rows)
    assert got == [("P-1", "10", "S1", "SAW", "3.0", "min"), ("P-1", "20", "L1", "LATHE", "12.0", "min"),
                   ("P-2", "10", "M1", "MILL", "45.0", "min")]
    code, err = run(capsys, "--data-home", home, "accepted", "export", "--profile", "nope", "--out", out)
    assert code == 2 and "No output profile named 'nope'" in err
    profile = json.loads((home / "profiles" / "sap-routing.json").read_text())
    profile["columns"][2]["field"] = "Arbeitsplatz"  # an attribute none of them has
    (home / "profiles" / "sap-routing.json").write_text(json.dumps(profile))
    before = out.read_bytes()
    code, err = run(capsys, "--data-home", home, "accepted", "export", "--profile", "sap-routing", "--out", out)
    assert code == 2 and "column ARBPL reads 'Arbeitsplatz', which none of the 2 routing(s) has" in err
    assert out.read_bytes() == before  # the file written before is left as it was


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    DatasetStore(root / "data").save("s", load_dataset(sample_csv_bytes(SampleConfig(n_items=100)), name="s.csv"), user=ADMIN)
    run_training(TrainRequest("s", version="v1", refit=False), root / "models", root / "data", user=ADMIN)
    return root


def test_accept_against_a_version_records_the_closest_candidate(trained, tmp_path, capsys):
    ops = DatasetStore(trained / "data").load("s").ops
    code = ops["item_code"].iloc[0]
    mine = ops[ops["item_code"] == code]
    changed = pd.concat([mine, mine.tail(1).assign(seq=999, process_code="EXTRA_STEP")])
    path = tmp_path / "r.csv"
    changed.to_csv(path, index=False)
    home = tmp_path / "home"
    code_, said = run(capsys, "--data-home", home, "--models-dir", trained / "models", "accept", path,
                      "--version", "v1")
    assert code_ == 0 and said == {"accepted": 1, "outcomes": {"first changed": 1}}  # its known routing + a step
    record = AcceptedStore(home).get(code)
    assert record.version == "v1" and record.candidate_rank == 1
    assert [c["change"] for c in record.changes] == ["inserted"] and record.changes[0]["process_code"] == "EXTRA_STEP"
