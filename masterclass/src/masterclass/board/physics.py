"""The board's physics: binomial errors, the efficiency correction, median and spread.

Plain Python (no NumPy: the service runs in the hub image). Every function takes
the checked values of :mod:`masterclass.board.schema`.

The pairs' results are correlated: every pair draws its test events at random from
the same 622 events, so two pairs share most of their test events. Their results are
therefore **never** combined as if independent (an inverse-variance mean would claim an
error far too small); the class's result is the median of the pairs' values, and the
spread is the range of the middle 68 % of pairs.

Examples
--------
>>> round(binomial_error(0.04, 400), 4)
0.0098
>>> median_and_spread([0.91, 0.88, 0.95])
{'median': 0.91, 'low': 0.8896, 'high': 0.9372, 'n': 3}
"""

from __future__ import annotations

import math
import statistics

from masterclass.board.schema import CHANNELS
from masterclass.standard_model import visible_branching_ratios

#: The central share of pairs the spread covers (like ±1σ of a normal distribution).
SPREAD = 0.68
#: Beyond this condition number the correction would blow up the counts' noise (the same
#: limit as the toolkit's ``Efficiency.correct``, so board and notebook refuse alike).
MAX_CONDITION = 1e4


def binomial_error(share: float, events: int) -> float:
    """Standard error of a share measured on *events* events: √(p(1−p)/N)."""
    return math.sqrt(max(share * (1 - share), 0.0) / events) if events else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The *q*-quantile (0..1) of *values*, interpolated linearly between neighbours."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median_and_spread(values: list[float | None]) -> dict | None:
    """Median of the pairs' *values* and the range of the middle 68 % (None if no value)."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return None
    tail = (1 - SPREAD) / 2
    return {
        "median": round(statistics.median(present), 6),
        "low": round(percentile(present, tail), 6),
        "high": round(percentile(present, 1 - tail), 6),
        "n": len(present),
    }


def inverse(matrix: list[list[float]]) -> list[list[float]] | None:
    """The inverse of a square matrix (Gauss–Jordan with pivoting); None if it has none."""
    size = len(matrix)
    work = [
        list(map(float, row)) + [float(i == j) for j in range(size)] for i, row in enumerate(matrix)
    ]
    for column in range(size):
        pivot = max(range(column, size), key=lambda r: abs(work[r][column]))
        if abs(work[pivot][column]) < 1e-9:
            return None
        work[column], work[pivot] = work[pivot], work[column]
        scale = work[column][column]
        work[column] = [x / scale for x in work[column]]
        for r in range(size):
            if r != column and work[r][column]:
                factor = work[r][column]
                work[r] = [x - factor * y for x, y in zip(work[r], work[column], strict=True)]
    return [row[size:] for row in work]


def migration(validation_confusion: list[list[int]]) -> list[list[float]] | None:
    """``M[j][i]``: the share of true-``i`` events the network calls ``j`` (None if a row is empty).

    The confusion matrix has the true channel in rows; every row is divided by its sum,
    so the mix of the validation set (augmented: many more leptons) does not matter.
    """
    size = len(CHANNELS)
    totals = [sum(row) for row in validation_confusion]
    if not all(totals):
        return None
    return [[validation_confusion[i][j] / totals[i] for i in range(size)] for j in range(size)]


def condition(matrix: list[list[float]], undo: list[list[float]]) -> float:
    """The condition number of *matrix* (1-norm), given its inverse *undo*."""

    def norm(m):
        return max(sum(abs(m[i][j]) for i in range(len(m))) for j in range(len(m)))

    return norm(matrix) * norm(undo)


def corrected_counts(validation_confusion, observed: list[float]) -> tuple[list, list] | None:
    """The true counts that explain the *observed* counts, and their errors; None if impossible.

    Solves ``M · true = observed`` with the migration matrix ``M`` of the validation set
    (the OPAL masterclass's efficiency matrix), as the toolkit's ``Efficiency.correct``
    does: counts below zero (a fluctuation of small numbers) become zero, and a matrix
    too close to singular is refused. Each observed count fluctuates like a Poisson
    count, so ``σ²(true_i) = Σ_j (M⁻¹)_ij² · observed_j``; the statistical uncertainty of
    ``M`` itself is left out.
    """
    matrix = migration(validation_confusion)
    undo = inverse(matrix) if matrix is not None else None
    if undo is None or condition(matrix, undo) > MAX_CONDITION:
        return None
    size = len(CHANNELS)
    counts = [max(0.0, sum(undo[i][j] * observed[j] for j in range(size))) for i in range(size)]
    errors = [
        math.sqrt(sum(undo[i][j] ** 2 * max(observed[j], 0.0) for j in range(size)))
        for i in range(size)
    ]
    return counts, errors


def _shares(counts: list[float]) -> dict[str, float] | None:
    total = sum(counts)
    return {c: n / total for c, n in zip(CHANNELS, counts, strict=True)} if total > 0 else None


def derive_row(result: dict) -> dict:
    """The numbers the board shows for one pair's checked *result*."""
    size = len(CHANNELS)
    test = result.get("test_confusion")
    row: dict = {
        "accuracy": result.get("test_accuracy"),
        "epochs": result.get("epochs"),
        "factors": (
            [result["augmentation_factors"][c] for c in CHANNELS]
            if "augmentation_factors" in result
            else None
        ),
        "validation_accuracy": result.get("validation_accuracy"),
        "test_events": result.get("test_events") or (sum(map(sum, test)) if test else None),
    }
    if row["accuracy"] is None and test:
        row["accuracy"] = sum(test[i][i] for i in range(size)) / sum(map(sum, test))
    # The measured shares: the overview's "Test (network)" column (what the pupils wrote
    # on their sheet), else the predicted columns of the test confusion matrix.
    if "measured_ratios" in result:
        events = result.get("measured_events") or row["test_events"]
        shares = dict(result["measured_ratios"])
    elif test:
        events = sum(map(sum, test))
        shares = _shares([sum(test[i][j] for i in range(size)) for j in range(size)])
    else:
        events, shares = None, None
    row["events"] = events
    row["fractions"] = shares
    row["errors"] = (
        {c: binomial_error(shares[c], events) for c in CHANNELS} if shares and events else None
    )
    # The hand-labelled shares of the pair's own test events: the rows of its matrix.
    row["labelled"] = _shares([sum(r) for r in test]) if test else None
    row["efficiency"] = None
    row["corrected"] = row["corrected_errors"] = None
    # Why a row has no corrected shares: no validation matrix, or one that cannot be undone.
    row["correction"] = "no_validation"
    validation = result.get("validation_confusion")
    if validation:
        row["correction"] = "impossible"
        totals = [sum(r) for r in validation]
        row["efficiency"] = {
            c: (validation[i][i] / totals[i] if totals[i] else None) for i, c in enumerate(CHANNELS)
        }
        if shares and events:
            solved = corrected_counts(validation, [shares[c] * events for c in CHANNELS])
            if solved is not None:
                counts, errors = solved
                total = sum(counts)
                if total > 0:
                    row["correction"] = "done"
                    row["corrected"] = dict(zip(CHANNELS, (n / total for n in counts), strict=True))
                    row["corrected_errors"] = dict(
                        zip(CHANNELS, (e / total for e in errors), strict=True)
                    )
    return _rounded(row)


def summarize(rows: list[dict]) -> dict:
    """The class's median and spread of every number, the SM, and the summed confusion matrix."""

    def column(key, channel=None):
        return [
            (row[key] or {}).get(channel) if channel else row[key]
            for row in rows
            if row.get(key) is not None
        ]

    summary = {
        "pairs": len(rows),
        "accuracy": median_and_spread(column("accuracy")),
        "epochs": median_and_spread(column("epochs")),
        "test_events": median_and_spread(column("test_events")),
        "fractions": {c: median_and_spread(column("fractions", c)) for c in CHANNELS},
        "corrected": {c: median_and_spread(column("corrected", c)) for c in CHANNELS},
        "labelled": {c: median_and_spread(column("labelled", c)) for c in CHANNELS},
    }
    sm = visible_branching_ratios()
    typical = summary["test_events"]["median"] if summary["test_events"] else None
    summary["standard_model"] = {
        c: {
            "share": round(sm[c], 6),
            # Where a perfect sorting of a typical pair's test events lands 2 times in 3.
            "band": round(binomial_error(sm[c], typical), 6) if typical else None,
        }
        for c in CHANNELS
    }
    return summary


def summed_confusion(results: list[dict]) -> list[list[int]] | None:
    """The class's test confusion matrices added up (rows: true q e m t)."""
    matrices = [r["test_confusion"] for r in results if r.get("test_confusion")]
    if not matrices:
        return None
    size = len(CHANNELS)
    return [[sum(m[i][j] for m in matrices) for j in range(size)] for i in range(size)]


def game_tally(rounds: list[dict]) -> dict:
    """The class's human-against-machine rounds added up."""
    tally = {
        "rounds": len(rounds),
        "pairs": 0,
        "events": sum(r["events"] for r in rounds),
        "human_right": sum(r["human_right"] for r in rounds),
        "machine_right": sum(r["machine_right"] for r in rounds),
        "human_wins": sum(r["human_right"] > r["machine_right"] for r in rounds),
        "machine_wins": sum(r["human_right"] < r["machine_right"] for r in rounds),
        "ties": sum(r["human_right"] == r["machine_right"] for r in rounds),
        "human_seconds": median_and_spread([r["human_seconds"] for r in rounds]),
        "machine_seconds": median_and_spread([r["machine_seconds"] for r in rounds]),
    }
    tally["pairs"] = len({r.get("pair") for r in rounds})
    return tally


def _rounded(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
