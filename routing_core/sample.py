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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

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
_PERTURB_KINDS = (0.4, 0.3, 0.3)  # swap neighbours, insert an extra step, drop a step
_MAX_STEPS = 128  # routings are far shorter; used for sort keys


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Process:
    base: float  # minutes for the reference item (size 50 x 100 mm, 1 kg)
    exp_d: float  # elasticity to diameter / width
    exp_l: float  # elasticity to length
    exp_w: float  # elasticity to weight
    cutting: bool  # the material's machinability factor applies
    precision: bool  # the tolerance factor applies
    centers: tuple[str, ...]  # in-house work centers, smallest machine first
    outsource: float  # probability that the step is bought in
    external: str  # work center of a bought-in step
    exp_count: float = 0.0  # elasticity to the number of threads / tapped holes


@dataclass(frozen=True)
class _Material:
    name: str
    density: float  # g/cm3
    machinability: float  # time factor on cutting steps
    heat_p: float  # probability of the heat-treatment option
    surfaces: dict[str, float]  # surface option -> probability


@dataclass(frozen=True)
class _Family:
    name: str
    prefix: str
    leading_zeros: bool  # number part padded with zeros (e.g. FL-0004512)
    weight: float  # share of items
    round: bool
    base: tuple[str, ...]
    materials: dict[str, float]
    dia: tuple[float, float]  # median mm, lognormal sigma
    length: tuple[float, float]
    thick: tuple[float, float]  # thickness as share of the width (prismatic parts)
    fill: float  # weight = density * dia * thickness * length * fill
    tol: dict[int, float]  # IT grade -> probability
    thread_p: float
    heat_ok: bool = True
    threads: tuple[int, int] = (1, 1)  # range of the thread / tapped-hole count


@dataclass(frozen=True)
class _Variant:
    families: tuple[_Family, ...]
    materials: tuple[_Material, ...]
    processes: dict[str, _Process]
    surfaces: tuple[str, ...]
    extras: tuple[str, ...]  # steps a plant variant may insert
    route: Callable[[_Family, _Material, int, str, bool, bool], list[str]]
    code_sep: str
    columns: tuple[tuple[str, str], ...]  # (output column, internal field)
    tol_label: Callable[[int], str]
    yes_no: tuple[str, str]  # labels of the outsourced flag (no, yes)


def _p(base, ed, el, ew, centers, cut=False, prec=False, out=0.0, ext="", ec=0.0):
    return _Process(base, ed, el, ew, cut, prec, tuple(centers), out, ext, ec)


def _wc(kind: str, n: int) -> list[str]:
    return [f"WC-{kind}-{i:02d}" for i in range(1, n + 1)]


