"""Seeded generators of routing exports from other plants and industries, for the accuracy benchmark.

Each generator stands for a plant the model was never tuned on: its own products, causal rules,
item code pattern, process vocabulary and ERP column names. Each returns ``(ops, truth, mapping)``:

- ``ops``: the export, long form (one row per operation), with the plant's own column names,
  some blank cells and a few dirty values;
- ``truth``: one row per item: ``item_code``, ``perturbed`` (the item got a "plant variant":
  neighbours swapped, an extra step or a dropped step, a ``noise`` share of items),
  ``clean_routing`` (the routing the rules give, steps joined by '>') and ``best_chance`` (an
  upper bound on the chance that any model reading the export names the recorded routing first:
  0 for a plant variant, below 1 where the routing depends on facts the export does not hold;
  blank cells count as known);
- ``mapping``: ``{source column: canonical target}`` for the item, process, sequence and
  duration columns.

Everything is vectorised over rows; Python loops run only over the distinct combinations of the
facts that decide a routing (a few hundred at most). ``PLANTS`` maps a name to its generator;
all share the signature ``(n_items=3000, seed=..., noise=0.05)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

_PERTURB_KINDS = (0.4, 0.3, 0.3)  # swap neighbours, insert an extra step, drop a step
_MAX_STEPS = 128  # routings are far shorter; used for sort keys
Generated = tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]


# --------------------------------------------------------------------------- helpers


def _check(n_items: int, noise: float) -> int:
    if int(n_items) != n_items or n_items < 1:
        raise ValueError(f"n_items must be a whole number of at least 1, not {n_items!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must lie between 0 and 1, not {noise!r}")
    return int(n_items)


def _draw(rng: np.random.Generator, options: dict, n: int) -> np.ndarray:
    """n draws of the keys of options, with the values as (relative) probabilities."""
    keys = list(options)
    p = np.array([options[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object if isinstance(keys[0], str) else None)[
        rng.choice(len(keys), size=n, p=p / p.sum())]


def _combos(route: Callable[..., list[str]], *facts: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    """The routing of each distinct combination of facts (one call per combination) and the
    combination of each item."""
    codes, uniques = zip(*(pd.factorize(f) for f in facts), strict=True)
    keys, combo = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    routes = [route(*(u[k] for u, k in zip(uniques, row, strict=True))) for row in keys.tolist()]
    for r in routes:
        assert all(a != b for a, b in zip(r, r[1:], strict=False)), r  # a swap must change a routing
    return routes, combo.reshape(-1)


def _expand(rng, routes: list[list[str]], combo: np.ndarray, extras: Sequence[str], noise: float):
    """Operation rows from each item's routing, a ``noise`` share of items perturbed: (step
    vocabulary, item of each row, step code of each row, perturbed flag and clean routing of
    each item)."""
    vocab = sorted({s for r in routes for s in r} | set(extras))
    index = {s: i for i, s in enumerate(vocab)}
    lengths = np.array([len(r) for r in routes])
    offsets = np.cumsum(lengths) - lengths
    flat = np.array([index[s] for r in routes for s in r], dtype=np.int64)
    n = combo.size
    item_len = lengths[combo]
    starts = np.cumsum(item_len) - item_len
    row_item = np.repeat(np.arange(n), item_len)
    pos = np.arange(row_item.size) - starts[row_item]
    code = flat[offsets[combo][row_item] + pos]
    perturbed = np.zeros(n, dtype=bool)
    n_pert = int(round(noise * n))
    if n_pert:
        chosen = np.sort(rng.choice(n, size=n_pert, replace=False))
        perturbed[chosen] = True
        kind = rng.choice(3, size=n_pert, p=_PERTURB_KINDS)
        u = rng.random(n_pert)
        length_c, start_c = item_len[chosen], starts[chosen]
        sw = kind == 0  # swap a step with its next neighbour
        a = start_c[sw] + np.floor(u[sw] * (length_c[sw] - 1)).astype(np.int64)
        code[a], code[a + 1] = code[a + 1], code[a].copy()
        keep = np.ones(code.size, dtype=bool)  # drop a step
        dr = kind == 2
        keep[start_c[dr] + np.floor(u[dr] * length_c[dr]).astype(np.int64)] = False
        ins = kind == 1  # an extra step before position 1..len
        j = 1 + np.floor(u[ins] * length_c[ins]).astype(np.int64)
        extra = np.array([index[s] for s in extras])[rng.integers(len(extras), size=int(ins.sum()))]
        sort_key = np.concatenate([(row_item * _MAX_STEPS + 2 * pos)[keep],
                                   chosen[ins] * _MAX_STEPS + 2 * j - 1])
        code = np.concatenate([code[keep], extra])
        row_item = np.concatenate([row_item[keep], chosen[ins]])
        order = np.argsort(sort_key, kind="stable")
        code, row_item = code[order], row_item[order]
    clean = np.array([">".join(r) for r in routes], dtype=object)[combo]
    return vocab, row_item, code, perturbed, clean


def _position(row_item: np.ndarray, n: int) -> np.ndarray:
    """1, 2, 3, ... within each item (rows of an item are contiguous)."""
    counts = np.bincount(row_item, minlength=n)
    return np.arange(row_item.size) - (np.cumsum(counts) - counts)[row_item] + 1


def _text(values: np.ndarray, blank: np.ndarray | None = None) -> pd.arrays.ArrowStringArray:
    """A string column; blank marks cells left empty."""
    values = np.asarray(values, dtype=object)
    if blank is not None:
        values = np.where(blank, None, values)
    return pd.array(values, dtype="str")


def _number(values: np.ndarray, blank: np.ndarray) -> np.ndarray:
    return np.where(blank, np.nan, values.astype(float))


def _unique_numbers(rng, low: int, high: int, n: int) -> np.ndarray:
    """n distinct numbers in [low, high), the range widened when it is too small for n."""
    return low + rng.choice(max(high - low, 2 * n), size=n, replace=False)


def _numbers_within(rng, groups: np.ndarray, high: int) -> np.ndarray:
    """Numbers 1..high-1, unique within each group, ascending in item order."""
    number = np.zeros(groups.size, dtype=np.int64)
    for g in np.unique(groups):  # a handful of groups
        sel = np.flatnonzero(groups == g)
        number[sel] = np.sort(_unique_numbers(rng, 1, high, sel.size))
    return number


def _spelling(rng, keys: np.ndarray, spellings: dict[str, Sequence[str]], usual: float) -> np.ndarray:
    """How the text writes each key: its first spelling with chance ``usual``, another otherwise."""
    out = np.empty(keys.size, dtype=object)
    for k, names in spellings.items():  # a dozen keys at most
        sel = np.flatnonzero(keys == k)
        other = np.array(names[1:] or names, dtype=object)[rng.integers(max(len(names) - 1, 1), size=sel.size)]
        out[sel] = np.where(rng.random(sel.size) < usual, names[0], other)
    return out


def _lookup(values: Sequence, keys: Sequence, of: np.ndarray) -> np.ndarray:
    """values[i] for each element of ``of`` equal to keys[i]."""
    return np.asarray(values)[pd.Index(list(keys)).get_indexer(of)]


def _join(*parts: np.ndarray) -> np.ndarray:
    """Words joined by single spaces, empty words left out (element-wise)."""
    out = pd.Series(parts[0], dtype=object)
    for p in parts[1:]:
        out = out + " " + pd.Series(p, dtype=object)
    return out.str.replace(r"\s+", " ", regex=True).str.strip().to_numpy(dtype=object)


def _truth(codes, perturbed, clean, chance) -> pd.DataFrame:
    return pd.DataFrame({"item_code": _text(codes), "perturbed": perturbed,
                         "clean_routing": _text(clean), "best_chance": np.where(perturbed, 0.0, chance)})


def _log_noise(rng, sigma: float, n: int) -> np.ndarray:
    return np.exp(sigma * rng.standard_normal(n))


# --------------------------------------------------------------------------- valves and pumps

# type: share, description variants, code series, materials {grade: weight}, X-ray share, PN in text
_V_TYPES = {
    "BODY": (0.24, ("VALVE BODY", "VLV BODY", "BODY VALVE", "V-BODY"), "4711",
             {"1.0619": 4, "1.4408": 3, "1.4469": 1, "EN-GJS-400": 2}, 0.35, True),
    "CASING": (0.14, ("PUMP CASING", "CASING PUMP", "PMP CSG"), "4712",
               {"EN-GJL-250": 3, "EN-GJS-400": 2, "1.4408": 3, "1.4469": 1}, 0.2, True),
    "BONNET": (0.14, ("BONNET", "VALVE BONNET", "BONNET VLV"), "4713",
               {"P250GH": 3, "1.0619": 2, "1.4404": 3}, 0.1, True),
    "FLANGE": (0.16, ("FLANGE", "FLG", "WELD NECK FLANGE", "BLIND FLANGE"), "4720",
               {"P250GH": 5, "1.4404": 3, "1.4571": 2}, 0.05, True),
    "DISC": (0.12, ("DISC", "VALVE DISC", "DISK"), "4731",
             {"1.4404": 3, "1.4571": 2, "1.4462": 1, "CuSn10": 1}, 0.0, True),
    "IMPELLER": (0.1, ("IMPELLER", "IMP.", "IMPELLER CLOSED"), "4740",
                 {"EN-GJL-250": 2, "1.4408": 3, "CuSn10": 3}, 0.0, False),
    "SHAFT": (0.1, ("PUMP SHAFT", "SHAFT", "SHAFT PUMP"), "4750",
              {"1.4021": 3, "1.4462": 1, "42CrMo4": 3}, 0.0, False),
}
# grade: class, the ways the description writes it (the first is the usual one)
_V_GRADES = {
    "1.0619": ("carbon", ("1.0619", "GP240GH", "WCB")), "P250GH": ("carbon", ("P250GH", "1.0460")),
    "42CrMo4": ("carbon", ("42CrMo4", "1.7225")), "EN-GJL-250": ("iron", ("EN-GJL-250", "GG25")),
    "EN-GJS-400": ("iron", ("EN-GJS-400-18", "GJS-400", "5.3103")),
    "1.4408": ("stainless", ("1.4408", "CF8M")), "1.4404": ("stainless", ("1.4404", "316L")),
    "1.4571": ("stainless", ("1.4571", "316Ti")), "1.4021": ("stainless", ("1.4021", "X20Cr13")),
    "1.4469": ("duplex", ("1.4469", "GX2CrNiMoN26-7-4")), "1.4462": ("duplex", ("1.4462", "DUPLEX 2205")),
    "CuSn10": ("bronze", ("CuSn10", "CC480K", "BRONZE")),
}
_V_DN = {15: 3, 20: 3, 25: 5, 32: 4, 40: 5, 50: 7, 65: 5, 80: 6, 100: 6, 125: 4, 150: 4, 200: 3, 250: 2, 300: 1}
_V_PN = {6: 1, 10: 3, 16: 5, 25: 3, 40: 3, 63: 2, 100: 1, 160: 0.5}
_V_CLASS = {150: 20, 300: 50, 600: 100}  # ASME class -> PN it stands for
_V_NOISE = ("", "", "", "", "NEW", "SPARE", "REV B", "REV C", "ATEX", "ASME", "NACE", "ACC. DWG", "MOD.")
_V_XRAY = ("XRAY", "X-RAY", "RT", "RT 100%")
_V_MARKING, _V_WITNESS = (2, 6, 11, 33), (4, 9, 17, 33)  # ranks of customers with their own step
_V_HOURS = {  # process: hours for DN 50 (or a 500 mm shaft); they grow with the size ** 0.6
    "FETTLE": 0.4, "RADIOGRAPHY": 1.5, "MACH_CENTER": 1.2, "MACH_HBM": 3.5, "DRILL_FLANGE": 0.3,
    "TURN": 0.6, "TURN_VTL": 2.0, "MILL": 0.5, "SAW": 0.1, "GRIND": 0.5, "LAP_SEAT": 0.4, "BALANCE": 0.3,
    "STRAIGHTEN": 0.5, "QT": 0.8, "HYDRO_TEST": 0.5, "PICKLE": 0.3, "FERRITE_CHECK": 0.15, "PAINT": 0.4,
    "FINAL_INSP": 0.25, "WITNESS_INSPECT": 1.0, "CUST_MARKING": 0.2, "PACK": 0.2, "REWORK": 0.8,
    "DEBURR": 0.2, "RE_INSPECT": 0.3,
}
_V_CUTTING = ("MACH_CENTER", "MACH_HBM", "TURN", "TURN_VTL", "MILL", "GRIND", "DRILL_FLANGE")


def _valve_route(kind: str, heavy: bool, high_pn: bool, xray: bool, grade: str, cust: int) -> list[str]:
    cls = _V_GRADES[grade][0]
    steps = {"BODY": ["FETTLE", "MACH_CENTER", "DRILL_FLANGE"], "CASING": ["FETTLE", "MACH_CENTER"],
             "BONNET": ["TURN", "MILL"], "FLANGE": ["SAW", "TURN", "DRILL_FLANGE"],
             "DISC": ["TURN", "GRIND", "LAP_SEAT"], "IMPELLER": ["FETTLE", "TURN", "BALANCE"],
             "SHAFT": ["SAW", "TURN", "GRIND"]}[kind]
    if kind == "SHAFT":
        if grade == "42CrMo4":
            steps.insert(2, "QT")  # quenched and tempered between turning and grinding
        if heavy:  # long shafts are straightened after turning (and after QT)
            steps.insert(steps.index("GRIND"), "STRAIGHTEN")
    elif heavy:  # DN 150 and more: the big machines
        big = "MACH_HBM" if kind in ("BODY", "CASING") else "TURN_VTL"
        steps = [big if s in ("MACH_CENTER", "TURN") else s for s in steps]
    if xray:
        steps.insert(1, "RADIOGRAPHY")
    if high_pn and kind in ("BODY", "CASING", "BONNET"):
        steps.append("HYDRO_TEST")
    if cls in ("stainless", "duplex"):
        steps += ["PICKLE", "FERRITE_CHECK"] if cls == "duplex" else ["PICKLE"]
    elif cls in ("carbon", "iron") and kind in ("BODY", "CASING", "BONNET", "FLANGE"):
        steps.append("PAINT")
    steps.append("FINAL_INSP")
    if cust & 2:
        steps.append("WITNESS_INSPECT")
    if cust & 1:
        steps.append("CUST_MARKING")
    return steps + ["PACK"]


def generate_valves(n_items: int = 3000, seed: int = 4711, noise: float = 0.05) -> Generated:
    """Valves and pumps (SAP-style export: MATNR, VORNR, KTSCH, ARBPL, VGW01 in hours, MAKTX,
    KUNNR, BRGEW, ...).

    The deciding facts live only in the free-text description ``MAKTX`` (``VALVE BODY DN50 PN16
    1.4408 XRAY``), its word order, spelling and abbreviations varying, with noise words and
    drawing numbers. Seven part types, each with a base routing. Rules:

    - DN 150 and more moves machining to the big machines (MACH_HBM for bodies and casings,
      TURN_VTL for turned parts); a shaft (``D45 L850``) of 800 mm or longer gets STRAIGHTEN;
    - pressure class PN 40 and more (or ASME CL300/CL600) adds HYDRO_TEST, for bodies, casings
      and bonnets only (a disc's PN changes nothing);
    - ``XRAY`` / ``X-RAY`` / ``RT`` adds RADIOGRAPHY after the first step;
    - stainless grades (also written as CF8M, 316L, ...) add PICKLE, duplex grades PICKLE and
      FERRITE_CHECK; carbon steel and cast iron bodies, casings, bonnets and flanges get PAINT;
      42CrMo4 shafts are quenched and tempered (QT);
    - of about 400 customers (``KUNNR``, a few written without their leading zeros), a handful
      ask for CUST_MARKING and/or WITNESS_INSPECT; stock items have no customer.

    Item codes are ``SSSS-NNNN``: the series mostly follows the part type, a fifth of the items
    sit in the general series 4800. Durations grow with the size, stainless machining is slower.
    """
    n = _check(n_items, noise)
    rng = np.random.default_rng(seed)
    types = list(_V_TYPES)
    kind = _draw(rng, {t: v[0] for t, v in _V_TYPES.items()}, n)
    grade = np.empty(n, dtype=object)
    for t in types:  # loop over the seven part types
        sel = np.flatnonzero(kind == t)
        grade[sel] = _draw(rng, _V_TYPES[t][3], sel.size)
    xray = rng.random(n) < _lookup([v[4] for v in _V_TYPES.values()], types, kind)
    word = _spelling(rng, kind, {t: v[1] for t, v in _V_TYPES.items()}, 0.7)
    shaft = kind == "SHAFT"
    dn = _draw(rng, _V_DN, n)
    length = np.round(rng.lognormal(np.log(500), 0.45, n), -1).astype(int)
    heavy = np.where(shaft, length >= 800, dn >= 150)
    asme = rng.random(n) < 0.15
    cls = _draw(rng, {150: 5, 300: 3, 600: 1}, n)
    pn = np.where(asme, np.vectorize(_V_CLASS.get)(cls), _draw(rng, _V_PN, n))
    has_pn = _lookup([v[5] for v in _V_TYPES.values()], types, kind)
    high_pn = has_pn & (pn >= 40)

    # customers: a long tail, some with their own steps; stock items have none
    n_cust = 400
    cust_codes = np.strings.zfill(_unique_numbers(rng, 100000, 999999, n_cust).astype(str), 10).astype(object)
    weights = 1.0 / np.arange(1, n_cust + 1) ** 0.9
    cust = rng.choice(n_cust, size=n, p=weights / weights.sum())
    stock = rng.random(n) < 0.04
    flag = np.zeros(n_cust, dtype=np.int64)
    flag[list(_V_MARKING)] |= 1
    flag[list(_V_WITNESS)] |= 2
    cust_flag = np.where(stock, 0, flag[cust])

    routes, combo = _combos(_valve_route, kind, heavy, high_pn, xray, grade, cust_flag)
    extras = ("REWORK", "DEBURR", "RE_INSPECT")
    vocab, row_item, code, perturbed, clean = _expand(rng, routes, combo, extras, noise)
    n_rows = row_item.size

    # description: type, size, pressure, grade, X-ray mark and noise in one of four word orders
    grade_txt = _spelling(rng, grade, {g: v[1] for g, v in _V_GRADES.items()}, 0.7)
    gap = np.where(rng.random(n) < 0.2, " ", "")
    size_txt = np.where(shaft, "D" + (np.round(dn / 2.5).astype(int) + 10).astype(str) + " L" + length.astype(str),
                        "DN" + gap.astype(object) + dn.astype(str))
    pn_txt = np.where(asme, "CL" + cls.astype(str), "PN" + gap.astype(object) + pn.astype(str))
    pn_txt = np.where(has_pn, pn_txt, "")
    xray_txt = np.where(xray, np.array(_V_XRAY, dtype=object)[rng.choice(4, size=n, p=[0.6, 0.15, 0.15, 0.1])], "")
    noise_txt = np.array(_V_NOISE, dtype=object)[rng.integers(len(_V_NOISE), size=n)]
    dwg = np.where(rng.random(n) < 0.2, "DWG " + rng.integers(10000, 99999, size=n).astype(str), "")
    orders = (
        _join(word, size_txt, pn_txt, grade_txt, xray_txt, noise_txt),
        _join(word, grade_txt, size_txt, pn_txt, xray_txt, dwg),
        _join(word, size_txt, pn_txt, xray_txt, grade_txt, noise_txt, dwg),
        _join(size_txt, word, pn_txt, grade_txt, xray_txt),
    )
    pick = rng.choice(4, size=n, p=[0.5, 0.2, 0.2, 0.1])
    desc = np.select([pick == i for i in range(4)], orders).astype(object)
    typed = rng.random(n) < 0.02  # typed by hand, in mixed case
    desc[typed] = pd.Series(desc[typed], dtype=object).str.title().to_numpy(dtype=object)
    desc[rng.random(n) < 0.01] += "  "

    # item codes: series by type (a fifth in the general series), unique numbers within a series
    series = np.where(rng.random(n) < 0.2, "4800", _lookup([v[2] for v in _V_TYPES.values()], types, kind))
    number = _numbers_within(rng, series, 10000)
    codes = (series.astype(object) + "-" + np.strings.zfill(number.astype(str), 4).astype(object)).astype(object)

    # durations (hours): size, stainless is slower to cut, lognormal noise
    size = np.where(shaft, length / 500.0, dn / 50.0)
    cutting = np.isin(np.array(vocab), _V_CUTTING)
    slow = np.isin(_lookup([v[0] for v in _V_GRADES.values()], list(_V_GRADES), grade), ["stainless", "duplex"])
    hours = (np.array([_V_HOURS[p] for p in vocab])[code] * size[row_item] ** 0.6
             * np.where(cutting[code] & slow[row_item], 1.35, 1.0) * _log_noise(rng, 0.15, n_rows))
    hours = np.maximum(np.round(hours, 2), 0.01)
    weight = np.round(7.8 * (dn / 50.0) ** 2.4 * np.where(shaft, length / 300, 1.0) * _log_noise(rng, 0.2, n), 1)
    weight[rng.random(n) < 0.01] = 0.0  # not maintained

    wc_names = np.array([f"{p[:4]}{i}" for p in vocab for i in (1, 2)], dtype=object)
    wc = 2 * code + (rng.random(n_rows) < 0.3)  # a second machine takes some of the work
    kunnr = np.where(stock, None, cust_codes[cust])
    short = rng.random(n) < 0.01  # keyed without the leading zeros
    kunnr = np.where(short & ~stock, pd.Series(kunnr, dtype=object).str.lstrip("0").to_numpy(dtype=object), kunnr)
    ops = pd.DataFrame({
        "WERKS": _text(np.where(rng.random(n) < 0.7, "1000", "1100")[row_item]),
        "MATNR": _text(codes[row_item]),
        "VORNR": _text(np.strings.zfill((_position(row_item, n) * 10).astype(str), 4)),
        "KTSCH": _text(np.array(vocab, dtype=object)[code]),
        "ARBPL": _text(wc_names[wc], rng.random(n_rows) < 0.01),
        "VGW01": np.where(rng.random(n_rows) < 0.005, np.nan, hours),
        "VGE01": _text(np.full(n_rows, "H", dtype=object)),
        "MAKTX": _text(desc[row_item], (rng.random(n) < 0.003)[row_item]),
        "KUNNR": _text(kunnr[row_item]),
        "BRGEW": _number(weight[row_item], (rng.random(n) < 0.02)[row_item]),
    })
    mapping = {"MATNR": "item_code", "KTSCH": "process_code", "VORNR": "seq", "VGW01": "duration_h"}
    return ops, _truth(codes, perturbed, clean, np.ones(n)), mapping


# --------------------------------------------------------------------------- PCB assembly

_P_LINES = {"Industrial": 0.35, "Consumer": 0.25, "Automotive": 0.25, "Medical": 0.15}
_P_SECONDS = {  # process: setup seconds per lot, seconds per board, per-board seconds per 100 parts
    "PCB_BAKE": (3600, 2, 0), "LASER_MARK": (600, 6, 0), "SMT_TOP": (2400, 4, 9), "SMT_BOT": (2400, 4, 9),
    "AOI": (300, 15, 6), "XRAY_INSP": (600, 40, 0), "THT_INSERT": (900, 20, 0), "WAVE_SOLDER": (1800, 8, 0),
    "SELECTIVE_SOLDER": (1200, 35, 0), "WASH": (900, 12, 0), "ICT": (1200, 25, 3),
    "FLYING_PROBE": (900, 90, 40), "CONFORMAL_COAT": (1800, 30, 0), "COAT_INSPECT": (300, 12, 0),
    "FCT": (600, 60, 0), "BURN_IN": (1800, 120, 0), "PACK": (300, 5, 0),
    "TOUCH_UP": (300, 30, 0), "REWORK": (600, 120, 0), "VISUAL_INSP": (120, 20, 0),
}


def _pcb_route(line: str, bake: bool, double: bool, bga: bool, tht: int, ict: bool) -> list[str]:
    steps = ["PCB_BAKE"] if bake else []
    if line == "Automotive":
        steps.append("LASER_MARK")
    steps += ["SMT_TOP", "AOI"]
    if bga:
        steps.append("XRAY_INSP")
    if double:
        steps += ["SMT_BOT", "AOI"]
    if tht:  # 1: few pins, 2: many pins, 3: many pins and a third optical inspection
        wave = tht >= 2 and not double  # a wave needs a bottom side free of SMD parts
        steps += ["THT_INSERT", "WAVE_SOLDER" if wave else "SELECTIVE_SOLDER"]
        if tht == 3:
            steps.append("AOI")
    if line == "Medical":
        steps.append("WASH")
    steps.append("ICT" if ict else "FLYING_PROBE")
    if line in ("Automotive", "Medical"):
        steps += ["CONFORMAL_COAT", "COAT_INSPECT"]
    steps.append("FCT")
    if line == "Medical" or (line == "Automotive" and bake):
        steps += ["BURN_IN", "FCT"]  # tested again after burn-in
    return steps + ["PACK"]


def generate_pcb(n_items: int = 3000, seed: int = 1207, noise: float = 0.05) -> Generated:
    """Electronics / PCB assembly (an MES export: ``Part Number``, ``Op No``, ``Work Step``,
    ``Line``, ``Lot time [s]``, ``Lot Size``, ``Layers``, ``SMD Count``, ...).

    The same operation appears several times in one routing (AOI after each soldering stage,
    FCT again after burn-in). Rules:

    - 8 layers or more: PCB_BAKE first; the Automotive product line: LASER_MARK;
    - SMT_TOP, AOI; a BGA on the board adds XRAY_INSP; two sides add SMT_BOT and a second AOI;
    - THT parts add THT_INSERT and WAVE_SOLDER when there are 20 or more and the bottom side is
      free of SMD parts, SELECTIVE_SOLDER otherwise; 40 or more add an AOI after soldering;
    - Medical boards are washed (WASH);
    - ICT when the board has 150 SMD parts or more and the lot is 50 or more, FLYING_PROBE
      otherwise;
    - Automotive and Medical: CONFORMAL_COAT and COAT_INSPECT; then FCT; Medical boards, and
      Automotive boards with 8 layers or more, get BURN_IN and FCT again; PACK last.

    Times are per lot, in seconds: a setup plus a time per board (growing with the part count
    for placement and tests) times the lot size. ``Surface Finish``, ``Rev`` and ``Customer``
    decide nothing. Part numbers are ``P`` and six digits.
    """
    n = _check(n_items, noise)
    rng = np.random.default_rng(seed)
    line = _draw(rng, _P_LINES, n)
    layers = _draw(rng, {2: 30, 4: 35, 6: 15, 8: 10, 10: 6, 12: 4}, n)
    double = rng.random(n) < np.where(layers >= 6, 0.8, 0.45)
    smd = np.round(rng.lognormal(np.log(60 + 25 * layers), 0.6, n)).astype(int) + 3
    tht_n = np.where(rng.random(n) < np.where(line == "Consumer", 0.5, 0.7),
                     np.round(rng.lognormal(np.log(14), 0.8, n)).astype(int) + 1, 0)
    bga_n = np.where(rng.random(n) < np.where(layers >= 6, 0.55, 0.1), rng.integers(1, 5, size=n), 0)
    lot = _draw(rng, {5: 8, 10: 12, 25: 16, 50: 18, 100: 18, 250: 14, 500: 9, 1000: 5}, n)
    bake = layers >= 8
    tht = np.select([tht_n >= 40, tht_n >= 20, tht_n > 0], [3, 2, 1], 0)
    ict = (smd >= 150) & (lot >= 50)
    routes, combo = _combos(_pcb_route, line, bake, double, bga_n > 0, tht, ict)
    vocab, row_item, code, perturbed, clean = _expand(rng, routes, combo, ("TOUCH_UP", "REWORK", "VISUAL_INSP"), noise)
    n_rows = row_item.size

    setup, per_board, per_part = (np.array([_P_SECONDS[p][i] for p in vocab], dtype=float) for i in range(3))
    parts = np.where(np.isin(np.array(vocab), ["SMT_TOP", "SMT_BOT"]), 0.5, 1.0)[code] * smd[row_item] / 100
    seconds = (setup[code] + lot[row_item] * (per_board[code] + per_part[code] * parts)) * _log_noise(rng, 0.1, n_rows)
    seconds = np.round(seconds).astype(float)
    seconds[rng.random(n_rows) < 0.005] = np.nan

    codes = ("P" + np.strings.zfill(np.sort(_unique_numbers(rng, 1, 250000, n)).astype(str), 6)).astype(object)
    codes = codes[rng.permutation(n)]
    line_txt = line.copy()
    dirty = rng.random(n) < 0.01  # keyed in capitals
    line_txt[dirty] = pd.Series(line[dirty], dtype=object).str.upper().to_numpy(dtype=object)
    area = np.array(["SMT-L" if p.startswith(("SMT", "AOI", "XRAY", "PCB", "LASER")) else "PACK-" if p == "PACK"
                     else "THT-" if p in ("THT_INSERT", "WAVE_SOLDER", "SELECTIVE_SOLDER", "TOUCH_UP") else "TEST-"
                     for p in vocab], dtype=object)[code]
    station = area + rng.integers(1, 4, size=n_rows).astype(str).astype(object)  # three stations each
    item_blank = rng.random((3, n)) < np.array([[0.02], [0.01], [0.01]])
    ops = pd.DataFrame({
        "Part Number": _text(codes[row_item]),
        "Rev": _text(_draw(rng, {"A": 5, "B": 3, "C": 2, "D": 1}, n)[row_item]),
        "Op No": _position(row_item, n) * 10,
        "Work Step": _text(np.array(vocab, dtype=object)[code]),
        "Line": _text(station, rng.random(n_rows) < 0.01),
        "Lot time [s]": seconds,
        "Product Line": _text(line_txt[row_item]),
        "Layers": _number(layers[row_item], item_blank[0][row_item]),
        "Sides": _text(np.where(double, "2", "1")[row_item]),
        "SMD Count": smd[row_item],
        "THT Count": tht_n[row_item],
        "BGA Count": _number(bga_n[row_item], item_blank[1][row_item]),
        "Lot Size": _number(lot[row_item], item_blank[2][row_item]),
        "Surface Finish": _text(_draw(rng, {"ENIG": 5, "HASL LF": 3, "OSP": 2, "ImSn": 1}, n)[row_item]),
        "Customer": _text(np.array([f"CU{i:03d}" for i in range(40)], dtype=object)[rng.integers(40, size=n)][row_item]),
    })
    mapping = {"Part Number": "item_code", "Work Step": "process_code", "Op No": "seq", "Lot time [s]": "duration_s"}
    return ops, _truth(codes, perturbed, clean, np.ones(n)), mapping


# --------------------------------------------------------------------------- job shop

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
_J_NOISE = ("", "", "", "", "", "URGENT", "AS DWG", "CUST MAT", "SAMPLE", "X2", "REV A", "SEE PO")


def _job_route(kind: str, bits: int, batch: int) -> list[str]:
    steps = [p for i, (p, chance, _, _) in enumerate(_J_KINDS[kind][2]) if chance == 1 or bits >> i & 1]
    if batch >= 1:  # 25 pieces or more go on the CNC machines
        steps = [{"LATHE": "CNC_LATHE", "MILL": "CNC_MILL"}.get(s, s) for s in steps]
    if batch >= 2:  # 100 pieces or more are tumbled before inspection
        steps.insert(len(steps) - 1, "TUMBLE")
    return steps


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
    the inspection. ``best_chance`` is the share of the likeliest routing given the kind, the
    quantity and the words. Times are actual minutes, noisy, growing with the quantity. Job
    numbers are ``JS/YY/NNNN``.
    """
    n = _check(n_items, noise)
    rng = np.random.default_rng(seed)
    kind = _draw(rng, {k: v[0] for k, v in _J_KINDS.items()}, n)
    qty = _draw(rng, {1: 20, 2: 14, 4: 10, 5: 10, 10: 12, 20: 9, 25: 6, 50: 8, 100: 6, 200: 3, 500: 2}, n)
    batch = np.select([qty >= 100, qty >= 25], [2, 1], 0)
    bits = np.zeros(n, dtype=np.int64)
    hint = np.empty(n, dtype=object)
    hint[:] = ""
    chance = np.ones(n)
    word = _spelling(rng, kind, {k: v[1] for k, v in _J_KINDS.items()}, 0.6)
    for k, (_, _, steps) in _J_KINDS.items():  # loop over the ten kinds and their steps
        sel = np.flatnonzero(kind == k)
        for i, (_, p, hints, h) in enumerate(steps):
            if p == 1:
                continue
            present = rng.random(sel.size) < p
            bits[sel] |= present.astype(np.int64) << i
            shown = present & (rng.random(sel.size) < h) if hints else np.zeros(sel.size, dtype=bool)
            if hints:
                hint[sel[shown]] = hint[sel[shown]] + " " + np.array(hints, dtype=object)[rng.integers(len(hints), size=int(shown.sum()))]
            q = p * (1 - h) / (p * (1 - h) + 1 - p)  # chance of the step when no word shows it
            chance[sel] *= np.where(shown, 1.0, max(q, 1 - q))
    routes, combo = _combos(_job_route, kind, bits, batch)
    vocab, row_item, code, perturbed, clean = _expand(rng, routes, combo, ("DEBURR", "REWORK", "CLEAN"), noise)
    n_rows = row_item.size

    size = np.select([rng.random(n) < 0.4, rng.random(n) < 0.5],
                     ["D" + rng.integers(10, 200, size=n).astype(str), rng.integers(3, 40, size=n).astype(str) + "MM"], "")
    desc = _join(word, size.astype(object), hint, np.array(_J_NOISE, dtype=object)[rng.integers(len(_J_NOISE), size=n)])
    year = rng.integers(21, 26, size=n)
    number = _numbers_within(rng, year, 10000)
    codes = ("JS/" + year.astype(str) + "/" + np.strings.zfill(number.astype(str), 4)).astype(object)
    minutes = (np.array([_J_MINUTES[p] for p in vocab])[code] * qty[row_item] ** 0.75 * _log_noise(rng, 0.35, n_rows))
    machines = {p: [f"{p[:3]}-{i}" for i in (1, 2, 3)] for p in vocab}
    machine = np.array([m for p in vocab for m in machines[p]], dtype=object)[3 * code + rng.integers(3, size=n_rows)]
    ops = pd.DataFrame({
        "JOB_NO": _text(codes[row_item]),
        "PART_DESC": _text(desc[row_item], (rng.random(n) < 0.01)[row_item]),
        "QTY": _number(qty[row_item], (rng.random(n) < 0.02)[row_item]),
        "OP": _position(row_item, n),
        "OPER": _text(np.array(vocab, dtype=object)[code]),
        "MACHINE": _text(machine, rng.random(n_rows) < 0.05),
        "OPERATOR": _text(np.array(["JB", "MK", "TS", "AR", "PL", "DW"], dtype=object)[rng.integers(6, size=n_rows)],
                          rng.random(n_rows) < 0.03),
        "ACT_MIN": np.where(rng.random(n_rows) < 0.02, np.nan, np.round(minutes, 0)),
    })
    mapping = {"JOB_NO": "item_code", "OPER": "process_code", "OP": "seq", "ACT_MIN": "duration_min"}
    return ops, _truth(codes, perturbed, clean, chance), mapping


# --------------------------------------------------------------------------- sheet metal

# material: share, stainless, aluminium, pre-galvanised, thickness median (mm)
_S_MATERIALS = {"S235JR": (0.35, False, False, False, 4.0), "DC01": (0.2, False, False, False, 1.5),
                "DX51D+Z": (0.12, False, False, True, 1.5), "1.4301": (0.18, True, False, False, 2.0),
                "AlMg3": (0.15, False, True, False, 2.5)}
_S_SURFACES = {"ohne": 0.35, "RAL 7035": 0.2, "RAL 9005 matt": 0.1, "pulverbesch. RAL 5010": 0.05,
               "verzinkt": 0.12, "eloxiert": 0.08, "geschliffen K240": 0.1}
_S_PARTS = ("Halter", "Winkel", "Abdeckung", "Konsole", "Gehäuse", "Blende", "Lasche", "Rahmen", "Deckel")
_S_MINUTES = {"STANZEN": 1.5, "LASERN": 4.0, "PLASMA": 6.0, "ENTGRATEN": 2.0, "KANTEN": 1.2, "EINPRESSEN": 0.8,
              "SCHWEISSEN": 12.0, "RICHTEN": 8.0, "BEIZEN": 5.0, "VERSCHLEIFEN": 6.0, "PULVERN": 6.0,
              "VERZINKEN": 3.0, "ELOXIEREN": 4.0, "BUERSTEN": 3.0, "PRUEFEN": 2.0, "VERPACKEN": 1.0,
              "NACHARBEIT": 10.0, "REINIGEN": 3.0, "SONDERPRUEFUNG": 6.0}


def _sheet_route(mat: str, cut: str, bends: bool, inserts: bool, weld: bool, thick: bool, surface: str) -> list[str]:
    stainless, alu, zinc = _S_MATERIALS[mat][1:4]
    steps = [cut, "ENTGRATEN"]
    if bends:
        steps.append("KANTEN")
    if inserts:
        steps.append("EINPRESSEN")
    if weld:
        steps.append("SCHWEISSEN")
        if thick:  # welded plate of 5 mm or more is straightened
            steps.append("RICHTEN")
        steps.append("BEIZEN" if stainless else "VERSCHLEIFEN")  # weld seams: pickled or ground
    if "RAL" in surface:
        steps.append("PULVERN")
    elif surface == "verzinkt" and not (zinc or stainless or alu):
        steps.append("VERZINKEN")
    elif surface == "eloxiert" and alu:
        steps.append("ELOXIEREN")
    elif surface.startswith("geschliffen") and (stainless or alu):
        steps.append("BUERSTEN")
    return steps + ["PRUEFEN", "VERPACKEN"]


def generate_sheetmetal(n_items: int = 3000, seed: int = 815, noise: float = 0.05) -> Generated:
    """Sheet metal and welding (a German ERP export: ``Sachnummer``, ``AG-Nr``, ``Tätigkeit``,
    ``Arbeitsplatz``, ``Vorgabezeit (h)`` as text with a decimal comma, ``Werkstoff``,
    ``Blechdicke``, ``Biegungen``, ``Einpressteile``, ``Schweißbaugruppe``, ``Oberfläche``,
    ``Losgröße``, ``Bezeichnung``).

    Rules: the cut is STANZEN (punching) for sheet up to 3 mm in lots of 200 or more, PLASMA
    above 12 mm, LASERN otherwise, always followed by ENTGRATEN; bends add KANTEN, press-in
    fasteners EINPRESSEN; a welded part gets SCHWEISSEN, RICHTEN when 5 mm or thicker, then
    BEIZEN for stainless steel or VERSCHLEIFEN otherwise. The free-text surface decides the
    finish: any ``RAL`` colour PULVERN; ``verzinkt`` VERZINKEN unless the sheet is already
    galvanised (DX51D+Z), stainless or aluminium; ``eloxiert`` ELOXIEREN on aluminium only;
    ``geschliffen`` BUERSTEN on stainless or aluminium only. PRUEFEN and VERPACKEN end every
    routing. ``Bezeichnung`` names the part and decides nothing. Numbers are ``NN.NNNN``.
    """
    n = _check(n_items, noise)
    rng = np.random.default_rng(seed)
    mat = _draw(rng, {m: v[0] for m, v in _S_MATERIALS.items()}, n)
    med = _lookup([v[4] for v in _S_MATERIALS.values()], list(_S_MATERIALS), mat)
    gauges = np.array([0.8, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0])
    thick = gauges[np.abs(np.log(gauges)[None, :] - np.log(med * _log_noise(rng, 0.7, n))[:, None]).argmin(axis=1)]
    lot = _draw(rng, {1: 8, 5: 12, 10: 14, 25: 16, 50: 16, 100: 14, 200: 10, 500: 7, 1000: 3}, n)
    cut = np.select([(thick <= 3) & (lot >= 200), thick > 12], ["STANZEN", "PLASMA"], "LASERN").astype(object)
    bends = np.where(rng.random(n) < np.where(thick <= 6, 0.7, 0.2), rng.integers(1, 12, size=n), 0)
    inserts = np.where((rng.random(n) < 0.3) & (thick <= 4), rng.integers(1, 9, size=n), 0)
    weld = rng.random(n) < np.where(thick >= 3, 0.45, 0.15)
    surface = _draw(rng, _S_SURFACES, n)
    routes, combo = _combos(_sheet_route, mat, cut, bends > 0, inserts > 0, weld, thick >= 5, surface)
    extras = ("NACHARBEIT", "REINIGEN", "SONDERPRUEFUNG")
    vocab, row_item, code, perturbed, clean = _expand(rng, routes, combo, extras, noise)
    n_rows = row_item.size

    width = np.round(rng.lognormal(np.log(250), 0.6, n))
    height = np.round(width * rng.uniform(0.3, 1.0, n))
    per_piece = (np.array([_S_MINUTES[p] for p in vocab])[code] * (width * height / 60000)[row_item] ** 0.4
                 * np.where(np.array(vocab)[code] == "KANTEN", np.maximum(bends, 1)[row_item] ** 0.8, 1.0))
    hours = (0.25 + lot[row_item] * per_piece / 60) * _log_noise(rng, 0.15, n_rows)
    hours_txt = pd.Series(np.round(hours, 3)).map("{:.3f}".format).str.replace(".", ",", regex=False)
    hours_txt = hours_txt.where(rng.random(n_rows) >= 0.005, None)
    codes = (rng.integers(10, 99, size=n).astype(str).astype(object) + "."
             + np.strings.zfill(_unique_numbers(rng, 1, 9999, n).astype(str), 4).astype(object))
    place = {p: f"AP{100 + 10 * i}" for i, p in enumerate(vocab)}
    name = np.array(_S_PARTS, dtype=object)[rng.integers(len(_S_PARTS), size=n)]
    name = _join(name, np.where(rng.random(n) < 0.5, width.astype(int).astype(str) + "x" + height.astype(int).astype(str), ""))
    surf_txt = surface.copy()
    surf_txt[rng.random(n) < 0.02] = None  # not maintained in the item master
    werkstoff = np.where(rng.random(n) < 0.03, pd.Series(mat, dtype=object).str.lower(), mat)  # keyed by hand
    ops = pd.DataFrame({
        "Sachnummer": _text(codes[row_item]),
        "AG-Nr": _position(row_item, n) * 10,
        "Tätigkeit": _text(np.array(vocab, dtype=object)[code]),
        "Arbeitsplatz": _text(np.vectorize(place.get)(np.array(vocab, dtype=object)[code]), rng.random(n_rows) < 0.01),
        "Vorgabezeit (h)": _text(hours_txt.to_numpy(dtype=object)),
        "Bezeichnung": _text(name[row_item]),
        "Werkstoff": _text(werkstoff[row_item]),
        "Blechdicke": _number(thick[row_item], (rng.random(n) < 0.01)[row_item]),
        "Biegungen": bends[row_item],
        "Einpressteile": inserts[row_item],
        "Schweißbaugruppe": _text(np.where(weld, "ja", "nein")[row_item]),
        "Oberfläche": _text(surf_txt[row_item]),
        "Losgröße": lot[row_item],
    })
    mapping = {"Sachnummer": "item_code", "Tätigkeit": "process_code", "AG-Nr": "seq", "Vorgabezeit (h)": "duration_h"}
    return ops, _truth(codes, perturbed, clean, np.ones(n)), mapping


PLANTS: dict[str, Callable[..., Generated]] = {
    "valves": generate_valves, "pcb": generate_pcb, "sheetmetal": generate_sheetmetal, "jobshop": generate_jobshop,
}
