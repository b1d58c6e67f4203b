"""Collect replays the pairs' recorded trainings, and grades exactly as a full re-execution.

On the real worksheet in the student image (tests/grading_replay.py): a pair works
``z-boson`` with every gap filled, its server recording the trainings; the folder is
submitted for two pairs; collect grades both at once, replaying; then the same pairs
are graded on a course of their own with every notebook trained anew. Every graded
cell's score must be the same, and the replayed notebook must not have trained.
"""

from __future__ import annotations

import os

import pytest
from grading_replay import run_in_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize("lang", ["de"])
def test_replayed_collect_grades_exactly_as_training_again(student_image, lang):
    name = f"mctest-collect-replay-{os.getpid()}"
    figures = run_in_image(student_image, 2, 2, 2, lang, timeout=2400, name=name)
    print(
        "FIGURE collect replay: "
        + ", ".join(
            f"{k}={figures[k]}"
            for k in ("pair_run_s", "replay_collect_s", "full_collect_s", "recordings")
        )
    )
    assert figures["recordings"] >= 1, "the pair's server recorded no training"
    assert not figures["replay_problems"] and not figures["full_problems"], figures
    assert set(figures["replay_grades"]) == {"pair-01", "pair-02"}
    assert figures["identical"], (figures["replay_grades"], figures["full_grades"])
    assert not figures["replay_trained"], "autograde trained instead of replaying"
    # The filled worksheet earns every point, both ways.
    for cells in figures["full_grades"].values():
        assert cells and all(score > 0 for score in cells.values()), cells
