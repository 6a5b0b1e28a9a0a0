"""A job shop: a seeded generator of the plant's routing export."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from routing_core.synthetic.plants.common import (
    Generated,
    as_number_column,
    as_text_column,
    best_share,
    chances_of,
    check,
    combos,
    draw_options,
    expand,
    first_rows,
    join_parts,
    known_options,
    log_noise,
    numbers_within,
    position,
    spelled_keys,
    truth_table,
)

# kind: share, description words, steps as (process, chance, words the description may carry
# when the step is there, chance that it carries one)
_J_KINDS = {
    "SHAFT": (0.16, ("SHAFT", "DRIVE SHAFT", "SHAFT STEPPED"), (
        ("SAW", 1, (), 0), ("LATHE", 1, (), 0), ("MILL_KEYWAY", 0.5, (), 0),
        ("HEAT_TREAT", 0.25, ("HARDENED", "HT"), 0.5), ("GRIND", 0.4, ("GROUND",), 0.3), ("INSPECT", 1, (), 0))),
    "BUSH": (0.12, ("BUSH", "BUSHING", "BUSH BRONZE"), (
        ("SAW", 1, (), 0), ("LATHE", 1, (), 0), ("GRIND", 0.3, ("GROUND",), 0.3), ("INSPECT", 1, (), 0))),
    "BRACKET": (0.14, ("BRACKET", "BRKT", "MOUNTING BRACKET"), (
        ("PROFILE_CUT", 1, (), 0), ("BEND", 0.6, (), 0), ("DRILL", 1, (), 0), ("WELD", 0.3, ("WELDED",), 0.6),
        ("PAINT", 0.5, ("PAINTED", "RAL 7035"), 0.5), ("INSPECT", 1, (), 0))),
    "PLATE": (0.12, ("PLATE", "BASE PLATE", "COVER PLATE"), (
        ("PROFILE_CUT", 1, (), 0), ("MILL", 0.5, (), 0), ("DRILL", 1, (), 0), ("INSPECT", 1, (), 0))),
    "FRAME": (0.08, ("FRAME", "WELDED FRAME", "FRAME ASSY"), (
        ("SAW", 1, (), 0), ("WELD", 1, (), 0), ("STRESS_RELIEVE", 0.2, ("SR",), 0.5), ("MILL", 0.4, (), 0),
        ("PAINT", 1, (), 0), ("INSPECT", 1, (), 0))),
    "REPAIR": (0.08, ("REPAIR", "REPAIR PUMP SHAFT", "REPAIR ROLLER"), (
        ("INSPECT", 1, (), 0), ("WELD", 0.5, ("BUILD UP",), 0.5), ("LATHE", 1, (), 0),
        ("GRIND", 0.5, (), 0), ("INSPECT", 1, (), 0))),
    "SPACER": (0.1, ("SPACER", "SPACER RING", "DISTANCE PIECE"), (
        ("SAW", 1, (), 0), ("LATHE", 1, (), 0), ("INSPECT", 1, (), 0))),
    "GEAR": (0.07, ("GEAR", "SPUR GEAR", "PINION"), (
        ("SAW", 1, (), 0), ("LATHE", 1, (), 0), ("GEAR_CUT", 1, (), 0),
        ("HEAT_TREAT", 0.6, ("HARDENED",), 0.5), ("GRIND", 0.5, (), 0), ("INSPECT", 1, (), 0))),
    "HOUSING": (0.08, ("HOUSING", "BEARING HOUSING", "HSG"), (
        ("SAW", 1, (), 0), ("MILL", 1, (), 0), ("DRILL", 1, (), 0), ("BORE", 0.5, (), 0), ("INSPECT", 1, (), 0))),
    "PIN": (0.05, ("PIN", "PIVOT PIN", "DOWEL"), (
        ("SAW", 1, (), 0), ("LATHE", 1, (), 0), ("HEAT_TREAT", 0.3, ("HT",), 0.5), ("INSPECT", 1, (), 0))),
}
_J_MINUTES = {"SAW": 8, "LATHE": 45, "CNC_LATHE": 25, "MILL": 50, "CNC_MILL": 30, "MILL_KEYWAY": 20,
              "HEAT_TREAT": 90, "GRIND": 40, "PROFILE_CUT": 15, "BEND": 12, "DRILL": 15, "WELD": 60,
              "PAINT": 30, "STRESS_RELIEVE": 120, "GEAR_CUT": 70, "BORE": 35, "INSPECT": 10,
              "DEBURR": 10, "TUMBLE": 20, "REWORK": 30, "CLEAN": 10}
_J_QTY = {1: 20, 2: 14, 4: 10, 5: 10, 10: 12, 20: 9, 25: 6, 50: 8, 100: 6, 200: 3, 500: 2}
_J_NOISE = ("", "", "", "", "", "URGENT", "AS DWG", "CUST MAT", "SAMPLE", "X2", "REV A", "SEE PO")


def _job_route(kind: str, bits: int, batch: int) -> list[str]:
    steps = [p for i, (p, chance, _, _) in enumerate(_J_KINDS[kind][2]) if chance == 1 or bits >> i & 1]
    if batch >= 1:  # 25 pieces or more go on the CNC machines
        steps = [{"LATHE": "CNC_LATHE", "MILL": "CNC_MILL"}.get(s, s) for s in steps]
    if batch >= 2:  # 100 pieces or more are tumbled before inspection
        steps.insert(len(steps) - 1, "TUMBLE")
    return steps


def _job_batch(qty: np.ndarray) -> np.ndarray:
    """0 below 25 pieces, 1 from 25 (CNC machines), 2 from 100 (CNC machines and tumbling)."""
    return np.select([qty >= 100, qty >= 25], [2, 1], 0)


def _job_options(kind: str, shown: int | None) -> list[tuple[tuple[str, int], float]]:
    """Each pattern of a kind's optional steps (a bit per step) with its chance: given the words
    the description shows (``shown``, a bit per step a word gives away; a step without its word
    has the chance p (1 - h) / (p (1 - h) + 1 - p)), or the kind's own chances when the
    description is blank (None)."""
    steps = _J_KINDS[kind][2]
    optional = [i for i, s in enumerate(steps) if s[1] < 1]
    out = []
    for pattern in itertools.product((False, True), repeat=len(optional)):
        weight, bits = 1.0, 0
        for i, on in zip(optional, pattern, strict=True):
            _, p, _, h = steps[i]
            if shown is None:
                q = p
            elif shown >> i & 1:
                q = 1.0
            else:
                q = p * (1 - h) / (p * (1 - h) + 1 - p)
            weight *= q if on else 1 - q
            bits |= int(on) << i
        out.append(((kind, bits), weight))
    return out


def job_share(kind: str | None, shown: int | None, batch: int | None) -> float:
    """The share of the likeliest routing of a job: over the optional steps the drawing decides,
    given the kind and the words of the description; when the description is blank (kind and
    shown None), over the kinds too, with their shares (different kinds can share a routing);
    when the quantity is blank (batch None), over the quantities too. Kind, steps and quantity
    are drawn apart from one another."""
    if kind is None:
        jobs = [(kb, v[0] * w) for k, v in _J_KINDS.items() for kb, w in _job_options(k, None)]
    else:
        jobs = _job_options(kind, shown)
    if batch is None:
        sizes = _job_batch(np.array(list(_J_QTY))).tolist()
        batches = [(b, sum(w for s, w in zip(sizes, _J_QTY.values(), strict=True) if s == b)) for b in set(sizes)]
    else:
        batches = known_options(batch)
    return best_share(lambda job, b: _job_route(job[0], job[1], b), jobs, batches)


def generate_jobshop(n_items: int = 3000, seed: int = 24, noise: float = 0.05) -> Generated:
    """A job-shop log with little in it (``JOB_NO``, ``PART_DESC``, ``QTY``, ``OP``, ``OPER``,
    ``MACHINE``, ``OPERATOR``, ``ACT_MIN``): a weak dataset.

    Each job makes one of ten kinds of part, named by a short description (``SHAFT``, ``BRKT``,
    ``REPAIR PUMP SHAFT``, ...) with a size and noise words that decide nothing. A kind has a
    base routing and optional steps that the drawing decides and the log does not show: a shaft
    is heat treated one time in four, ground four times in ten, ... Some of them leave a word
    in the description part of the time (``HARDENED``, ``GROUND``, ``WELDED``, ``RAL 7035``),
    never when the step is absent. What the log does decide: 25 pieces or more are turned and
    milled on CNC machines (CNC_LATHE, CNC_MILL), 100 or more are also tumbled (TUMBLE) before
    the inspection. Times are actual minutes, noisy, growing with the quantity. Job numbers are
    ``JS/YY/NNNN``.

    ``best_chance`` is the share of the likeliest routing given the kind, the quantity and the
    words (see job_share). Blank cells that decide steps: ``PART_DESC`` (1 % of the jobs: kind
    and words hidden) and ``QTY`` (2 %).
    """
    n = check(n_items, noise)
    rng = np.random.default_rng(seed)
    kind = draw_options(rng, {k: v[0] for k, v in _J_KINDS.items()}, n)
    qty = draw_options(rng, _J_QTY, n)
    batch = _job_batch(qty)
    bits = np.zeros(n, dtype=np.int64)
    shown_bits = np.zeros(n, dtype=np.int64)  # the steps a word in the description gives away
    hint = np.empty(n, dtype=object)
    hint[:] = ""
    word = spelled_keys(rng, kind, {k: v[1] for k, v in _J_KINDS.items()}, 0.6)
    for k, (_, _, steps) in _J_KINDS.items():  # loop over the ten kinds and their steps
        sel = np.flatnonzero(kind == k)
        for i, (_, p, hints, h) in enumerate(steps):
            if p == 1:
                continue
            present = rng.random(sel.size) < p
            bits[sel] |= present.astype(np.int64) << i
            shown = present & (rng.random(sel.size) < h) if hints else np.zeros(sel.size, dtype=bool)
            shown_bits[sel] |= shown.astype(np.int64) << i
            if hints:
                hint[sel[shown]] = hint[sel[shown]] + " " + np.array(hints, dtype=object)[rng.integers(len(hints), size=int(shown.sum()))]
    routes, combo = combos(_job_route, kind, bits, batch)
    vocab, row_item, code, perturbed, clean = expand(rng, routes, combo, ("DEBURR", "REWORK", "CLEAN"), noise)
    n_rows = row_item.size

    size = np.select([rng.random(n) < 0.4, rng.random(n) < 0.5],
                     ["D" + rng.integers(10, 200, size=n).astype(str), rng.integers(3, 40, size=n).astype(str) + "MM"], "")
    desc = join_parts(word, size.astype(object), hint, np.array(_J_NOISE, dtype=object)[rng.integers(len(_J_NOISE), size=n)])
    year = rng.integers(21, 26, size=n)
    number = numbers_within(rng, year, 10000)
    codes = ("JS/" + year.astype(str) + "/" + np.strings.zfill(number.astype(str), 4)).astype(object)
    minutes = (np.array([_J_MINUTES[p] for p in vocab])[code] * qty[row_item] ** 0.75 * log_noise(rng, 0.35, n_rows))
    machines = {p: [f"{p[:3]}-{i}" for i in (1, 2, 3)] for p in vocab}
    machine = np.array([m for p in vocab for m in machines[p]], dtype=object)[3 * code + rng.integers(3, size=n_rows)]
    ops = pd.DataFrame({
        "JOB_NO": as_text_column(codes[row_item]),
        "PART_DESC": as_text_column(desc[row_item], (rng.random(n) < 0.01)[row_item]),
        "QTY": as_number_column(qty[row_item], (rng.random(n) < 0.02)[row_item]),
        "OP": position(row_item, n),
        "OPER": as_text_column(np.array(vocab, dtype=object)[code]),
        "MACHINE": as_text_column(machine, rng.random(n_rows) < 0.05),
        "OPERATOR": as_text_column(np.array(["JB", "MK", "TS", "AR", "PL", "DW"], dtype=object)[rng.integers(6, size=n_rows)],
                          rng.random(n_rows) < 0.03),
        "ACT_MIN": np.where(rng.random(n_rows) < 0.02, np.nan, np.round(minutes, 0)),
    })
    mapping = {"JOB_NO": "item_code", "OPER": "process_code", "OP": "seq", "ACT_MIN": "duration_min"}
    blank = ops[["PART_DESC", "QTY"]].isna().to_numpy()[first_rows(row_item, n)]
    sel = np.flatnonzero(~perturbed)
    chance = np.ones(n)
    chance[sel] = chances_of(list(zip(
        np.where(blank[:, 0], None, kind)[sel].tolist(), np.where(blank[:, 0], None, shown_bits)[sel].tolist(),
        np.where(blank[:, 1], None, batch)[sel].tolist(), strict=True)), job_share)
    return ops, truth_table(codes, perturbed, clean, chance), mapping
