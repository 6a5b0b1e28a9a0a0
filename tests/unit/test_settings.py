"""The settings class: every ROUTING_* variable read through it, the README's table agreeing with
it, and each kind of bad value refused with a message naming the variable and the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from routing_core.cli.commands import main
from routing_core.platform.errors import UserError
from routing_core.platform.limits import MAX_COLUMNS, MAX_ROWS, TRAIN_MEMORY_GB
from routing_core.platform.settings import (
    Settings,
    env_name,
    in_force,
    markdown_table,
    setting,
    unit,
)

ROOT = Path(__file__).resolve().parents[2]
FIELDS = list(Settings.model_fields)
CODE = [*sorted((ROOT / "routing_core").rglob("*.py")), *sorted((ROOT / "ui").rglob("*.py")),
        *sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
NOT_VARIABLES = {"ROUTING_COLUMNS"}  # the sample database's column tuple, a Python name


@pytest.fixture
def clean(monkeypatch):
    for name in FIELDS:
        monkeypatch.delenv(env_name(name), raising=False)
    return monkeypatch


def readme_rows() -> dict[str, tuple[str, str, str]]:
    """The README's settings table: variable -> (default, unit, description), as written there."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("| variable | default | unit |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, line
        rows[cells[0].strip("`")] = (cells[1], cells[2], cells[3])
    return rows


def value_of(text: str):
    """A default as the README writes it, read back without the settings module's help."""
    if text == "none":
        return None
    if text.startswith("`"):
        return Path(text.strip("`").removeprefix("./"))
    sizes = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    number, _, size = text.partition(" ")
    if size in sizes:
        return int(number.replace(",", "")) * sizes[size]
    return float(number.replace(",", "")) if "." in number else int(number.replace(",", ""))


def test_the_readme_lists_exactly_the_settings_with_their_defaults_and_units():
    rows = readme_rows()
    assert sorted(rows) == sorted(env_name(name) for name in FIELDS)
    for name, field in Settings.model_fields.items():
        default, shown_unit, description = rows[env_name(name)]
        assert shown_unit == unit(name)
        assert description == field.description
        if default.startswith("`<"):  # worked out when used: the data home's roles file, this host
            assert field.default is None
        else:
            assert value_of(default) == field.default, name
    assert markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_some_defaults_worked_out_by_hand(clean):
    assert readme_rows()["ROUTING_MAX_DECODED_BYTES"][0] == "1 GiB"
    assert setting("max_decoded_bytes") == 1_073_741_824
    assert setting("max_line_bytes") == 4 * 1024 * 1024
    assert setting("train_memory_gb") == 12.0 and TRAIN_MEMORY_GB.bytes == 12 * 1024 ** 3
    assert setting("data_home") == Path("data") and setting("models_dir") == Path("models")
    assert setting("secrets") == Path(".streamlit/secrets.toml")
    assert setting("scheduler") is None and setting("allow_open") is False
    assert setting("first_start_train") is True


def test_every_routing_variable_in_the_code_is_a_setting():
    named = set()
    for path in CODE:
        named |= set(re.findall(r"ROUTING_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8")))
    assert named - NOT_VARIABLES <= {env_name(name) for name in FIELDS}


def test_only_the_settings_module_reads_the_environment():
    reads = re.compile(r"os\.environ\.get\(|os\.environ\[|os\.getenv\(|environ\.get\(")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in CODE if path.name != "settings.py"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if reads.search(line)]
    assert found == []


def test_every_field_says_what_it_is_why_and_its_unit():
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 40, name
        assert unit(name), name
        assert isinstance(field.json_schema_extra, dict) and field.json_schema_extra["expects"], name


