"""The package's import graph: no circles, and each audience's package imports only what it may.

Read from the source with :mod:`ast`, so imports inside functions count as much as those
at the top: a lazy import may keep a heavy library out of start-up, but never hides a
circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import masterclass

PACKAGE = Path(masterclass.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """Every module *name* imports, at any depth of its code (package modules by full name)."""
    path = SOURCES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            # ``from masterclass.data import store`` imports a submodule too.
            found.update(
                f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in SOURCES
            )
    return found


GRAPH = {name: {m for m in imports(name) if m in SOURCES and m != name} for name in SOURCES}


def find_cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(GRAPH):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_circles():
    cycle = find_cycle()
    assert cycle is None, " → ".join(cycle)


def reach(name: str) -> set[str]:
    """Every module *name* imports, directly or through other package modules."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for target in imports(todo.pop()):
            if target not in seen:
                seen.add(target)
                if target in SOURCES:
                    todo.append(target)
    return seen


def under(prefix: str) -> list[str]:
    return sorted(name for name in SOURCES if name == prefix or name.startswith(f"{prefix}."))


FORBIDDEN = {
    # The toolkit runs in a pair's container: nothing of the organiser, hub or grading side.
    "masterclass.toolkit": ("masterclass.organiser", "masterclass.hub", "masterclass.grading"),
    # The data pipeline runs on the hub and bare servers: no TensorFlow, no toolkit.
    "masterclass.data": ("tensorflow", "keras", "masterclass.toolkit", "masterclass.organiser"),
    # The catalogue sits below everything.
    "masterclass.messages": ("masterclass.toolkit", "masterclass.data", "masterclass.organiser"),
    # The organiser CLI runs on servers and laptops without TensorFlow or NumPy.
    "masterclass.organiser": ("masterclass.toolkit", "masterclass.data", "tensorflow", "numpy"),
    # The hub process: roster, authenticator, secrets.
    "masterclass.hub": ("masterclass.toolkit", "masterclass.organiser", "masterclass.data"),
    # The naming rules and the atomic writer: every side imports them, they import nothing.
    "masterclass.names": ("masterclass.",),
    "masterclass.files": ("masterclass.",),
    # The measured per-pair figures: the hub's swarm spawner and the organiser read them.
    "masterclass.sizing": ("masterclass.",),
}


@pytest.mark.parametrize("name", [name for prefix in FORBIDDEN for name in under(prefix)], ids=str)
def test_each_package_imports_only_what_it_may(name):
    prefix = next(p for p in FORBIDDEN if name == p or name.startswith(f"{p}."))
    wrong = sorted(
        module
        for module in reach(name)
        for banned in FORBIDDEN[prefix]
        if (module == banned or module.startswith(f"{banned}." if banned[-1] != "." else banned))
        and not (module == prefix or module.startswith(f"{prefix}."))
    )
    assert not wrong, f"{name} imports {wrong}"


def test_only_the_model_imports_tensorflow():
    heavy = sorted(
        name
        for name in under("masterclass.toolkit")
        if {"tensorflow", "keras"} & {m.split(".")[0] for m in imports(name)}
    )
    assert heavy == ["masterclass.toolkit.model", "masterclass.toolkit.runtime"]


def test_the_organiser_cli_never_loads_tensorflow_or_numpy():
    # The import graph above is what the source says; this is what really loads.
    import subprocess
    import sys

    code = (
        "import sys; import masterclass.cli; "
        "bad = [m for m in ('tensorflow', 'keras', 'numpy', 'matplotlib') if m in sys.modules]; "
        "sys.exit(', '.join(bad) or 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
