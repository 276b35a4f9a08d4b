"""logstep/ is grouped by concern, and no module imports itself back through another.

Every import counts, wherever it stands: at the top, inside a function (a lazy import is
still a dependency), or in a package ``__init__`` (importing ``logstep.cost.model`` runs
``logstep/cost/__init__.py`` first).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "logstep"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
        # A module runs its packages' __init__ first.
        parent = name.rsplit(".", 1)[0]
        while "." in parent or parent == "logstep":
            if parent in modules and parent != name:
                graph[name].add(parent)
            if parent == "logstep":
                break
            parent = parent.rsplit(".", 1)[0]
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_in_logstep() -> None:
    assert find_cycle(import_graph()) is None


def test_the_check_finds_a_cycle_through_a_function_level_import() -> None:
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_cost_model_is_shared_not_circular() -> None:
    graph = import_graph()
    assert "logstep.cost.model" in graph["logstep.cost.deployed"]
    assert "logstep.cost.deployed" in graph["logstep.cost.command"]
    assert not graph["logstep.cost.model"] & {"logstep.cost.deployed", "logstep.cost.command"}


def test_modules_are_grouped_by_concern() -> None:
    flat = {p.stem for p in PACKAGE.glob("*.py")}
    assert flat == {
        "__init__",
        "__main__",
        "cli",
        "executions",
        "show",
        "replay",
        "history",
        "health",
        "transform_cmd",
    }
    assert {p.stem for p in (PACKAGE / "sandbox").glob("*.py")} >= {
        "pipeline",
        "demo",
        "local",
        "search",
        "firehose",
    }
    assert {p.stem for p in (PACKAGE / "cost").glob("*.py")} >= {"model", "deployed", "command"}
    assert {p.stem for p in (PACKAGE / "deploy").glob("*.py")} >= {"infra", "deploy", "destroy", "index"}
