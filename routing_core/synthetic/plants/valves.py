"""Valves and pumps: a seeded generator of the plant's routing export."""

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
    log_noise,
    lookup,
    normal_cdf,
    numbers_within,
    position,
    spelled_keys,
    truth_table,
    unique_numbers,
)

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
_V_CLASSES, _V_ASME = {150: 5, 300: 3, 600: 1}, 0.15  # ASME classes and the share of items rated in them
_V_HIGH_PN, _V_HEAVY_DN = 40, 150  # PN from which pressure parts are tested; DN from which machining is heavy
_V_SHAFT, _V_LONG = (500, 0.45), 800  # shaft length: median and spread (log), length (mm) that needs straightening
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


def _valve_odds(kind: str) -> tuple[float, float]:
    """The chance that an item of a part type is heavy (DN 150 and more, or a shaft 800 mm or
    longer) and that it is a pressure part rated PN 40 and more."""
    if kind == "SHAFT":  # lengths are rounded to 10 mm: 800 from 795 on
        heavy = 1.0 - float(normal_cdf((np.log(_V_LONG - 5) - np.log(_V_SHAFT[0])) / _V_SHAFT[1]))
    else:
        heavy = sum(w for d, w in _V_DN.items() if d >= _V_HEAVY_DN) / sum(_V_DN.values())
    asme = sum(w for c, w in _V_CLASSES.items() if _V_CLASS[c] >= _V_HIGH_PN) / sum(_V_CLASSES.values())
    pn = sum(w for p, w in _V_PN.items() if p >= _V_HIGH_PN) / sum(_V_PN.values())
    return heavy, (_V_ASME * asme + (1 - _V_ASME) * pn) if _V_TYPES[kind][5] else 0.0


