"""Accuracy benchmark: the routing model against its baselines on data it never trained on.

Trains on an item-level split (fixed seed) and evaluates on the held-out items of:
sample data (2,000 and 20,000 items, default noise, and the same without blank cells), the
HOLDOUT_CONFIG export (a generator configuration never used for tuning: other families, columns
and rules), the FabriCAD preview file, the sample drawn with other generator seeds, and the
exports of other plants (routing_core.synthetic.plants: valves, PCB assembly, sheet metal, a job shop),
where the model also meets a plain scikit-learn reference (benchmarks/reference.py) and the
same test items renumbered in a code range training never had. Writes docs/accuracy.json and
the accuracy section of docs/benchmarks.md (between the accuracy markers; the rest of the file
is left as it is).

    python benchmarks/accuracy.py                 # everything (docs/benchmarks.md states its time)
    python benchmarks/accuracy.py --quick         # small sizes: checks the script works
    python benchmarks/accuracy.py --only plants   # the other plants only (printed, not written)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reference import reference_metrics  # noqa: E402
from routing_core.datasets import load_dataset  # noqa: E402
from routing_core.mapping.schema import ITEM  # noqa: E402
from routing_core.model import RoutingModel  # noqa: E402
from routing_core.platform.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402
from routing_core.scoring.evaluation import (  # noqa: E402
    evaluate_model,
    labelled_items,
    predict_rankings,
    routing_metrics,
    split_items,
    true_routings,
)
from routing_core.scoring.provenance import stamp, stamp_line  # noqa: E402
from routing_core.synthetic.plants import PLANTS  # noqa: E402
from routing_core.synthetic.sample import (  # noqa: E402
    HOLDOUT_CONFIG,
    SampleConfig,
    best_chances,
    generate_with_truth,
)

DOCS = ROOT / "docs"
MD = DOCS / "benchmarks.md"
JSON_OUT = DOCS / "accuracy.json"
START, END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"
FABRICAD = ROOT.parent / "shared" / "data" / "fabricad" / "fabricad_preview_plans.csv"
if not FABRICAD.exists():
    FABRICAD = ROOT / "tests" / "data" / "fabricad_preview_plans.csv"
FABRICAD_MAP = {"ArtikelNr": "item_code", "Schritt": "process_code", "Nr.": "seq",
                "Dauer[min]": "duration_min"}
TEST_SIZE, SEED = 0.2, 42
OTHER_SEEDS = (0, 1, 2, 3, 4)  # generator seeds besides the default one (SampleConfig.seed)

METRICS = [
    "routing_accuracy", "top_1_accuracy", "top_3_accuracy", "top_5_accuracy",
    "sequence_similarity", "step_accuracy", "precision_weighted", "recall_weighted",
    "f1_weighted", "duration_mae_min", "duration_mape", "duration_mdape", "coverage",
]
BASELINES = ["most_frequent", "best_attribute", "neighbour_vote"]
PLANT_ITEMS = 3000
# plant: title, whether its attributes decide the routing only in part (a weak dataset)
PLANT_RUNS = {
    "valves": ("Valves and pumps (SAP export, the facts only in free text)", False),
    "pcb": ("PCB assembly (repeated operations, thresholds, per-lot times)", False),
    "sheetmetal": ("Sheet metal and welding (German export, decimal comma)", False),
    "jobshop": ("Job shop log (weak: a short description and a quantity)", True),
}
RENUMBER_START = 900001  # renumbered test items are NEW-900001, NEW-900002, ...
REFERENCE_MARGIN = 0.05  # a plant's top-1 is to beat the reference's by 5 points


def run_one(name: str, ops, truth=None, note: str = "", chances=None, renumber: bool = False,
            reference: bool = False) -> dict:
    """Split, train, evaluate; the noise ceiling when the generator says which items it perturbed,
    and the best expected top-1 when it says how likely each item's routing is to be guessed.
    With renumber, the model's top-1 on the same test items under new codes; with reference,
    the reference pipeline's metrics on the same split."""
    train, test = split_items(ops, test_size=TEST_SIZE, seed=SEED)
    model = RoutingModel()
    t0 = time.perf_counter()
    model.fit(train)
    fit_sec = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = evaluate_model(model, train, test)
    eval_sec = time.perf_counter() - t0
    result = {
        "name": name,
        "note": note,
        "rows": int(len(ops)),
        "items": int(ops[ITEM].nunique()),
        "train_items": int(train[ITEM].nunique()),
        "test_items": int(test[ITEM].nunique()),
        "training_sec": round(fit_sec, 2),
        "evaluation_sec": round(eval_sec, 2),
        "metrics": metrics,
    }
    if truth is not None:
        perturbed = truth.set_index(ITEM)["perturbed"]
        test_codes = test[ITEM].unique()
        result["noise_ceiling"] = float(1.0 - perturbed.loc[test_codes].mean())
        result["breakdown"] = breakdown(model, test, perturbed)
    if chances is not None:
        result["best_expected"] = float(chances.loc[test[ITEM].unique()].mean())
    if renumber:
        result["renumbered"] = renumbered_metrics(model, test)
    if reference:
        t0 = time.perf_counter()
        result["reference"] = reference_metrics(train, test)
        result["reference_sec"] = round(time.perf_counter() - t0, 2)
    print(f"{name}: top-1 {metrics['routing_accuracy']:.4f} "
          f"(neighbour vote {metrics['baselines']['neighbour_vote']['routing_accuracy']:.4f}"
          + (f", ceiling {result['noise_ceiling']:.4f}" if "noise_ceiling" in result else "")
          + (f", best expected {result['best_expected']:.4f}" if "best_expected" in result else "")
          + (f", renumbered {result['renumbered']['routing_accuracy']:.4f}" if renumber else "")
          + (f", reference {result['reference']['routing_accuracy']:.4f}" if reference else "")
          + f"), fit {fit_sec:.1f} s", flush=True)
    return result


