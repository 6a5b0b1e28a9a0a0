"""Compare docs/accuracy.json with the same file at an earlier commit, row by row.

    python benchmarks/compare_accuracy.py HEAD~1    # prints each changed figure, in points

Exit status 1 when a top-1 / top-3 / renumbered figure moved by more than --tolerance points.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("routing_accuracy", "top_3_accuracy", "renumbered")


def figures(data: dict) -> dict[tuple[str, str], float]:
    out = {}
    for section in ("results", "other_seeds", "plants"):
        for row in data.get(section, []):
            metrics = row.get("metrics", row)
            for key in KEYS:
                value = metrics.get(key, row.get(key))
                if isinstance(value, dict):
                    value = value.get("routing_accuracy")
                if isinstance(value, int | float):
                    out[(row["name"], key)] = float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("revision", help="git revision holding the earlier docs/accuracy.json")
    parser.add_argument("--tolerance", type=float, default=0.5, help="points (default 0.5)")
    args = parser.parse_args(argv)
    before = json.loads(subprocess.check_output(["git", "show", f"{args.revision}:docs/accuracy.json"], cwd=ROOT))
    now = json.loads((ROOT / "docs" / "accuracy.json").read_text())
    old, new = figures(before), figures(now)
    worst = 0.0
    for key in sorted(old.keys() & new.keys()):
        diff = 100 * (new[key] - old[key])
        worst = max(worst, abs(diff))
        if abs(diff) >= 0.005:
            print(f"{key[0]} · {key[1]}: {old[key]:.4f} -> {new[key]:.4f} ({diff:+.2f} points)")
    print(f"{len(old.keys() & new.keys())} figures compared; largest change {worst:.2f} points")
    return 1 if worst > args.tolerance else 0


if __name__ == "__main__":
    sys.exit(main())
