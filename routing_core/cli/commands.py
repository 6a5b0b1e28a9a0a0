"""Command line: `python -m routing_core COMMAND …` (docs/design.md, 'Command line').

Exit 2 with one line for user errors; exit 1 with one line for anything unexpected (`--debug`
prints the traceback too)."""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from routing_core.cli import accepted as accepted_cli  # accept, accepted (registers its commands)
from routing_core.cli import (
    database as database_cli,  # connections, fetch, refresh (registers its commands)
)
from routing_core.cli.common import (
    COMMANDS,
    add_map,
    cli_dataset,
    command,
    data_home_of,
    decided_mapping,
    note,
    print_json,
    take_notes,
)
from routing_core.mapping.schema import parse_map_args
from routing_core.platform.errors import UserError
from routing_core.platform.formatting import percent
from routing_core.users.access import (
    local_user,  # who the command line acts as: the OS user, by name
)

EXIT_USER_ERROR = 2
EXIT_UNEXPECTED = 1

class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so every error is one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def _add_dirs(p: argparse.ArgumentParser, default: object) -> None:
    p.add_argument("--models-dir", default=default, metavar="DIR",
                   help="the model registry (default: $ROUTING_MODELS_DIR or ./models)")
    p.add_argument("--data-home", default=default, metavar="DIR",
                   help="where datasets are stored (default: $ROUTING_DATA_HOME or ./data)")
    p.add_argument("--debug", action="store_true", default=False if default is None else default,
                   help="print the traceback of an unexpected error")


def _add_event_log(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-event-log", action="store_true",
                   help="read a file with case, activity and timestamp columns row by row, "
                        "not as an event log")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m routing_core", description="Routing Studio core.")
    _add_dirs(parser, None)
    # The folders may also follow the command (`worker --models-dir M`); SUPPRESS keeps the global value.
    dirs = _Parser(add_help=False)
    _add_dirs(dirs, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("stats", help="print dataset statistics as JSON", parents=[dirs])
    p.add_argument("file")
    add_map(p)
    _add_event_log(p)

    p = sub.add_parser("train", help="train, evaluate and publish a model version", parents=[dirs])
    p.add_argument("file")
    p.add_argument("--version", help="name of the new version (default: automatic, v%%Y%%m%%d-%%H%%M%%S)")
    add_map(p)
    _add_event_log(p)
    p.add_argument("--dry-run", action="store_true", help="validate, profile and plan; write nothing")
    p.add_argument("--test-size", type=float, default=0.2, help="share of items held out (default 0.2)")
    p.add_argument("--seed", type=int, default=42, help="seed of the item split (default 42)")
    p.add_argument("--newest-by", metavar="COLUMN",
                   help="hold out the newest --test-size share of the items by this date column "
                        "(item creation, valid-from, order date) instead of a random share")
    p.add_argument("--top-k", type=int, default=5, help="candidates per item (default 5)")
    p.add_argument("--dataset-name", help="name to store the file under (default: from the file name)")
    p.add_argument("--no-refit", action="store_true",
                   help="publish the model fitted on the training split only")
    p.add_argument("--progress", action="store_true", help="print progress lines on stderr")

    p = sub.add_parser("predict", help="predict routings for the items of a file", parents=[dirs])
    p.add_argument("file")
    p.add_argument("--version", help="model version (default: the active one)")
    add_map(p)
    p.add_argument("--top-k", type=int, default=None, help="candidates per item")
    p.add_argument("--ignore-history", action="store_true",
                   help="predict known items too instead of returning their known routing")
    p.add_argument("--out", required=True, help="output CSV (long form)")
    p.add_argument("--progress", action="store_true", help="print a line on stderr per partition predicted")

    p = sub.add_parser("evaluate", help="metrics of a version on a labelled file", parents=[dirs])
    p.add_argument("file")
    p.add_argument("--version", help="model version (default: the active one)")
    add_map(p)
    p.add_argument("--top-k", type=int, default=5, help="k of top-k accuracy (default 5)")
    _add_event_log(p)
    p.add_argument("--use-history", action="store_true",
                   help="let items known to the model return their known routing")

    p = sub.add_parser("versions", help="list model versions", parents=[dirs])
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = sub.add_parser("activate", help="make a version the active one", parents=[dirs])
    p.add_argument("version")

    p = sub.add_parser("delete", help="delete a version", parents=[dirs])
    p.add_argument("version")

    sub.add_parser("worker", help="run queued training jobs (started by the dashboard)", parents=[dirs])

    p = sub.add_parser("settings", help="the ROUTING_* settings in force (--table: the README's table)")
    p.add_argument("--table", action="store_true", help="print the table of every setting as Markdown")

    database_cli.add_parsers(sub, [dirs])
    accepted_cli.add_parsers(sub, [dirs])
    return parser


@command("stats")
def _stats(args: argparse.Namespace) -> int:
    from routing_core.datasets import read_table
    from routing_core.datasets.stats import compute_stats

    raw = read_table(args.file)
    dataset = cli_dataset(args, raw, refuse=False)
    print_json(compute_stats(dataset))
    return 0


def _registry(args: argparse.Namespace):
    from routing_core.users.activity import ActivityLog
    from routing_core.versions.registry import Registry

    # Changes are recorded as the OS user (local_user) in the data home's activity log.
    return Registry(args.models_dir, activity=ActivityLog(data_home_of(args)))


def _positive_int(value: int | None, what: str) -> None:
    if value is not None and value < 1:
        raise UserError(f"{what} must be 1 or more (got {value}).")


def store_dataset(args: argparse.Namespace, dataset) -> str:
    """Store the file's dataset in the data home unless the same content is there; returns its name."""
    from routing_core.datasets import DatasetStore
    from routing_core.platform.names import check_name, suggest_name

    store = DatasetStore(data_home_of(args))
    existing = store.find_by_content(dataset.sha256, dataset.mapping)
    if existing is not None:
        return existing.name
    if args.dataset_name:
        name = check_name(args.dataset_name, "dataset name")
    else:
        base = suggest_name(Path(args.file).name)
        taken = set(store.names()) | {p.name for p in store.folder.glob("*") if p.is_dir()} \
            if store.folder.is_dir() else set()
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base[:60]}-{n}"
    record, _ = store.save(name, dataset, user=local_user())
    return record.name