def valve_share(kind: str | None, heavy: bool | None, cust: int) -> float:
    """The share of the likeliest routing of an item whose description is blank: the part type,
    grade, X-ray mark, pressure and size are hidden, each with its own distribution (given the
    part type; they are drawn apart from one another). The series of the item code gives the
    part type away except in the general series 4800 (kind None); a weight (BRGEW) is taken to
    give away whether the item is heavy (heavy None when it is blank or 0), which is generous:
    it tells the size only roughly and for a shaft mixes diameter and length. The customer's
    own steps count as known (KUNNR)."""
    facts = []
    for t in [kind] if kind else list(_V_TYPES):
        share, _, _, grades, xray_p, _ = _V_TYPES[t]
        heavy_p, high_p = _valve_odds(t)
        heavies = [(heavy, 1.0)] if heavy is not None else [(True, heavy_p), (False, 1 - heavy_p)]
        total = sum(grades.values())
        for (g, wg), (x, wx), (h, wh), (big, wb) in itertools.product(
                grades.items(), [(True, xray_p), (False, 1 - xray_p)], [(True, high_p), (False, 1 - high_p)], heavies):
            facts.append(((t, big, h, x, g), (1.0 if kind else share) * wg / total * wx * wh * wb))
    return best_share(lambda f: _valve_route(*f, cust), facts)


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

    Blank cells that decide steps: ``MAKTX`` (0.3 % of the items), which hides every fact but the
    customer. ``best_chance`` of such an item is the share of its likeliest routing given the
    item code's series and the weight (see valve_share); a description in mixed case or a
    customer without its leading zeros counts as known.
    """
    n = check(n_items, noise)
    rng = np.random.default_rng(seed)
    types = list(_V_TYPES)
    kind = draw_options(rng, {t: v[0] for t, v in _V_TYPES.items()}, n)
    grade = np.empty(n, dtype=object)
    for t in types:  # loop over the seven part types
        sel = np.flatnonzero(kind == t)
        grade[sel] = draw_options(rng, _V_TYPES[t][3], sel.size)
    xray = rng.random(n) < lookup([v[4] for v in _V_TYPES.values()], types, kind)
    word = spelled_keys(rng, kind, {t: v[1] for t, v in _V_TYPES.items()}, 0.7)
    shaft = kind == "SHAFT"
    dn = draw_options(rng, _V_DN, n)
    length = np.round(rng.lognormal(np.log(_V_SHAFT[0]), _V_SHAFT[1], n), -1).astype(int)
    heavy = np.where(shaft, length >= _V_LONG, dn >= _V_HEAVY_DN)
    asme = rng.random(n) < _V_ASME
    cls = draw_options(rng, _V_CLASSES, n)
    pn = np.where(asme, np.vectorize(_V_CLASS.get)(cls), draw_options(rng, _V_PN, n))
    has_pn = lookup([v[5] for v in _V_TYPES.values()], types, kind)
    high_pn = has_pn & (pn >= _V_HIGH_PN)

    # customers: a long tail, some with their own steps; stock items have none
    n_cust = 400
    cust_codes = np.strings.zfill(unique_numbers(rng, 100000, 999999, n_cust).astype(str), 10).astype(object)
    weights = 1.0 / np.arange(1, n_cust + 1) ** 0.9
    cust = rng.choice(n_cust, size=n, p=weights / weights.sum())
    stock = rng.random(n) < 0.04
    flag = np.zeros(n_cust, dtype=np.int64)
    flag[list(_V_MARKING)] |= 1
    flag[list(_V_WITNESS)] |= 2
    cust_flag = np.where(stock, 0, flag[cust])

    routes, combo = combos(_valve_route, kind, heavy, high_pn, xray, grade, cust_flag)
    extras = ("REWORK", "DEBURR", "RE_INSPECT")
    vocab, row_item, code, perturbed, clean = expand(rng, routes, combo, extras, noise)
    n_rows = row_item.size

    # description: type, size, pressure, grade, X-ray mark and noise in one of four word orders
    grade_txt = spelled_keys(rng, grade, {g: v[1] for g, v in _V_GRADES.items()}, 0.7)
    gap = np.where(rng.random(n) < 0.2, " ", "")
    size_txt = np.where(shaft, "D" + (np.round(dn / 2.5).astype(int) + 10).astype(str) + " L" + length.astype(str),
                        "DN" + gap.astype(object) + dn.astype(str))
    pn_txt = np.where(asme, "CL" + cls.astype(str), "PN" + gap.astype(object) + pn.astype(str))
    pn_txt = np.where(has_pn, pn_txt, "")
    xray_txt = np.where(xray, np.array(_V_XRAY, dtype=object)[rng.choice(4, size=n, p=[0.6, 0.15, 0.15, 0.1])], "")
    noise_txt = np.array(_V_NOISE, dtype=object)[rng.integers(len(_V_NOISE), size=n)]
    dwg = np.where(rng.random(n) < 0.2, "DWG " + rng.integers(10000, 99999, size=n).astype(str), "")
    orders = (
        join_parts(word, size_txt, pn_txt, grade_txt, xray_txt, noise_txt),
        join_parts(word, grade_txt, size_txt, pn_txt, xray_txt, dwg),
        join_parts(word, size_txt, pn_txt, xray_txt, grade_txt, noise_txt, dwg),
        join_parts(size_txt, word, pn_txt, grade_txt, xray_txt),
    )
    pick = rng.choice(4, size=n, p=[0.5, 0.2, 0.2, 0.1])
    desc = np.select([pick == i for i in range(4)], orders).astype(object)
    typed = rng.random(n) < 0.02  # typed by hand, in mixed case
    desc[typed] = pd.Series(desc[typed], dtype=object).str.title().to_numpy(dtype=object)
    desc[rng.random(n) < 0.01] += "  "

    # item codes: series by type (a fifth in the general series), unique numbers within a series
    series = np.where(rng.random(n) < 0.2, "4800", lookup([v[2] for v in _V_TYPES.values()], types, kind))
    number = numbers_within(rng, series, 10000)
    codes = (series.astype(object) + "-" + np.strings.zfill(number.astype(str), 4).astype(object)).astype(object)

    # durations (hours): size, stainless is slower to cut, lognormal noise
    size = np.where(shaft, length / 500.0, dn / 50.0)
    cutting = np.isin(np.array(vocab), _V_CUTTING)
    slow = np.isin(lookup([v[0] for v in _V_GRADES.values()], list(_V_GRADES), grade), ["stainless", "duplex"])
    hours = (np.array([_V_HOURS[p] for p in vocab])[code] * size[row_item] ** 0.6
             * np.where(cutting[code] & slow[row_item], 1.35, 1.0) * log_noise(rng, 0.15, n_rows))
    hours = np.maximum(np.round(hours, 2), 0.01)
    weight = np.round(7.8 * (dn / 50.0) ** 2.4 * np.where(shaft, length / 300, 1.0) * log_noise(rng, 0.2, n), 1)
    weight[rng.random(n) < 0.01] = 0.0  # not maintained

    wc_names = np.array([f"{p[:4]}{i}" for p in vocab for i in (1, 2)], dtype=object)
    wc = 2 * code + (rng.random(n_rows) < 0.3)  # a second machine takes some of the work
    kunnr = np.where(stock, None, cust_codes[cust])
    short = rng.random(n) < 0.01  # keyed without the leading zeros
    kunnr = np.where(short & ~stock, pd.Series(kunnr, dtype=object).str.lstrip("0").to_numpy(dtype=object), kunnr)
    ops = pd.DataFrame({
        "WERKS": as_text_column(np.where(rng.random(n) < 0.7, "1000", "1100")[row_item]),
        "MATNR": as_text_column(codes[row_item]),
        "VORNR": as_text_column(np.strings.zfill((position(row_item, n) * 10).astype(str), 4)),
        "KTSCH": as_text_column(np.array(vocab, dtype=object)[code]),
        "ARBPL": as_text_column(wc_names[wc], rng.random(n_rows) < 0.01),
        "VGW01": np.where(rng.random(n_rows) < 0.005, np.nan, hours),
        "VGE01": as_text_column(np.full(n_rows, "H", dtype=object)),
        "MAKTX": as_text_column(desc[row_item], (rng.random(n) < 0.003)[row_item]),
        "KUNNR": as_text_column(kunnr[row_item]),
        "BRGEW": as_number_column(weight[row_item], (rng.random(n) < 0.02)[row_item]),
    })
    mapping = {"MATNR": "item_code", "KTSCH": "process_code", "VORNR": "seq", "VGW01": "duration_h"}
    first = first_rows(row_item, n)
    sel = np.flatnonzero(ops["MAKTX"].isna().to_numpy()[first] & ~perturbed)
    weighed = (ops["BRGEW"].fillna(0) > 0).to_numpy()[first]
    chance = np.ones(n)
    chance[sel] = chances_of(list(zip(
        np.where(series == "4800", None, kind)[sel].tolist(), np.where(weighed, heavy, None)[sel].tolist(),
        cust_flag[sel].tolist(), strict=True)), valve_share)
    return ops, truth_table(codes, perturbed, clean, chance), mapping
