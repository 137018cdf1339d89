"""No import cycles among harness/, tasks/ and retrievers/, lazy (function-level) imports included.

Every module's AST is read whole (``ast.walk``: imports inside functions count), each import
is resolved to a module of these packages, and the strongly connected components of that
graph are the cycles. A string constant that is exactly a module name (``"harness.cli.train"``
in a tuple handed to ``importlib.import_module``) counts as an import too; a registry target
``"module:attribute"`` does not: it is a plug-in looked up by name, not code the registry runs. A cycle is tolerated only when listed in :data:`KNOWN_CYCLES`, which
is meant to shrink to empty: a newly listed cycle is a design decision, not a test fix.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "tasks", "retrievers")

# Cycles still to be undone, each as the set of modules in it. Remove an entry when its
# cycle is gone (test_known_cycles_still_exist says so).
KNOWN_CYCLES: set[frozenset[str]] = set()


def module_names() -> dict[str, Path]:
    """``{"harness.cli": Path(...)}`` for every module of :data:`PACKAGES`."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``name`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the module pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            targets = [node.value]  # a module imported by name at run time
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``import harness.x.y`` of a non-module y
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative).

    >>> sorted(sorted(c) for c in cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}))
    [['a', 'b']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_the_graph_sees_lazy_imports():
    """The parser must see a function-level import, or the test would pass vacuously."""
    graph = import_graph()
    assert "harness.evaluation.pipeline" in graph["harness.cli"]  # imported inside the run command
    assert "harness.cli.train" in graph["harness.cli"], "a module imported by its name as a string is missed"


def test_no_import_cycles():
    found = cycles(import_graph())
    unexpected = found - KNOWN_CYCLES
    assert not unexpected, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in unexpected)


def test_known_cycles_still_exist():
    """An undone cycle must leave KNOWN_CYCLES, so the list only ever shrinks."""
    gone = KNOWN_CYCLES - cycles(import_graph())
    assert not gone, "no longer cycles, remove from KNOWN_CYCLES: " + "; ".join(" <-> ".join(sorted(c)) for c in gone)


def test_no_module_imports_its_own_package():
    """Importing ``retrievers.mire.modeling`` first runs ``retrievers/mire/__init__.py``, which
    re-exports the package's submodules; a submodule importing its own package back
    (``from retrievers.mire import ...`` inside retrievers/mire/) would be a cycle this graph
    cannot see, as it leaves out the implicit import of the parent package."""
    graph, modules = import_graph(), module_names()
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    offenders = sorted((name, dep) for name, deps in graph.items() for dep in deps
                       if dep in packages and name.startswith(dep + "."))
    assert not offenders, offenders
    assert "retrievers.mire.training" in graph["retrievers.mire"]  # the re-exports are seen


# The layers, bottom first (DESIGN.md "Layers", docs/contributing.md). A module may import its
# own layer and the layers below it, never one above. ``tasks`` and ``retrievers`` sit just
# above the harness' core (they import ``harness.core`` and their own package, nothing else);
# ``index`` (which wraps a retriever's Encoder) and ``metrics`` are beside each other above
# them. The package ``harness`` itself and ``harness.__main__`` are the entry points.
LAYERS = {
    "harness.core": 0,
    "tasks": 1,
    "retrievers": 1,
    "harness.index": 2,
    "harness.metrics": 2,
    "harness.evaluation": 3,
    "harness.training": 4,
    "harness.stats": 4,
    "harness.probe": 5,
    "harness.report": 6,
    "harness.demo": 7,
    "harness.cli": 8,
    "harness": 9,
}
OUTSIDE = ("tasks", "retrievers")  # the packages beside the harness: harness.core only
# Imports against the layering that landed in a merge and are still to be undone (like
# KNOWN_CYCLES, this only shrinks; test_layers says when one is gone).
KNOWN_LAYER_VIOLATIONS: set[str] = set()


def layer_of(module: str) -> str:
    """The longest :data:`LAYERS` prefix of ``module``.

    >>> layer_of("harness.index.ann.query"), layer_of("harness.__main__"), layer_of("tasks.okvqa")
    ('harness.index', 'harness', 'tasks')
    """
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return ".".join(parts[:n])
    raise KeyError(f"{module} is in no layer: add its subpackage to LAYERS")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that reaches a layer above its own; ``tasks`` and ``retrievers`` may import
    only ``harness.core`` and their own package (not each other, nor ``index``/``metrics``)."""
    out = []
    for module, deps in sorted(graph.items()):
        mine = layer_of(module)
        for dep in sorted(deps):
            theirs = layer_of(dep)
            if mine in OUTSIDE:
                bad = theirs not in (mine, "harness.core")
            else:
                bad = LAYERS[theirs] > LAYERS[mine]
            if bad:
                out.append(f"{module} ({mine}) imports {dep} ({theirs})")
    return out


def test_layers():
    """tasks/ and retrievers/ import only harness.core; core imports nothing above it; no
    harness layer imports one above it (function-level imports included)."""
    found = layer_violations(import_graph())
    assert not KNOWN_LAYER_VIOLATIONS - set(found), "undone, remove from KNOWN_LAYER_VIOLATIONS"
    violations = sorted(set(found) - KNOWN_LAYER_VIOLATIONS)
    assert not violations, "imports against the layering:\n" + "\n".join(violations)


def test_the_layer_rule_catches_an_upward_import():
    graph = {"harness.core.types": {"harness.index.exact"}, "tasks.okvqa": {"harness.core.types"},
             "retrievers.bm25": {"tasks.base", "harness.index.exact"}, "harness.cli": {"harness.core.errors"}}
    assert layer_violations(graph) == ["harness.core.types (harness.core) imports harness.index.exact (harness.index)",
                                       "retrievers.bm25 (retrievers) imports harness.index.exact (harness.index)",
                                       "retrievers.bm25 (retrievers) imports tasks.base (tasks)"]


def test_tests_import_their_helpers_one_way():
    """A test module imports shared code from ``tests.helpers`` only: never another test module
    or a conftest (whose import depends on pytest's rootdir and import mode), never after a
    ``sys.path`` edit."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                names = ["sys.path"]
            else:
                continue
            for name in names:
                last = name.rpartition(".")[2]
                if last.startswith("test_") or last == "conftest" or name == "sys.path":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not offenders, "import shared test code from tests.helpers:\n" + "\n".join(offenders)
