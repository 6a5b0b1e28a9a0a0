"""Database source, least privilege: against the real PostgreSQL the database tests start.

Attacks: passwords in a URL's query (`?password=`, `pwd`, odbc_connect's `PWD=`) and an
unencoded `@` in a password, looked for in the command line's `connections`, in errors, in the
Database tab's caption and in the `record.json` that `fetch --db-url` stores; a superuser login
running `dblink_exec(… DROP TABLE …)`, `pg_terminate_backend` and `pg_read_file` through a
SELECT (a read-only transaction does not stop them); a viewer reading through the plant's
connection; an analyst on a connection the roles file does not give their role. The command
line runs as real processes, so the same checks ran against the code before the fix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from routing_core import database
from routing_core.platform.errors import UserError
from routing_core.users.access import ROLES_ENV, Forbidden, User
from tests.app.conftest import open_app, texts
from tests.conftest import ADMIN, ROOT
from tests.database import conftest as database_conftest
from tests.database.conftest import ADMIN_PASSWORD, ANALYST_PASSWORD, Postgres

postgres = database_conftest.postgres  # the session's PostgreSQL server (a fixture)

SECRET = "Sup3r-s3cret"


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "routing_core", *args, "--data-home", str(home)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _pg(pg: Postgres, sql: str, dbname: str = "plant", autocommit: bool = True):
    with psycopg.connect(pg.admin_url.replace("postgresql+psycopg", "postgresql"), dbname=dbname,
                         autocommit=autocommit) as db:
        return db.execute(sql).fetchall() if sql.lstrip().upper().startswith("SELECT") else db.execute(sql)


@pytest.fixture
def pg(postgres: Postgres) -> Postgres:
    return postgres


def _superuser_url(pg: Postgres) -> str:
    return pg.admin_url.rsplit("/", 1)[0] + "/plant"


@pytest.fixture
def secrets(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(
        "[connections.query_pw]\n"
        f'url = "postgresql+psycopg://127.0.0.1:1/erp?user=reader&password={SECRET}"\n'
        "[connections.pwd]\n"
        f'url = "mysql+pymysql://127.0.0.1:1/erp?user=reader&pwd={SECRET}"\n'
        "[connections.odbc]\n"
        'url = "mssql+pyodbc://?odbc_connect=DRIVER%3D%7BODBC+Driver+18%7D%3BSERVER%3Dmes%3BUID%3Dsa%3B'
        f'PWD%3D{SECRET}%3BEncrypt%3Dyes"\n'
        "[connections.at_sign]\n"
        f'url = "postgresql+psycopg://reader:x@{SECRET}@127.0.0.1:1/erp"\n'
    )
    monkeypatch.setenv("ROUTING_SECRETS", str(path))
    return path


def test_connections_output_masks_every_credential(secrets, tmp_path):
    done = _cli("connections", "--secrets", str(secrets), home=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert [c["name"] for c in shown] == ["sample", "query_pw", "pwd", "odbc", "at_sign"]
    assert SECRET not in done.stdout and SECRET[2:] not in done.stdout and "x@" not in done.stdout
    assert all("***" in c["url"] for c in shown[1:]), shown


def test_an_error_masks_the_password(secrets, tmp_path):
    for name in ("query_pw", "at_sign"):
        with pytest.raises(UserError) as refused:
            database.read_query(database.connection(name, tmp_path, secrets), "SELECT 1 AS a", user=ADMIN)
        assert SECRET not in str(refused.value) and SECRET[2:] not in str(refused.value), str(refused.value)


def test_the_database_tab_caption_masks_every_credential(secrets, data_home, models_dir):
    at = open_app("pages/1_Upload.py")
    at.session_state["upload_source"] = "Database"
    at.run()
    for name in ("query_pw", "pwd", "odbc", "at_sign"):
        at.selectbox(key="db_connection").set_value(name).run()
        assert not at.exception, at.exception
        shown = " ".join(texts(at.caption) + texts(at.error) + texts(at.warning))
        assert SECRET not in shown and SECRET[2:] not in shown, (name, shown)
        assert "***" in shown, (name, shown)


def test_fetch_db_url_stores_no_password(pg: Postgres, tmp_path):
    url = (f"postgresql+psycopg://127.0.0.1:{pg.port}/plant?user=analyst&password={ANALYST_PASSWORD}"
           "&application_name=routing")
    done = _cli("fetch", "erp", "--db-url", url, "--query", "SELECT * FROM v_routing", home=tmp_path)
    assert done.returncode == 0, done.stderr
    stored = (tmp_path / "datasets" / "erp" / "record.json").read_text()
    assert json.loads(stored)["source"]["url"].startswith("postgresql+psycopg://127.0.0.1:")
    for text in (stored, done.stdout, done.stderr):
        assert ANALYST_PASSWORD not in text


def test_a_superuser_cannot_drop_a_table_through_dblink(pg: Postgres, tmp_path):
    _pg(pg, "CREATE EXTENSION IF NOT EXISTS dblink")
    _pg(pg, "CREATE TABLE IF NOT EXISTS victim (item_code text, process_code text)")
    _pg(pg, "INSERT INTO victim VALUES ('A', 'SAW')")
    remote = f"host=127.0.0.1 port={pg.port} dbname=plant user=postgres password={ADMIN_PASSWORD}"
    query = f"SELECT dblink_exec('{remote}', 'DROP TABLE victim') AS item_code, 'SAW' AS process_code"
    done = _cli("fetch", "evil", "--db-url", _superuser_url(pg), "--query", query, home=tmp_path)
    assert done.returncode == 2 and "refused" in done.stderr, done.stderr
    assert _pg(pg, "SELECT count(*) FROM victim") == [(1,)]
    assert ADMIN_PASSWORD not in done.stderr


def test_a_superuser_cannot_end_another_session_or_read_server_files(pg: Postgres, tmp_path):
    with psycopg.connect(pg.url.replace("postgresql+psycopg", "postgresql")) as other:
        pid = other.info.backend_pid
        for query in (f"SELECT pg_terminate_backend({pid}) AS item_code, 'SAW' AS process_code",
                      "SELECT pg_read_file('/etc/passwd') AS item_code, 'SAW' AS process_code",
                      "SELECT pg_catalog.\"pg_read_file\"('/etc/passwd') AS item_code, 'SAW' AS process_code"):
            done = _cli("fetch", "evil", "--db-url", _superuser_url(pg), "--query", query, home=tmp_path)
            assert done.returncode == 2 and "refused" in done.stderr, done.stderr
            assert "root:" not in done.stdout + done.stderr
        assert other.execute("SELECT 1").fetchone() == (1,)  # the other session still lives


def test_a_superuser_login_is_refused_and_warned_about(pg: Postgres, tmp_path):
    spec = database.url_spec(_superuser_url(pg))
    with pytest.raises(UserError, match="superuser"):
        database.read_query(spec, "SELECT item_code FROM v_item", user=ADMIN)
    assert any("superuser" in w for w in database.privileges(spec, user=ADMIN))
    secrets = tmp_path / "s.toml"
    secrets.write_text(f'[connections.su]\nurl = "{_superuser_url(pg)}"\n')
    done = _cli("connections", "--secrets", str(secrets), "--check", home=tmp_path)
    assert done.returncode == 0 and "warning: 'su' signs in as a superuser" in done.stderr, done.stderr


def test_a_login_that_can_write_is_warned_about_and_a_reader_is_not(pg: Postgres, tmp_path):
    owner = database.url_spec(pg.url)  # the analyst owns the tables
    warnings = database.privileges(owner, user=ADMIN)
    assert any("may insert, update or delete" in w for w in warnings), warnings
    assert any("may create" in w for w in warnings), warnings
    _pg(pg, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reader') THEN "
                  "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; END IF; END $$")
    _pg(pg, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    _pg(pg, "REVOKE CREATE, TEMPORARY ON DATABASE plant FROM PUBLIC")
    _pg(pg, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    reader = database.url_spec(f"postgresql+psycopg://reader:reader-pw@127.0.0.1:{pg.port}/plant")
    assert database.privileges(reader, user=ADMIN) == []
    shown = database.read_query(reader, "SELECT current_setting('default_transaction_read_only') AS ro",
                                user=ADMIN)
    assert shown.raw.frame["ro"].tolist() == ["on"]


def test_only_analysts_and_admins_read_and_only_the_connections_of_their_role(pg: Postgres, tmp_path,
                                                                            monkeypatch):
    roles = tmp_path / "roles.toml"
    roles.write_text('[connections]\nanalyst = ["sample"]\n')
    monkeypatch.setenv(ROLES_ENV, str(roles))
    spec = database.url_spec(pg.url)
    with pytest.raises(Forbidden, match="may not read a database"):
        database.read_query(spec, "SELECT 1 AS a", user=User("vera@plant.test", "viewer"))
    with pytest.raises(Forbidden, match="only sample"):
        database.list_tables(spec, user=User("ana@plant.test", "analyst"))
    with pytest.raises(UserError, match="named user"):
        database.read_query(spec, "SELECT 1 AS a", user=None)
    assert database.read_query(spec, "SELECT 1 AS a", user=User("adam@plant.test", "admin")).rows == 1
