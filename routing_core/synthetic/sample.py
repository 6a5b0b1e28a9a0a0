"""Seeded generator of realistic routing exports (long form, one row per operation).

Items belong to families (shaft, flange, bracket, ...). Each family has a base routing and
deterministic rules turn an item's options into its clean routing: heat treatment adds
HEAT_TREAT (and a grind after it for tight tolerances), IT6/IT7 adds grinding, a surface
treatment adds a step before inspection, a thread adds THREAD/TAP, and the material can
swap the cutting process. A ``noise`` share of items gets a perturbed "plant variant"
routing (neighbours swapped, an extra step, or a step dropped); ``generate_with_truth``
says which, and what the rules would have given.

Everything is vectorised over rows: Python loops run only over families, materials,
option combinations and processes, so 1,000,000 rows take a few seconds at most.

The ``holdout`` variant is a different export altogether (other families, item code
format, process vocabulary, rules and column names). It stands for data the model was
never tuned on and must not be used for tuning.

The two plants' tables and rules are in routing_core.synthetic.sample_plants; the plant variants are drawn
by routing_core.synthetic.perturbation, which the plant generators (routing_core.synthetic.plants) share.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from routing_core.synthetic.perturbation import routing_rows
from routing_core.synthetic.sample_plants import (
    TOL_FACTOR,
    TOL_GRADES,
    VARIANT_TABLES,
    Variant,
)

VARIANTS = ("default", "holdout")


@dataclass(frozen=True)
class SampleConfig:
    n_items: int = 2000
    seed: int = 7
    noise: float = 0.05  # share of items perturbed by "plant variants" (the noise)
    missing_rate: float = 0.03  # share of blank attribute cells (never item_code/process_code)
    variant: str = "default"  # "default" or "holdout" (never used for tuning)


HOLDOUT_CONFIG = SampleConfig(n_items=2000, seed=20261126, variant="holdout")

# Share of duration cells left blank, relative to missing_rate (0.03 -> 0.5 %).
_DURATION_MISSING_FACTOR = 1 / 6
# Share of the attribute blanks that hit a whole item (absent in the item master); the
# rest are single cells dropped from the export.
_ITEM_LEVEL_BLANK_SHARE = 0.8
_DURATION_SIGMA = 0.12  # multiplicative lognormal noise on durations (~12 %)


# --------------------------------------------------------------------------- helpers


def _check(config: SampleConfig) -> Variant:
    if config.variant not in VARIANT_TABLES:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {config.variant!r}")
    if int(config.n_items) != config.n_items or config.n_items < 1:
        raise ValueError(f"n_items must be a whole number of at least 1, not {config.n_items!r}")
    if not 0.0 <= config.noise <= 1.0:
        raise ValueError(f"noise must lie between 0 and 1, not {config.noise!r}")
    if not 0.0 <= config.missing_rate < 1.0:
        raise ValueError(f"missing_rate must lie in [0, 1), not {config.missing_rate!r}")
    return VARIANT_TABLES[config.variant]


def _str_column(labels: Sequence[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A string column: codes index labels, -1 is a blank cell."""
    missing = codes < 0
    taken = pa.array(list(labels), type=pa.large_string()).take(
        pa.array(np.where(missing, 0, codes), mask=missing if missing.any() else None)
    )
    return pd.array(taken, dtype="str")


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


def _pick(rng: np.random.Generator, probs: dict, labels: Sequence, n: int) -> np.ndarray:
    """n draws of indexes into labels, with the probabilities of probs (keyed by label)."""
    keys = list(probs)
    p = np.array([probs[k] for k in keys], dtype=float)
    idx = np.array([list(labels).index(k) for k in keys])
    return idx[rng.choice(len(keys), size=n, p=p / p.sum())]


# --------------------------------------------------------------------------- items


