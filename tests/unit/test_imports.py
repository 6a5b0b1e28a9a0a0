"""The import graph of routing_core: no cycles, and no streamlit (pages hold the widgets)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "routing_core"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The routing_core modules `name` imports anywhere in its text (inside functions too), each
    import resolved to the module it names (`from a.b import c` is a.b.c when that is a module)."""
    deps = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
    return deps


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_routing_core_has_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    assert "routing_core.datasets.profiling" in graph  # the walk sees the packages' modules
    assert graph["routing_core.datasets.stats"] >= {"routing_core.datasets.profiling"}
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(
        " -> ".join(f"{m} (imports {sorted(graph[m] & set(c))})" for m in c) for c in cycles)


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_routing_core_never_imports_streamlit():
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{name} imports streamlit"


# ---------------------------------------------------------------- the packages (docs/architecture.md)

def _package(module: str) -> str:
    """The routing_core package a module belongs to (routing_core.engine for routing_core.engine.jobs)."""
    return ".".join(module.split(".")[:2])


def _package_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = {_package(d) for d in _imports(name, path, set(modules))}
        graph.setdefault(_package(name), set()).update(deps - {_package(name), "routing_core"})
    return graph


def test_no_cycle_between_packages():
    graph = _package_graph()
    assert graph["routing_core.engine"] >= {"routing_core.versions", "routing_core.platform"}
    cycles = _cycles(graph)
    assert not cycles, "package cycles: " + "; ".join(
        " -> ".join(f"{p} (imports {sorted(graph[p] & set(c))})" for p in c) for c in cycles)


def test_the_top_level_holds_packages_and_at_most_five_modules():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 5, modules
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} >= {"model", "platform"}


def _lines(paths) -> int:
    return sum(len(p.read_text(encoding="utf-8").splitlines()) for p in paths)


# The model's saved versions name the modules of its fitted parts (routing_core.model.estimator,
# .features, .forest …): moving one makes every stored version unreadable, so the package keeps
# them together. Its other modules (encoding, explain, memo, output, similarity, text, trial) are
# what the parts call; docs/architecture.md, 'Layout'. Its config.py holds every tuning value, one
# line each with the reason for it (about 150 lines of values).
OVER_SIZE = {"routing_core.model": 3_700}


def test_no_package_over_2500_lines_and_no_module_over_600():
    for package in sorted({p.parent for p in PACKAGE.rglob("__init__.py")}):
        name = ".".join(package.relative_to(ROOT).parts)
        if name == "routing_core":
            continue
        size = _lines(package.rglob("*.py"))
        assert size <= OVER_SIZE.get(name, 2_500), f"{name} holds {size:,} lines"
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "ui").glob("*.py"), *(ROOT / "pages").glob("*.py")]:
        assert _lines([path]) <= 600, f"{path.relative_to(ROOT)} holds {_lines([path])} lines"


def _private_reach(path: Path) -> list[str]:
    """Private names `path` takes from other modules: `from m import _x`, `m._x` on an imported
    module, and `obj._x` on anything but self, cls and super() (a private attribute of another
    object). Dunder names and the standard library's documented `os._exit` are public."""
    def private(name: str) -> bool:
        return name.startswith("_") and not name.startswith("__")

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("routing_core", "ui", "tests"):
            found += [f"from {node.module} import {a.name}" for a in node.names if private(a.name)]
            if any(private(part) for part in (node.module or "").split(".")):
                found.append(f"from {node.module} import …")
        elif isinstance(node, ast.Attribute) and private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or (owner.id, node.attr) == ("os", "_exit")):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            found.append(f"{ast.unparse(owner)}.{node.attr}")
    return [f"{path.name}:{item}" for item in found]


PRODUCT = [*PACKAGE.rglob("*.py"), *(ROOT / "ui").glob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"]


def test_no_module_reaches_for_another_modules_private_names():
    reach = [r for path in PRODUCT for r in _private_reach(path)]
    assert not reach, "private names used across modules:\n" + "\n".join(reach)


def test_tests_import_no_private_name():
    reach = [r for path in (ROOT / "tests").rglob("*.py") for r in _private_reach(path)
             if ":from " in r]
    assert not reach, "\n".join(reach)


def test_the_private_reach_check_sees_each_kind(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from routing_core.engine.jobs import _x\nimport os\nos._exit\nmanager._read()\n"
                     "self._y\nsuper()._z()\nfrom routing_core.synthetic.plants._common import y\n")
    assert sorted(r.split(":", 1)[1] for r in _private_reach(probe)) == [
        "from routing_core.engine.jobs import _x", "from routing_core.synthetic.plants._common import …",
        "manager._read"]


# The layers of docs/architecture.md ('Layout'): a package imports only packages of a lower layer.
LAYERS = {"platform": 1, "users": 2, "synthetic": 1, "mapping": 2, "datasets": 3, "database": 4, "model": 4,
          "scoring": 5, "versions": 6, "engine": 7, "accepted": 7, "cli": 8}


def test_each_package_imports_only_lower_layers():
    graph = {p: deps for p, deps in _package_graph().items() if "." in p and (ROOT / p.replace(".", "/")).is_dir()}
    assert set(LAYERS) == {p.split(".")[1] for p in graph}, "a package is missing from LAYERS (and the doc)"
    upward = [f"{p} imports {d}" for p, deps in graph.items() for d in deps
              if LAYERS[d.split(".")[1]] >= LAYERS[p.split(".")[1]]]
    assert not upward, upward


def _imported_roots(path: Path) -> dict[str, set[str]]:
    """Every module `path` imports anywhere in its text, by its first name ("ui", "routing_core" …)."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        for n in names:
            found.setdefault(n.split(".")[0], set()).add(n)
    return found


def test_pages_call_ui_and_the_core_and_nothing_calls_back():
    for path in PACKAGE.rglob("*.py"):
        assert not {"ui", "pages", "app"} & set(_imported_roots(path)), f"{path.relative_to(ROOT)} imports the UI"
    for path in (ROOT / "ui").glob("*.py"):
        assert not {"pages", "app"} & set(_imported_roots(path)), f"{path.relative_to(ROOT)} imports a page"


def test_synthetic_data_reaches_the_product_only_as_the_bundled_sample():
    users = sorted(str(path.relative_to(ROOT)) for path in PRODUCT
                   if "routing_core.synthetic" not in path.relative_to(ROOT).as_posix().replace("/", ".")
                   and any(n.startswith("routing_core.synthetic") for n in _imported_roots(path).get("routing_core", ())))
    assert users == ["routing_core/database/sample_db.py", "ui/loaders.py"]
