"""No import cycles among tinca's modules: every dependency between two modules is one-way.

The graph is read from the source, not from ``sys.modules``: an import inside
a function or under ``if TYPE_CHECKING:`` is a dependency too (it couples the
two modules just the same, it only hides the cycle from the interpreter).
``from pkg import name`` depends on the module ``pkg.name`` when there is
one, else on ``pkg`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: source folder -> the import name it installs as (pyproject.toml's package-dir)
PACKAGES = {"core": "tinca.core", "plugins": "tinca.plugins"}


def module_files() -> dict[str, Path]:
    """Every module of tinca.core and tinca.plugins, by dotted name."""
    modules: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the tinca modules it imports (anywhere in its source)."""
    files = module_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[module] = _resolve_from_imports(tree, module, path.name == "__init__.py", files)
    return graph


def _resolve_from_imports(
    tree: ast.Module, module: str, is_package: bool, files: dict[str, Path]
) -> set[str]:
    """The modules of ``files`` that ``module``'s source imports, anywhere in it."""
    package = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name in files)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in files:
                    targets.add(submodule)
                elif source in files:
                    targets.add(source)
    targets.discard(module)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _path_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete cycle through the component's first module, for the message."""
    members = set(component)
    start = component[0]
    trail = [start]
    seen = {start}
    while True:
        successors = sorted(graph[trail[-1]] & members)
        if start in successors and len(trail) > 1:
            return [*trail, start]
        nxt = next((s for s in successors if s not in seen), None)
        if nxt is None:
            # dead end inside the component: fall back to listing its members
            return component
        trail.append(nxt)
        seen.add(nxt)


def test_graph_sees_every_kind_of_import() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import tinca.core.graph\n"
        "from tinca.core import subnet\n"
        "from tinca.core.meta.requests import Request\n"
        "from . import keys\n"
        "if TYPE_CHECKING:\n"
        "    from tinca.core.paths import Paths\n"
        "def later() -> None:\n"
        "    from tinca.core.logs import setup\n"
    )
    files = module_files()
    assert _resolve_from_imports(tree, "tinca.core.errors", False, files) == {
        "tinca.core.graph",
        "tinca.core.subnet",
        "tinca.core.meta.requests",
        "tinca.core.keys",
        "tinca.core.paths",
        "tinca.core.logs",
    }


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert _path_in(["a", "b", "c"], graph) == ["a", "b", "c", "a"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "tinca.core.meta.requests" in graph and "tinca.plugins" in graph
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(
        "  " + " -> ".join(_path_in(component, graph)) for component in found
    )
