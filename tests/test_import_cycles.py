"""No two modules of the umbrella or of lemur-data's configs import each other, not even lazily
inside a function or under TYPE_CHECKING (config <-> presets, pipeline <-> summary were such)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = {
    "lemur": ROOT / "src" / "lemur",
    "lemur_data": ROOT / "packages" / "lemur-data" / "src" / "lemur_data",
}


def _modules() -> dict[str, Path]:
    found = {}
    for package, root in TREES.items():
        for path in root.rglob("*.py"):
            if path.name == "__init__.py":  # a package importing its parts is no cycle
                continue
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join((package, *parts))] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of :func:`_modules` it imports anywhere in its source."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search (each reported once, from its first module)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_no_import_cycles_in_the_umbrella_or_the_data_configs() -> None:
    graph = import_graph()
    assert "lemur.pipeline" in graph and "lemur_data.corpus.presets" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_sees_a_lazy_import_cycle() -> None:
    graph = {"a.config": {"a.presets"}, "a.presets": {"a.config"}, "a.other": set()}
    assert cycles(graph) == [["a.config", "a.presets", "a.config"]]
