"""Command-line verbs of the routing store: `accept` (a file of routings) and `accepted` (list,
export with a profile), registered in cli.common.COMMANDS and parsed by cli.commands."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from routing_core.cli.common import add_map, command, data_home_of, print_json
from routing_core.mapping.schema import DURATION, ITEM, PROCESS, SEQ, parse_map_args
from routing_core.platform.errors import UserError


def add_parsers(sub, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("accept", help="accept the routings of a file (one row per operation) into the routing store",
                       parents=parents)
    p.add_argument("file", help="CSV or Parquet, one row per operation")
    p.add_argument("--version", help="a model version: each routing is recorded against its closest candidate")
    p.add_argument("--ignore-history", action="store_true",
                   help="with --version: predict items of the training data as if they were new")
    add_map(p)

    p = sub.add_parser("accepted", help="list accepted routings or export them with an output profile",
                       parents=parents)
    verbs = p.add_subparsers(dest="verb", required=True, parser_class=type(p))
    q = verbs.add_parser("list", help="the accepted routings as JSON")
    q.add_argument("--search", default="", help="only those whose item, routing, version or accepter contain this")
    q.add_argument("--all", action="store_true", help="withdrawn ones too")
    q = verbs.add_parser("export", help="write the accepted routings through an output profile")
    q.add_argument("--profile", required=True, help="an output profile of the data home (<data home>/profiles/)")
    q.add_argument("--search", default="", help="only those whose item, routing, version or accepter contain this")
    where = q.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="FILE", help="a file: .csv, .xlsx or .json (or --format)")
    where.add_argument("--connection", help="a connection whose staging_table receives the rows")
    q.add_argument("--format", choices=["csv", "xlsx", "json"], help="the file format (default: from --out)")
    q.add_argument("--secrets", metavar="FILE", help="the connections file")


def _closest(steps: list[dict], candidates) -> tuple:
    """The candidate whose process sequence is closest to `steps` (ties: the better rank)."""
    codes = [s["process_code"] for s in steps]
    best = max(candidates, key=lambda c: (difflib.SequenceMatcher(None, c.processes, codes, autojunk=False).ratio(),
                                          -c.rank))
    return best


@command("accept")
def _accept(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from routing_core.accepted import AcceptedStore, Draft
    from routing_core.datasets import load_dataset
    from routing_core.users.access import local_user

    dataset = load_dataset(Path(args.file), parse_map_args(args.map))
    ops = dataset.ops
    item_attrs, op_attrs = list(dataset.item_attributes), list(dataset.operation_attributes)
    model = None
    if args.version:
        from routing_core.versions.registry import Registry

        model = Registry(args.models_dir).load_model(args.version)
    drafts = []
    groups = list(ops.groupby(ITEM, sort=False))
    predictions = {}
    if model is not None:
        items = ops.drop_duplicates(ITEM)[[ITEM, *item_attrs]]
        predictions = {p.item_code: p for p in model.predict(items, ignore_history=args.ignore_history)}
    for code, rows in groups:
        rows = rows.sort_values(SEQ, kind="stable") if SEQ in rows else rows
        steps = [{"seq": n, "process_code": r[PROCESS], "duration_min": r.get(DURATION),
                  "attributes": {a: r.get(a) for a in op_attrs}} for n, r in enumerate(rows.to_dict("records"), 1)]
        first = rows.iloc[0]
        draft = Draft(item_code=str(code), steps=steps, attributes={a: first[a] for a in item_attrs})
        pred = predictions.get(str(code))
        if pred is not None and pred.candidates:
            chosen = _closest(steps, pred.candidates)
            draft.version, draft.candidate_rank = args.version, chosen.rank
            draft.candidate_kind, draft.candidate_score = chosen.kind, chosen.score
            draft.candidate_steps = [asdict(s) for s in chosen.steps]
        drafts.append(draft)
    made = AcceptedStore(data_home_of(args)).accept_many(drafts, user=local_user())
    outcomes: dict[str, int] = {}
    for r in made:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    print_json({"accepted": len(made), "outcomes": outcomes})
    return 0


@command("accepted")
def _accepted(args: argparse.Namespace) -> int:
    from routing_core import database
    from routing_core.accepted import (
        AcceptedStore,
        ProfileStore,
        StagingInsert,
        apply_profile,
        file_export,
    )
    from routing_core.platform.atomic import atomic_write_bytes
    from routing_core.users.access import local_user

    home = data_home_of(args)
    store = AcceptedStore(home)
    if args.verb == "list":
        table = store.frame(search=args.search, include_withdrawn=args.all)
        print_json(table.astype(object).where(table.notna(), None).to_dict("records"))
        return 0
    chosen = set(store.frame(search=args.search)["item_code"])
    routings = [r for r in store.all() if r.item_code in chosen]
    if not routings:
        raise UserError("There are no accepted routings to export.")
    profiles = ProfileStore(home)
    profiles.ensure_example()
    profile = profiles.get(args.profile)
    rows = apply_profile(routings, profile)
    if args.connection:
        target = StagingInsert(database.connection(args.connection, home, args.secrets))
        print(target.plan(rows, len(routings)), file=sys.stderr, flush=True)
        written = target.insert(rows, user=local_user(), routings=len(routings), home=home)
        print_json({"rows": written, "routings": len(routings), "table": target.spec.staging_table,
                    "connection": target.spec.name})
        return 0
    out = Path(args.out)
    kind = args.format or out.suffix.lower().lstrip(".")
    data = file_export(kind).data(rows, profile)
    atomic_write_bytes(out, data)
    print_json({"file": str(out), "format": kind, "rows": len(rows), "routings": len(routings)})
    return 0