@command("train")
def _train(args: argparse.Namespace) -> int:
    from routing_core.engine.jobs import training_slot
    from routing_core.engine.train_request import TrainRequest, check_request
    from routing_core.engine.training import run_training
    from routing_core.platform.names import check_name

    _positive_int(args.top_k, "--top-k")
    registry = _registry(args)
    request = TrainRequest(
        dataset=args.dataset_name or "file", version=args.version, dry_run=args.dry_run,
        test_size=args.test_size, seed=args.seed, top_k=args.top_k, refit=not args.no_refit,
        split="newest" if args.newest_by else "random", date_column=args.newest_by,
    )
    # Everything a user can get wrong is checked before anything is read or stored.
    check_request(request, registry)
    if args.dataset_name:
        check_name(args.dataset_name, "dataset name")
    parse_map_args(args.map)  # a malformed --map is refused before the file is read

    from routing_core.datasets import read_table

    raw = read_table(args.file)
    dataset = cli_dataset(args, raw)

    def progress(stage: str, pct: float, message: str) -> None:
        print(f"[{pct:5.1f}%] {stage}: {message}", file=sys.stderr, flush=True)

    if args.dry_run:
        from routing_core.platform.names import suggest_name

        request.dataset = args.dataset_name or suggest_name(Path(args.file).name)
        summary = run_training(request, registry.root, data_home_of(args), dataset=dataset,
                               progress=progress if args.progress else None, user=local_user())
    else:
        # A one-item file fails the training; find that out before the file is stored.
        if dataset.n_items < 2:
            raise UserError(f"{args.file} has {dataset.n_items} item(s); training needs at least 2.")
        request.dataset = store_dataset(args, dataset)
        from routing_core.engine import scheduler_address

        if scheduler_address():  # a job on the cluster, recorded like one started on the Train page
            from routing_core.engine import train_and_wait

            print_json(train_and_wait(registry.root, data_home_of(args), request,
                                      progress=progress if args.progress else None, user=local_user()))
            return 0

        def waiting() -> None:
            print("waiting: another training is running in this models folder", file=sys.stderr, flush=True)

        # One training at a time per models folder, whether queued from the dashboard or run here.
        with training_slot(registry.root, on_wait=waiting):
            summary = run_training(request, registry.root, data_home_of(args),
                                   progress=progress if args.progress else None, user=local_user())
        from routing_core.users.activity import FINISH_TRAINING

        registry.activity.record(local_user(), FINISH_TRAINING, summary["version"], outcome="completed",
                                 dataset=request.dataset, via="command line")
    print_json(summary)
    return 0


