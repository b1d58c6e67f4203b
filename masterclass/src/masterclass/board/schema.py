"""What a pair may post to the board: every field, its type and its range, checked one by one.

A post is a JSON object. :func:`parse_body` turns the raw body into one (refusing
``NaN``, ``Infinity``, duplicate keys and oversized bodies), then :func:`check_result` or
:func:`check_round` checks it field by field and returns a clean copy, or raises
:class:`Invalid` whose message names the field and says what was wrong. Nothing that
fails a check is stored: the service answers 400 with that message.

The limits are generous on purpose (a pair that trains 300 epochs in several runs is
still a result), but every number has one.

Examples
--------
>>> check_result({"test_accuracy": 0.93, "test_events": 435, "epochs": 3})
{'test_accuracy': 0.93, 'test_events': 435, 'epochs': 3}
>>> check_result({"test_accuracy": 1.5})
Traceback (most recent call last):
...
masterclass.board.schema.Invalid: test_accuracy: 1.5 is out of range (0 to 1)
>>> parse_body(b'{"test_accuracy": NaN}')
Traceback (most recent call last):
...
masterclass.board.schema.Invalid: NaN is not a number the board accepts
"""

from __future__ import annotations

import json
import math
import re

from masterclass.names import CATEGORIES

#: The decay channels, in the worksheet's order (q, e, m, t).
CHANNELS = CATEGORIES
#: Largest body the service reads (a result is about 1 KB).
MAX_BODY = 16 * 1024
#: Largest count anywhere (events in a test set, cells of a confusion matrix).
MAX_EVENTS = 100_000
#: Most augmented training images (the toolkit streams them; 200 copies of 622 events).
MAX_IMAGES = 1_000_000
#: Most epochs in total (several runs of the toolkit's at most 100 each).
MAX_EPOCHS = 10_000
#: Largest augmentation factor (the toolkit allows 200).
MAX_FACTOR = 1_000
#: Most seconds for one game round (a pair that went to lunch mid-round).
MAX_SECONDS = 24 * 3600
#: A notebook's folder: the assignment's name (z-boson, human-vs-machine, ...).
NOTEBOOK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
#: A game round's id, made by the client.
ROUND_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class Invalid(ValueError):
    """A post the board refuses; the message says which field and why."""


def _reject_constant(name: str) -> None:
    raise Invalid(f"{name} is not a number the board accepts")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise Invalid(f"{key}: the field appears twice")
    return dict(pairs)


def parse_body(body: bytes) -> dict:
    """The JSON object in *body*, or :class:`Invalid` saying why not."""
    if len(body) > MAX_BODY:
        raise Invalid(f"the body has {len(body)} bytes, at most {MAX_BODY} are accepted")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid("the body is not UTF-8 text") from e
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise Invalid(f"the body is not JSON ({e.msg} at character {e.pos})") from e
    except RecursionError as e:
        raise Invalid("the body is nested too deeply") from e
    if not isinstance(data, dict):
        raise Invalid(f"the body must be a JSON object, not {type(data).__name__}")
    return data


def _integer(field: str, value: object, low: int, high: int) -> int:
    # JSON has one number type: 3.0 is accepted as 3, 3.5 and true are not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{field}: expected a whole number, got {_kind(value)}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise Invalid(f"{field}: expected a whole number, got {value!r}")
        value = int(value)
    if not low <= value <= high:
        raise Invalid(f"{field}: {value} is out of range ({low} to {high})")
    return value


