"""Results recording: the worksheet helpers leave a small JSON file for the tutors' export."""

from __future__ import annotations

import json

import pytest

from masterclass import (
    Overview,
    augment_events,
    load_events,
    set_random_seeds,
    show_efficiency,
    split_events_random,
)
from masterclass.toolkit.plots import calculate_prediction_accuracy
from masterclass.toolkit.results import read_results, record, results_path


@pytest.fixture
def results_file(tmp_path, monkeypatch):
    path = tmp_path / "assignment" / "masterclass-results.json"
    monkeypatch.setenv("MASTERCLASS_RESULTS_FILE", str(path))
    monkeypatch.delenv("MASTERCLASS_RESULTS", raising=False)
    return path


def test_nothing_is_recorded_outside_a_hub_server(monkeypatch, tmp_path):
    monkeypatch.delenv("MASTERCLASS_RESULTS_FILE", raising=False)
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.chdir(tmp_path)
    assert results_path() is None
    record(test_accuracy=0.5)
    assert list(tmp_path.iterdir()) == []


def test_in_a_hub_server_results_go_next_to_the_notebook(monkeypatch, tmp_path):
    monkeypatch.delenv("MASTERCLASS_RESULTS_FILE", raising=False)
    monkeypatch.setenv("JUPYTERHUB_USER", "pair-01")
    monkeypatch.chdir(tmp_path)
    record(epochs=3)
    assert read_results(tmp_path / "masterclass-results.json")["epochs"] == 3
    monkeypatch.setenv("MASTERCLASS_RESULTS", "0")
    assert results_path() is None


def test_helpers_record_factors_accuracy_and_ratios(results_file):
    set_random_seeds(2)
    events = load_events()[:40]
    augment_events(events, [2, 5, 5, 5])
    predicted = [e.with_prediction("q", {"q": 1.0, "e": 0.0, "m": 0.0, "t": 0.0}) for e in events]
    accuracy = calculate_prediction_accuracy(events, predicted)
    overview = Overview()
    overview.add_entry("Roh", events)
    overview.add_entry("Vorhersage", predicted)
    results = json.loads(results_file.read_text())
    assert results["augmentation_factors"] == {"q": 2, "e": 5, "m": 5, "t": 5}
    assert results["test_accuracy"] == pytest.approx(accuracy)
    assert results["measured_ratios"] == {"q": 1.0, "e": 0.0, "m": 0.0, "t": 0.0}
    assert results["measured_events"] == 40


def test_a_broken_results_file_is_replaced_not_fatal(results_file):
    results_file.parent.mkdir(parents=True)
    results_file.write_text("{not json")
    record(epochs=1)
    assert read_results(results_file) == {
        "epochs": 1,
        "updated": read_results(results_file)["updated"],
    }


def test_an_unwritable_place_does_not_disturb_the_pair(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("MASTERCLASS_RESULTS_FILE", str(blocker / "sub" / "results.json"))
    record(epochs=1)  # must not raise


def test_the_measurement_records_counts_efficiencies_and_the_split(results_file):
    set_random_seeds(3)
    events = load_events()
    events_tv, events_test = split_events_random(events, fraction_first_block=0.5)
    split_events_random(events_tv, fraction_first_block=0.7)  # not the pair's choice
    predicted = [
        e.with_prediction(e.category, {c: float(c == e.category) for c in "qemt"})
        for e in events_test
    ]
    efficiency = show_efficiency(events_test, predicted)
    overview = Overview()
    overview.add_entry("Netz", predicted)
    overview.add_entry("korrigiert", predicted, efficiency=efficiency)
    results = read_results(results_file)
    assert results["fraction_first_block"] == 0.5
    counts = {c: sum(e.category == c for e in events_test) for c in "qemt"}
    assert results["measured_counts"] == counts
    assert results["efficiencies"] == {"q": 1.0, "e": 1.0, "m": 1.0, "t": 1.0}
    assert results["validation_confusion"][1][1] == counts["e"]
    assert results["corrected_counts"] == pytest.approx(counts)
