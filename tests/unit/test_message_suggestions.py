"""Every piece of code a message suggests runs where the message can appear, in both languages.

A pupil who types what an error message suggests must not get a ``NameError``. This test
pulls every code suggestion out of the message catalogue (calls such as
``model.train(count_epochs=3)`` and settings such as ``fraction_first_block=0.3``) and
checks it against the worksheets as the pupils have them:

- every name it uses is defined in the notebook by the first cell that makes the
  suggested call with the same keywords (that is where the message can first appear),
  or comes from ``from masterclass import *``;
- every method it calls exists on the object the notebook binds to that name;
- every keyword it passes is a parameter of the function it calls.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import string
from pathlib import Path

import nbformat
import pytest

import masterclass
from masterclass.messages import LANGUAGES, catalogue

WORKSHEETS = Path(__file__).resolve().parents[2] / "worksheets"
#: The notebooks in which the toolkit's messages appear.
NOTEBOOKS = ("z-boson/z_boson.ipynb", "extras/extras.ipynb")
EXPORTS = {name: getattr(masterclass, name) for name in masterclass.__all__}

_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\(")
_SETTING = re.compile(r"(?<![\w.(,=])\b([a-z_][a-z0-9_]*)=(?!=)")


def filled(template: str) -> str:
    """The message with every placeholder replaced by a plain number."""
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            parts.append("1")
    return "".join(parts)


def suggestions(message: str) -> tuple[list[str], list[str]]:
    """The calls and the bare ``name=value`` settings a message's text suggests."""
    calls, spans = [], []
    for match in _CALL_START.finditer(message):
        depth, end = 0, None
        for position in range(match.end() - 1, len(message)):
            depth += {"(": 1, ")": -1}.get(message[position], 0)
            if depth == 0:
                end = position + 1
                break
        assert end is not None, f"unbalanced parentheses in {message!r}"
        calls.append(message[match.start() : end])
        spans.append((match.start(), end))
    settings = [
        match.group(1)
        for match in _SETTING.finditer(message)
        if not any(start <= match.start() < end for start, end in spans)
    ]
    return calls, settings


def test_the_extraction_finds_calls_and_settings():
    calls, settings = suggestions(
        'Write e.g. model.train(count_epochs=3) or overview.add_entry("A (b)", x, '
        "overwrite=True), then fraction_first_block=0.3 (with a point)."
    )
    assert calls == [
        "model.train(count_epochs=3)",
        'overview.add_entry("A (b)", x, overwrite=True)',
    ]
    assert settings == ["fraction_first_block"]


class Notebook:
    """What a worksheet's code cells define, cell by cell."""

    def __init__(self, path: Path) -> None:
        self.cells = [
            ast.parse(cell.source)
            for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "code"
        ]
        self.kinds: dict[str, type] = {}  # name → class of the object bound to it
        for tree in self.cells:
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name)
                    and isinstance(EXPORTS.get(node.value.func.id), type)
                ):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            self.kinds[target.id] = EXPORTS[node.value.func.id]
        self.kinds.update(
            {
                name: type(None)
                for name in self.defined_before(len(self.cells))
                if name not in self.kinds
            }
        )

    def defined_before(self, index: int) -> set[str]:
        names: set[str] = set()
        for tree in self.cells[:index]:
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                elif isinstance(node, ast.FunctionDef):
                    names.add(node.name)
                elif isinstance(node, ast.alias):
                    names.add(node.asname or node.name)
        return names

    def first_use(self, call: ast.Call) -> int | None:
        """Index of the first code cell that makes *call*: same callee, its keywords at least."""
        callee = ast.unparse(call.func)
        keywords = {keyword.arg for keyword in call.keywords}
        for index, tree in enumerate(self.cells):
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and ast.unparse(node.func) == callee
                    and keywords <= {keyword.arg for keyword in node.keywords}
                ):
                    return index
        return None


def callable_for(notebook: Notebook, func: ast.expr):
    """The toolkit function or method a call refers to, if the notebook can tell."""
    if isinstance(func, ast.Name):
        return EXPORTS.get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        kind = notebook.kinds.get(func.value.id)
        assert kind is not None, f"{func.value.id} is not defined in the notebook"
        if kind is type(None):
            return None
        assert hasattr(kind, func.attr), f"{kind.__name__} has no method {func.attr}"
        return getattr(kind, func.attr)
    return None


def check_call(notebook: Notebook, code: str) -> None:
    tree = ast.parse(code, mode="eval")
    call = tree.body
    assert isinstance(call, ast.Call), code
    callee = ast.unparse(call.func)
    index = notebook.first_use(call)
    assert index is not None, f"no worksheet cell calls {callee} like {code!r}"
    # Names the message's cell itself defines count: the call may come after them.
    known = notebook.defined_before(index + 1) | set(EXPORTS) | set(dir(builtins))
    for node in ast.walk(call):
        if isinstance(node, ast.Name):
            assert node.id in known, f"{code!r}: {node.id} is not defined where the message appears"
    function = callable_for(notebook, call.func)
    if function is not None:
        parameters = inspect.signature(function).parameters
        for keyword in call.keywords:
            assert keyword.arg in parameters, f"{code!r}: {callee} has no parameter {keyword.arg}"


def keywords_of_the_toolkit() -> set[str]:
    names = set()
    for value in EXPORTS.values():
        members = [value, *vars(value).values()] if isinstance(value, type) else [value]
        for member in members:
            if callable(member):
                try:
                    names |= set(inspect.signature(member).parameters)
                except (TypeError, ValueError):
                    continue
    return names


def catalogue_suggestions(language: str) -> list[tuple[str, str, str]]:
    found = []
    for key, template in catalogue(language).items():
        calls, settings = suggestions(filled(template))
        found += [(key, "call", code) for code in calls]
        found += [(key, "setting", name) for name in settings]
    return found


def test_the_catalogue_suggests_code_at_all():
    kinds = {(key, kind) for key, kind, _ in catalogue_suggestions("de")}
    assert ("errors.epochs", "call") in kinds
    assert ("errors.fraction_type", "setting") in kinds


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_suggestion_runs_in_the_worksheets(language):
    notebooks = [Notebook(WORKSHEETS / language / "source" / path) for path in NOTEBOOKS]
    settable = keywords_of_the_toolkit() | set().union(
        *(nb.defined_before(len(nb.cells)) for nb in notebooks)
    )
    problems = []
    for key, kind, code in catalogue_suggestions(language):
        if kind == "setting":
            if code not in settable:
                problems.append(f"{key}: {code}= is neither a worksheet variable nor a parameter")
            continue
        errors = []
        for notebook in notebooks:
            try:
                check_call(notebook, code)
                break
            except AssertionError as error:
                errors.append(str(error))
        else:
            problems.append(f"{key}: {code} → {'; '.join(errors)}")
    assert not problems, "\n".join(problems)
