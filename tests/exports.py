"""Generators of plant exports in other shapes and languages, for the tests of the mapping checks.

Each writes a plausible export from its own random practice: nothing in the checks is tuned to
these files (the rules are about contents in general; see routing_core/mapping/content.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def spanish_export(items: int = 300, operations: int = 30, seed: int = 7) -> pd.DataFrame:
    """A Spanish fabrication shop's export: ARTICULO, DESCRIPCION, CLIENTE, ACABADO, PESO_KG,
    FECHA_ALTA, FASE (10, 20, 30 … within each item), OPERACION (a code from `operations`),
    CENTRO (the work centre, coarser than the operation), TIEMPO_H (hours)."""
    rng = np.random.default_rng(seed)
    ops = [f"OP{n:02d}" for n in range(operations)]
    centres = [f"C{n}" for n in range(max(2, operations // 5))]
    centre_of = {op: centres[i % len(centres)] for i, op in enumerate(ops)}
    families = [rng.choice(operations, size=rng.integers(3, 9), replace=False) for _ in range(12)]
    rows = []
    for i in range(items):
        family = int(rng.integers(len(families)))
        steps = [ops[k] for k in families[family]]
        if rng.random() < 0.3:  # some items skip a step or add one
            steps = steps[:-1] + [ops[int(rng.integers(operations))]]
        item = f"ART-{10000 + i}"
        finish = None if rng.random() < 0.5 else str(rng.choice(["ZINCADO", "PINTADO", "ANODIZADO"]))
        weight = round(float(rng.uniform(0.2, 40)), 2)
        client = f"CLI{int(rng.integers(20)):03d}"
        date = pd.Timestamp("2019-01-01") + pd.Timedelta(days=int(rng.integers(0, 6 * 365)))
        for s, op in enumerate(steps):
            rows.append({
                "ARTICULO": item,
                "DESCRIPCION": f"Pieza {family}-{i}",
                "CLIENTE": client,
                "ACABADO": finish,
                "PESO_KG": weight,
                "FECHA_ALTA": date.strftime("%Y-%m-%d"),
                "FASE": 10 * (s + 1),
                "OPERACION": op,
                "CENTRO": centre_of[op],
                "TIEMPO_H": round(float(rng.gamma(2.0, 0.4)) + 0.05, 2),
            })
    return pd.DataFrame(rows)


def write(frame: pd.DataFrame, path: Path, sep: str = ";") -> Path:
    frame.to_csv(path, sep=sep, index=False)
    return path
