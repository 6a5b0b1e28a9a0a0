"""What the command-line modules (commands, database, accepted) share: the command table, the --map option, JSON
output and the data home of a run. It imports neither of them, so they need not import each other
both ways."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    """Register the decorated function as the handler of the command `name`."""

    def register(func: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = func
        return func

    return register


def add_map(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="SOURCE=canonical",
        help="map a source column to item_code, process_code, seq, duration_min (or duration_h/_s)",
    )


def print_json(payload: object) -> None:
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


_NOTES: list[str] = []


def note(text: str, kind: str = "note") -> None:
    """A note (or warning) on how the input was read: said on stderr when the command ends well (a
    command that fails says only its one error line)."""
    _NOTES.append(f"{kind}: {text}")


def take_notes() -> list[str]:
    """The lines of the notes so far, forgotten here."""
    notes = list(_NOTES)
    _NOTES.clear()
    return notes


def data_home_of(args: argparse.Namespace) -> Path:
    """--data-home if given, else the default data home."""
    from routing_core.datasets import data_home

    return Path(args.data_home) if args.data_home else data_home()


def decided_mapping(args: argparse.Namespace, raw, refuse: bool = True) -> dict[str, str]:
    """The mapping to read `raw` (a RawTable) with on the command line: --map, else the mapping
    confirmed for these headers before, else the names with the contents settling ambiguous
    ones. Disagreements between the mapping and the contents refuse the file (`refuse`) or are
    printed as warnings; what the contents settled is said on stderr."""
    from routing_core.mapping import mapping_memory
    from routing_core.mapping.content import decide_mapping
    from routing_core.mapping.schema import parse_map_args
    from routing_core.platform.errors import UserError

    explicit = parse_map_args(getattr(args, "map", None))
    if not explicit:
        remembered = mapping_memory.recall(data_home_of(args), raw.frame.columns)
        if remembered is not None:
            explicit = remembered[0]
            note(f"the mapping confirmed for these columns ({remembered[1]}) is used.")
    decision = decide_mapping(raw.frame, explicit)
    for sentence in decision.changed:
        note(f"{sentence} Read that way.")
    if decision.problems:
        if refuse:
            raise UserError(f"{raw.source_name}: the mapping disagrees with the contents. {decision.refusal()}")
        for problem in decision.problems:
            note(problem.sentence(), "warning")
    return decision.mapping


def cli_dataset(args: argparse.Namespace, raw, refuse: bool = True):
    """The Dataset a command reads from `raw`: an event log (unless --no-event-log) read as
    routings with --map naming its case or activity where the names do not; any other file with
    the mapping decided_mapping() settles."""
    from routing_core.datasets import read_routings
    from routing_core.datasets.eventlog import detect_event_log
    from routing_core.mapping.schema import parse_map_args

    if not getattr(args, "no_event_log", False):
        explicit = parse_map_args(getattr(args, "map", None))
        if detect_event_log(raw.frame, explicit) is not None:
            return read_routings(raw, explicit, event_log=True)
    return read_routings(raw, decided_mapping(args, raw, refuse=refuse), event_log=False)