def renumbered_metrics(model: RoutingModel, test) -> dict:
    """The model's metrics on the test items under new codes (NEW-900001, ...), a pattern and range
    training never had; history is ignored as in evaluate_model."""
    codes = test[ITEM].astype("str")
    new = {c: f"NEW-{RENUMBER_START + i}" for i, c in enumerate(codes.unique())}
    m = routing_metrics(model, test.assign(**{ITEM: codes.map(new)}))
    return {k: m[k] for k in ("routing_accuracy", "top_3_accuracy", "sequence_similarity")}


def run_plant(key: str, n_items: int) -> dict:
    """One plant's export, written as CSV and read back with its explicit mapping (as an upload
    would be), then run_one with the renumbered items and the reference pipeline."""
    title, weak = PLANT_RUNS[key]
    ops, truth, mapping = PLANTS[key](n_items=n_items)
    data = load_dataset(ops.to_csv(index=False).encode("utf-8"), mapping=mapping, name=f"{key}.csv")
    columns = ", ".join(f"`{c}`" for c in ops.columns)
    r = run_one(f"{title}, {n_items:,} items", data.ops, truth,
                f"Columns: {columns}; mapped: " + ", ".join(f"`{s}` → {t}" for s, t in mapping.items()) + ".",
                chances=truth.set_index(ITEM)["best_chance"], renumber=True, reference=True)
    r["plant"], r["weak"] = key, weak
    r["checks"] = plant_checks(r)
    r["reference_margin_reachable"] = reference_reach(r)[0]
    print(f"  {reference_reach(r)[1]}", flush=True)
    return r


def reference_reach(result: dict) -> tuple[bool, str]:
    """Whether "top-1 ≥ reference + 5 points" is within what a model can expect on a plant (the
    reference's top-1 plus the margin at most the best expected top-1), and the sentence that
    says so with the arithmetic."""
    ref, best = result["reference"]["routing_accuracy"], result["best_expected"]
    need = ref + REFERENCE_MARGIN
    points = f"{REFERENCE_MARGIN * 100:.0f} points"
    if need <= best:
        return True, (f"Top-1 ≥ reference + {points} is reachable: reference {ref:.3f} + {points} = "
                      f"{need:.3f} ≤ best expected {best:.3f}.")
    return False, (f"Top-1 ≥ reference + {points} is not reachable: reference {ref:.3f} + {points} = "
                   f"{need:.3f} > best expected {best:.3f}: no model can expect it.")


