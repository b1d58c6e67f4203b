"""The Examples sections of the package run, on the real events (the pooch style).

Every module whose docstrings hold a ``>>>`` example is imported and its examples are
run with :mod:`doctest`, in German and with the session's event store (``conftest.py``),
so documentation that no longer matches the code fails here.
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

import masterclass
from masterclass import messages

PACKAGE = Path(masterclass.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: Modules with examples, found in the source text (importing them all would load TensorFlow).
WITH_EXAMPLES = sorted(
    module_name(path) for path in PACKAGE.rglob("*.py") if ">>> " in path.read_text("utf-8")
)


def test_the_package_has_examples_that_run():
    assert {"masterclass.names", "masterclass.roster", "masterclass.toolkit.events"} <= set(
        WITH_EXAMPLES
    )


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_examples_run(name, monkeypatch):
    monkeypatch.delenv("MASTERCLASS_LANG", raising=False)
    monkeypatch.setattr(messages, "_language", None)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    examples = 0
    for test in doctest.DocTestFinder().find(module, name):
        examples += len(test.examples)
        runner.run(test, out=report.write)
    assert examples, f"{name}: '>>>' in the source, but doctest found no examples"
    assert runner.failures == 0, report.getvalue()
