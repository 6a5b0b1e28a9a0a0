"""Every setting of the studio in one place: the environment variable `ROUTING_<NAME>` of each
field of `Settings`, with its type, default, unit and why it has that default.

A setting is read when it is used, through `setting(name)`, never once at start: a test or an
operator changes the environment and the next check sees it, and a bad value refuses only what
uses that variable, with one `UserError` naming the variable, the value and what it should be.
A value that is empty or only spaces means the default.

The README's table of settings is printed from this class (`python -m routing_core settings
--table`), and a unit test checks the two agree; `python -m routing_core settings` prints the
values in force.
"""

from __future__ import annotations

import math
import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from routing_core.platform.errors import UserError

PREFIX = "ROUTING_"
SCHEDULER_PATTERN = r"^(tcp|tls|ws|wss|inproc)://[^\s/]+$"
HEADER_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP header name (RFC 9110 token)


def _whole(value: Any) -> Any:
    """A count as people write it: 1000000, 1_000_000 or 1e6; a fraction is no count."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace("_", "")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError("not a whole number")
    return int(number)


def _gb(value: Any) -> Any:
    """A number of GB: 12, 0.5, 1_024 or 1e3."""
    return value.strip().replace("_", "") if isinstance(value, str) else value


def _one_or_zero(value: Any) -> Any:
    """Exactly 1 or 0: a switch that opens the app takes no other spelling."""
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text not in ("0", "1"):
        raise ValueError("not 1 or 0")
    return text == "1"


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Count = Annotated[int, BeforeValidator(_whole)]
GB = Annotated[float, BeforeValidator(_gb)]
OneOrZero = Annotated[bool, BeforeValidator(_one_or_zero)]
Switch = Annotated[bool, BeforeValidator(_stripped)]
Text = Annotated[str, BeforeValidator(_stripped)]
Place = Annotated[Path, BeforeValidator(_stripped)]  # a folder or a file


def _limit(default: int, unit: str, description: str) -> Any:
    return Field(default, ge=1, description=description,
                 json_schema_extra={"unit": unit, "expects": "a whole number of 1 or more"})


class Settings(BaseSettings):
    """The settings of the studio, one environment variable each (ROUTING_ + the field's name)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="ignore")

    # What one file and one state file may expand to (routing_core.platform.limits).
    max_rows: Count = _limit(
        10_000_000, "rows",
        "Rows of one file: a file of that many rows is read and profiled within the machine's memory.")
    max_columns: Count = _limit(
        20_000, "columns", "Columns of one file: wide exports of 10,000 columns are read.")
    max_cells: Count = _limit(
        200_000_000, "cells", "Cells (rows × columns) of one file: a frame of that size is 1.6 GB of numbers.")
    max_decoded_bytes: Count = _limit(
        1 << 30, "bytes",
        "Bytes of one file once decoded (Parquet columns as decoded, text after re-encoding): "
        "a frame takes 2–3 times that.")
    max_row_groups: Count = _limit(
        10_000, "row groups",
        "Row groups of one Parquet file: each costs its metadata and a read; writers make groups "
        "of 10⁵–10⁶ rows.")
    max_line_bytes: Count = _limit(
        4 << 20, "bytes",
        "Bytes of one line of a CSV: a row (and so a cell) longer than that is no routing export.")
    max_parquet_metadata: Count = _limit(
        32 << 20, "bytes",
        "Bytes of a Parquet file's metadata: the footer is parsed whole before anything else.")
    max_items: Count = _limit(
        2_000_000, "items", "Distinct items of one file: one item table row each, in every model.")
    max_process_codes: Count = _limit(
        200_000, "process codes",
        "Distinct process codes of one file: the model keeps the 2,000 most widespread and pools "
        "the rest; more is no routing export.")
    max_state_bytes: Count = _limit(
        16 << 20, "bytes",
        "Bytes of a state file (manifest, metrics, job and dataset records): the largest written "
        "are far smaller.")
    max_job_record_bytes: Count = _limit(
        1 << 20, "bytes",
        "Bytes of a training job record: every page reads every record; one is a few KB.")
    max_state_depth: Count = _limit(
        64, "levels", "Nesting of a state file: the deepest record written is 6 levels.")
    train_memory_gb: GB = Field(
        12.0, gt=0, lt=1 << 20, allow_inf_nan=False,
        description="Memory of the training worker (the data segment it limits itself to; GB of "
        "2³⁰ bytes, fractions allowed): half the machine, several times a large training's "
        "measured peak (docs/benchmarks.md).",
        json_schema_extra={"unit": "GB", "expects": "a number of GB above 0"})

    # Where the studio keeps its state.
    data_home: Place = Field(
        Path("data"),
        description="Datasets, the activity log, the roles file, accepted routings, output profiles "
        "and the sample database: a folder beside the app, ignored by git.",
        json_schema_extra={"unit": "folder", "expects": "a folder"})
    models_dir: Place = Field(
        Path("models"),
        description="The model registry (versions, ACTIVE, training job records): a folder beside "
        "the app, ignored by git.",
        json_schema_extra={"unit": "folder", "expects": "a folder"})
    secrets: Place = Field(
        Path(".streamlit") / "secrets.toml",
        description="The secrets file of database connections (`[connections.NAME]`) and sign-in "
        "(`[auth]`): where Streamlit itself looks.",
        json_schema_extra={"unit": "file", "expects": "a file", "shown": "`.streamlit/secrets.toml`"})
    roles_file: Place | None = Field(
        None,
        description="The roles file (users and groups to roles): by default inside the data home, "
        "so one folder holds the studio's state.",
        json_schema_extra={"unit": "file", "expects": "a file", "shown": "`<data home>/roles.toml`"})

    # Serving a team.
    trusted_user_header: Annotated[Text, Field(pattern=HEADER_PATTERN)] | None = Field(
        None,
        description="The header in which a sign-in proxy passes the user: none by default, since "
        "any client can send a header; set it only behind such a proxy.",
        json_schema_extra={"unit": "header name", "expects": "an HTTP header name such as X-Forwarded-User"})
    trusted_groups_header: Annotated[Text, Field(pattern=HEADER_PATTERN)] | None = Field(
        None,
        description="The header in which that proxy passes the user's groups (comma-separated): "
        "none by default, roles then go by user name.",
        json_schema_extra={"unit": "header name", "expects": "an HTTP header name such as X-Forwarded-Groups"})
    allow_open: OneOrZero = Field(
        False,
        description="1 serves a network address without sign-in, every page under a banner; 0 by "
        "default, so the app never opens wider than configured.",
        json_schema_extra={"unit": "1 or 0", "expects": "1 (open) or 0"})
    host_id: Text | None = Field(
        None,
        description="This host in job records and locks: by default its hostname and boot id, so "
        "only this host judges its jobs and a reboot ends them; set it when hostnames repeat.",
        json_schema_extra={"unit": "text", "expects": "a text", "shown": "`<hostname>:<boot id>`"})
    scheduler: Annotated[Text, Field(pattern=SCHEDULER_PATTERN)] | None = Field(
        None,
        description="The Dask scheduler that runs trainings and batch predictions: none by default, "
        "a detached worker on this machine runs them one at a time.",
        json_schema_extra={"unit": "address",
                           "expects": "a Dask scheduler address such as tcp://scheduler-host:8786"})
    signing_key: Text | None = Field(
        None,
        description="The key that signs published versions (HMAC-SHA256): none by default, versions "
        "are then checked by their manifest hashes only.",
        json_schema_extra={"unit": "text", "expects": "a text", "secret": True})
    signing_key_file: Place | None = Field(
        None,
        description="A file holding that key, read when ROUTING_SIGNING_KEY is not set; refused "
        "inside the models folder or the data home.",
        json_schema_extra={"unit": "file", "expects": "a file"})

    # The dashboard.
    first_start_train: Switch = Field(
        True,
        description="Train the sample once on a fresh start, so every page has a model to show; "
        "0 (false, no, off) turns it off, as the test suite does.",
        json_schema_extra={"unit": "1 or 0", "expects": "1 or 0 (true/false, yes/no, on/off)"})


def env_name(name: str) -> str:
    """The environment variable of a setting: ROUTING_ and the field's name in capitals."""
    return PREFIX + name.upper()


def _extra(name: str) -> dict:
    extra = Settings.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def unit(name: str) -> str:
    return str(_extra(name)["unit"])


@cache
def _adapter(name: str) -> TypeAdapter:
    field = Settings.model_fields[name]
    if not field.metadata:
        return TypeAdapter(field.annotation)
    return TypeAdapter(Annotated[(field.annotation, *field.metadata)])


def setting(name: str) -> Any:
    """The value of one setting, read from the environment now: its default when the variable is
    unset or blank; UserError naming the variable and the value when that value is unusable."""
    field = Settings.model_fields[name]  # KeyError: no such setting, a programming error
    raw = os.environ.get(env_name(name), "")
    if not raw.strip():
        return field.default
    try:
        return _adapter(name).validate_python(raw)
    except ValidationError:
        raise UserError(f"{env_name(name)}={raw.strip()[:80]!r} is not {_extra(name)['expects']}.") from None


def default_text(name: str) -> str:
    """A setting's default as the README shows it: 1 GiB, 10,000,000, `./data`, none."""
    extra = _extra(name)
    if "shown" in extra:
        return str(extra["shown"])
    value = Settings.model_fields[name].default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) and unit(name) == "bytes":
        for shift, word in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
            if value % (1 << shift) == 0:
                return f"{value >> shift:,} {word}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return f"`./{value.as_posix()}`" if isinstance(value, Path) else f"`{value}`"


TABLE_HEADER = ("| variable | default | unit | what it sets, and why that default |\n"
                "|---|---|---|---|")


def markdown_table() -> str:
    """The README's table of settings, one row per field of `Settings`, in the class's order."""
    rows = [TABLE_HEADER]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{env_name(name)}` | {default_text(name)} | {unit(name)} | {field.description} |")
    return "\n".join(rows)


def in_force() -> list[str]:
    """Every setting as read now, one line each (a secret's value is not shown); UserError naming
    every variable whose value cannot be used."""
    lines, problems = [], []
    for name in Settings.model_fields:
        try:
            value = setting(name)
        except UserError as exc:
            problems.append(str(exc))
            continue
        if not os.environ.get(env_name(name), "").strip():
            lines.append(f"{env_name(name)} = {default_text(name).strip('`')} (default)")
        elif _extra(name).get("secret"):
            lines.append(f"{env_name(name)} is set (not shown)")
        else:
            lines.append(f"{env_name(name)} = {value}")
    if problems:
        raise UserError(" ".join(problems))
    return lines


if __name__ == "__main__":
    print(markdown_table())