def _make_items(rng: np.random.Generator, v: Variant, n: int) -> dict[str, np.ndarray]:
    fams = v.families
    w = np.array([f.weight for f in fams])
    fam = rng.choice(len(fams), size=n, p=w / w.sum())
    mat_names = [m.name for m in v.materials]

    mat = np.zeros(n, dtype=np.int64)
    dia = np.zeros(n)
    length = np.zeros(n)
    thick = np.zeros(n)
    tol = np.zeros(n, dtype=np.int64)
    surf = np.zeros(n, dtype=np.int64)
    heat = np.zeros(n, dtype=bool)
    thread = np.zeros(n, dtype=bool)
    count = np.zeros(n, dtype=np.int64)
    number = np.zeros(n, dtype=np.int64)
    width = np.zeros(n, dtype=np.int64)  # digits of the number part

    for fi, f in enumerate(fams):
        idx = np.flatnonzero(fam == fi)
        k = idx.size
        if k == 0:
            continue
        # item codes: unique random numbers, fixed width within the family
        digits = max(6, len(str(k * 20)))
        if f.leading_zeros:
            digits += 1
            low, high = 1, 10 ** (digits - 2)  # always at least two leading zeros
        else:
            low, high = 10 ** (digits - 1), 10**digits
        number[idx] = low + rng.choice(high - low, size=k, replace=False)
        width[idx] = digits
        # size: length grows with the diameter, weight from the envelope
        d = _lognormal(rng, f.dia[0], f.dia[1], k)
        length[idx] = f.length[0] * (d / f.dia[0]) ** 0.5 * np.exp(f.length[1] * rng.standard_normal(k))
        dia[idx] = d
        thick[idx] = d if f.round else d * _lognormal(rng, f.thick[0], f.thick[1], k)
        tol[idx] = np.array(TOL_GRADES)[_pick(rng, f.tol, TOL_GRADES, k)]
        m = _pick(rng, f.materials, mat_names, k)
        mat[idx] = m
        for mi in np.unique(m):
            sub = idx[m == mi]
            mt = v.materials[mi]
            surf[sub] = _pick(rng, mt.surfaces, v.surfaces, sub.size)
            if f.heat_ok and mt.heat_p > 0:
                heat[sub] = rng.random(sub.size) < mt.heat_p
        thread[idx] = rng.random(k) < f.thread_p
        count[idx] = np.where(thread[idx], rng.integers(f.threads[0], f.threads[1] + 1, size=k), 0)

    density = np.array([m.density for m in v.materials])
    fill = np.array([f.fill for f in fams])
    round_ = np.array([f.round for f in fams])
    weight = density[mat] * dia * thick * length * fill[fam] * 1e-6

    # the export is sorted by item code: family prefix first, then the number
    prefix_rank = np.argsort(np.argsort([f.prefix for f in fams]))
    order = np.lexsort((number, prefix_rank[fam]))
    items = {
        "fam": fam, "mat": mat, "dia": np.round(dia, 1), "length": np.round(length, 1),
        "thick": np.round(thick, 1),
        # thickness as exported: wall/face thickness of round parts is the smaller size
        "thick_out": np.round(np.where(round_[fam], np.minimum(dia, length), thick), 1), "weight": np.round(weight, 3), "tol": tol, "surf": surf,
        "heat": heat, "thread": thread, "count": count, "number": number, "width": width,
    }
    return {k: a[order] for k, a in items.items()}


def _item_codes(v: Variant, items: dict[str, np.ndarray]) -> np.ndarray:
    codes = np.empty(items["fam"].size, dtype=object)
    for fi, f in enumerate(v.families):
        sel = items["fam"] == fi
        if sel.any():
            digits = int(items["width"][sel][0])
            nums = np.strings.zfill(items["number"][sel].astype(str), digits)
            codes[sel] = np.strings.add(f.prefix + v.code_sep, nums).astype(object)
    return codes


# --------------------------------------------------------------------------- routings


