"""The architecture as tests: no import circles among symgrad's modules (function-local
imports counted), a core that imports nothing above it, and a light ``import symgrad``."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

import symgrad as sg

PACKAGE = Path(sg.__file__).parent
CORE = {"symgrad.errors", "symgrad.dims", "symgrad.dtypes", "symgrad.graph", "symgrad.op",
        "symgrad.expr", "symgrad.lazy"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list:
    """The symgrad modules an import statement loads (a name may be a submodule)."""
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    found = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        path = PACKAGE.parent.joinpath(*candidate.split("."))
        found.append(candidate if path.with_suffix(".py").exists() or path.is_dir() else base)
    return found


def import_graph() -> nx.DiGraph:
    """Module -> the symgrad modules it imports anywhere in its body."""
    graph = nx.DiGraph()
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        graph.add_node(module)
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(module, path.name == "__init__.py", node)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                if target.startswith("symgrad") and target != module:
                    graph.add_edge(module, target)
    return graph


def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 20  # the walk found the package
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import circles among symgrad's modules: {cycles}"


def test_the_core_imports_nothing_above_it():
    graph = import_graph()
    for module in CORE:
        above = set(graph.successors(module)) - CORE
        assert not above, f"{module} (core) imports {sorted(above)}"


def test_package_imports_load_no_sympy_networkx_or_matplotlib():
    """SymPy and matplotlib load when a formula or picture is asked for, networkx when the
    graph is looked at."""
    code = ("import sys, symgrad as sg; x = sg.scalar('x'); sg.function([x], sg.grad(sg.sin(x), x));"
            "print(sorted(m for m in ('sympy', 'networkx', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_star_import_exports_the_public_api_only():
    namespace: dict = {}
    exec("from symgrad import *", namespace)  # noqa: S102 - our own module
    assert "compile" not in namespace and "ops" not in namespace
    assert {"grad", "function", "defop", "vectorize", "check_grad"} <= set(namespace)
    assert set(sg.__all__) <= set(dir(sg))
