"""Pictures and scores: event displays, learning curve, confusion matrix, accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from masterclass.events import CATEGORIES, Event, category_name, check_eventlist
from masterclass.messages import StudentError, get_language
from masterclass.results import record


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _text(german: str, english: str) -> str:
    return german if get_language() == "de" else english


def check_count(count: object) -> int:
    """Return *count* if it is a whole number of at least 1; otherwise raise a StudentError."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise StudentError("positive_int", name="count", value=count)
    return int(count)


def show_events(
    events: Sequence[Event],
    *,
    show_category: bool = False,
    show_probability: bool = False,
    titles: Sequence[str] | None = None,
) -> None:
    """Draw event displays side by side (at most five per row)."""
    plt = _pyplot()
    columns = min(5, len(events))
    rows = (len(events) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, event) in enumerate(zip(axes.flat, events, strict=False)):
        ax.imshow(event.image)
        lines = []
        if titles is not None:
            lines.append(titles[i])
        elif show_category:
            lines.append(f"{event.category} ({category_name(event.category)})")
        if show_probability and event.probabilities is not None:
            lines.append("  ".join(f"{c}: {event.probabilities[c]:.2f}" for c in CATEGORIES))
        if lines:
            ax.set_title("\n".join(lines), fontsize=10)
    figure.tight_layout()
    plt.show()


def _check_pair(true_list: object, predicted_list: object) -> tuple[list[Event], list[Event]]:
    true_events = check_eventlist(true_list, "true_list")
    predicted = check_eventlist(predicted_list, "predicted_list")
    if len(true_events) != len(predicted):
        raise StudentError("length_mismatch", first=len(true_events), second=len(predicted))
    if any(event.probabilities is None for event in predicted):
        raise StudentError("not_predicted")
    return true_events, predicted


def confusion_matrix(true_list: Sequence[Event], predicted_list: Sequence[Event]) -> np.ndarray:
    """Return the 4×4 counts: row = true category, column = predicted category (q, e, m, t)."""
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
    >>> calculate_prediction_accuracy(eventliste_test, eventliste_vorhersage)  # doctest: +SKIP
    0.93
    """
    matrix = confusion_matrix(true_list, predicted_list)
    accuracy = float(np.trace(matrix) / matrix.sum())
    record(test_accuracy=accuracy, test_events=int(matrix.sum()))
    return accuracy


def recall_per_category(
    true_list: Sequence[Event], predicted_list: Sequence[Event]
) -> dict[str, float]:
    """Return, per true category, the share that the network recognised (NaN if absent)."""
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
    """
    matrix = confusion_matrix(true_list, predicted_list)
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(5, 4.5))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(CATEGORIES)):
        for j in range(len(CATEGORIES)):
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour)
    ax.set_xticks(range(len(CATEGORIES)), CATEGORIES)
    ax.set_yticks(range(len(CATEGORIES)), CATEGORIES)
    ax.set_xlabel(_text("vorhergesagte Kategorie", "predicted category"))
    ax.set_ylabel(_text("echte Kategorie", "true category"))
    figure.tight_layout()
    plt.show()
    accuracy = float(np.trace(matrix) / matrix.sum())
    record(test_accuracy=accuracy, test_events=int(matrix.sum()))
    print(
        _text(
            f"Gesamtgenauigkeit der Vorhersage: {accuracy:.4f}",
            f"Total prediction accuracy: {accuracy:.4f}",
        )
    )


def show_false_predictions(
    true_list: Sequence[Event],
    predicted_list: Sequence[Event],
    count: int = 5,
    show_probability: bool = True,
) -> None:
    """Draw up to *count* events that the network sorted wrongly, with both categories."""
    check_count(count)
    true_events, predicted = _check_pair(true_list, predicted_list)
    wrong = [
        (truth, guess)
        for truth, guess in zip(true_events, predicted, strict=True)
        if truth.category != guess.category
    ][:count]
    if not wrong:
        print(
            _text(
                "Keine falschen Vorhersagen, alles richtig!",
                "No false predictions, everything is right!",
            )
        )
        return
    label = _text("echt {} / vorhergesagt {}", "true {} / predicted {}")
    titles = [label.format(truth.category, guess.category) for truth, guess in wrong]
    show_events([guess for _, guess in wrong], show_probability=show_probability, titles=titles)


def plot_learning_curve(runs, *, show_accuracy: bool, show_loss: bool) -> None:
    """Plot the per-epoch figures of all training runs in one diagram."""
    plt = _pyplot()
    panels = [name for name, wanted in (("accuracy", show_accuracy), ("loss", show_loss)) if wanted]
    if not panels:
        panels = ["accuracy"]
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    labels = {
        "accuracy": _text("Genauigkeit", "accuracy"),
        "loss": _text("Verlust (loss)", "loss"),
    }
    for ax, name in zip(axes.flat, panels, strict=True):
        train = [value for run in runs for value in getattr(run, name)]
        validation = [value for run in runs for value in getattr(run, f"val_{name}")]
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, "o-", label=_text("Training", "training"))
        if validation:
            ax.plot(
                epochs[: len(validation)],
                validation,
                "s--",
                label=_text("Validierung", "validation"),
            )
        boundary = 0
        for run in runs[:-1]:
            boundary += len(run.accuracy)
            ax.axvline(boundary + 0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel(_text("Epoche", "epoch"))
        ax.set_ylabel(labels[name])
        ax.set_xticks(epochs)
        ax.legend()
    figure.tight_layout()
    plt.show()
