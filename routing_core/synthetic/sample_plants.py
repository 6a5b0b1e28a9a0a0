"""The two plants the sample generator (routing_core.synthetic.sample) can export: for each, its part
families, materials, processes with their time models, the rules that turn an item's options into
its routing, and the ERP's column names.

``default`` is the plant the model is tuned on; ``holdout`` is another plant and another ERP
(other families, item code format, process vocabulary, rules and column names), never used for
tuning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Process:
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
class Material:
    name: str
    density: float  # g/cm3
    machinability: float  # time factor on cutting steps
    heat_p: float  # probability of the heat-treatment option
    surfaces: dict[str, float]  # surface option -> probability


@dataclass(frozen=True)
class Family:
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
class Variant:
    families: tuple[Family, ...]
    materials: tuple[Material, ...]
    processes: dict[str, Process]
    surfaces: tuple[str, ...]
    extras: tuple[str, ...]  # steps a plant variant may insert
    route: Callable[[Family, Material, int, str, bool, bool], list[str]]
    code_sep: str
    columns: tuple[tuple[str, str], ...]  # (output column, internal field)
    tol_label: Callable[[int], str]
    yes_no: tuple[str, str]  # labels of the outsourced flag (no, yes)


def _p(base, ed, el, ew, centers, cut=False, prec=False, out=0.0, ext="", ec=0.0):
    return Process(base, ed, el, ew, cut, prec, tuple(centers), out, ext, ec)


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
    Material("C45", 7.85, 1.0, 0.35, {"NONE": 0.45, "ZINC": 0.35, "PAINT": 0.2}),
    Material("42CrMo4", 7.85, 1.2, 0.75, {"NONE": 0.5, "ZINC": 0.3, "PAINT": 0.2}),
    Material("SS304", 7.9, 1.6, 0.0, {"NONE": 1.0}),
    Material("AL6061", 2.7, 0.55, 0.0, {"NONE": 0.35, "ANODIZE": 0.5, "PAINT": 0.15}),
    Material("CuZn39Pb3", 8.5, 0.5, 0.0, {"NONE": 1.0}),
    Material("Ti6Al4V", 4.43, 2.4, 0.0, {"NONE": 0.6, "ANODIZE": 0.4}),
)

_TOL_FINE = {6: 0.08, 7: 0.17, 8: 0.25, 9: 0.25, 10: 0.15, 11: 0.10}
_TOL_MID = {7: 0.1, 8: 0.25, 9: 0.3, 10: 0.2, 11: 0.15}
_TOL_COARSE = {8: 0.15, 9: 0.3, 10: 0.3, 11: 0.25}

_DEFAULT_FAMILIES = (
    Family("shaft", "SH", False, 0.20, True, ("SAW", "CNC_LATHE", "MILL", "INSPECT", "PACK"),
            {"C45": 0.35, "42CrMo4": 0.33, "SS304": 0.15, "AL6061": 0.1, "Ti6Al4V": 0.07},
            (40, 0.35), (250, 0.4), (1, 0), math.pi / 4, _TOL_FINE, 0.3),
    Family("flange", "FL", True, 0.13, True, ("SAW", "CNC_LATHE", "DRILL", "INSPECT"),
            {"C45": 0.4, "42CrMo4": 0.1, "SS304": 0.3, "AL6061": 0.2},
            (150, 0.35), (30, 0.3), (1, 0), 0.55, _TOL_MID, 0.1),
    Family("bracket", "BR", False, 0.12, False, ("SAW", "MILL", "DRILL", "DEBURR", "INSPECT"),
            {"C45": 0.4, "SS304": 0.2, "AL6061": 0.4},
            (80, 0.3), (120, 0.35), (0.15, 0.2), 0.6, _TOL_COARSE, 0.35, heat_ok=False),
    Family("housing", "HS", False, 0.08, False, ("SAW", "CNC_MILL", "DRILL", "WASH", "INSPECT"),
            {"AL6061": 0.55, "C45": 0.2, "SS304": 0.2, "Ti6Al4V": 0.05},
            (120, 0.3), (150, 0.3), (0.8, 0.15), 0.3, _TOL_MID, 0.6, heat_ok=False),
    Family("pin", "PN", True, 0.15, True, ("CNC_LATHE", "INSPECT", "PACK"),
            {"C45": 0.3, "42CrMo4": 0.3, "SS304": 0.2, "CuZn39Pb3": 0.2},
            (10, 0.3), (40, 0.35), (1, 0), math.pi / 4, _TOL_FINE, 0.3),
    Family("gear", "GR", False, 0.10, True, ("SAW", "CNC_LATHE", "HOB", "DEBURR", "INSPECT"),
            {"C45": 0.3, "42CrMo4": 0.6, "CuZn39Pb3": 0.1},
            (90, 0.4), (30, 0.3), (1, 0), 0.65, _TOL_FINE, 0.05),
    Family("plate", "PL", False, 0.10, False, ("SAW", "MILL", "DRILL", "INSPECT"),
            {"C45": 0.4, "AL6061": 0.4, "SS304": 0.2},
            (200, 0.35), (300, 0.35), (0.1, 0.3), 1.0, _TOL_MID, 0.4),
    Family("bushing", "BU", True, 0.12, True, ("SAW", "CNC_LATHE", "INSPECT", "PACK"),
            {"CuZn39Pb3": 0.4, "C45": 0.3, "SS304": 0.2, "42CrMo4": 0.1},
            (35, 0.35), (40, 0.35), (1, 0), 0.45, _TOL_FINE, 0.1),
)

_DEFAULT_MACHINING = {"SAW", "CNC_LATHE", "CNC_LATHE_HP", "MILL", "MILL_HP", "CNC_MILL", "DRILL", "HOB"}
_DEFAULT_SURFACE_STEP = {"ZINC": "PLATE", "ANODIZE": "ANODIZE", "PAINT": "PAINT"}
_TITANIUM_SWAP = {"CNC_LATHE": "CNC_LATHE_HP", "MILL": "MILL_HP", "CNC_MILL": "MILL_HP"}


def _after_last(steps: list[str], anchors: set[str]) -> int:
    """Index just after the last step in anchors (0 when there is none)."""
    return max((i + 1 for i, s in enumerate(steps) if s in anchors), default=0)


def _route_default(f: Family, m: Material, tol: int, surf: str, heat: bool, thread: bool) -> list[str]:
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

_DEFAULT = Variant(
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
    Material("S235JR", 7.85, 1.0, 0.0, {"NONE": 0.3, "POWDER": 0.4, "GALV": 0.3}),
    Material("S355J2", 7.85, 1.1, 0.3, {"NONE": 0.3, "POWDER": 0.3, "E_COAT": 0.3, "GALV": 0.1}),
    Material("16MnCr5", 7.85, 1.15, 0.8, {"NONE": 0.7, "E_COAT": 0.3}),
    Material("EN-GJS-400", 7.1, 0.9, 0.2, {"NONE": 0.5, "E_COAT": 0.3, "POWDER": 0.2}),
    Material("AlMg3", 2.66, 0.5, 0.0, {"NONE": 0.5, "POWDER": 0.5}),
    Material("1.4404", 8.0, 1.7, 0.0, {"NONE": 1.0}),
    Material("54SiCr6", 7.85, 1.0, 0.0, {"NONE": 0.4, "E_COAT": 0.3, "POWDER": 0.3}),
)

_H_FINE = {6: 0.1, 7: 0.2, 8: 0.3, 9: 0.2, 10: 0.1, 11: 0.1}
_H_COARSE = {8: 0.2, 9: 0.3, 10: 0.3, 11: 0.2}

_HOLDOUT_FAMILIES = (
    Family("conn_rod", "CR", False, 0.14, False, ("FORGE", "TRIM", "MACHINE_CENTER", "BROACH", "FINAL_QC"),
            {"16MnCr5": 0.5, "S355J2": 0.5},
            (60, 0.3), (180, 0.3), (0.35, 0.15), 0.45, _H_FINE, 0.3, threads=(2, 4)),
    Family("sheet_panel", "SM", True, 0.2, False, ("LASER_CUT", "BEND", "FINAL_QC", "BOX"),
            {"S235JR": 0.5, "AlMg3": 0.3, "1.4404": 0.2},
            (300, 0.4), (500, 0.4), (0.008, 0.3), 0.9, _H_COARSE, 0.4, heat_ok=False, threads=(2, 8)),
    Family("enclosure", "EN", False, 0.12, False, ("LASER_CUT", "BEND", "TIG_WELD", "ASSEMBLE", "FINAL_QC"),
            {"S235JR": 0.5, "AlMg3": 0.2, "1.4404": 0.3},
            (400, 0.3), (600, 0.3), (0.5, 0.2), 0.03, _H_COARSE, 0.5, heat_ok=False, threads=(4, 12)),
    Family("valve_body", "VB", True, 0.14, False, ("MACHINE_CENTER", "BORE", "LEAK_TEST", "FINAL_QC"),
            {"EN-GJS-400": 0.6, "1.4404": 0.4},
            (110, 0.3), (140, 0.3), (0.9, 0.1), 0.4, _H_FINE, 0.7, threads=(2, 8)),
    Family("sprocket", "SK", False, 0.14, True, ("FLAME_CUT", "TURN_MILL", "GEAR_SHAPE", "FINAL_QC", "BOX"),
            {"S355J2": 0.5, "16MnCr5": 0.3, "EN-GJS-400": 0.2},
            (160, 0.4), (25, 0.3), (1, 0), 0.6, _H_FINE, 0.2, threads=(1, 4)),
    Family("spring", "SP", True, 0.14, True, ("COIL", "TEMPER", "GRIND_ENDS", "LOAD_TEST", "BOX"),
            {"54SiCr6": 1.0},
            (25, 0.4), (60, 0.4), (1, 0), 0.12, _H_COARSE, 0.0, heat_ok=False),
    Family("sub_assembly", "SA", False, 0.12, False, ("KIT", "ASSEMBLE", "TORQUE_TEST", "LABEL", "BOX"),
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


def _route_holdout(f: Family, m: Material, tol: int, surf: str, heat: bool, thread: bool) -> list[str]:
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

_HOLDOUT = Variant(
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

VARIANT_TABLES = {"default": _DEFAULT, "holdout": _HOLDOUT}
TOL_GRADES = (6, 7, 8, 9, 10, 11)
TOL_FACTOR = np.array([1.35, 1.18, 1.06, 1.0, 0.97, 0.95])  # time factor, IT6..IT11
