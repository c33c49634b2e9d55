"""The shape of bot/: no import cycles, no import of the inference package, no oversized module.

Read with ``ast`` (nothing is imported), counting imports inside functions too:
a lazy import still ties two modules together.
"""
from __future__ import annotations

import ast
from pathlib import Path

import bot

PACKAGE = Path(bot.__file__).parent
#: The longest module the layout allows: a longer one is split by role.
MAX_LINES = 600


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path) -> set[str]:
    """Every module name an import statement anywhere in the file names (absolute)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def graph() -> dict[str, set[str]]:
    """module -> the modules of bot/ it imports (a name inside a module counts as that module)."""
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for target in imported(name, path):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_function_level_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycles_in_bot() -> None:
    assert cycles(graph()) == []


def test_bot_does_not_import_the_inference_package() -> None:
    """The bot talks to the inference service over HTTP only."""
    offenders = {name: sorted(n for n in imported(name, path) if n.split(".")[0] == "inference")
                 for name, path in modules().items()}
    assert {name: names for name, names in offenders.items() if names} == {}


def test_no_module_is_longer_than_the_limit() -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines())
               for name, path in modules().items()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}