def breakdown(model: RoutingModel, test, perturbed) -> dict:
    """Top-1 accuracy on the test items the generator did not perturb, split by whether the
    item has a blank attribute (then no model can always know the option it stands for)."""
    items = labelled_items(test)
    ranked, _ = predict_rankings(model, items, 1)
    truth = true_routings(test)
    attrs = [c for c in model.item_attributes_ if c in items]
    blank = items[attrs].isna().any(axis=1).to_numpy() if attrs else np.zeros(len(items), dtype=bool)
    clean = ~perturbed.loc[items[ITEM]].to_numpy()
    right = np.array([bool(r) and r[0][0] == truth[c][0] for c, r in zip(items[ITEM], ranked, strict=True)])
    out = {}
    for name, sel in (("complete", clean & ~blank), ("with_blank_attribute", clean & blank)):
        out[name] = {"share_of_test_items": float(sel.mean()),
                     "top1_accuracy": float(right[sel].mean()) if sel.any() else None}
    return out


def checks(result: dict) -> dict[str, bool]:
    """The done criteria of the model issue, for one generated dataset."""
    m = result["metrics"]
    nv = m["baselines"]["neighbour_vote"]["routing_accuracy"]
    out = {
        "top-1 ≥ neighbour vote + 5 points": m["routing_accuracy"] >= nv + 0.05,
        "top-3 ≥ 0.95": m["top_3_accuracy"] >= 0.95,
        "step F1 ≥ 0.95": m["f1_weighted"] >= 0.95,
        "median duration error ≤ 20 %": (m.get("duration_mdape") or 1.0) <= 0.20,
    }
    if "noise_ceiling" in result:
        out["top-1 within 3 points of the noise ceiling"] = m["routing_accuracy"] >= result["noise_ceiling"] - 0.03
    return out


