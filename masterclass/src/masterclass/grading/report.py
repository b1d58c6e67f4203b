"""The export's table: its columns, the summary for tutors, and how numbers are written.

:meth:`masterclass.grading.grader.Grader.export` fills the rows; this module holds the
format, so that a change of a column or of the summary touches one place.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

#: Status words in the report and the export.
SUBMITTED, NOT_SUBMITTED, NO_WORK = "submitted", "not submitted", "no work"

#: The export's columns, in order.
COLUMNS = (
    "pair",
    "assignment",
    "status",
    "submitted_at",
    "score",
    "max_score",
    "problem",
    "test_accuracy",
    "epochs",
    "augmentation_factors",
    "measured_q",
    "measured_e",
    "measured_m",
    "measured_t",
)


def summary(course_id: str, rows: list[dict]) -> str:
    """A readable Markdown table of the export, for the closing discussion."""
    lines = [
        f"# {course_id}: results of the pairs ({now()})",
        "",
        "| pair | assignment | status | score | test accuracy | epochs | factors "
        "| q | e | m | t | problem |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        score = f"{r['score']}/{r['max_score']}" if r["score"] != "" else "–"
        ratios = [percent(r[f"measured_{c}"]) for c in "qemt"]
        lines.append(
            f"| {r['pair']} | {r['assignment']} | {r['status']} | {score} "
            f"| {percent(r['test_accuracy'])} | {r['epochs'] or '–'} "
            f"| {r['augmentation_factors'] or '–'} | {' | '.join(ratios)} | {r['problem'] or ''} |"
        )
    submitted = sum(r["status"] == SUBMITTED for r in rows)
    lines += ["", f"{submitted} of {len(rows)} submitted."]
    return "\n".join(lines) + "\n"


def factors_text(factors) -> str:
    """The augmentation factors as 'q e m t' numbers (recorded as a dict or a list)."""
    if isinstance(factors, dict):
        factors = [factors.get(c, "?") for c in "qemt"]
    return " ".join(str(f) for f in factors or [])


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def number(value) -> str | float:
    return round(float(value), 4) if isinstance(value, int | float) else ""


def percent(value) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, int | float) else "–"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
