"""Scores and their pictures: confusion matrix, accuracy, false predictions, learning curve.

The examples use a "network" that says ``q`` for every event: it is right for 87 % of
the events and finds none of the leptons, which is why accuracy alone says little.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from masterclass.messages import StudentError, text
from masterclass.names import CATEGORIES
from masterclass.toolkit.display import check_count, pyplot, show_events
from masterclass.toolkit.events import Event, check_eventlist
from masterclass.toolkit.results import record


def _check_pair(true_list: object, predicted_list: object) -> tuple[list[Event], list[Event]]:
    true_events = check_eventlist(true_list, "true_list")
    predicted = check_eventlist(predicted_list, "predicted_list")
    if len(true_events) != len(predicted):
        raise StudentError("length_mismatch", first=len(true_events), second=len(predicted))
    if any(event.probabilities is None for event in predicted):
        raise StudentError("not_predicted")
    return true_events, predicted


def confusion_matrix(true_list: Sequence[Event], predicted_list: Sequence[Event]) -> np.ndarray:
    """Return the 4×4 counts: row = true category, column = predicted category (q, e, m, t).

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> always_q = [e.with_prediction("q", dict(q=1.0, e=0.0, m=0.0, t=0.0)) for e in events]
    >>> confusion_matrix(events, always_q)[:, 0].tolist()
    [539, 23, 32, 28]
    """
    true_events, predicted = _check_pair(true_list, predicted_list)
    matrix = np.zeros((len(CATEGORIES), len(CATEGORIES)), dtype=np.int64)
    for truth, guess in zip(true_events, predicted, strict=True):
        matrix[CATEGORIES.index(truth.category), CATEGORIES.index(guess.category)] += 1
    return matrix


def calculate_prediction_accuracy(
    true_list: Sequence[Event], predicted_list: Sequence[Event]
) -> float:
    """Return the share of events whose predicted category is right (between 0 and 1).

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> always_q = [e.with_prediction("q", dict(q=1.0, e=0.0, m=0.0, t=0.0)) for e in events]
    >>> round(calculate_prediction_accuracy(events, always_q), 3)
    0.867
    """
    matrix = confusion_matrix(true_list, predicted_list)
    accuracy = float(np.trace(matrix) / matrix.sum())
    record(test_accuracy=accuracy, test_events=int(matrix.sum()), test_confusion=matrix.tolist())
    return accuracy


def recall_per_category(
    true_list: Sequence[Event], predicted_list: Sequence[Event]
) -> dict[str, float]:
    """Return, per true category, the share that the network recognised (NaN if absent).

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> always_q = [e.with_prediction("q", dict(q=1.0, e=0.0, m=0.0, t=0.0)) for e in events]
    >>> recall_per_category(events, always_q)
    {'q': 1.0, 'e': 0.0, 'm': 0.0, 't': 0.0}
    """
    matrix = confusion_matrix(true_list, predicted_list)
    totals = matrix.sum(axis=1)
    return {
        category: float(matrix[i, i] / totals[i]) if totals[i] else float("nan")
        for i, category in enumerate(CATEGORIES)
    }


def show_confusion_matrix(true_list: Sequence[Event], predicted_list: Sequence[Event]) -> None:
    """Draw the confusion matrix and print the total accuracy.

    The rows are the true categories, the columns what the network predicted;
    everything on the diagonal is right.

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> always_q = [e.with_prediction("q", dict(q=1.0, e=0.0, m=0.0, t=0.0)) for e in events]
    >>> show_confusion_matrix(events, always_q)
    Gesamtgenauigkeit der Vorhersage: 0.8666
    """
    matrix = confusion_matrix(true_list, predicted_list)
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(5, 4.5))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(CATEGORIES)):
        for j in range(len(CATEGORIES)):
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour)
    ax.set_xticks(range(len(CATEGORIES)), CATEGORIES)
    ax.set_yticks(range(len(CATEGORIES)), CATEGORIES)
    ax.set_xlabel(text("plots.predicted_category"))
    ax.set_ylabel(text("plots.true_category"))
    figure.tight_layout()
    plt.show()
    accuracy = float(np.trace(matrix) / matrix.sum())
    record(test_accuracy=accuracy, test_events=int(matrix.sum()), test_confusion=matrix.tolist())
    print(text("plots.total_accuracy", accuracy=accuracy))


def show_false_predictions(
    true_list: Sequence[Event],
    predicted_list: Sequence[Event],
    count: int = 5,
    show_probability: bool = True,
) -> None:
    """Draw up to *count* events that the network sorted wrongly, with both categories.

    Examples
    --------
    >>> from masterclass import *
    >>> events = load_events()
    >>> always_q = [e.with_prediction("q", dict(q=1.0, e=0.0, m=0.0, t=0.0)) for e in events]
    >>> show_false_predictions(events, always_q, count=3)
    """
    check_count(count)
    true_events, predicted = _check_pair(true_list, predicted_list)
    wrong = [
        (truth, guess)
        for truth, guess in zip(true_events, predicted, strict=True)
        if truth.category != guess.category
    ][:count]
    if not wrong:
        print(text("plots.no_false_predictions"))
        return
    titles = [
        text("plots.true_and_predicted", true=truth.category, predicted=guess.category)
        for truth, guess in wrong
    ]
    show_events([guess for _, guess in wrong], show_probability=show_probability, titles=titles)


def plot_learning_curve(runs, *, show_accuracy: bool, show_loss: bool) -> None:
    """Plot the per-epoch figures of all training runs in one diagram."""
    plt = pyplot()
    panels = [name for name, wanted in (("accuracy", show_accuracy), ("loss", show_loss)) if wanted]
    if not panels:
        panels = ["accuracy"]
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, name in zip(axes.flat, panels, strict=True):
        train = [value for run in runs for value in getattr(run, name)]
        validation = [value for run in runs for value in getattr(run, f"val_{name}")]
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, "o-", label=text("plots.training"))
        if validation:
            ax.plot(
                epochs[: len(validation)],
                validation,
                "s--",
                label=text("plots.validation"),
            )
        boundary = 0
        for run in runs[:-1]:
            boundary += len(run.accuracy)
            ax.axvline(boundary + 0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel(text("plots.epoch"))
        ax.set_ylabel(text(f"plots.{name}"))
        ax.set_xticks(epochs)
        ax.legend()
    figure.tight_layout()
    plt.show()