def plant_checks(result: dict) -> dict[str, bool]:
    """The criteria for another plant's export. A weak plant (routing decided in part only by
    what the export holds) is held to the best expected top-1 instead of the noise ceiling, to the
    reference without a margin, and to the most frequent routing's sequence similarity."""
    m, ref = result["metrics"], result["reference"]
    top1 = m["routing_accuracy"]
    renum = result["renumbered"]["routing_accuracy"]
    if result.get("weak"):
        most = m["baselines"]["most_frequent"]["sequence_similarity"]
        return {
            "top-1 ≥ reference": top1 >= ref["routing_accuracy"],
            "top-1 within 5 points of the best expected": top1 >= result["best_expected"] - 0.05,
            "first candidate's sequence similarity > most frequent routing's": m["sequence_similarity"] > most,
            "renumbered top-1 ≤ 3 points below": renum >= top1 - 0.03,
        }
    return {
        "top-1 ≥ reference + 5 points": top1 >= ref["routing_accuracy"] + REFERENCE_MARGIN,
        "top-1 within 5 points of the noise ceiling": top1 >= result["noise_ceiling"] - 0.05,
        "top-3 ≥ 0.92": m["top_3_accuracy"] >= 0.92,
        "renumbered top-1 ≤ 3 points below": renum >= top1 - 0.03,
    }


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown(results: list[dict], started: str, total_sec: float, others: list[dict] | None = None,
             plants: list[dict] | None = None, provenance: dict | None = None) -> str:
    lines = [
        START,
        "## Accuracy",
        "",
        f"`python benchmarks/accuracy.py` on {started} ({platform.machine()}, "
        f"Python {platform.python_version()}), {total_sec:.0f} s in all. Item-level split "
        f"(test share {TEST_SIZE}, seed {SEED}); the model never saw the test items; metrics as in "
        "docs/design.md, 'Evaluation', predictions with history ignored. Baselines: the most frequent routing overall, "
        "the most frequent routing per value of the most informative single attribute, and the "
        "prior system (cosine top-10 neighbour vote over standardised attributes, similarity "
        "threshold 0.8). `duration_mdape` is the median relative error of the time of steps whose "
        "process matches. The noise ceiling is the share of test items the generator did not "
        "perturb (no model can predict a random plant variant).",
        "",
        stamp_line(provenance or stamp()),
        "",
        "The best expected top-1 also counts the blank cells: it is the mean over the test items "
        "of the chance that the likeliest routing, given what the export shows, is the recorded "
        "one. That chance is 0 for a plant variant. For an item whose tolerance, surface, heat "
        "treatment or thread is blank, it is the share of the likeliest routing under the "
        "generator's own probabilities. A blank family or material counts as known, which makes "
        "the figure generous. No model can expect more, though a lucky draw of the blanks can "
        "give a little more.",
        "",
        f"Renumbered top-1: the same test items given new codes (`NEW-{RENUMBER_START}`, ...), a "
        "pattern and range training never had, and predicted again: what the model owes to "
        "familiar item codes.",
        "",
    ]
    if results or plants:
        lines += [
            "| data | top-1 | neighbour vote | vote + 5 points | noise ceiling | best expected | renumbered top-1 | criteria met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in results + (plants or []):
            m = r["metrics"]
            nv = m["baselines"]["neighbour_vote"]["routing_accuracy"]
            met = r.get("checks") or {}
            lines.append(
                f"| {r['name']} | {m['routing_accuracy']:.3f} | {nv:.3f} | {nv + 0.05:.3f} | "
                f"{fmt(r.get('noise_ceiling'))} | {fmt(r.get('best_expected'))} | "
                f"{fmt(r.get('renumbered', {}).get('routing_accuracy'))} | "
                + (f"{sum(met.values())} of {len(met)}" if met else "–") + " |")
        lines.append("")
    if plants:
        lines += plants_table(plants)
    for r in results:
        lines += section(r)
    for r in plants or []:
        lines += section(r)
    if others:
        lines += [
            "### Other draws of the sample generator",
            "",
            "The default-noise sample drawn again with other generator seeds (same split seed). "
            "A seed is one draw of items, options, blanks and plant variants, so these rows show "
            "how much the figures above owe to one draw.",
            "",
            "| data | top-1 | neighbour vote | noise ceiling | best expected | top-3 | step F1 | criteria not met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in others:
            m = r["metrics"]
            missed = [k for k, ok in r["checks"].items() if not ok]
            lines.append(
                f"| {r['name']} | {m['routing_accuracy']:.3f} | "
                f"{m['baselines']['neighbour_vote']['routing_accuracy']:.3f} | {r['noise_ceiling']:.3f} | "
                f"{r['best_expected']:.3f} | {m['top_3_accuracy']:.3f} | {m['f1_weighted']:.3f} | "
                + ("; ".join(missed) if missed else "none") + " |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def plants_table(plants: list[dict]) -> list[str]:
    """The summary of the other plants' exports."""
    lines = [
        "### Other plants",
        "",
        f"Exports of other plants and industries from `routing_core.synthetic.plants`, {PLANT_ITEMS:,} items "
        "each at full size, every one with its own columns, item codes, processes and rules "
        "(documented in each generator). Each is written as CSV and read back with its explicit "
        "column mapping. The reference is a plain scikit-learn pipeline "
        "(`benchmarks/reference.py`: bag of words, one-hot, numbers, a multi-output random forest "
        "on step presence, training routings ranked by the joint probability of their steps). "
        "The noise ceiling is the share of test items without a plant variant. The best expected "
        "top-1 also counts what each export hides: the mean over the test items of the chance "
        "that the likeliest routing, given the item's row, is the recorded one (below 1 where a "
        "cell that decides steps is blank: the valves' description, a board's layers, BGA count "
        "or lot size, a sheet's thickness or surface, a job's description or quantity; for the "
        "job shop also the steps its drawings decide and its log does not show; each generator "
        "documents how). 'Reference + 5 points reachable' says whether the reference's top-1 "
        "plus 5 points is at most the best expected, that is whether any model can expect to "
        "meet that criterion. Criteria: top-1 ≥ reference + 5 points, top-1 within 5 "
        "points of the noise ceiling, top-3 ≥ 0.92, renumbered top-1 no more than 3 points below; "
        "for the job shop: top-1 ≥ reference, top-1 within 5 points of the best expected, the first "
        "candidate's sequence similarity above the most frequent routing's, and the same renumbered "
        "criterion. The plants also appear in the table above.",
        "",
        "| plant | top-1 | top-3 | reference top-1 | reference top-3 | neighbour vote | most frequent "
        "| noise ceiling | best expected | reference + 5 points reachable | renumbered top-1 | criteria met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in plants:
        m, ref, b = r["metrics"], r["reference"], r["metrics"]["baselines"]
        need = ref["routing_accuracy"] + REFERENCE_MARGIN
        lines.append(
            f"| {r['name']} | {m['routing_accuracy']:.3f} | {m['top_3_accuracy']:.3f} | "
            f"{ref['routing_accuracy']:.3f} | {ref['top_3_accuracy']:.3f} | "
            f"{b['neighbour_vote']['routing_accuracy']:.3f} | {b['most_frequent']['routing_accuracy']:.3f} | "
            f"{r['noise_ceiling']:.3f} | {r['best_expected']:.3f} | "
            + (f"yes ({need:.3f} ≤ {r['best_expected']:.3f})" if reference_reach(r)[0]
               else f"no ({need:.3f} > {r['best_expected']:.3f})")
            + f" | {r['renumbered']['routing_accuracy']:.3f} | "
            f"{sum(r['checks'].values())} of {len(r['checks'])} |")
    return lines + [""]


def section(r: dict) -> list[str]:
    """The section of one dataset: sizes, metrics of the model and the baselines (and of the
    reference), lift, renumbered items, checks."""
    m = r["metrics"]
    b = m["baselines"]
    ref = r.get("reference")
    names = BASELINES + (["reference"] if ref else [])
    lines = [
        f"### {r['name']}",
        "",
        f"{r['rows']:,} operations, {r['items']:,} items ({r['train_items']:,} to train, "
        f"{r['test_items']:,} to test). Training {r['training_sec']:.1f} s, evaluation "
        f"(model and baselines) {r['evaluation_sec']:.1f} s."
        + (f" Reference pipeline (fit and predict) {r['reference_sec']:.1f} s." if ref else "")
        + (f" Noise ceiling **{r['noise_ceiling']:.3f}**." if "noise_ceiling" in r else "")
        + (f" {r['note']}" if r["note"] else ""),
        "",
        "| metric | model | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for key in METRICS:
        row = [fmt(m.get(key))] + [fmt(b[name].get(key)) for name in BASELINES]
        if ref:
            row.append(fmt(ref.get(key)))
        lines.append(f"| {key} | " + " | ".join(row) + " |")
    lift = " · ".join(f"{name} {m['lift'][name]:+.3f}" for name in BASELINES)
    lines += ["", f"Lift of the model in top-1 accuracy: {lift} (best attribute: "
              f"`{b['best_attribute'].get('attribute')}`).", ""]
    if ref:
        kinds = ref.get("columns", {})
        lines += ["Reference columns: " + (", ".join(f"`{c}` {k}" for c, k in kinds.items()) or "none") + ".", ""]
    if r.get("renumbered"):
        rn = r["renumbered"]
        lines += [f"Renumbered test items: top-1 {rn['routing_accuracy']:.3f} (familiar codes "
                  f"{m['routing_accuracy']:.3f}, {rn['routing_accuracy'] - m['routing_accuracy']:+.3f}), "
                  f"top-3 {rn['top_3_accuracy']:.3f}.", ""]
    if r.get("weak"):
        most = b["most_frequent"]["sequence_similarity"]
        lines += [f"Sequence similarity of the first candidate: model {m['sequence_similarity']:.3f}, "
                  f"most frequent routing {most:.3f} ({m['sequence_similarity'] - most:+.3f}); reference "
                  f"{ref['sequence_similarity']:.3f}.", ""]
    if r.get("breakdown") and r["breakdown"]["with_blank_attribute"]["share_of_test_items"] > 0:
        full, part = r["breakdown"]["complete"], r["breakdown"]["with_blank_attribute"]
        lines += [
            f"Unperturbed test items: {full['share_of_test_items']:.1%} with every attribute "
            f"filled, top-1 {fmt(full['top1_accuracy'])}; {part['share_of_test_items']:.1%} with a "
            f"blank attribute, top-1 {fmt(part['top1_accuracy'])} (the blank may hide the option "
            "that decides a step; the model tries the likely values).",
            "",
        ]
    if "best_expected" in r and "plant" in r:
        lines += [f"Best expected top-1 **{r['best_expected']:.3f}**. "
                  + reference_reach(r)[1]
                  + (" (The job shop is held to the reference without the margin.)" if r.get("weak") else ""),
                  ""]
    if "best_expected" in r and "plant" not in r:
        need = b["neighbour_vote"]["routing_accuracy"] + 0.05
        lines += [f"Best expected top-1 **{r['best_expected']:.3f}**; the lift criterion asks for "
                  f"{need:.3f}" + (", more than any model can expect." if need > r["best_expected"] else "."),
                  ""]
    if r.get("checks"):
        lines.append("Done criteria: " + "; ".join(
            f"{k} {'✅' if ok else '❌'}" for k, ok in r["checks"].items()) + ".")
        lines.append("")
    return lines


def write_section(section: str) -> None:
    """Replace the accuracy section of docs/benchmarks.md (create the file if absent)."""
    DOCS.mkdir(exist_ok=True)
    text = MD.read_text(encoding="utf-8") if MD.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic_write_bytes(MD, text.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (checks the script)")
    parser.add_argument("--only", choices=("all", "sample", "plants"), default="all",
                        help="run only the sample rows or only the other plants (the report is "
                             "printed, docs/ are written by a full run only)")
    args = parser.parse_args(argv)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    provenance = stamp()  # before the run: the code that produced the figures
    t0 = time.perf_counter()
    small, large = (400, 1500) if args.quick else (2000, 20000)
    holdout = HOLDOUT_CONFIG if not args.quick else SampleConfig(n_items=400, seed=HOLDOUT_CONFIG.seed,
                                                                   variant="holdout")
    results, others, plants = [], [], []
    if args.only in ("all", "sample"):
        results, others = sample_rows(small, large, holdout, args.quick)
    if args.only in ("all", "plants"):
        n_plant = 600 if args.quick else PLANT_ITEMS
        plants = [run_plant(key, n_plant) for key in PLANT_RUNS]
    total = time.perf_counter() - t0
    payload = {"started": started, **provenance, "total_sec": round(total, 1), "quick": args.quick,
               "test_size": TEST_SIZE, "seed": SEED, "results": results, "other_seeds": others,
               "plants": plants}
    report = markdown(results, started, total, others, plants, provenance)  # built in quick runs too: checks the report
    if not args.quick and args.only == "all":
        DOCS.mkdir(exist_ok=True)
        atomic_write_json(JSON_OUT, payload)
        write_section(report)
        print(f"wrote {JSON_OUT.relative_to(ROOT)} and the accuracy section of {MD.relative_to(ROOT)}")
    elif args.only != "all":
        print(report)
    else:
        print(json.dumps({r["name"]: r["metrics"]["routing_accuracy"] for r in results + plants}, indent=2))
    return 0


def sample_rows(small: int, large: int, holdout: SampleConfig, quick: bool) -> tuple[list[dict], list[dict]]:
    """The sample generator's rows (two sizes, with and without blanks), the holdout export, the
    FabriCAD file, and other draws of the sample generator."""
    results = []
    for n in (small, large):
        config = SampleConfig(n_items=n)
        ops, truth = generate_with_truth(config)
        results.append(run_one(f"Sample data, {n:,} items (default noise)", ops, truth,
                               chances=best_chances(config), renumber=n == small))
    for n in (small, large):
        config = SampleConfig(n_items=n, missing_rate=0.0)
        ops, truth = generate_with_truth(config)
        results.append(run_one(
            f"Sample data, {n:,} items, plant variants only (no blank cells)", ops, truth,
            "The same items and routings as above with every cell filled: what is left is the "
            "plant-variant noise alone.", chances=best_chances(config)))
    ops, truth = generate_with_truth(holdout)
    results.append(run_one(
        f"Holdout export ({holdout.n_items:,} items, never used for tuning)", ops, truth,
        "Another plant's export: other columns, item code format, processes and rules.",
        chances=best_chances(holdout), renumber=True))
    fab = load_dataset(FABRICAD, mapping=FABRICAD_MAP)
    results.append(run_one(
        "FabriCAD preview plans (real export)", fab.ops, None,
        "Tiny: a handful of test items, so each one moves the figures by several points."))
    for r in results[:5]:
        r["checks"] = checks(r)
    # The same criteria on other draws of the generator (the split seed stays the same).
    others = []
    for n, seeds in ((small, OTHER_SEEDS[:2] if quick else OTHER_SEEDS), (large, OTHER_SEEDS[1:2])):
        for seed in seeds:
            config = SampleConfig(n_items=n, seed=seed)
            ops, truth = generate_with_truth(config)
            r = run_one(f"Sample data, {n:,} items, generator seed {seed}", ops, truth, chances=best_chances(config))
            r["seed"], r["checks"] = seed, checks(r)
            others.append(r)
    return results, others


if __name__ == "__main__":
    sys.exit(main())
