"""Sheet metal and welding: a seeded generator of the plant's routing export."""

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
    first_rows,
    join_parts,
    known_options,
    log_noise,
    lookup,
    normal_cdf,
    position,
    truth_table,
    unique_numbers,
)

# material: share, stainless, aluminium, pre-galvanised, thickness median (mm)
_S_MATERIALS = {"S235JR": (0.35, False, False, False, 4.0), "DC01": (0.2, False, False, False, 1.5),
                "DX51D+Z": (0.12, False, False, True, 1.5), "1.4301": (0.18, True, False, False, 2.0),
                "AlMg3": (0.15, False, True, False, 2.5)}
_S_SURFACES = {"ohne": 0.35, "RAL 7035": 0.2, "RAL 9005 matt": 0.1, "pulverbesch. RAL 5010": 0.05,
               "verzinkt": 0.12, "eloxiert": 0.08, "geschliffen K240": 0.1}
_S_GAUGES = np.array([0.8, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0])  # mm
_S_SPREAD = 0.7  # of the thickness around the material's median, on a log scale
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


def _sheet_cut(thick: np.ndarray, lot: np.ndarray | int) -> np.ndarray:
    return np.select([(thick <= 3) & (lot >= 200), thick > 12], ["STANZEN", "PLASMA"], "LASERN").astype(object)