_DEFAULT_PROCESSES = {
    "SAW": _p(3.0, 1.1, 0.0, 0.0, _wc("SAW", 2), cut=True),
    "CNC_LATHE": _p(12.0, 0.8, 0.7, 0.0, _wc("LATHE", 4), cut=True, prec=True, out=0.02, ext="EXT-MACHINING"),
    "CNC_LATHE_HP": _p(14.0, 0.8, 0.7, 0.0, _wc("LATHE-HP", 1), cut=True, prec=True),
    "MILL": _p(10.0, 0.5, 0.6, 0.0, _wc("MILL", 3), cut=True, prec=True, out=0.02, ext="EXT-MACHINING"),
    "MILL_HP": _p(13.0, 0.5, 0.6, 0.0, _wc("MILL-HP", 1), cut=True, prec=True),
    "CNC_MILL": _p(25.0, 0.6, 0.6, 0.0, _wc("MC", 3), cut=True, prec=True),
    "DRILL": _p(4.0, 0.4, 0.1, 0.0, _wc("DRILL", 2), cut=True),
    "HOB": _p(18.0, 0.9, 0.4, 0.0, _wc("HOB", 2), cut=True, prec=True),
    "THREAD": _p(5.0, 0.5, 0.1, 0.0, _wc("THREAD", 2), cut=True, prec=True),
    "TAP": _p(3.0, 0.2, 0.0, 0.0, _wc("DRILL", 2), cut=True),
    "DEBURR": _p(3.0, 0.3, 0.3, 0.0, _wc("BENCH", 3)),
    "HEAT_TREAT": _p(45.0, 0.0, 0.0, 0.35, _wc("HT", 1), out=0.6, ext="EXT-HEAT"),
    "GRIND_OD": _p(15.0, 0.6, 0.8, 0.0, _wc("GRIND", 2), prec=True, out=0.05, ext="EXT-GRIND"),
    "GRIND_SURF": _p(12.0, 0.7, 0.6, 0.0, _wc("SGRIND", 1), prec=True, out=0.05, ext="EXT-GRIND"),
    "PASSIVATE": _p(20.0, 0.0, 0.0, 0.3, _wc("CHEM", 1), out=0.7, ext="EXT-CHEM"),
    "PLATE": _p(25.0, 0.0, 0.0, 0.3, _wc("PLATE", 1), out=0.9, ext="EXT-PLATING"),
    "ANODIZE": _p(30.0, 0.0, 0.0, 0.3, _wc("ANOD", 1), out=0.95, ext="EXT-ANODIZE"),
    "PAINT": _p(15.0, 0.5, 0.5, 0.0, _wc("PAINT", 2), out=0.4, ext="EXT-PAINT"),
    "WASH": _p(4.0, 0.2, 0.2, 0.0, _wc("WASH", 1)),
    "INSPECT": _p(6.0, 0.2, 0.2, 0.0, _wc("QC", 2), prec=True),
    "CMM_INSPECT": _p(15.0, 0.3, 0.3, 0.0, _wc("CMM", 1), prec=True),
    "PACK": _p(2.0, 0.0, 0.0, 0.2, _wc("PACK", 1)),
    "STRAIGHTEN": _p(5.0, 0.3, 0.6, 0.0, _wc("PRESS", 1)),
    "MARK": _p(1.5, 0.0, 0.0, 0.0, _wc("LASER", 1)),
}

_DEFAULT_MATERIALS = (
    _Material("C45", 7.85, 1.0, 0.35, {"NONE": 0.45, "ZINC": 0.35, "PAINT": 0.2}),
    _Material("42CrMo4", 7.85, 1.2, 0.75, {"NONE": 0.5, "ZINC": 0.3, "PAINT": 0.2}),
    _Material("SS304", 7.9, 1.6, 0.0, {"NONE": 1.0}),
    _Material("AL6061", 2.7, 0.55, 0.0, {"NONE": 0.35, "ANODIZE": 0.5, "PAINT": 0.15}),
    _Material("CuZn39Pb3", 8.5, 0.5, 0.0, {"NONE": 1.0}),
    _Material("Ti6Al4V", 4.43, 2.4, 0.0, {"NONE": 0.6, "ANODIZE": 0.4}),
)

_TOL_FINE = {6: 0.08, 7: 0.17, 8: 0.25, 9: 0.25, 10: 0.15, 11: 0.10}
_TOL_MID = {7: 0.1, 8: 0.25, 9: 0.3, 10: 0.2, 11: 0.15}
_TOL_COARSE = {8: 0.15, 9: 0.3, 10: 0.3, 11: 0.25}