@pytest.mark.parametrize("name", FIELDS)
def test_blank_means_the_default(clean, name):
    for blank in ("", "   "):
        clean.setenv(env_name(name), blank)
        assert setting(name) == Settings.model_fields[name].default


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("max_rows", "1_000_000", 1_000_000),
    ("max_rows", "1e6", 1_000_000),
    ("max_rows", " 2.5e3 ", 2_500),
    ("max_rows", "12345678901234567890", 12345678901234567890),
    ("max_state_depth", "1", 1),
    ("train_memory_gb", "0.5", 0.5),
    ("train_memory_gb", "1_024", 1024.0),
    ("train_memory_gb", "2e1", 20.0),
    ("first_start_train", "off", False),
    ("first_start_train", "No", False),
    ("first_start_train", "FALSE", False),
    ("first_start_train", "0", False),
    ("first_start_train", "yes", True),
    ("allow_open", " 1 ", True),
    ("allow_open", "0", False),
    ("scheduler", " tcp://sched.plant.example:8786 ", "tcp://sched.plant.example:8786"),
    ("scheduler", "tls://10.0.0.5:8786", "tls://10.0.0.5:8786"),
    ("trusted_user_header", "X-Forwarded-User", "X-Forwarded-User"),
    ("host_id", " beta ", "beta"),
    ("data_home", " /srv/routing/data ", Path("/srv/routing/data")),
    ("roles_file", "/etc/routing/roles.toml", Path("/etc/routing/roles.toml")),
    ("signing_key", "  a long random text ", "a long random text"),
])
def test_values_people_write_are_read(clean, name, raw, expected):
    clean.setenv(env_name(name), raw)
    got = setting(name)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("max_rows", "lots", "is not a whole number"),
    ("max_rows", "0", "is not a whole number of 1 or more"),
    ("max_rows", "-5", "is not a whole number of 1 or more"),
    ("max_columns", "1.5", "is not a whole number"),
    ("max_cells", "nan", "is not a whole number"),
    ("max_items", "inf", "is not a whole number"),
    ("max_items", "1e400", "is not a whole number"),
    ("train_memory_gb", "lots", "is not a number of GB"),
    ("train_memory_gb", "0", "is not a number of GB above 0"),
    ("train_memory_gb", "-1", "is not a number of GB above 0"),
    ("train_memory_gb", "nan", "is not a number of GB above 0"),
    ("train_memory_gb", "inf", "is not a number of GB above 0"),
    ("train_memory_gb", "2e6", "is not a number of GB above 0"),
    ("scheduler", "sched.plant.example:8786", "is not a Dask scheduler address"),
    ("scheduler", "tcp://a b:1", "is not a Dask scheduler address"),
    ("scheduler", "http://sched:8786", "is not a Dask scheduler address"),
    ("trusted_user_header", "X Forwarded User", "is not an HTTP header name"),
    ("trusted_groups_header", "X-Groups:", "is not an HTTP header name"),
    ("allow_open", "yes", "is not 1 (open) or 0"),
    ("allow_open", "true", "is not 1 (open) or 0"),
    ("first_start_train", "banana", "is not 1 or 0"),
])
def test_a_bad_value_is_refused_naming_the_variable_and_the_value(clean, name, raw, says):
    clean.setenv(env_name(name), raw)
    with pytest.raises(UserError) as caught:
        setting(name)
    assert str(caught.value).startswith(f"{env_name(name)}={raw!r} {says}")


def test_a_bad_value_refuses_only_what_uses_that_variable(clean):
    clean.setenv("ROUTING_MAX_ROWS", "lots")
    clean.setenv("ROUTING_MAX_COLUMNS", "7")
    with pytest.raises(UserError, match=r"^ROUTING_MAX_ROWS='lots' is not a whole number"):
        MAX_ROWS.check(1, "f.csv")
    assert MAX_COLUMNS.value == 7
    with pytest.raises(UserError, match=r"has 8 columns; the limit is 7 \(set ROUTING_MAX_COLUMNS"):
        MAX_COLUMNS.check(8, "f.csv")
    assert setting("train_memory_gb") == 12.0


def test_a_long_bad_value_is_cut_in_the_message(clean):
    clean.setenv("ROUTING_SCHEDULER", "x" * 500)
    with pytest.raises(UserError) as caught:
        setting("scheduler")
    assert f"ROUTING_SCHEDULER='{'x' * 80}' is not" in str(caught.value)


def test_the_class_reads_the_environment_with_the_prefix(clean):
    assert Settings().model_dump() == {name: f.default for name, f in Settings.model_fields.items()}
    clean.setenv("ROUTING_MAX_ROWS", "1_000")
    clean.setenv("ROUTING_SCHEDULER", "tcp://s:8786")
    clean.setenv("MAX_ROWS", "3")  # without the prefix: not a setting
    got = Settings()
    assert got.max_rows == 1000 and got.scheduler == "tcp://s:8786"


def test_the_settings_in_force_hide_the_signing_key(clean):
    clean.setenv("ROUTING_MAX_ROWS", "1_000")
    clean.setenv("ROUTING_DATA_HOME", "/srv/routing/data")
    clean.setenv("ROUTING_SIGNING_KEY", "correct horse battery staple")
    lines = in_force()
    assert len(lines) == len(FIELDS)
    assert "ROUTING_MAX_ROWS = 1000" in lines and "ROUTING_DATA_HOME = /srv/routing/data" in lines
    assert "ROUTING_MAX_COLUMNS = 20,000 (default)" in lines
    assert "ROUTING_SIGNING_KEY is set (not shown)" in lines
    assert "horse" not in "\n".join(lines)


def test_the_settings_command_prints_the_table_and_names_every_bad_value(clean, capsys):
    assert main(["settings", "--table"]) == 0
    assert capsys.readouterr().out == markdown_table() + "\n"
    clean.setenv("ROUTING_MAX_ROWS", "lots")
    clean.setenv("ROUTING_ALLOW_OPEN", "yes")
    assert main(["settings"]) == 2
    err = capsys.readouterr().err
    assert "ROUTING_MAX_ROWS='lots' is not a whole number" in err
    assert "ROUTING_ALLOW_OPEN='yes' is not 1 (open) or 0" in err