def _sheet_odds(thick: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chances of bends, of press-in fasteners and of a welded part, for each thickness."""
    return np.where(thick <= 6, 0.7, 0.2), np.where(thick <= 4, 0.3, 0.0), np.where(thick >= 3, 0.45, 0.15)


def _gauge_chances(median: float) -> np.ndarray:
    """The chance of each gauge for a material: the gauge nearest (on a log scale) to the
    material's median thickness times a log-normal spread."""
    logs = np.log(_S_GAUGES)
    cdf = normal_cdf(((logs[1:] + logs[:-1]) / 2 - np.log(median)) / _S_SPREAD)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def sheet_share(mat: str, lot: int, bends: bool, inserts: bool, weld: bool, thick: float | None,
                 surface: str | None) -> float:
    """The share of the likeliest routing of an item whose thickness and/or surface is blank
    (None). The surface is drawn apart from everything else: its own distribution. The
    thickness is conditioned on what the export shows that depends on it (the material's
    gauges, whether the part has bends, press-in fasteners, welding), exactly; the lot size is
    known, so is the cut each gauge would get."""
    if thick is None:
        bend_p, insert_p, weld_p = _sheet_odds(_S_GAUGES)
        like = (_gauge_chances(_S_MATERIALS[mat][4]) * np.where(bends, bend_p, 1 - bend_p)
                * np.where(inserts, insert_p, 1 - insert_p) * np.where(weld, weld_p, 1 - weld_p))
        values = zip(_S_GAUGES.tolist(), _sheet_cut(_S_GAUGES, lot).tolist(), strict=True)
        gauges = list(zip(values, like.tolist(), strict=True))
    else:
        gauges = known_options((thick, _sheet_cut(np.array([thick]), lot)[0]))
    surfaces = list(_S_SURFACES.items()) if surface is None else known_options(surface)

    def route(gauge: tuple[float, str], surf: str) -> list[str]:
        return _sheet_route(mat, gauge[1], bends, inserts, weld, gauge[0] >= 5, surf)

    return best_share(route, gauges, surfaces)


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

    Blank cells that decide steps: ``Oberfläche`` (2 % of the items) and ``Blechdicke`` (1 %).
    ``best_chance`` of such an item is the share of its likeliest routing given the rest of the
    row (see sheet_share); a material keyed in lower case counts as known.
    """
    n = check(n_items, noise)
    rng = np.random.default_rng(seed)
    mat = draw_options(rng, {m: v[0] for m, v in _S_MATERIALS.items()}, n)
    med = lookup([v[4] for v in _S_MATERIALS.values()], list(_S_MATERIALS), mat)
    thick = _S_GAUGES[np.abs(np.log(_S_GAUGES)[None, :]
                             - np.log(med * log_noise(rng, _S_SPREAD, n))[:, None]).argmin(axis=1)]
    lot = draw_options(rng, {1: 8, 5: 12, 10: 14, 25: 16, 50: 16, 100: 14, 200: 10, 500: 7, 1000: 3}, n)
    cut = _sheet_cut(thick, lot)
    bend_p, insert_p, weld_p = _sheet_odds(thick)
    bends = np.where(rng.random(n) < bend_p, rng.integers(1, 12, size=n), 0)
    inserts = np.where(rng.random(n) < insert_p, rng.integers(1, 9, size=n), 0)
    weld = rng.random(n) < weld_p
    surface = draw_options(rng, _S_SURFACES, n)
    routes, combo = combos(_sheet_route, mat, cut, bends > 0, inserts > 0, weld, thick >= 5, surface)
    extras = ("NACHARBEIT", "REINIGEN", "SONDERPRUEFUNG")
    vocab, row_item, code, perturbed, clean = expand(rng, routes, combo, extras, noise)
    n_rows = row_item.size

    width = np.round(rng.lognormal(np.log(250), 0.6, n))
    height = np.round(width * rng.uniform(0.3, 1.0, n))
    per_piece = (np.array([_S_MINUTES[p] for p in vocab])[code] * (width * height / 60000)[row_item] ** 0.4
                 * np.where(np.array(vocab)[code] == "KANTEN", np.maximum(bends, 1)[row_item] ** 0.8, 1.0))
    hours = (0.25 + lot[row_item] * per_piece / 60) * log_noise(rng, 0.15, n_rows)
    hours_txt = pd.Series(np.round(hours, 3)).map("{:.3f}".format).str.replace(".", ",", regex=False)
    hours_txt = hours_txt.where(rng.random(n_rows) >= 0.005, None)
    codes = (rng.integers(10, 99, size=n).astype(str).astype(object) + "."
             + np.strings.zfill(unique_numbers(rng, 1, 9999, n).astype(str), 4).astype(object))
    place = {p: f"AP{100 + 10 * i}" for i, p in enumerate(vocab)}
    name = np.array(_S_PARTS, dtype=object)[rng.integers(len(_S_PARTS), size=n)]
    name = join_parts(name, np.where(rng.random(n) < 0.5, width.astype(int).astype(str) + "x" + height.astype(int).astype(str), ""))
    surf_txt = surface.copy()
    surf_txt[rng.random(n) < 0.02] = None  # not maintained in the item master
    werkstoff = np.where(rng.random(n) < 0.03, pd.Series(mat, dtype=object).str.lower(), mat)  # keyed by hand
    ops = pd.DataFrame({
        "Sachnummer": as_text_column(codes[row_item]),
        "AG-Nr": position(row_item, n) * 10,
        "Tätigkeit": as_text_column(np.array(vocab, dtype=object)[code]),
        "Arbeitsplatz": as_text_column(np.vectorize(place.get)(np.array(vocab, dtype=object)[code]), rng.random(n_rows) < 0.01),
        "Vorgabezeit (h)": as_text_column(hours_txt.to_numpy(dtype=object)),
        "Bezeichnung": as_text_column(name[row_item]),
        "Werkstoff": as_text_column(werkstoff[row_item]),
        "Blechdicke": as_number_column(thick[row_item], (rng.random(n) < 0.01)[row_item]),
        "Biegungen": bends[row_item],
        "Einpressteile": inserts[row_item],
        "Schweißbaugruppe": as_text_column(np.where(weld, "ja", "nein")[row_item]),
        "Oberfläche": as_text_column(surf_txt[row_item]),
        "Losgröße": lot[row_item],
    })
    mapping = {"Sachnummer": "item_code", "Tätigkeit": "process_code", "AG-Nr": "seq", "Vorgabezeit (h)": "duration_h"}
    blank = ops[["Blechdicke", "Oberfläche"]].isna().to_numpy()[first_rows(row_item, n)]
    sel = np.flatnonzero(blank.any(axis=1) & ~perturbed)
    chance = np.ones(n)
    chance[sel] = chances_of(list(zip(
        mat[sel], lot[sel].tolist(), (bends[sel] > 0).tolist(), (inserts[sel] > 0).tolist(), weld[sel].tolist(),
        np.where(blank[:, 0], None, thick)[sel].tolist(), np.where(blank[:, 1], None, surface)[sel].tolist(),
        strict=True)), sheet_share)
    return ops, truth_table(codes, perturbed, clean, chance), mapping