_DEFAULT_FAMILIES = (
    _Family("shaft", "SH", False, 0.20, True, ("SAW", "CNC_LATHE", "MILL", "INSPECT", "PACK"),
            {"C45": 0.35, "42CrMo4": 0.33, "SS304": 0.15, "AL6061": 0.1, "Ti6Al4V": 0.07},
            (40, 0.35), (250, 0.4), (1, 0), math.pi / 4, _TOL_FINE, 0.3),
    _Family("flange", "FL", True, 0.13, True, ("SAW", "CNC_LATHE", "DRILL", "INSPECT"),
            {"C45": 0.4, "42CrMo4": 0.1, "SS304": 0.3, "AL6061": 0.2},
            (150, 0.35), (30, 0.3), (1, 0), 0.55, _TOL_MID, 0.1),
    _Family("bracket", "BR", False, 0.12, False, ("SAW", "MILL", "DRILL", "DEBURR", "INSPECT"),
            {"C45": 0.4, "SS304": 0.2, "AL6061": 0.4},
            (80, 0.3), (120, 0.35), (0.15, 0.2), 0.6, _TOL_COARSE, 0.35, heat_ok=False),
    _Family("housing", "HS", False, 0.08, False, ("SAW", "CNC_MILL", "DRILL", "WASH", "INSPECT"),
            {"AL6061": 0.55, "C45": 0.2, "SS304": 0.2, "Ti6Al4V": 0.05},
            (120, 0.3), (150, 0.3), (0.8, 0.15), 0.3, _TOL_MID, 0.6, heat_ok=False),
    _Family("pin", "PN", True, 0.15, True, ("CNC_LATHE", "INSPECT", "PACK"),
            {"C45": 0.3, "42CrMo4": 0.3, "SS304": 0.2, "CuZn39Pb3": 0.2},
            (10, 0.3), (40, 0.35), (1, 0), math.pi / 4, _TOL_FINE, 0.3),
    _Family("gear", "GR", False, 0.10, True, ("SAW", "CNC_LATHE", "HOB", "DEBURR", "INSPECT"),
            {"C45": 0.3, "42CrMo4": 0.6, "CuZn39Pb3": 0.1},
            (90, 0.4), (30, 0.3), (1, 0), 0.65, _TOL_FINE, 0.05),
    _Family("plate", "PL", False, 0.10, False, ("SAW", "MILL", "DRILL", "INSPECT"),
            {"C45": 0.4, "AL6061": 0.4, "SS304": 0.2},
            (200, 0.35), (300, 0.35), (0.1, 0.3), 1.0, _TOL_MID, 0.4),
    _Family("bushing", "BU", True, 0.12, True, ("SAW", "CNC_LATHE", "INSPECT", "PACK"),
            {"CuZn39Pb3": 0.4, "C45": 0.3, "SS304": 0.2, "42CrMo4": 0.1},
            (35, 0.35), (40, 0.35), (1, 0), 0.45, _TOL_FINE, 0.1),
)

_DEFAULT_MACHINING = {"SAW", "CNC_LATHE", "CNC_LATHE_HP", "MILL", "MILL_HP", "CNC_MILL", "DRILL", "HOB"}
_DEFAULT_SURFACE_STEP = {"ZINC": "PLATE", "ANODIZE": "ANODIZE", "PAINT": "PAINT"}
_TITANIUM_SWAP = {"CNC_LATHE": "CNC_LATHE_HP", "MILL": "MILL_HP", "CNC_MILL": "MILL_HP"}


def _after_last(steps: list[str], anchors: set[str]) -> int:
    """Index just after the last step in anchors (0 when there is none)."""
    return max((i + 1 for i, s in enumerate(steps) if s in anchors), default=0)


def _route_default(f: _Family, m: _Material, tol: int, surf: str, heat: bool, thread: bool) -> list[str]:
    steps = list(f.base)
    if m.name == "Ti6Al4V":  # titanium needs high-pressure coolant machines
        steps = [_TITANIUM_SWAP.get(s, s) for s in steps]
    follow = []
    if thread:
        follow.append("THREAD" if f.round else "TAP")
    if heat:
        follow.append("HEAT_TREAT")
    if tol <= 7:  # after heat treatment when there is one: grind to size
        follow.append("GRIND_OD" if f.round else "GRIND_SURF")
    k = _after_last(steps, _DEFAULT_MACHINING | {"THREAD", "TAP"})
    steps[k:k] = follow
    finish = []
    if m.name == "SS304":
        finish.append("PASSIVATE")
    if surf != "NONE":
        finish.append(_DEFAULT_SURFACE_STEP[surf])
    q = steps.index("INSPECT")
    steps[q:q] = finish
    if tol == 6:
        steps[steps.index("INSPECT")] = "CMM_INSPECT"
    return steps


_DEFAULT_COLUMNS = (
    ("item_code", "item_code"),
    ("seq", "seq"),
    ("process_code", "process_code"),
    ("duration_min", "duration_min"),
    ("part_type", "family"),
    ("material", "material"),
    ("outer_diameter_mm", "dia"),
    ("length_mm", "length"),
    ("weight_kg", "weight"),
    ("tolerance_class", "tol"),
    ("surface_treatment", "surface"),
    ("heat_treated", "heat"),
    ("threaded", "thread"),
    ("work_center", "work_center"),
    ("outsourced", "outsourced"),
)