def _out_path(out: str) -> Path:
    path = Path(out)
    if path.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as predictions.csv.")
    if not path.parent.is_dir():
        raise UserError(f"--out {out}: the folder {path.parent} does not exist.")
    return path


@command("predict")
def _predict(args: argparse.Namespace) -> int:
    _positive_int(args.top_k, "--top-k")
    out = _out_path(args.out)
    mapping = parse_map_args(args.map)
    registry = _registry(args)
    version = args.version or registry.active()
    model = registry.load_model(version)  # hash-checked before anything else happens

    from routing_core.datasets import read_table
    from routing_core.datasets.batch import read_batch
    from routing_core.engine.batch import predict_frame
    from routing_core.platform.atomic import atomic_write_bytes
    from routing_core.platform.export import to_safe_csv

    def progress(done: int, total: int) -> None:
        print(f"[{100 * done / total:5.1f}%] predict: partition {done} of {total}", file=sys.stderr, flush=True)

    raw = read_table(args.file)
    items, summary = read_batch(raw, mapping or _version_mapping(registry, version, raw, ("item_code",)))
    frame = predict_frame(model, items, top_k=args.top_k, ignore_history=args.ignore_history,
                          progress=progress if args.progress else None)
    atomic_write_bytes(out, to_safe_csv(frame))
    for sentence in summary.sentences()[1:]:
        if "folded" not in sentence:  # a routing export's further steps are expected
            note(sentence)
    print_json({"version": version, "items": int(len(items)), "rows": int(len(frame)),
                "out": str(out), "batch": summary.to_json()})
    return 0


def _version_mapping(registry, version: str, raw, needed: tuple[str, ...]) -> dict[str, str] | None:
    """The mapping the version was trained with, when the file has its columns (stderr says so)."""
    from routing_core.mapping.mapping_memory import for_version

    recorded = (registry.get(version).dataset or {}).get("mapping")
    mapping = for_version(raw.frame.columns, recorded, needed)
    if mapping is not None:
        note(f"read with the columns version {version} was trained on.")
    return mapping


@command("evaluate")
def _evaluate(args: argparse.Namespace) -> int:
    _positive_int(args.top_k, "--top-k")
    mapping = parse_map_args(args.map)
    registry = _registry(args)
    version = args.version or registry.active()
    model = registry.load_model(version)  # hash-checked before the file is read

    from routing_core.datasets import read_routings, read_table
    from routing_core.scoring.compare import vocabulary_overlap
    from routing_core.scoring.evaluation import routing_metrics

    raw = read_table(args.file)
    dataset = read_routings(raw, mapping or _version_mapping(registry, version, raw, ("item_code", "process_code"))
                            or decided_mapping(args, raw, refuse=False), event_log=not args.no_event_log)
    unknown = vocabulary_overlap(dataset.ops, {version: model})
    if unknown is not None:
        raise UserError(f"{args.file}: {unknown} Check the mapping (--map SOURCE=process_code).")
    metrics = routing_metrics(model, dataset.ops, top_k=args.top_k,
                              ignore_history=not args.use_history)
    known = int(dataset.ops["item_code"].drop_duplicates().isin(
        set(getattr(model, "item_index_", {}))).sum())
    print_json({"version": version, "file": args.file, "items": dataset.n_items,
                "items_known_to_model": known, "history_used": bool(args.use_history), **metrics})
    return 0


