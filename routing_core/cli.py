"""Command line: `python -m routing_core COMMAND …` (DESIGN §8). Exit 2 with one line for user errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from routing_core.errors import UserError
from routing_core.schema import parse_map_args

EXIT_USER_ERROR = 2

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so every error is one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def command(name: str):
    def register(func: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = func
        return func

    return register


def _add_map(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="SOURCE=canonical",
        help="map a source column to item_code, process_code, seq, duration_min (or duration_h/_s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m routing_core", description="Routing Studio core.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("stats", help="print dataset statistics as JSON")
    p.add_argument("file")
    _add_map(p)
    return parser


def print_json(payload: object) -> None:
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


@command("stats")
def _stats(args: argparse.Namespace) -> int:
    from routing_core.datasets import load_dataset
    from routing_core.stats import compute_stats

    dataset = load_dataset(args.file, parse_map_args(args.map))
    print_json(compute_stats(dataset))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
