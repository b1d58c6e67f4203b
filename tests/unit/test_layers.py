"""The package's layers as docs/architecture.md states them, and no import circles.

Every ``import masterclass...`` in the package counts, also those inside functions: an
import hidden in a function still ties two modules together, and a circle hidden that
way is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "masterclass" / "src" / "masterclass"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports() -> dict[str, set[str]]:
    """Module → the masterclass modules it imports (resolved to modules, not names)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from masterclass.x import y`: y may be a module of package x.
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target.startswith("masterclass") and target != name:
                    found.add(target)
        graph[name] = found
    return graph


GRAPH = imports()


def reaches(start: str) -> set[str]:
    """Every module *start* imports, directly or through others (packages' inits too)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in GRAPH.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_import_circles():
    circles = []
    for module in GRAPH:
        if module in reaches(module) and module != "masterclass":
            circles.append(module)
    # The flat student namespace (masterclass/__init__.py) maps names to modules lazily;
    # everything else must form no circle.
    assert circles == [], f"modules in an import circle: {circles}"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "masterclass.toolkit",
            ("masterclass.organiser", "masterclass.hub", "masterclass.grading"),
        ),
        ("masterclass.data", ("masterclass.organiser", "masterclass.hub", "masterclass.toolkit")),
        ("masterclass.organiser", ("masterclass.toolkit", "masterclass.data")),
        ("masterclass.hub", ("masterclass.toolkit", "masterclass.organiser", "masterclass.data")),
        ("masterclass.names", ("masterclass.",)),
        ("masterclass.files", ("masterclass.",)),
        ("masterclass.sizing", ("masterclass.",)),
    ],
)
def test_layers(package, forbidden):
    for module in [m for m in GRAPH if in_package(m, package)]:
        bad = sorted(
            m
            for m in reaches(module)
            if any(m.startswith(f) for f in forbidden) and not in_package(m, package)
        )
        assert bad == [], f"{module} imports {bad}"


def test_the_organiser_cli_never_loads_tensorflow_or_numpy():
    import subprocess
    import sys

    code = (
        "import sys; import masterclass.cli; "
        "bad = [m for m in ('tensorflow', 'keras', 'numpy', 'matplotlib') if m in sys.modules]; "
        "sys.exit(', '.join(bad) or 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