def _clean_routings(v: Variant, items: dict[str, np.ndarray], vocab: dict[str, int]):
    """Routings by rule, per distinct option combination: (combo of each item, flat codes,
    offsets, lengths, routing strings)."""
    n_s = len(v.surfaces)
    key = items["fam"]
    for field, size in (("mat", len(v.materials)), ("tol", 12), ("surf", n_s), ("heat", 2), ("thread", 2)):
        key = key * size + items[field].astype(np.int64)
    uniq, combo = np.unique(key, return_inverse=True)
    flat: list[int] = []
    offsets = np.zeros(uniq.size, dtype=np.int64)
    lengths = np.zeros(uniq.size, dtype=np.int64)
    strings = np.empty(uniq.size, dtype=object)
    for ci, kv in enumerate(uniq.tolist()):
        kv, thread = divmod(kv, 2)
        kv, heat = divmod(kv, 2)
        kv, surf = divmod(kv, n_s)
        kv, tol = divmod(kv, 12)
        fam, mat = divmod(kv, len(v.materials))
        steps = v.route(v.families[fam], v.materials[mat], tol, v.surfaces[surf], bool(heat), bool(thread))
        offsets[ci] = len(flat)
        lengths[ci] = len(steps)
        flat.extend(vocab[s] for s in steps)
        strings[ci] = ">".join(steps)
    return combo.reshape(-1), np.array(flat, dtype=np.int64), offsets, lengths, strings


def _rows(rng, v, items, vocab, noise):
    """Operation rows (item index, step code) after plant-variant perturbation, plus the
    perturbed flag and clean routing string of every item."""
    combo, flat, offsets, lengths, strings = _clean_routings(v, items, vocab)
    extra_codes = np.array([vocab[s] for s in v.extras])
    row_item, code, perturbed = routing_rows(rng, flat, offsets, lengths, combo, extra_codes, noise)
    return row_item, code, perturbed, strings[combo]


# --------------------------------------------------------------------------- frame


