"""The gap-fill notebook's minimum path, trained for real: it must work for every pair.

The values come from the notebook itself (the solution regions of the gap cells and the
tutor notebook), so the hints the pupils see are the values proven here. Five seeds, like
five pairs with different seeds:

- every run reaches a test accuracy of at least 0.90 and predicts at least one event in
  every lepton channel (no pair ends with a network that only says "q");
- the measurement corrected with the validation set's efficiencies is checked against the
  true fractions of the test events; :func:`test_efficiency_correction_on_the_real_events`
  documents how often it moves towards them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from masterclass import (
    MLModel,
    augment_events,
    calculate_prediction_accuracy,
    load_events,
    set_random_seeds,
    split_events_random,
)
from masterclass.data import CATEGORIES
from masterclass.toolkit.efficiency import Efficiency
from masterclass.toolkit.events import count_by_category
from masterclass.toolkit.plots import confusion_matrix

NBSRC = Path(__file__).resolve().parents[2] / "worksheets" / "src" / "notebooks" / "z_boson.nbsrc"
SEEDS = (1, 2, 3, 4, 5)


def solution(cell_id: str) -> str:
    """The code of one cell of the notebook source, solution regions filled in."""
    text = NBSRC.read_text(encoding="utf-8")
    block = text.split(f"@@ code id={cell_id}", 1)[1].split("\n@@ ", 1)[0]
    return "\n".join(line for line in block.split("\n")[1:] if "SOLUTION" not in line)


def minimum_path() -> dict:
    """The values of the minimum path, as the notebook's gaps and cells hold them."""
    namespace: dict = {}
    for cell_id in ("gap-fraction", "gap-factors", "gap-epochs"):
        exec(solution(cell_id), namespace)
    validation = re.search(r"fraction_first_block=([0-9.]+)", solution("validation"))
    return {
        "fraction_first_block": namespace["fraction_first_block"],
        "training_share": float(validation.group(1)),
        "factors": [namespace[f"factor_{c}"] for c in CATEGORIES],
        "count_epochs": namespace["count_epochs"],
    }


def test_the_hints_show_the_minimum_path():
    values = minimum_path()
    text = NBSRC.read_text(encoding="utf-8")
    assert f"`fraction_first_block = {values['fraction_first_block']}`" in text
    assert f"`count_epochs = {values['count_epochs']}`" in text
    q, e, m, t = values["factors"]
    assert e == m == t
    assert f"`factor_q = {q}`, `factor_e = {e}`, `factor_m = {m}`, `factor_t = {t}`" in text


def run_minimum_path(events, seed: int) -> dict:
    """The notebook's path for one seed: what a pair on the minimum path measures."""
    values = minimum_path()
    set_random_seeds(seed)
    events_tv, events_test = split_events_random(events, values["fraction_first_block"])
    events_training, events_validation = split_events_random(events_tv, values["training_share"])
    events_augmented = augment_events(events_training, values["factors"])
    model = MLModel()
    model.load_structure_default()
    model.load_training_eventlist(events_augmented)
    model.load_validation_eventlist(events_validation)
    model.train(count_epochs=values["count_epochs"], show_time=False)
    events_predicted = model.predict(events_test)
    events_validation_predicted = model.predict(events_validation)
    return {
        "accuracy": calculate_prediction_accuracy(events_test, events_predicted),
        "predicted": count_by_category(events_predicted),
        "true": count_by_category(events_test),
        "test": confusion_matrix(events_test, events_predicted),
        "efficiency": Efficiency(confusion_matrix(events_validation, events_validation_predicted)),
        "history": model.history,
    }


@pytest.fixture(scope="module")
def runs():
    events = load_events()
    return {seed: run_minimum_path(events, seed) for seed in SEEDS}


def shares(counts: dict) -> np.ndarray:
    values = np.array([counts[c] for c in CATEGORIES], dtype=float)
    return values / values.sum()


@pytest.mark.slow
def test_every_seed_learns_every_channel(runs):
    report = {seed: (round(r["accuracy"], 3), r["predicted"]) for seed, r in runs.items()}
    for run in runs.values():
        assert run["accuracy"] >= 0.90, report
        assert all(run["predicted"][c] >= 1 for c in "emt"), report


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason=(
        "issue 19 asks that the corrected shares move towards the true test shares for 4 of "
        "5 seeds; on the minimum path the network makes few mistakes, and the efficiencies "
        "from 2 to 7 validation leptons per kind are noisier than the bias they remove "
        "(measured: 1 of 5 seeds). Kept to report the numbers; see the lead's decision."
    ),
)
def test_efficiency_correction_on_the_real_events(runs):
    """How far the raw and the corrected shares lie from the true shares of the test events."""
    closer = 0
    lines = []
    for seed, run in runs.items():
        true = shares(run["true"])
        raw = np.abs(shares(run["predicted"]) - true).sum()
        corrected_counts = run["efficiency"].correct(run["predicted"])
        corrected = np.abs(shares(corrected_counts) - true).sum()
        closer += corrected < raw
        lines.append(f"seed {seed}: |raw - true| = {raw:.3f}, |corrected - true| = {corrected:.3f}")
        assert all(value >= 0 for value in corrected_counts.values())
    print("\n".join(lines))
    assert closer >= 4, "\n".join(lines)
