"""PCB assembly: a seeded generator of the plant's routing export."""

from __future__ import annotations

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
    known_options,
    log_noise,
    normal_cdf,
    position,
    truth_table,
    unique_numbers,
)

_P_LINES = {"Industrial": 0.35, "Consumer": 0.25, "Automotive": 0.25, "Medical": 0.15}
_P_LAYERS = {2: 30, 4: 35, 6: 15, 8: 10, 10: 6, 12: 4}
_P_LOTS = {5: 8, 10: 12, 25: 16, 50: 18, 100: 18, 250: 14, 500: 9, 1000: 5}
_P_SMD_SPREAD = 0.6  # of the SMD count around its median, on a log scale
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


def _pcb_odds(layers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each layer count: the chance of two sides, the chance of a BGA and the median SMD count
    (less the 3 every board has)."""
    return np.where(layers >= 6, 0.8, 0.45), np.where(layers >= 6, 0.55, 0.1), 60 + 25 * layers


def _pcb_ict(smd: np.ndarray | int, lot: np.ndarray | int) -> np.ndarray | bool:
    return (smd >= 150) & (lot >= 50)


def pcb_share(line: str, double: bool, smd: int, tht: int, layers: int | None, bga: bool | None,
               lot: int | None) -> float:
    """The share of the likeliest routing of a board whose layer count, BGA count and/or lot size
    is blank (None). The lot size is drawn apart from everything else: its own distribution. The
    layer count is conditioned on what the export shows that depends on it (two sides or one, the
    SMD count, whether there is a BGA when that is shown), exactly; a blank BGA count on the layer
    count, or on each layer count the board may have."""
    counts = np.array(list(_P_LAYERS) if layers is None else [layers])
    prior = np.array(list(_P_LAYERS.values()) if layers is None else [1.0], dtype=float)
    double_p, bga_p, median = _pcb_odds(counts)
    k = smd - 3  # a rounded log-normal draw
    low = (np.log(k - 0.5) - np.log(median)) / _P_SMD_SPREAD if k > 0 else np.full(counts.size, -np.inf)
    smd_like = normal_cdf((np.log(k + 0.5) - np.log(median)) / _P_SMD_SPREAD) - normal_cdf(low)
    like = prior * np.where(double, double_p, 1 - double_p) * smd_like
    boards = [((int(c), b), w * (pb if b else 1 - pb))
              for c, w, pb in zip(counts.tolist(), like.tolist(), bga_p.tolist(), strict=True)
              for b in ((True, False) if bga is None else (bga,))]
    lots = list(_P_LOTS.items()) if lot is None else known_options(lot)

    def route(board: tuple[int, bool], lot_size: int) -> list[str]:
        return _pcb_route(line, board[0] >= 8, double, board[1], tht, bool(_pcb_ict(smd, lot_size)))

    return best_share(route, boards, lots)


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

    Blank cells that decide steps: ``Layers`` (2 % of the boards), ``BGA Count`` and ``Lot Size``
    (1 % each). ``best_chance`` of such a board is the share of its likeliest routing given the
    rest of the row (see pcb_share); a product line keyed in capitals counts as known.
    """
    n = check(n_items, noise)
    rng = np.random.default_rng(seed)
    line = draw_options(rng, _P_LINES, n)
    layers = draw_options(rng, _P_LAYERS, n)
    double_p, bga_p, smd_median = _pcb_odds(layers)
    double = rng.random(n) < double_p
    smd = np.round(rng.lognormal(np.log(smd_median), _P_SMD_SPREAD, n)).astype(int) + 3
    tht_n = np.where(rng.random(n) < np.where(line == "Consumer", 0.5, 0.7),
                     np.round(rng.lognormal(np.log(14), 0.8, n)).astype(int) + 1, 0)
    bga_n = np.where(rng.random(n) < bga_p, rng.integers(1, 5, size=n), 0)
    lot = draw_options(rng, _P_LOTS, n)
    bake = layers >= 8
    tht = np.select([tht_n >= 40, tht_n >= 20, tht_n > 0], [3, 2, 1], 0)
    ict = _pcb_ict(smd, lot)
    routes, combo = combos(_pcb_route, line, bake, double, bga_n > 0, tht, ict)
    vocab, row_item, code, perturbed, clean = expand(rng, routes, combo, ("TOUCH_UP", "REWORK", "VISUAL_INSP"), noise)
    n_rows = row_item.size

    setup, per_board, per_part = (np.array([_P_SECONDS[p][i] for p in vocab], dtype=float) for i in range(3))
    parts = np.where(np.isin(np.array(vocab), ["SMT_TOP", "SMT_BOT"]), 0.5, 1.0)[code] * smd[row_item] / 100
    seconds = (setup[code] + lot[row_item] * (per_board[code] + per_part[code] * parts)) * log_noise(rng, 0.1, n_rows)
    seconds = np.round(seconds).astype(float)
    seconds[rng.random(n_rows) < 0.005] = np.nan

    codes = ("P" + np.strings.zfill(np.sort(unique_numbers(rng, 1, 250000, n)).astype(str), 6)).astype(object)
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
        "Part Number": as_text_column(codes[row_item]),
        "Rev": as_text_column(draw_options(rng, {"A": 5, "B": 3, "C": 2, "D": 1}, n)[row_item]),
        "Op No": position(row_item, n) * 10,
        "Work Step": as_text_column(np.array(vocab, dtype=object)[code]),
        "Line": as_text_column(station, rng.random(n_rows) < 0.01),
        "Lot time [s]": seconds,
        "Product Line": as_text_column(line_txt[row_item]),
        "Layers": as_number_column(layers[row_item], item_blank[0][row_item]),
        "Sides": as_text_column(np.where(double, "2", "1")[row_item]),
        "SMD Count": smd[row_item],
        "THT Count": tht_n[row_item],
        "BGA Count": as_number_column(bga_n[row_item], item_blank[1][row_item]),
        "Lot Size": as_number_column(lot[row_item], item_blank[2][row_item]),
        "Surface Finish": as_text_column(draw_options(rng, {"ENIG": 5, "HASL LF": 3, "OSP": 2, "ImSn": 1}, n)[row_item]),
        "Customer": as_text_column(np.array([f"CU{i:03d}" for i in range(40)], dtype=object)[rng.integers(40, size=n)][row_item]),
    })
    mapping = {"Part Number": "item_code", "Work Step": "process_code", "Op No": "seq", "Lot time [s]": "duration_s"}
    blank = item_blank.T  # layers, BGA count, lot size
    sel = np.flatnonzero(blank.any(axis=1) & ~perturbed)
    chance = np.ones(n)
    chance[sel] = chances_of(list(zip(
        line[sel], double[sel].tolist(), smd[sel].tolist(), tht[sel].tolist(),
        np.where(blank[:, 0], None, layers)[sel].tolist(), np.where(blank[:, 1], None, bga_n > 0)[sel].tolist(),
        np.where(blank[:, 2], None, lot)[sel].tolist(), strict=True)), pcb_share)
    return ops, truth_table(codes, perturbed, clean, chance), mapping