def _build(config: SampleConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    v = _check(config)
    rng = np.random.default_rng(config.seed)
    n = int(config.n_items)
    procs = list(v.processes)
    vocab = {p: i for i, p in enumerate(procs)}

    items = _make_items(rng, v, n)
    codes = _item_codes(v, items)
    row_item, code, perturbed, clean = _rows(rng, v, items, vocab, config.noise)
    n_rows = row_item.size
    counts = np.bincount(row_item, minlength=n)
    seq = (np.arange(n_rows) - (np.cumsum(counts) - counts)[row_item] + 1) * 10

    # durations: size, material and tolerance factors, lognormal noise
    tab = {f: np.array([getattr(v.processes[p], f) for p in procs], dtype=float)
           for f in ("base", "exp_d", "exp_l", "exp_w", "cutting", "precision", "outsource", "exp_count")}
    machin = np.array([m.machinability for m in v.materials])
    it = items
    log_d = np.log(it["dia"] / 50.0)[row_item]
    log_l = np.log(it["length"] / 100.0)[row_item]
    log_w = np.log(np.maximum(it["weight"], 1e-3))[row_item]
    log_c = np.log(np.maximum(it["count"], 1))[row_item]
    log_dur = (
        np.log(tab["base"])[code]
        + tab["exp_d"][code] * log_d
        + tab["exp_l"][code] * log_l
        + tab["exp_w"][code] * log_w
        + tab["exp_count"][code] * log_c
        + tab["cutting"][code] * np.log(machin)[it["mat"]][row_item]
        + tab["precision"][code] * np.log(TOL_FACTOR)[it["tol"] - 6][row_item]
        + _DURATION_SIGMA * rng.standard_normal(n_rows)
    )
    duration = np.maximum(np.round(np.exp(log_dur), 1), 0.1)

    # operation attributes: bought-in steps go to the supplier, big parts to big machines
    outsourced = rng.random(n_rows) < tab["outsource"][code]
    centers: list[str] = []
    wc_off = np.zeros(len(procs), dtype=np.int64)
    wc_n = np.zeros(len(procs), dtype=np.int64)
    ext_idx = np.zeros(len(procs), dtype=np.int64)
    for i, p in enumerate(procs):
        wc_off[i], wc_n[i] = len(centers), len(v.processes[p].centers)
        centers.extend(v.processes[p].centers)
    for i, p in enumerate(procs):
        ext = v.processes[p].external or "EXTERNAL"
        if ext not in centers:
            centers.append(ext)
        ext_idx[i] = centers.index(ext)
    fam_d = np.array([f.dia[0] for f in v.families])
    size_u = np.clip(0.5 + np.log(it["dia"] / fam_d[it["fam"]]) / 1.5, 0, 0.999)[row_item]
    size_u = np.where(rng.random(n_rows) < 0.75, size_u, rng.random(n_rows))
    wc = wc_off[code] + np.floor(size_u * wc_n[code]).astype(np.int64)
    wc = np.where(outsourced, ext_idx[code], wc)

    # blanks: mostly whole items (absent from the item master), some single cells
    rate = config.missing_rate
    item_rate = _ITEM_LEVEL_BLANK_SHARE * rate
    cell_rate = (rate - item_rate) / (1 - item_rate) if rate else 0.0

    def blank(whole_items: bool = True) -> np.ndarray:
        if not whole_items:  # operation attributes: single cells
            return rng.random(n_rows) < rate
        return (rng.random(n_rows) < cell_rate) | (rng.random(n) < item_rate)[row_item]

    def num(field: str) -> np.ndarray:
        return np.where(blank(), np.nan, it[field][row_item])

    def cat(values: np.ndarray, whole_items: bool = True) -> np.ndarray:
        return np.where(blank(whole_items), -1, values)

    yes_no = ("N", "Y")
    fam_names = [f.name for f in v.families]
    cols: dict[str, Callable[[], object]] = {
        "item_code": lambda: _str_column(codes.tolist(), row_item),
        "seq": lambda: seq.astype(np.int64),
        "process_code": lambda: _str_column(procs, code),
        "duration_min": lambda: np.where(rng.random(n_rows) < rate * _DURATION_MISSING_FACTOR, np.nan, duration),
        "family": lambda: _str_column(fam_names, cat(it["fam"][row_item])),
        "material": lambda: _str_column([m.name for m in v.materials], cat(it["mat"][row_item])),
        "dia": lambda: num("dia"),
        "length": lambda: num("length"),
        "thick": lambda: num("thick_out"),
        "weight": lambda: num("weight"),
        "tol": lambda: _str_column([v.tol_label(t) for t in range(12)], cat(it["tol"][row_item])),
        "surface": lambda: _str_column(v.surfaces, cat(it["surf"][row_item])),
        "heat": lambda: _str_column(yes_no, cat(it["heat"][row_item].astype(np.int64))),
        "thread": lambda: _str_column(yes_no, cat(it["thread"][row_item].astype(np.int64))),
        "thread_count": lambda: pd.arrays.IntegerArray(it["count"][row_item], blank()),
        "work_center": lambda: _str_column(centers, cat(wc, whole_items=False)),
        "outsourced": lambda: _str_column(v.yes_no, cat(outsourced.astype(np.int64), whole_items=False)),
    }
    ops = pd.DataFrame({out: cols[field]() for out, field in v.columns})
    truth = pd.DataFrame({
        "item_code": _str_column(codes.tolist(), np.arange(n)),
        "family": _str_column(fam_names, it["fam"]),
        "perturbed": perturbed,
        "clean_routing": pd.array(clean, dtype="str"),
    })
    return ops, truth


def generate(config: SampleConfig = SampleConfig()) -> pd.DataFrame:
    """Long-form operations table: item_code, seq, process_code, duration_min, then item
    attributes (constant within an item) and operation attributes (work_center,
    outsourced). Same config, same frame."""
    return _build(config)[0]


def generate_with_truth(config: SampleConfig = SampleConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ops, truth). truth has one row per item: item_code, family, perturbed (bool) and
    clean_routing (the rule-based routing before perturbation, steps joined by '>')."""
    return _build(config)


def sample_csv_bytes(config: SampleConfig = SampleConfig()) -> bytes:
    """generate() as UTF-8 CSV, comma-delimited, without index."""
    return generate(config).to_csv(index=False).encode("utf-8")


@lru_cache(maxsize=1)
def _rows_per_item() -> float:
    n = 4000
    return len(generate(SampleConfig(n_items=n, seed=0))) / n


def items_for_rows(n_rows: int) -> int:
    """n_items giving about n_rows operation rows with the default variant."""
    return max(1, int(round(n_rows / _rows_per_item())))


# --------------------------------------------------------------------------- best chances

_OPTION_FIELDS = {"tol": ("tol",), "surf": ("surface",), "heat": ("heat",), "thread": ("thread", "thread_count")}


def best_chances(config: SampleConfig = SampleConfig()) -> pd.Series:
    """Per item code, an upper bound on the chance that any model, reading the exported item
    attributes, ranks the item's recorded routing first.

    A perturbed item gets 0 (its plant variant is drawn at random; that a variant equals the
    routing a model guesses is rare enough to leave out). Otherwise, when an option
    that decides steps (tolerance, surface, heat treatment, thread) is blank for the whole item,
    the best any model can do is name the routing most likely under the values the blank may
    hold; its chance is that routing's share, with the generator's own probabilities. With no
    such blank the chance is 1. A blank family or material counts as known (the item code and
    the weight per size can give them away), so the figure is an upper bound.
    """
    v = _check(config)
    ops, truth = _build(config)
    items = _make_items(np.random.default_rng(config.seed), v, int(config.n_items))
    codes = _item_codes(v, items)
    exported = {field: out for out, field in v.columns}
    option_cols = sorted({exported[f] for fields in _OPTION_FIELDS.values() for f in fields if f in exported})
    all_blank = ops[option_cols].isna().groupby(ops["item_code"].astype(str), sort=False).all()
    all_blank = all_blank.reindex(codes.tolist())
    hidden = {}
    for option, fields in _OPTION_FIELDS.items():
        cols = [exported[f] for f in fields if f in exported]
        # not exported at all: always unknown
        hidden[option] = all_blank[cols].all(axis=1).to_numpy(dtype=bool) if cols else np.ones(len(codes), dtype=bool)
    perturbed = truth.set_index("item_code")["perturbed"].reindex(codes.tolist()).to_numpy(dtype=bool)
    chance = np.where(perturbed, 0.0, 1.0)
    cache: dict[tuple, float] = {}
    for i in np.flatnonzero(~perturbed):
        mask = tuple(bool(hidden[o][i]) for o in _OPTION_FIELDS)
        if not any(mask):
            continue
        f, m = v.families[items["fam"][i]], v.materials[items["mat"][i]]
        known = (int(items["tol"][i]), v.surfaces[items["surf"][i]], bool(items["heat"][i]), bool(items["thread"][i]))
        key = (int(items["fam"][i]), int(items["mat"][i]), mask, tuple(k for k, h in zip(known, mask, strict=True) if not h))
        if key not in cache:
            heat_p = m.heat_p if f.heat_ok else 0.0
            choices = [
                list(f.tol.items()) if mask[0] else [(known[0], 1.0)],
                list(m.surfaces.items()) if mask[1] else [(known[1], 1.0)],
                [(True, heat_p), (False, 1.0 - heat_p)] if mask[2] else [(known[2], 1.0)],
                [(True, f.thread_p), (False, 1.0 - f.thread_p)] if mask[3] else [(known[3], 1.0)],
            ]
            mass: dict[tuple[str, ...], float] = {}
            for (tol, pt), (surf, ps), (heat, ph), (thread, pth) in itertools.product(*choices):
                p = pt * ps * ph * pth
                if p > 0:
                    steps = tuple(v.route(f, m, tol, surf, heat, thread))
                    mass[steps] = mass.get(steps, 0.0) + p
            cache[key] = max(mass.values()) / sum(mass.values())
        chance[i] = cache[key]
    return pd.Series(chance, index=pd.Index(codes.tolist(), name="item_code"), name="best_chance")
