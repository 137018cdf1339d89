"""No import cycles among the modules of retrievers/, function-level imports included.

Each module's AST is read whole (``ast.walk``: an import inside a function counts), each
import resolved to a module of retrievers/, and the graph searched for a cycle. Importing
``retrievers.mire.modeling`` also runs ``retrievers/mire/__init__.py``; a package's
``__init__`` re-exporting its own submodules is the one direction allowed, so a submodule
importing its own package (``from retrievers.mire import ...`` inside retrievers/mire/) is a
cycle here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "retrievers").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first node repeated at the end), or None.

    >>> find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    ['a', 'b', 'c', 'a']
    >>> find_cycle({"a": {"b"}, "b": set()}) is None
    True
    """
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for child in sorted(graph.get(node, ())):
            if state.get(child) == 1:
                return path[path.index(child):] + [child]
            if child not in state:
                found = visit(child, [*path, child])
                if found:
                    return found
        state[node] = 2
        return None

    for root in sorted(graph):
        if root not in state:
            found = visit(root, [root])
            if found:
                return found
    return None


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_the_graph_sees_function_level_imports():
    g = graph()
    assert "retrievers.mire.training" in g["retrievers.mire"]  # the package re-exports
    assert "retrievers.colbert.modeling" in g["retrievers.mire.modeling"]
    assert "harness.store_index" not in g["retrievers.base"]  # only modules of retrievers/
    assert {"retrievers.mire_training", "retrievers.training_defaults"}.isdisjoint(g)


def test_no_import_cycles_in_retrievers():
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()))


def test_no_submodule_imports_its_own_package():
    g = graph()
    offenders = [(name, pkg) for name, deps in g.items() for pkg in deps
                 if name.startswith(pkg + ".") and (ROOT / Path(*pkg.split(".")) / "__init__.py").is_file()]
    assert not offenders