_DEFAULT = _Variant(
    families=_DEFAULT_FAMILIES,
    materials=_DEFAULT_MATERIALS,
    processes=_DEFAULT_PROCESSES,
    surfaces=("NONE", "ZINC", "ANODIZE", "PAINT"),
    extras=("DEBURR", "WASH", "INSPECT", "STRAIGHTEN", "MARK"),
    route=_route_default,
    code_sep="-",
    columns=_DEFAULT_COLUMNS,
    tol_label=lambda t: f"IT{t}",
    yes_no=("N", "Y"),
)


# --- holdout: another plant, another ERP ------------------------------------------


def _cell(kind: str, n: int) -> list[str]:
    return [f"CELL-{kind}-{i}" for i in range(1, n + 1)]


_HOLDOUT_PROCESSES = {
    "FORGE": _p(6.0, 0.6, 0.5, 0.3, _cell("FRG", 2), out=0.3, ext="SUB-FORGING"),
    "TRIM": _p(1.5, 0.3, 0.3, 0.0, _cell("PRS", 2)),
    "CASTING_FETTLE": _p(8.0, 0.0, 0.0, 0.4, _cell("FTL", 1), out=0.5, ext="SUB-FOUNDRY"),
    "MACHINE_CENTER": _p(22.0, 0.6, 0.6, 0.0, _cell("HMC", 3), cut=True, prec=True),
    "BROACH": _p(4.0, 0.5, 0.2, 0.0, _cell("BRO", 1), cut=True, prec=True),
    "BORE": _p(9.0, 0.5, 0.5, 0.0, _cell("BOR", 2), cut=True, prec=True),
    "LASER_CUT": _p(3.5, 0.5, 0.5, 0.0, _cell("LSR", 2), cut=True),
    "WATERJET": _p(7.0, 0.5, 0.5, 0.0, _cell("WJ", 1), cut=True, out=0.3, ext="SUB-CUTTING"),
    "FLAME_CUT": _p(5.0, 0.7, 0.0, 0.0, _cell("FLM", 1), cut=True, out=0.4, ext="SUB-CUTTING"),
    "BEND": _p(2.5, 0.3, 0.4, 0.0, _cell("BND", 3)),
    "TIG_WELD": _p(20.0, 0.5, 0.6, 0.0, _cell("WLD", 2), cut=True),
    "TURN_MILL": _p(16.0, 0.8, 0.4, 0.0, _cell("TM", 2), cut=True, prec=True),
    "GEAR_SHAPE": _p(20.0, 0.9, 0.3, 0.0, _cell("GSH", 1), cut=True, prec=True),
    "COIL": _p(0.8, 0.4, 0.3, 0.0, _cell("CNC-COIL", 2)),
    "TEMPER": _p(1.2, 0.0, 0.0, 0.3, _cell("OVEN", 1)),
    "GRIND_ENDS": _p(0.9, 0.5, 0.0, 0.0, _cell("EGR", 1), prec=True),
    "KIT": _p(4.0, 0.0, 0.0, 0.1, _cell("STORE", 1)),
    "ASSEMBLE": _p(18.0, 0.2, 0.2, 0.2, _cell("ASM", 3)),
    "TAPPING": _p(1.2, 0.2, 0.0, 0.0, _cell("TAP", 2), cut=True, ec=0.8),
    "INDUCTION_HARDEN": _p(6.0, 0.5, 0.5, 0.0, _cell("IND", 1), out=0.2, ext="SUB-HARDENING"),
    "CARBURIZE": _p(40.0, 0.0, 0.0, 0.3, _cell("FURN", 1), out=0.8, ext="SUB-HARDENING"),
    "HONE": _p(7.0, 0.4, 0.4, 0.0, _cell("HON", 1), prec=True),
    "LAP": _p(12.0, 0.6, 0.3, 0.0, _cell("LAP", 1), prec=True, out=0.3, ext="SUB-PRECISION"),
    "PICKLE": _p(10.0, 0.0, 0.0, 0.3, _cell("CHM", 1), out=0.6, ext="SUB-SURFACE"),
    "POWDER_COAT": _p(12.0, 0.5, 0.5, 0.0, _cell("PWD", 1), out=0.5, ext="SUB-COATING"),
    "E_COAT": _p(9.0, 0.4, 0.4, 0.0, _cell("ECT", 1), out=0.85, ext="SUB-COATING"),
    "GALVANIZE": _p(15.0, 0.0, 0.0, 0.35, _cell("GLV", 1), out=0.95, ext="SUB-GALVANIZING"),
    "LEAK_TEST": _p(6.0, 0.3, 0.2, 0.0, _cell("LKT", 1)),
    "LOAD_TEST": _p(0.6, 0.0, 0.0, 0.0, _cell("LDT", 1)),
    "TORQUE_TEST": _p(3.0, 0.0, 0.0, 0.0, _cell("TQT", 1)),
    "CMM": _p(14.0, 0.3, 0.3, 0.0, _cell("CMM", 1), prec=True),
    "FINAL_QC": _p(4.0, 0.2, 0.2, 0.0, _cell("FQC", 2), prec=True),
    "LABEL": _p(0.8, 0.0, 0.0, 0.0, _cell("LBL", 1)),
    "BOX": _p(1.5, 0.0, 0.0, 0.2, _cell("SHP", 1)),
    "CLEAN": _p(3.0, 0.2, 0.2, 0.0, _cell("CLN", 1)),
    "RE_QC": _p(3.0, 0.2, 0.2, 0.0, _cell("FQC", 2)),
    "DEBURR_TUMBLE": _p(5.0, 0.0, 0.0, 0.2, _cell("TMB", 1)),
    "ENGRAVE": _p(1.0, 0.0, 0.0, 0.0, _cell("ENG", 1)),
}

