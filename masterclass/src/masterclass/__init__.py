"""Masterclass Hub: the helpers that student pairs call from the worksheet.

``from masterclass import *`` gives every name the worksheet uses. TensorFlow
is imported only when a model name (``MLModel``) is first used, so the CLI and
the hub-side code stay light.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

# Every public name and the module that defines it. The worksheets print these
# names verbatim, so they must never change.
_EXPORTS = {
    "Event": "masterclass.toolkit.events",
    "load_events": "masterclass.toolkit.events",
    "split_events_random": "masterclass.toolkit.events",
    "filter_by_category": "masterclass.toolkit.events",
    "show_only_one_category": "masterclass.toolkit.events",
    "augment_events": "masterclass.toolkit.augment",
    "MLModel": "masterclass.toolkit.model",
    "Overview": "masterclass.toolkit.overview",
    "show_confusion_matrix": "masterclass.toolkit.plots",
    "calculate_prediction_accuracy": "masterclass.toolkit.plots",
    "show_false_predictions": "masterclass.toolkit.plots",
    "show_efficiency": "masterclass.toolkit.efficiency",
    "set_random_seeds": "masterclass.toolkit.runtime",
    "set_language": "masterclass.messages",
    "StudentError": "masterclass.messages",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'masterclass' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
