"""Real databases for the database source: the bundled SQLite file, and a throwaway PostgreSQL
cluster (Debian's `postgresql` package) started once per test session in a temp folder."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from routing_core.synthetic.sample import SampleConfig, generate
from tests.streamlit_server import free_port

PG_ITEMS = 300
ADMIN_PASSWORD = "admin-secret-7"
ANALYST_PASSWORD = "analyst-secret-9"


@dataclass
class Postgres:
    port: int
    admin_url: str
    url: str  # the analyst's: owns the tables, so only the read-only guard stops a write
    bad_url: str  # the analyst with a wrong password

    def execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url.replace("postgresql+psycopg", "postgresql"), dbname="plant") as db:
            for sql in statements:
                db.execute(sql)

    def scalar(self, sql: str):
        import psycopg

        with psycopg.connect(self.admin_url.replace("postgresql+psycopg", "postgresql"), dbname="plant") as db:
            return db.execute(sql).fetchone()[0]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                    "apt-get install postgresql (.ci/run does it when missing).")
    return Path(found[-1]).parent


def _as_server_user(folder: Path) -> list[str]:
    """The command prefix that runs the server as a non-root user (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("Running as root and there is no 'postgres' user to run the test server as.")
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.fail("Running as root and 'runuser' is missing: cannot start PostgreSQL as 'postgres'.")
    os.chown(folder, user.pw_uid, user.pw_gid)
    return [runuser, "-u", "postgres", "--"]


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        pytest.fail(f"PostgreSQL test server: {what} failed ({done.returncode}):\n"
                    f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}\n{tail}")


def _load(pg: Postgres) -> None:
    import psycopg

    frame = generate(SampleConfig(n_items=PG_ITEMS, seed=11))
    items = frame.drop_duplicates("item_code")
    with psycopg.connect(pg.admin_url.replace("postgresql+psycopg", "postgresql"), dbname="postgres",
                         autocommit=True) as db:
        db.execute(f"CREATE ROLE analyst LOGIN PASSWORD '{ANALYST_PASSWORD}'")
        db.execute("CREATE DATABASE plant OWNER analyst")
    analyst = pg.url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(analyst) as db:
        db.execute(
            "CREATE TABLE item_master (item_code text PRIMARY KEY, part_type text, material text,"
            " outer_diameter_mm double precision, length_mm numeric(10, 1), weight_kg double precision,"
            " tolerance_class text, surface_treatment text, heat_treated text, threaded text)"
        )
        db.execute(
            "CREATE TABLE routing_operation (item_code text, seq integer, process_code text,"
            " duration_min numeric(10, 2), work_center text, outsourced text)"
        )
        cols = ["item_code", "part_type", "material", "outer_diameter_mm", "length_mm", "weight_kg",
                "tolerance_class", "surface_treatment", "heat_treated", "threaded"]
        with db.cursor().copy(f"COPY item_master ({', '.join(cols)}) FROM STDIN") as copy:
            for row in items[cols].astype(object).where(items[cols].notna(), None).itertuples(index=False):
                copy.write_row(row)
        ops = ["item_code", "seq", "process_code", "duration_min", "work_center", "outsourced"]
        with db.cursor().copy(f"COPY routing_operation ({', '.join(ops)}) FROM STDIN") as copy:
            for row in frame[ops].astype(object).where(frame[ops].notna(), None).itertuples(index=False):
                copy.write_row(row)
        db.execute("CREATE VIEW v_item AS SELECT * FROM item_master")
        db.execute("CREATE VIEW v_routing AS SELECT * FROM routing_operation")
        # A function that writes: a SELECT may call it, the read-only transaction must stop it.
        db.execute("CREATE FUNCTION purge_routings() RETURNS integer LANGUAGE sql AS "
                   "'DELETE FROM routing_operation; SELECT 0'")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server on a free local port with a `plant` database of sample routings."""
    bin_dir = _pg_bin()
    folder = Path(tempfile.mkdtemp(prefix="routing-pg-"))
    try:
        prefix = _as_server_user(folder)
        data, log, pwfile = folder / "data", folder / "server.log", folder / "pw"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        if prefix:
            shutil.chown(pwfile, "postgres")
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
              "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
             "initdb")
        port = free_port()
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB"
        _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
              "-w", "-t", "60", "start"], "pg_ctl start", log)
        base = f"postgresql+psycopg://{{}}@127.0.0.1:{port}/{{}}"
        pg = Postgres(
            port=port,
            admin_url=base.format(f"postgres:{ADMIN_PASSWORD}", "postgres"),
            url=base.format(f"analyst:{ANALYST_PASSWORD}", "plant"),
            bad_url=base.format("analyst:not-the-password", "plant"),
        )
        try:
            _load(pg)
            yield pg
        finally:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
