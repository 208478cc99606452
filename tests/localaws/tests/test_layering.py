"""The import layering of the localaws package: no cycles, one order from bottom to top.

Every module's imports of the package are read with `ast`, at the top level and inside
functions alike: an import moved into a function hides a cycle from Python's import
machinery but not from these tests. The tests check that

- the import graph has no cycle (a failure names each cycle's modules, with file and
  line of every import on it);
- every module imports only modules listed before it in ORDER, the order README.md
  documents (a new module has to be placed there);
- no module loads another by name (importlib, __import__), which the parse would miss.

The cycle finder is itself tested on small hand-made graphs and sources, so that a
finder which never reports anything cannot pass for a clean package.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "localaws"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# Bottom to top; a module may import only modules before it. "__init__" is the package.
ORDER = [
    "__init__",
    # foundations: time, settings, extension points, the record of events
    "clock", "settings", "registry", "timeline",
    # AWS services and the emulator's own HTTP features
    "faults", "cbor_bridge", "logs", "cloudwatch", "traces", "webhook", "lambda_rt",
    # the simulated application, ECS tasks and traffic
    "workload", "scenarios", "traffic",
    # target health, Container Insights and incidents on the simulated tasks
    "targets", "insights", "incidents",
    # CodeDeploy, then the loop and lock that drive all of the above
    "codedeploy", "exposure", "engine",
    # control routes that change the simulated tasks under the engine's lock
    "task_incident",
    # entry points
    "provision", "server", "__main__",
]

Graph = dict[str, dict[str, list[int]]]  # module -> imported module -> line numbers


def _target(name: str, modules: set[str]) -> str:
    """The package module that an imported name within the package refers to."""
    return name if name in modules else "__init__"


def imports_of(source: str, modules: set[str]) -> dict[str, list[int]]:
    """Package modules imported anywhere in `source` (a module of the package), with lines."""
    found: dict[str, list[int]] = {}

    def add(name: str, line: int) -> None:
        found.setdefault(name, []).append(line)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE:
                    add(_target(parts[1], modules) if len(parts) > 1 else "__init__", node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] != PACKAGE:
                continue  # another package
            if node.level > 1:
                raise AssertionError(f"line {node.lineno}: relative import above the package")
            # `from . import x` / `from localaws import x` name modules in `names`;
            # `from .x import y` / `from localaws.x import y` import from module x.
            parts = (node.module or "").split(".")
            inner = parts if node.level == 1 else parts[1:]
            inner = [p for p in inner if p]
            if inner:
                add(_target(inner[0], modules), node.lineno)
            else:
                for alias in node.names:
                    add(_target(alias.name, modules), node.lineno)
    return found


def import_graph(sources: dict[str, str]) -> Graph:
    modules = set(sources)
    return {name: imports_of(src, modules) for name, src in sources.items()}


def package_sources() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(PACKAGE_DIR.glob("*.py"))}


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle [a, b, …] (a imports b imports … imports a) per strongly connected
    group of modules, found with Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)

    cycles = []
    for group in groups:
        start = group[0]
        if len(group) == 1 and start not in graph.get(start, {}):
            continue
        # Shortest way from start back to start inside the group.
        members = set(group)
        paths = {start: [start]}
        queue = [start]
        cycle = None
        while queue and cycle is None:
            v = queue.pop(0)
            for w in sorted(graph.get(v, {})):
                if w == start:
                    cycle = paths[v]
                    break
                if w in members and w not in paths:
                    paths[w] = paths[v] + [w]
                    queue.append(w)
        cycles.append(cycle)
    return sorted(cycles)


def describe_cycle(cycle: list[str], graph: Graph) -> str:
    steps = [cycle[0]]
    for a, b in zip(cycle, cycle[1:] + cycle[:1]):
        lines = ", ".join(str(n) for n in graph[a][b])
        steps.append(f"{b} ({a}.py line {lines})")
    return " -> ".join(steps)


def cycle_report(graph: Graph) -> list[str]:
    return [describe_cycle(c, graph) for c in find_cycles(graph)]


# ---------------------------------------------------------------------------
# The package


def test_the_package_has_no_import_cycle():
    graph = import_graph(package_sources())
    assert cycle_report(graph) == []


def test_every_module_imports_only_modules_below_it():
    sources = package_sources()
    assert sorted(ORDER) == sorted(sources), "every module is placed exactly once in ORDER"
    upward = []
    for module, deps in import_graph(sources).items():
        for dep, lines in sorted(deps.items()):
            if ORDER.index(dep) >= ORDER.index(module):
                upward.append(f"{module}.py line {', '.join(map(str, lines))} imports {dep}, "
                              f"which is not below it in ORDER")
    assert upward == []


def test_no_module_is_imported_by_name():
    found = []
    for module, source in package_sources().items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "importlib" for a in node.names):
                found.append(f"{module}.py line {node.lineno}: import importlib")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "importlib":
                found.append(f"{module}.py line {node.lineno}: from importlib")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
                found.append(f"{module}.py line {node.lineno}: __import__()")
    assert found == []


def test_the_imports_seen_include_late_ones_of_the_real_package():
    """A sanity check on the parse: known top-level and function-local imports are seen."""
    graph = import_graph(package_sources())
    assert "scenarios" in graph["traffic"] and "workload" in graph["traffic"]
    assert {"codedeploy", "scenarios", "traffic"} <= set(graph["engine"])
    # __main__ imports the server inside serve(), to keep `--help` fast.
    assert "server" in graph["__main__"]


# ---------------------------------------------------------------------------
# The cycle finder on hand-made input


def test_cycle_finder_names_the_modules_and_lines_of_a_cycle():
    graph = {"a": {"b": [3]}, "b": {"c": [5, 9]}, "c": {"a": [7], "d": [8]}, "d": {}, "e": {"a": [1]}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert cycle_report(graph) == ["a -> b (a.py line 3) -> c (b.py line 5, 9) -> a (c.py line 7)"]


def test_cycle_finder_reports_each_cycle_and_self_imports():
    graph = {"a": {"b": [1]}, "b": {"a": [2]}, "c": {"c": [4]}, "d": {"e": [1]}, "e": {"f": [1]}, "f": {"d": [1]}}
    assert find_cycles(graph) == [["a", "b"], ["c"], ["d", "e", "f"]]
    assert "c -> c (c.py line 4)" in cycle_report(graph)


def test_cycle_finder_accepts_an_acyclic_graph():
    graph = {"a": {"b": [1], "c": [2]}, "b": {"c": [1]}, "c": {}}
    assert find_cycles(graph) == []


def test_a_cycle_through_a_function_local_import_is_found():
    sources = {
        "low": '"""low"""\nfrom . import registry\n\n\ndef late():\n    from localaws import high\n    return high\n',
        "high": '"""high"""\nfrom .low import late\nimport localaws.registry\n',
        "registry": '"""registry"""\n',
    }
    graph = import_graph(sources)
    assert graph["low"] == {"registry": [2], "high": [6]}
    assert graph["high"] == {"low": [2], "registry": [3]}
    assert cycle_report(graph) == ["high -> low (high.py line 2) -> high (low.py line 6)"]


def test_names_that_are_not_modules_resolve_to_the_package():
    modules = {"__init__", "clock"}
    found = imports_of("from localaws import clock, VERSION\nimport localaws\nfrom . import clock as c\n", modules)
    assert found == {"clock": [1, 3], "__init__": [1, 2]}
