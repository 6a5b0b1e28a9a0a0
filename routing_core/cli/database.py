"""Command-line verbs of the database source: `connections`, `fetch`, `refresh` (registered in cli.common.COMMANDS, parsed by cli.commands)."""

from __future__ import annotations

import argparse
import sys

from routing_core.cli.common import add_map, command, data_home_of, decided_mapping, print_json
from routing_core.mapping.schema import parse_map_args
from routing_core.platform.errors import UserError
from routing_core.users.access import local_user  # the command line acts as the OS user, by name


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db-url", metavar="URL",
                   help="a SQLAlchemy URL instead of a named connection (dialect+driver://user:pw@host/db)")
    p.add_argument("--secrets", metavar="FILE",
                   help="the connections file (default: $ROUTING_SECRETS or .streamlit/secrets.toml)")
    p.add_argument("--progress", action="store_true", help="print the rows read so far on stderr")


def add_parsers(sub, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("connections", help="list the named database connections", parents=parents)
    p.add_argument("--secrets", metavar="FILE", help="the connections file")
    p.add_argument("--tables", action="store_true", help="also list each connection's tables and views")
    p.add_argument("--check", action="store_true",
                   help="connect and warn when a login is a superuser or may write (also with --tables)")

    p = sub.add_parser("fetch", help="read routings from a database and store them as a dataset",
                       parents=parents)
    p.add_argument("name", help="name of the new dataset")
    p.add_argument("--connection", help="a connection named in the secrets file (default: sample)")
    _add_source(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--query", help="one SELECT statement")
    what.add_argument("--table", help="a table or view, read whole")
    what.add_argument("--routings", metavar="VIEW", help="the routing view, joined with --items on --on")
    p.add_argument("--items", metavar="VIEW", help="the item view (with --routings)")
    p.add_argument("--on", default="item_code", help="the join column (default item_code)")
    p.add_argument("--row-limit", type=int, help="refuse results with more rows")
    p.add_argument("--timeout", type=float, help="stop a query running longer (seconds)")
    add_map(p)

    p = sub.add_parser("refresh", help="read a database dataset again (a new revision if it changed)",
                       parents=parents)
    p.add_argument("name", help="the stored dataset")
    _add_source(p)


def _progress(args: argparse.Namespace):
    if not args.progress:
        return None
    return lambda rows, limit: print(f"read {rows:,} rows (limit {limit:,})", file=sys.stderr, flush=True)


def _spec(args: argparse.Namespace, name: str | None):
    from routing_core import database

    if args.db_url:
        return database.url_spec(args.db_url, getattr(args, "row_limit", None), getattr(args, "timeout", None))
    return database.connection(name or database.BUNDLED, data_home_of(args), args.secrets)


@command("connections")
def _connections(args: argparse.Namespace) -> int:
    from routing_core import database

    rows = []
    for spec in database.connections(data_home_of(args), args.secrets).values():
        row = {"name": spec.name, "url": spec.shown, "row_limit": spec.row_limit, "timeout": spec.timeout,
               "problem": spec.problem or None}
        if (args.tables or args.check) and not spec.problem:
            row["warnings"] = database.privileges(spec, user=local_user())
            for warning in row["warnings"]:
                print(f"warning: {warning}", file=sys.stderr)
        if args.tables and not spec.problem:
            try:
                row["tables"] = {t.name: [c for c, _ in t.columns] for t in database.list_tables(spec, user=local_user())}
            except UserError as exc:  # a superuser login: said, the other connections still listed
                row["problem"] = str(exc)
        rows.append(row)
    print_json(rows)
    return 0


@command("fetch")
def _fetch(args: argparse.Namespace) -> int:
    from routing_core import database
    from routing_core.datasets import DatasetStore
    from routing_core.platform.names import check_name

    check_name(args.name, "dataset name")
    parse_map_args(args.map)  # a malformed --map is refused before anything is read
    if args.connection and args.db_url:
        raise UserError("Give either --connection or --db-url, not both.")
    if bool(args.routings) != bool(args.items):
        raise UserError("--routings and --items go together (the routing view and the item view).")
    store = DatasetStore(data_home_of(args))
    if args.name in store.names():
        raise UserError(f"A dataset named '{args.name}' already exists; choose another name.")
    spec = _spec(args, args.connection)
    if args.query:
        sql = args.query
    else:
        tables = {t.name: t for t in database.list_tables(spec, user=local_user())}
        for view in filter(None, (args.table, args.items, args.routings)):
            if view not in tables:
                raise UserError(f"'{spec.name}' has no table or view named '{view}' (it has: "
                                f"{', '.join(list(tables)[:20]) or 'none'}).")
        sql = (database.table_query(spec, args.table) if args.table
               else database.join_query(spec, tables[args.items], tables[args.routings], args.on))
    from routing_core.database.reading import read_query
    from routing_core.database.revisions import to_dataset

    result = read_query(spec, sql, args.row_limit, args.timeout, _progress(args), user=local_user())
    dataset = to_dataset(spec, sql, result, decided_mapping(args, result.raw))
    record, created = database.save(store, args.name, dataset, user=local_user())
    print_json({"dataset": record.name, "created": created, "rows": record.rows, "items": record.items,
                "warnings": record.warnings, "source": record.source})
    return 0


@command("refresh")
def _refresh(args: argparse.Namespace) -> int:
    from routing_core import database
    from routing_core.datasets import DatasetStore

    store = DatasetStore(data_home_of(args))
    spec = _spec(args, None) if args.db_url else None
    result = database.refresh(store, args.name, spec, _progress(args), args.secrets, user=local_user())
    print_json(result.to_json())
    return 0
