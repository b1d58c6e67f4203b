"""The gap-fill notebook's minimum path, trained for real: it must work for every pair.

The values come from the notebook itself (the solution regions of the gap cells and the
tutor notebook), so the hints the pupils see are the values proven here. Five seeds, like
five pairs with different seeds:

- every run reaches a test accuracy of at least 0.90 and predicts at least one event in
  every lepton channel (no pair ends with a network that only says "q");
- how far the measurement corrected with the validation set's efficiencies lies from the
  true fractions of the test events is printed for every seed (or that nothing can be
  worked back, when the network recognised none of one kind in the validation). A network
  on the minimum path makes few mistakes, so there is little to correct and the correction
  mostly adds the noise of efficiencies from 2 to 7 validation leptons per kind;
- task 5b's second part (factors and epochs from the notebook's text, the rest as on the
  minimum path) trains a network that takes quarks for leptons: it measures too many
  leptons for at least 4 of 5 seeds, and the corrected fractions move towards the true
  fractions of the test events for at least 4 of 5 seeds (issue 19).
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
from masterclass.messages import StudentError
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


def biased_path() -> dict:
    """Task 5b's second part: the minimum path with the factors and epochs its text gives."""
    text = NBSRC.read_text(encoding="utf-8")
    cell = text.split("@@ markdown id=task5b-biased", 1)[1].split("\n@@ ", 1)[0]
    pattern = r"`factor_q = (\d+)`, `factor_e = (\d+)`, `factor_m = (\d+)`, `factor_t = (\d+)`"
    found = {tuple(int(n) for n in match) for match in re.findall(pattern, cell)}
    assert len(found) == 1, f"both languages must give the same factors: {found}"
    epochs = set(re.findall(r"`count_epochs = (\d+)`", cell))
    assert len(epochs) == 1, f"both languages must give the same epochs: {epochs}"
    return {**minimum_path(), "factors": list(found.pop()), "count_epochs": int(epochs.pop())}


def test_the_hints_show_the_minimum_path():
    values = minimum_path()
    text = NBSRC.read_text(encoding="utf-8")
    assert f"`fraction_first_block = {values['fraction_first_block']}`" in text
    assert f"`count_epochs = {values['count_epochs']}`" in text
    q, e, m, t = values["factors"]
    assert e == m == t
    assert f"`factor_q = {q}`, `factor_e = {e}`, `factor_m = {m}`, `factor_t = {t}`" in text


def test_task_5b_biased_network_favours_leptons():
    minimum, biased = minimum_path(), biased_path()
    assert biased["factors"] != minimum["factors"]
    q, e, m, t = biased["factors"]
    assert e == m == t > q, "task 5b's second part trains a network that favours leptons"


def run_path(events, seed: int, values: dict) -> dict:
    """The notebook's path for one seed with *values*: what a pair measures."""
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
    return {seed: run_path(events, seed, minimum_path()) for seed in SEEDS}


@pytest.fixture(scope="module")
def biased_runs():
    events = load_events()
    return {seed: run_path(events, seed, biased_path()) for seed in SEEDS}


def shares(counts: dict) -> np.ndarray:
    values = np.array([counts[c] for c in CATEGORIES], dtype=float)
    return values / values.sum()


@pytest.mark.slow
def test_every_seed_learns_every_channel(runs):
    report = {seed: (round(r["accuracy"], 3), r["predicted"]) for seed, r in runs.items()}
    for run in runs.values():
        assert run["accuracy"] >= 0.90, report
        assert all(run["predicted"][c] >= 1 for c in "emt"), report


def distances(run: dict) -> tuple[float, float]:
    """How far the raw and the corrected shares lie from the true shares of the test events.

    The distance is the sum of the four shares' absolute differences; the correction uses
    the validation set's efficiencies only, never the test events' true categories.
    """
    true = shares(run["true"])
    corrected_counts = run["efficiency"].correct(run["predicted"])
    assert all(value >= 0 for value in corrected_counts.values())
    raw = np.abs(shares(run["predicted"]) - true).sum()
    corrected = np.abs(shares(corrected_counts) - true).sum()
    return float(raw), float(corrected)


def report(name: str, runs: dict) -> tuple[int, str]:
    """How many seeds the correction moved closer, and one line per seed."""
    closer, lines = 0, []
    for seed, run in runs.items():
        leptons = sum(run["predicted"][c] for c in "emt"), sum(run["true"][c] for c in "emt")
        line = (
            f"{name}, seed {seed}: accuracy {run['accuracy']:.3f}, efficiencies "
            + " ".join(
                f"{c} {run['efficiency'].counts[i, i]}/{run['efficiency'].counts[i].sum()}"
                for i, c in enumerate(CATEGORIES)
            )
            + f", leptons predicted/true {leptons[0]}/{leptons[1]}, "
        )
        try:
            raw, corrected = distances(run)
        except StudentError as error:
            lines.append(f"{line}no correction possible ({error.key})")
            continue
        closer += corrected < raw
        lines.append(
            f"{line}|raw - true| = {raw:.3f}, "
            f"|corrected - true| = {corrected:.3f}{'  closer' if corrected < raw else ''}"
        )
    text = "\n".join(lines)
    print(f"\n{text}")
    return closer, text


@pytest.mark.slow
def test_efficiency_correction_on_the_minimum_path(runs):
    """The minimum path's raw and corrected distances, printed for the tutor notes.

    No direction is asserted: with few mistakes to undo, the correction mostly adds the
    noise of the validation set's efficiencies, which is what the tutor notes and the answer
    key say (measured when issue 19 was closed: closer for 1 of 5 seeds; for seed 2
    the network recognised none of the 7 validation electrons, so nothing can be worked
    back). Where a correction is possible, its counts must not be negative.
    """
    report("minimum path", runs)


@pytest.mark.slow
def test_efficiency_correction_on_the_real_events(biased_runs):
    """Task 5b's second part: the correction undoes a network's bias (issue 19)."""
    closer, text = report("task 5b, biased network", biased_runs)
    too_many = sum(
        sum(run["predicted"][c] for c in "emt") > sum(run["true"][c] for c in "emt")
        for run in biased_runs.values()
    )
    assert too_many >= 4, f"the network should measure too many leptons:\n{text}"
    assert closer >= 4, text
