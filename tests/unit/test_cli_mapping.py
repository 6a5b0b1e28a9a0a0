"""The command line reads a file by names checked against its contents, and refuses a mapping the
contents contradict unless --map confirms it (a real process each time)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tests.exports import spanish_export, write
from tests.unit.test_cli import assert_user_error, cli


def test_train_reads_the_spanish_export_by_content_with_no_map(tmp_path):
    path = write(spanish_export(items=120), tmp_path / "export_es.csv")
    proc = cli("train", path, "--dry-run", models=tmp_path / "m", home=tmp_path / "d")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["processes"] == 30  # OPERACION's 30 codes, not FASE's step numbers
    assert "CENTRO" in plan["operation_attributes"] and "FASE" not in plan["operation_attributes"]
    assert "note: 'FASE' holds step numbers 10–" in proc.stderr and "'OPERACION' looks like the process code" \
        in proc.stderr


def fooling_exports(tmp_path) -> str:
    """Names a name-only reader trusts: 'process' holds the step numbers, the codes are under 'Tätigkeit'."""
    rng = np.random.default_rng(4)
    rows = [{"item": f"P{i:03d}", "process": s + 1, "Tätigkeit": f"T{int(rng.integers(9))}",
             "minutes": round(float(rng.uniform(1, 20)), 1)}
            for i in range(40) for s in range(int(rng.integers(2, 6)))]
    return write(pd.DataFrame(rows), tmp_path / "fooling.csv", sep=",")


def test_train_refuses_a_contradicted_mapping_and_stores_nothing(tmp_path):
    path = fooling_exports(tmp_path)
    proc = cli("train", path, models=tmp_path / "m", home=tmp_path / "d")
    assert_user_error(proc, "the mapping disagrees with the contents")
    assert "'process' holds step numbers 1–" in proc.stderr
    assert "--map 'Tätigkeit'=process_code --map process=seq" in proc.stderr
    assert not (tmp_path / "d" / "datasets").exists() and not (tmp_path / "m").exists() or \
        not any((tmp_path / "m").iterdir())


def test_map_confirms_a_contradicted_mapping(tmp_path):
    path = fooling_exports(tmp_path)
    proc = cli("train", path, "--dry-run", "--map", "process=process_code", models=tmp_path / "m", home=tmp_path / "d")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["processes"] <= 5  # the step numbers, as confirmed
    fixed = cli("stats", path, "--map", "Tätigkeit=process_code", "--map", "process=seq", home=tmp_path / "d")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["unique_processes"] == 9


def test_predict_and_evaluate_read_files_with_the_versions_columns(tmp_path):
    path = fooling_exports(tmp_path)
    models, home = tmp_path / "m", tmp_path / "d"
    trained = cli("train", path, "--version", "v1", "--map", "Tätigkeit=process_code", "--map", "process=seq",
                  models=models, home=home)
    assert trained.returncode == 0, trained.stderr
    manifest = json.loads((models / "v1" / "manifest.json").read_text())
    assert manifest["dataset"]["mapping"] == {"item": "item_code", "Tätigkeit": "process_code", "process": "seq",
                                              "minutes": "duration_min"}
    # evaluate with no --map: read as trained ('process' the sequence), not by its names
    evaluated = cli("evaluate", path, "--version", "v1", models=models, home=home)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "read with the columns version v1 was trained on" in evaluated.stderr
    assert json.loads(evaluated.stdout)["items"] == 40
    # a batch with the export's columns and a blank item code: every row accounted for
    batch = pd.read_csv(path).drop_duplicates("item").head(5)
    batch.iloc[2, 0] = None
    batch.to_csv(tmp_path / "batch.csv", index=False)
    predicted = cli("predict", tmp_path / "batch.csv", "--version", "v1", "--out", tmp_path / "out.csv",
                    models=models, home=home)
    assert predicted.returncode == 0, predicted.stderr
    summary = json.loads(predicted.stdout)["batch"]
    assert (summary["rows_in"], summary["items"], summary["rows_refused"], summary["generated_ids"]) == (5, 5, 0, 1)
    assert "row 3" in set(pd.read_csv(tmp_path / "out.csv")["item_code"])


def test_what_the_contents_settled_is_noted_when_the_command_ends_well_and_not_before_an_error(tmp_path):
    """A header names 'item_code' twice (one of them behind a control character); the contents say
    which is the item code. Read well: the note comes with the result. A bad number later in the
    file: the one error line alone (exit 2, one line, as for every user error)."""
    import contextlib
    import io

    from routing_core.cli import commands as cli_module

    rows = [f"{i // 3:05d};{i % 3 + 1};{('SAW', 'MILL', 'QC')[i % 3]};{1.5 * (i % 3 + 1)};"
            f"{('alu', 'steel')[(i // 3) % 2]}" for i in range(36)]
    header = "\x01item_code;item_code;process_code;duration_min;material\n"
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(header + "\n".join(rows) + "\n")
    rows[24] = rows[24].replace(";1.5;", ";y;")
    bad.write_text(header + "\n".join(rows) + "\n")
    said = {}
    for path in (good, bad):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            said[path.name] = (cli_module.main(["stats", str(path)]), err.getvalue().splitlines())
    code, lines = said["good.csv"]
    assert code == 0 and lines and all(line.startswith("note: ") for line in lines)
    assert any("item code" in line for line in lines)
    code, lines = said["bad.csv"]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "line 26" in lines[0]