def _fraction(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{field}: expected a number between 0 and 1, got {_kind(value)}")
    if not math.isfinite(value):
        raise Invalid(f"{field}: {value!r} is not a number the board accepts")
    if not 0 <= value <= 1:
        raise Invalid(f"{field}: {value!r} is out of range (0 to 1)")
    return float(value)


def _seconds(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{field}: expected a number of seconds, got {_kind(value)}")
    if not math.isfinite(value):
        raise Invalid(f"{field}: {value!r} is not a number the board accepts")
    if not 0 <= value <= MAX_SECONDS:
        raise Invalid(f"{field}: {value!r} is out of range (0 to {MAX_SECONDS} seconds)")
    return float(value)


def _per_channel(field: str, value: object, check) -> dict:
    if isinstance(value, list | tuple) and len(value) == len(CHANNELS):
        value = dict(zip(CHANNELS, value, strict=True))
    if not isinstance(value, dict):
        raise Invalid(f"{field}: expected one value per channel {{q, e, m, t}}, got {_kind(value)}")
    if sorted(value) != sorted(CHANNELS):
        raise Invalid(f"{field}: expected exactly the channels q, e, m, t, got {sorted(value)}")
    return {c: check(f"{field}.{c}", value[c]) for c in CHANNELS}


def _matrix(field: str, value: object) -> list[list[int]]:
    size = len(CHANNELS)
    if not (
        isinstance(value, list)
        and len(value) == size
        and all(isinstance(row, list) and len(row) == size for row in value)
    ):
        raise Invalid(
            f"{field}: expected a {size}×{size} list of whole numbers (rows: true q e m t)"
        )
    rows = [
        [_integer(f"{field}[{i}][{j}]", cell, 0, MAX_EVENTS) for j, cell in enumerate(row)]
        for i, row in enumerate(value)
    ]
    if sum(map(sum, rows)) == 0:
        raise Invalid(f"{field}: the matrix is empty (no events)")
    if sum(map(sum, rows)) > MAX_EVENTS:
        raise Invalid(f"{field}: more than {MAX_EVENTS} events in total")
    return rows


def _notebook(field: str, value: object) -> str:
    if not isinstance(value, str) or not NOTEBOOK.match(value):
        raise Invalid(
            f"{field}: expected a folder name (letters, digits, . _ -), got {_kind(value)}"
        )
    return value


def _optional_fraction(field: str, value: object) -> float | None:
    return None if value is None else _fraction(field, value)


#: Every field of a result: its check. Results come from masterclass-results.json.
RESULT_FIELDS = {
    "notebook": _notebook,
    "test_accuracy": _fraction,
    "test_events": lambda f, v: _integer(f, v, 1, MAX_EVENTS),
    "test_confusion": _matrix,
    "validation_confusion": _matrix,
    "validation_accuracy": _optional_fraction,
    "epochs": lambda f, v: _integer(f, v, 1, MAX_EPOCHS),
    "training_images": lambda f, v: _integer(f, v, 0, MAX_IMAGES),
    "augmentation_factors": lambda f, v: _per_channel(
        f, v, lambda g, w: _integer(g, w, 1, MAX_FACTOR)
    ),
    "measured_ratios": lambda f, v: _per_channel(f, v, _fraction),
    "measured_events": lambda f, v: _integer(f, v, 1, MAX_EVENTS),
}
#: A result must measure something: at least one of these.
MEASUREMENTS = ("test_accuracy", "measured_ratios", "test_confusion")


def check_result(data: dict) -> dict:
    """A clean copy of a posted result, or :class:`Invalid` naming the first bad field."""
    unknown = sorted(set(data) - set(RESULT_FIELDS))
    if unknown:
        raise Invalid(f"{unknown[0]}: unknown field (known: {', '.join(RESULT_FIELDS)})")
    clean = {key: RESULT_FIELDS[key](key, value) for key, value in data.items()}
    if not any(key in clean for key in MEASUREMENTS):
        raise Invalid(f"a result needs at least one of {', '.join(MEASUREMENTS)}")
    if "measured_ratios" in clean and abs(sum(clean["measured_ratios"].values()) - 1) > 1e-3:
        total = sum(clean["measured_ratios"].values())
        raise Invalid(f"measured_ratios: the four shares add up to {total:.4f}, not 1")
    matrix = clean.get("test_confusion")
    if matrix is not None:
        events = sum(map(sum, matrix))
        if "test_events" in clean and clean["test_events"] != events:
            raise Invalid(
                f"test_events: {clean['test_events']} does not match the "
                f"{events} events of test_confusion"
            )
        if "test_accuracy" in clean:
            right = sum(matrix[i][i] for i in range(len(CHANNELS))) / events
            if abs(right - clean["test_accuracy"]) > 1e-6:
                raise Invalid(
                    f"test_accuracy: {clean['test_accuracy']} does not match "
                    f"test_confusion ({right:.6f})"
                )
    return clean


#: Every field of a game round (human_vs_machine.ipynb): its check.
ROUND_FIELDS = {
    "round": lambda f, v: _text(f, v, ROUND_ID),
    "events": lambda f, v: _integer(f, v, 1, 1000),
    "human_right": lambda f, v: _integer(f, v, 0, 1000),
    "human_seconds": _seconds,
    "machine_right": lambda f, v: _integer(f, v, 0, 1000),
    "machine_seconds": _seconds,
}


def _text(field: str, value: object, pattern: re.Pattern) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise Invalid(
            f"{field}: expected a short id (letters, digits, . _ : -), got {_kind(value)}"
        )
    return value


def check_round(data: dict) -> dict:
    """A clean copy of a posted game round, or :class:`Invalid` naming the first bad field."""
    unknown = sorted(set(data) - set(ROUND_FIELDS))
    if unknown:
        raise Invalid(f"{unknown[0]}: unknown field (known: {', '.join(ROUND_FIELDS)})")
    missing = [key for key in ROUND_FIELDS if key not in data]
    if missing:
        raise Invalid(f"{missing[0]}: missing (a round needs {', '.join(ROUND_FIELDS)})")
    clean = {key: check(key, data[key]) for key, check in ROUND_FIELDS.items()}
    for side in ("human_right", "machine_right"):
        if clean[side] > clean["events"]:
            raise Invalid(f"{side}: {clean[side]} right answers of only {clean['events']} events")
    return clean


def check_control(data: dict) -> dict:
    """The tutor switch: ``{"frozen": bool}`` and/or ``{"names": bool}``."""
    unknown = sorted(set(data) - {"frozen", "names"})
    if unknown:
        raise Invalid(f"{unknown[0]}: unknown field (known: frozen, names)")
    if not data:
        raise Invalid("nothing to switch: send frozen and/or names")
    for key, value in data.items():
        if not isinstance(value, bool):
            raise Invalid(f"{key}: expected true or false, got {_kind(value)}")
    return dict(data)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return f"text {value[:20]!r}"
    if isinstance(value, int | float):
        return repr(value)
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, type(value).__name__)