_HOLDOUT_MATERIALS = (
    _Material("S235JR", 7.85, 1.0, 0.0, {"NONE": 0.3, "POWDER": 0.4, "GALV": 0.3}),
    _Material("S355J2", 7.85, 1.1, 0.3, {"NONE": 0.3, "POWDER": 0.3, "E_COAT": 0.3, "GALV": 0.1}),
    _Material("16MnCr5", 7.85, 1.15, 0.8, {"NONE": 0.7, "E_COAT": 0.3}),
    _Material("EN-GJS-400", 7.1, 0.9, 0.2, {"NONE": 0.5, "E_COAT": 0.3, "POWDER": 0.2}),
    _Material("AlMg3", 2.66, 0.5, 0.0, {"NONE": 0.5, "POWDER": 0.5}),
    _Material("1.4404", 8.0, 1.7, 0.0, {"NONE": 1.0}),
    _Material("54SiCr6", 7.85, 1.0, 0.0, {"NONE": 0.4, "E_COAT": 0.3, "POWDER": 0.3}),
)

_H_FINE = {6: 0.1, 7: 0.2, 8: 0.3, 9: 0.2, 10: 0.1, 11: 0.1}
_H_COARSE = {8: 0.2, 9: 0.3, 10: 0.3, 11: 0.2}