@command("versions")
def _versions(args: argparse.Namespace) -> int:
    infos = _registry(args).list()
    rows = [
        {
            "version": i.name,
            "active": i.active,
            "created_at": i.created_at,
            "dataset": i.dataset.get("name"),
            "items": i.dataset.get("items"),
            "routing_accuracy": (i.metrics or {}).get("routing_accuracy"),
            "top_3_accuracy": (i.metrics or {}).get("top_3_accuracy"),
            "top_5_accuracy": (i.metrics or {}).get("top_5_accuracy"),
            "coverage": (i.metrics or {}).get("coverage"),
            "broken": i.broken,
        }
        for i in infos
    ]
    if args.format == "json":
        print_json(rows)
        return 0
    if not rows:
        print("No model versions yet: train one with `python -m routing_core train FILE`.")
        return 0
    header = ["", "version", "created_at", "dataset", "items", "routing_acc", "top3_acc", "top5_acc", "status"]
    table = [header]
    for r in rows:
        table.append([
            "*" if r["active"] else "", r["version"], r["created_at"] or "", r["dataset"] or "",
            "" if r["items"] is None else str(r["items"]),
            _pct(r["routing_accuracy"]), _pct(r["top_3_accuracy"]), _pct(r["top_5_accuracy"]),
            f"broken: {r['broken']}" if r["broken"] else "ok",
        ])
    widths = [max(len(row[c]) for row in table) for c in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _pct(value: object) -> str:
    return percent(value) if isinstance(value, int | float) else ""  # one rounding, as the pages


@command("activate")
def _activate(args: argparse.Namespace) -> int:
    info = _registry(args).activate(args.version, user=local_user())
    print_json({"active": info.name})
    return 0


@command("delete")
def _delete(args: argparse.Namespace) -> int:
    registry = _registry(args)
    registry.delete(args.version, user=local_user())
    print_json({"deleted": args.version, "active": registry.active()})
    return 0


@command("worker")
def _worker(args: argparse.Namespace) -> int:
    from routing_core.engine.worker import run_worker

    return run_worker(args.models_dir, data_home_of(args))


@command("settings")
def _settings(args: argparse.Namespace) -> int:
    from routing_core.platform.settings import in_force, markdown_table

    print(markdown_table() if args.table else "\n".join(in_force()))
    return 0


def _map_hint(exc: UserError) -> str:
    """For a required column not found: the --map that maps it (the proposed column, if any)."""
    missing = getattr(exc, "missing", ())
    if not missing:
        return ""
    proposed = {p.role: p.column for p in getattr(exc, "proposals", ())}
    maps = " ".join(
        f"--map {shlex.quote(f'{proposed[role]}={role}')}" if role in proposed else f"--map SOURCE={role}"
        for role in missing
    )
    if len(missing) > 1:
        return f" Map them with {maps}."
    return f" Map {'it' if proposed else 'one'} with {maps}."


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    take_notes()
    try:
        args = build_parser().parse_args(argv)
        code = COMMANDS[args.command](args)
        for line in take_notes():  # how the input was read, once the command has ended well
            print(line, file=sys.stderr)
        return code
    except UserError as exc:
        take_notes()  # a failing command says one line
        print(f"error: {exc}{_map_hint(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file or folder the user named cannot be written or read
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen state: one line, the trace only when asked for
        if "--debug" in argv:
            traceback.print_exc()
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        print(f"error: unexpected {type(exc).__name__}{': ' + detail if detail else ''} "
              "(run again with --debug for the details)", file=sys.stderr)
        return EXIT_UNEXPECTED
