"""The shape of the code: the import graph of the product packages has no cycle and no
arrow against the layers, and no product module grows past ``MAX_LINES``.

The graph is read from the source with ``ast``: every ``import`` counts, also those inside
functions (a lazy import is still a dependency). ``from pkg import name`` is an arrow to
``pkg.name`` when that is a module, else to ``pkg``.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.paths import ROOT

PACKAGES = ("bot", "inference", "localchat")
MAX_LINES = 600

# (importer prefix, imported prefix, why): an importer whose name starts with the first may
# not import a module whose name starts with the second
FORBIDDEN = [
    ("bot", "inference", "the bot talks to the service over HTTP only"),
    ("bot", "localchat", "the local chat tools are for development; the product does not need them"),
    ("inference", "bot", "the service knows nothing of Telegram"),
    ("inference", "localchat", "the service knows nothing of the local chat"),
    ("localchat", "inference", "the dev stack starts the service as a process, it does not import it"),
    ("inference.types", "inference.", "the shared types are the bottom layer"),
    ("inference.models", "inference.pipeline", "model families sit below the pipeline"),
    ("inference.models", "inference.service", "model families sit below the service"),
    ("inference.models", "inference.train", "run time does not import training"),
    ("inference.models", "inference.evaluate", "model families sit below evaluation"),
    ("inference.models", "inference.datasets", "run time never reads the training data"),
    ("inference.pipeline", "inference.service", "the pure core knows nothing of HTTP or loading"),
    ("inference.pipeline", "inference.train", "the pure core does not fit anything"),
    ("inference.pipeline", "inference.evaluate", "the pure core does not evaluate"),
    ("inference.pipeline", "inference.bench", "the pure core does not benchmark"),
    ("inference.pipeline", "inference.datasets", "run time never reads the training data"),
    ("inference.pipeline", "inference.artifacts", "the pure core reads no files"),
    ("inference.service", "inference.train", "the service does not import training"),
    ("inference.service", "inference.evaluate", "the service does not import evaluation"),
    ("inference.service", "inference.bench", "the service does not import the benchmark"),
    ("inference.service", "inference.datasets", "run time never reads the training data"),
    ("inference.evaluate", "inference.train", "evaluation measures what is shipped, without training code"),
    ("inference.evaluate", "inference.bench", "evaluation does not import the benchmark"),
]


def product_modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = path
    return mods


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:  # a name inside a module: the module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _under(name: str, prefix: str) -> bool:
    return name.startswith(prefix) if prefix.endswith(".") else name == prefix or name.startswith(prefix + ".")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(product_modules())


def test_the_graph_is_read_from_real_imports(graph):
    """The reader sees relative, absolute and function-level imports (a guard for the checks below)."""
    assert "inference.service.flow" in graph["inference.service.app"]  # from .flow import ...
    assert "inference.pipeline.common.decode" in graph["inference.service.flow"]
    assert "bot.app" in graph["bot.__main__"]


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("importer,imported,why", FORBIDDEN, ids=[f"{a}->{b}" for a, b, _ in FORBIDDEN])
def test_no_forbidden_arrow(graph, importer, imported, why):
    bad = sorted(f"{a} -> {b}" for a, deps in graph.items() if _under(a, importer)
                 for b in deps if _under(b, imported) and not _under(b, importer))
    assert bad == [], why


def test_no_product_module_is_too_long():
    long = {
        name: n for name, path in product_modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