_HOLDOUT_FAMILIES = (
    _Family("conn_rod", "CR", False, 0.14, False, ("FORGE", "TRIM", "MACHINE_CENTER", "BROACH", "FINAL_QC"),
            {"16MnCr5": 0.5, "S355J2": 0.5},
            (60, 0.3), (180, 0.3), (0.35, 0.15), 0.45, _H_FINE, 0.3, threads=(2, 4)),
    _Family("sheet_panel", "SM", True, 0.2, False, ("LASER_CUT", "BEND", "FINAL_QC", "BOX"),
            {"S235JR": 0.5, "AlMg3": 0.3, "1.4404": 0.2},
            (300, 0.4), (500, 0.4), (0.008, 0.3), 0.9, _H_COARSE, 0.4, heat_ok=False, threads=(2, 8)),
    _Family("enclosure", "EN", False, 0.12, False, ("LASER_CUT", "BEND", "TIG_WELD", "ASSEMBLE", "FINAL_QC"),
            {"S235JR": 0.5, "AlMg3": 0.2, "1.4404": 0.3},
            (400, 0.3), (600, 0.3), (0.5, 0.2), 0.03, _H_COARSE, 0.5, heat_ok=False, threads=(4, 12)),
    _Family("valve_body", "VB", True, 0.14, False, ("MACHINE_CENTER", "BORE", "LEAK_TEST", "FINAL_QC"),
            {"EN-GJS-400": 0.6, "1.4404": 0.4},
            (110, 0.3), (140, 0.3), (0.9, 0.1), 0.4, _H_FINE, 0.7, threads=(2, 8)),
    _Family("sprocket", "SK", False, 0.14, True, ("FLAME_CUT", "TURN_MILL", "GEAR_SHAPE", "FINAL_QC", "BOX"),
            {"S355J2": 0.5, "16MnCr5": 0.3, "EN-GJS-400": 0.2},
            (160, 0.4), (25, 0.3), (1, 0), 0.6, _H_FINE, 0.2, threads=(1, 4)),
    _Family("spring", "SP", True, 0.14, True, ("COIL", "TEMPER", "GRIND_ENDS", "LOAD_TEST", "BOX"),
            {"54SiCr6": 1.0},
            (25, 0.4), (60, 0.4), (1, 0), 0.12, _H_COARSE, 0.0, heat_ok=False),
    _Family("sub_assembly", "SA", False, 0.12, False, ("KIT", "ASSEMBLE", "TORQUE_TEST", "LABEL", "BOX"),
            {"S235JR": 0.6, "AlMg3": 0.4},
            (250, 0.3), (350, 0.3), (0.6, 0.2), 0.05, _H_COARSE, 0.0, heat_ok=False),
)

_HOLDOUT_SHAPING = {
    "FORGE", "TRIM", "CASTING_FETTLE", "MACHINE_CENTER", "BROACH", "BORE", "LASER_CUT",
    "WATERJET", "FLAME_CUT", "BEND", "TIG_WELD", "TURN_MILL", "GEAR_SHAPE", "GRIND_ENDS",
    "KIT",
}
_HOLDOUT_COATING_STEP = {"POWDER": "POWDER_COAT", "E_COAT": "E_COAT", "GALV": "GALVANIZE"}
_HOLDOUT_CHECKS = ("ASSEMBLE", "LEAK_TEST", "LOAD_TEST", "TORQUE_TEST", "FINAL_QC")


def _route_holdout(f: _Family, m: _Material, tol: int, surf: str, heat: bool, thread: bool) -> list[str]:
    steps = list(f.base)
    if m.name == "EN-GJS-400":  # cast blanks come from the foundry and are fettled first
        steps.insert(0, "CASTING_FETTLE")
    if m.name == "AlMg3":  # aluminium sheet is cut on the waterjet
        steps = ["WATERJET" if s == "LASER_CUT" else s for s in steps]
    follow = []
    if thread:
        follow.append("TAPPING")
    if heat:
        follow.append("CARBURIZE" if m.name == "16MnCr5" else "INDUCTION_HARDEN")
    if tol <= 7:  # grade A bores: lapped when hardened, honed otherwise
        follow.append("LAP" if heat else "HONE")
    k = _after_last(steps, _HOLDOUT_SHAPING)
    steps[k:k] = follow
    finish = []
    if m.name == "1.4404" and "TIG_WELD" in steps:  # weld discolouration
        finish.append("PICKLE")
    if surf != "NONE":
        finish.append(_HOLDOUT_COATING_STEP[surf])
    q = next(i for i, s in enumerate(steps) if s in _HOLDOUT_CHECKS)
    steps[q:q] = finish
    if tol <= 7:
        q = steps.index("FINAL_QC")
        steps[q:q] = ["CMM"]
    return steps


_HOLDOUT_COLUMNS = (
    ("item_code", "item_code"),
    ("seq", "seq"),
    ("process_code", "process_code"),
    ("duration_min", "duration_min"),
    ("commodity", "family"),
    ("material_grade", "material"),
    ("width_mm", "dia"),
    ("length_mm", "length"),
    ("thickness_mm", "thick"),
    ("mass_kg", "weight"),
    ("quality_grade", "tol"),
    ("coating", "surface"),
    ("hardened", "heat"),
    ("tapped_holes", "thread_count"),
    ("resource", "work_center"),
    ("make_or_buy", "outsourced"),
)

