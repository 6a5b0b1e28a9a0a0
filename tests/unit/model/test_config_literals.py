"""Every number the model uses lives in routing_core/model/config.py, where it says why it has
its value; the other modules of routing_core/model name it from there (docs/architecture.md)."""

from __future__ import annotations

import ast
import re

import pytest

from tests.conftest import ROOT

MODEL = ROOT / "routing_core" / "model"

# The numbers a module may write itself, each for a reason that is no tuning:
# 0, 1, -1: nothing, one, the last; identities and complements (1 - p);
# 2: pairs, halves and doubling (n // 2, two standard errors);
# 0.5: even odds ("more likely than not", p >= 0.5) and the middle of [0, 1];
# 100: per cent (a penalty "in % of the items", a share in points).
ALLOWED = {0, 1, -1, 2, 0.5, 100}
# Also allowed by where they stand: the digits of round(x, 4) (how a reported figure is written,
# not what the model computes) and a constant index into a tuple (parts[3]).


def numeric_literals(source: str) -> list[tuple[int, float]]:
    """(line, value) of each numeric literal outside ALLOWED and the two places above; a minus
    sign in front counts as part of the number."""
    tree = ast.parse(source)
    parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or isinstance(node.value, bool) \
                or not isinstance(node.value, int | float | complex):
            continue
        at, value = node, node.value
        if isinstance(parent.get(at), ast.UnaryOp) and isinstance(parent[at].op, ast.USub):
            at, value = parent[at], -value
        up = parent.get(at)
        if value in ALLOWED:
            continue
        if isinstance(up, ast.Call) and isinstance(up.func, ast.Name) and up.func.id == "round" \
                and len(up.args) == 2 and up.args[1] is at:
            continue
        if isinstance(up, ast.Subscript) and up.slice is at and isinstance(value, int):
            continue
        found.append((node.lineno, value))
    return sorted(found)


def test_no_numeric_literal_outside_config():
    modules = sorted(p for p in MODEL.glob("*.py") if p.name != "config.py")
    assert len(modules) >= 15  # the walk sees the package
    found = [f"{p.name}:{line}: {value!r}" for p in modules
             for line, value in numeric_literals(p.read_text(encoding="utf-8"))]
    assert not found, "numbers outside routing_core/model/config.py (move them into ModelConfig): " + "; ".join(found)


def test_the_check_finds_a_literal_and_spares_the_allowed_ones():
    source = """
p = np.clip(probs, 1e-4, 1 - 1e-4)
keep = order[:64]
low = -30
share = min(1, n // 2) * 0.5 + 100 * x
figure = round(value, 4) + parts[3]
flag = True
"""
    assert numeric_literals(source) == [(2, 1e-4), (2, 1e-4), (3, 64), (4, -30)]


def _config_lines() -> list[str]:
    return (MODEL / "config.py").read_text(encoding="utf-8").splitlines()


def test_every_config_value_says_why():
    """Each value of config.py carries a comment on its line; one that was compared says where."""
    tree = ast.parse("\n".join(_config_lines()))
    lines = _config_lines()
    values = [n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign | ast.Assign) and n.col_offset in (0, 4)
              and not isinstance(getattr(n, "value", None), ast.Call)]
    assert len(values) > 140
    bare = [lines[n.lineno - 1].strip() for n in values if "#" not in lines[n.end_lineno - 1]]
    assert not bare, f"values without a reason: {bare}"
    measured = [line for line in lines if "measured:" in line and "not measured" not in line]
    assert measured and all(re.search(r"docs/|commit [0-9a-f]{7}", line) for line in measured)


@pytest.mark.parametrize("name", ["n_estimators", "min_samples_leaf", "max_features", "max_samples", "min_split_gain"])
def test_the_forest_and_the_model_share_one_default(name):
    import inspect

    from routing_core.model import LeafForest, RoutingModel
    from routing_core.model.config import ParamDefaults

    assert inspect.signature(LeafForest).parameters[name].default == getattr(ParamDefaults(), name)
    assert inspect.signature(RoutingModel).parameters[name].default == getattr(ParamDefaults(), name)
