"""What the command-line modules (cli, dbcli) share: the command table, the --map option, JSON
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


def data_home_of(args: argparse.Namespace) -> Path:
    """--data-home if given, else the default data home."""
    from routing_core.datasets import data_home

    return Path(args.data_home) if args.data_home else data_home()