_HOLDOUT = _Variant(
    families=_HOLDOUT_FAMILIES,
    materials=_HOLDOUT_MATERIALS,
    processes=_HOLDOUT_PROCESSES,
    surfaces=("NONE", "POWDER", "E_COAT", "GALV"),
    extras=("CLEAN", "RE_QC", "DEBURR_TUMBLE", "ENGRAVE"),
    route=_route_holdout,
    code_sep="",
    columns=_HOLDOUT_COLUMNS,
    tol_label=lambda t: "A" if t <= 7 else ("B" if t <= 9 else "C"),
    yes_no=("MAKE", "BUY"),
)

_VARIANTS = {"default": _DEFAULT, "holdout": _HOLDOUT}
_TOL_GRADES = (6, 7, 8, 9, 10, 11)
_TOL_FACTOR = np.array([1.35, 1.18, 1.06, 1.0, 0.97, 0.95])  # time factor, IT6..IT11


# --------------------------------------------------------------------------- helpers


def _check(config: SampleConfig) -> _Variant:
    if config.variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {config.variant!r}")
    if int(config.n_items) != config.n_items or config.n_items < 1:
        raise ValueError(f"n_items must be a whole number of at least 1, not {config.n_items!r}")
    if not 0.0 <= config.noise <= 1.0:
        raise ValueError(f"noise must lie between 0 and 1, not {config.noise!r}")
    if not 0.0 <= config.missing_rate < 1.0:
        raise ValueError(f"missing_rate must lie in [0, 1), not {config.missing_rate!r}")
    return _VARIANTS[config.variant]


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


def _make_items(rng: np.random.Generator, v: _Variant, n: int) -> dict[str, np.ndarray]:
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
        tol[idx] = np.array(_TOL_GRADES)[_pick(rng, f.tol, _TOL_GRADES, k)]
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


def _item_codes(v: _Variant, items: dict[str, np.ndarray]) -> np.ndarray:
    codes = np.empty(items["fam"].size, dtype=object)
    for fi, f in enumerate(v.families):
        sel = items["fam"] == fi
        if sel.any():
            digits = int(items["width"][sel][0])
            nums = np.strings.zfill(items["number"][sel].astype(str), digits)
            codes[sel] = np.strings.add(f.prefix + v.code_sep, nums).astype(object)
    return codes


# --------------------------------------------------------------------------- routings


def _clean_routings(v: _Variant, items: dict[str, np.ndarray], vocab: dict[str, int]):
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
    n = items["fam"].size
    combo, flat, offsets, lengths, strings = _clean_routings(v, items, vocab)
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
        # swap a step with its next neighbour (rules never put a code twice in a row)
        sw = kind == 0
        a = start_c[sw] + np.floor(u[sw] * (length_c[sw] - 1)).astype(np.int64)
        code[a], code[a + 1] = code[a + 1], code[a].copy()
        # drop one step
        keep = np.ones(code.size, dtype=bool)
        dr = kind == 2
        keep[start_c[dr] + np.floor(u[dr] * length_c[dr]).astype(np.int64)] = False
        # insert an extra step before position j (1..len: never before the first step)
        ins = kind == 1
        j = 1 + np.floor(u[ins] * length_c[ins]).astype(np.int64)
        extra_codes = np.array([vocab[s] for s in v.extras])
        new_code = extra_codes[rng.integers(len(extra_codes), size=int(ins.sum()))]
        sort_key = np.concatenate([
            (row_item * _MAX_STEPS + 2 * pos)[keep],
            chosen[ins] * _MAX_STEPS + 2 * j - 1,
        ])
        code = np.concatenate([code[keep], new_code])
        row_item = np.concatenate([row_item[keep], chosen[ins]])
        order = np.argsort(sort_key, kind="stable")
        code, row_item = code[order], row_item[order]
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
        + tab["precision"][code] * np.log(_TOL_FACTOR)[it["tol"] - 6][row_item]
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
