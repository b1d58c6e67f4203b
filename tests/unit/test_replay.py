"""Trainings recorded in the pair's server are replayed by autograde (masterclass.toolkit.replay).

A small real training (few copies, one epoch) on the real events, in this process: the
pair's run records it; the grader's run of the same code replays it (no training) and
predicts exactly what the pair's network predicted; a changed input trains for real.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import solution_path

from masterclass.names import TRAININGS_DIR

FACTORS = (1, 2, 2, 2)


def run_path(monkeypatch, folder, *, replay: bool, epochs: int = 1) -> tuple[dict, float]:
    monkeypatch.setenv("MASTERCLASS_TRAININGS_DIR", str(folder))
    monkeypatch.setenv("MASTERCLASS_REPLAY", "1" if replay else "0")
    code = solution_path.solution_path(epochs, seed=7, factors=FACTORS, load=False)
    from masterclass import load_events

    start = time.perf_counter()
    names = solution_path.run(code, ev=load_events())
    return names, time.perf_counter() - start


def probabilities(names: dict) -> np.ndarray:
    return np.array([[e.probabilities[c] for c in "qemt"] for e in names["pred"]])


def test_autograde_replays_the_pairs_training_and_predicts_the_same(monkeypatch, tmp_path, capsys):
    folder = tmp_path / TRAININGS_DIR
    pair, _ = run_path(monkeypatch, folder, replay=False)
    assert len(list(folder.glob("*.npz"))) == 1
    trained = capsys.readouterr().out

    graded, _ = run_path(monkeypatch, folder, replay=True)
    replayed = capsys.readouterr().out
    # The network the pair trained: the same predictions, bit for bit, the same history.
    assert np.array_equal(probabilities(graded), probabilities(pair))
    assert graded["m"].history == pair["m"].history
    # No training ran (no Keras progress), and the pair's own line is printed again.
    assert "/step" in trained and "/step" not in replayed
    assert trained.strip().splitlines()[-2] == replayed.strip().splitlines()[-2]
    assert len(list(folder.glob("*.npz"))) == 1, "replaying records nothing new"


def test_a_changed_notebook_trains_for_real(monkeypatch, tmp_path, capsys):
    folder = tmp_path / TRAININGS_DIR
    run_path(monkeypatch, folder, replay=False, epochs=1)
    capsys.readouterr()
    run_path(monkeypatch, folder, replay=True, epochs=2)
    assert "/step" in capsys.readouterr().out


@pytest.mark.parametrize("user", ["", "pair-01"])
def test_recording_happens_in_a_pairs_server_only(monkeypatch, tmp_path, user):
    from masterclass.toolkit import replay

    monkeypatch.delenv("MASTERCLASS_TRAININGS_DIR", raising=False)
    monkeypatch.delenv("MASTERCLASS_REPLAY", raising=False)
    monkeypatch.setenv("JUPYTERHUB_USER", user)
    monkeypatch.chdir(tmp_path)
    expected = tmp_path / TRAININGS_DIR if user else None
    assert replay.recording_dir() == expected
    monkeypatch.setenv("MASTERCLASS_REPLAY", "1")
    assert replay.recording_dir() is None, "the grader records nothing"


def test_only_the_newest_recordings_are_kept(monkeypatch, tmp_path):
    from masterclass.toolkit import replay

    monkeypatch.setenv("MASTERCLASS_TRAININGS_DIR", str(tmp_path))
    monkeypatch.delenv("MASTERCLASS_REPLAY", raising=False)
    for i in range(replay.KEEP + 3):
        replay.save(f"k{i:02d}", [np.zeros(3)], {"history": {}, "seconds": 0})
        time.sleep(0.01)
    kept = sorted(p.stem for p in tmp_path.glob("*.npz"))
    assert kept == [f"k{i:02d}" for i in range(3, replay.KEEP + 3)]
