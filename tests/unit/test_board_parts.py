"""The results board's parts without a hub: the checks, the physics, the store, the views.

The service itself, against a stand-in for the hub's token check, is in
test_board_service.py; the real thing (hub, proxy, pairs' kernels, Chromium) in
tests/integration/test_board.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from masterclass.board import physics, schema
from masterclass.board.store import Store, dump, export_rows, main
from masterclass.board.views import pair_view, projector_view, shown
from masterclass.names import CATEGORIES
from masterclass.standard_model import visible_branching_ratios

#: A pair's test confusion matrix (rows: true q e m t; columns: predicted).
TEST = [[370, 2, 1, 4], [1, 15, 0, 1], [0, 0, 20, 1], [3, 1, 1, 15]]
#: Its validation confusion matrix (augmented: many leptons).
VALIDATION = [[95, 1, 1, 3], [2, 180, 0, 8], [0, 0, 196, 4], [6, 5, 5, 184]]


#: A game round (human_vs_machine.ipynb).
ROUND = {
    "round": "r1",
    "events": 20,
    "human_right": 10,
    "human_seconds": 30.0,
    "machine_right": 18,
    "machine_seconds": 0.2,
}


def result(**changes) -> dict:
    events = sum(map(sum, TEST))
    predicted = [sum(TEST[i][j] for i in range(4)) for j in range(4)]
    good = {
        "notebook": "z-boson",
        "test_accuracy": sum(TEST[i][i] for i in range(4)) / events,
        "test_events": events,
        "test_confusion": TEST,
        "validation_confusion": VALIDATION,
        "validation_accuracy": 0.93,
        "epochs": 3,
        "training_images": 1900,
        "augmentation_factors": {"q": 3, "e": 60, "m": 60, "t": 60},
        "measured_ratios": {c: n / events for c, n in zip("qemt", predicted, strict=True)},
        "measured_events": events,
    }
    return {**good, **changes}


# -- the checks ---------------------------------------------------------------


def test_a_whole_result_passes_unchanged():
    assert schema.check_result(result()) == result()


def test_the_channels_are_the_standard_models():
    assert schema.CHANNELS == CATEGORIES == tuple(visible_branching_ratios())


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"test_accuracy": 1.2}, "test_accuracy: 1.2 is out of range (0 to 1)"),
        ({"test_accuracy": -0.1}, "out of range"),
        ({"test_accuracy": "0.9"}, "test_accuracy: expected a number between 0 and 1, got text"),
        ({"test_accuracy": True}, "expected a number between 0 and 1, got true/false"),
        ({"epochs": 2.5}, "epochs: expected a whole number, got 2.5"),
        ({"epochs": 0}, "epochs: 0 is out of range (1 to 10000)"),
        ({"epochs": 10**9}, "out of range"),
        ({"epochs": None}, "epochs: expected a whole number, got null"),
        ({"augmentation_factors": {"q": 3, "e": 60}}, "expected exactly the channels q, e, m, t"),
        ({"augmentation_factors": [3, 60, 60, 0]}, "augmentation_factors.t: 0 is out of range"),
        ({"measured_ratios": {"q": 0.5, "e": 0.5, "m": 0.5, "t": 0.5}}, "add up to 2.0000, not 1"),
        ({"test_confusion": [[1, 2], [3, 4]]}, "expected a 4×4 list of whole numbers"),
        ({"test_confusion": [[0] * 4] * 4}, "the matrix is empty"),
        (
            {"test_confusion": [[-1, 0, 0, 0], *TEST[1:]]},
            "test_confusion[0][0]: -1 is out of range",
        ),
        ({"test_events": 10}, "does not match the 435 events of test_confusion"),
        ({"test_accuracy": 0.5}, "does not match test_confusion"),
        ({"notebook": "../etc"}, "notebook: expected a folder name"),
        ({"pair": "pair-02"}, "pair: unknown field"),
        ({"user": "pair-02"}, "user: unknown field"),
    ],
)
def test_each_bad_value_is_refused_with_its_reason(changes, says):
    with pytest.raises(schema.Invalid) as refused:
        schema.check_result(result(**changes))
    assert says in str(refused.value)


def test_a_result_must_measure_something():
    with pytest.raises(schema.Invalid, match="at least one of"):
        schema.check_result({"epochs": 3, "augmentation_factors": [3, 60, 60, 60]})


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"test_accuracy": NaN}', "NaN is not a number"),
        (b'{"test_accuracy": Infinity}', "Infinity is not a number"),
        (b'{"test_accuracy": -Infinity}', "-Infinity is not a number"),
        (b"[0.9]", "must be a JSON object, not list"),
        (b"{", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"epochs": 3, "epochs": 4}', "epochs: the field appears twice"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b" " * (schema.MAX_BODY + 1), "at most 16384 are accepted"),
    ],
)
def test_bodies_that_are_not_a_plain_json_object_are_refused(body, says):
    with pytest.raises(schema.Invalid, match=None) as refused:
        schema.parse_body(body)
    assert says in str(refused.value)


def test_a_game_round_is_checked():
    good = {
        "round": "r1",
        "events": 20,
        "human_right": 14,
        "human_seconds": 61.5,
        "machine_right": 19,
        "machine_seconds": 0.4,
    }
    assert schema.check_round(good) == good
    for changes, says in [
        ({"human_right": 21}, "21 right answers of only 20 events"),
        ({"human_seconds": -1}, "out of range"),
        ({"human_seconds": float("nan")}, "not a number"),
        ({"round": "a b"}, "expected a short id"),
    ]:
        with pytest.raises(schema.Invalid, match=None) as refused:
            schema.check_round({**good, **changes})
        assert says in str(refused.value)
    with pytest.raises(schema.Invalid, match="machine_seconds: missing"):
        schema.check_round({k: v for k, v in good.items() if k != "machine_seconds"})


def test_the_switch_takes_only_true_or_false():
    assert schema.check_control({"frozen": True}) == {"frozen": True}
    with pytest.raises(schema.Invalid, match="expected true or false"):
        schema.check_control({"names": "no"})
    with pytest.raises(schema.Invalid, match="nothing to switch"):
        schema.check_control({})


# -- the physics --------------------------------------------------------------


def test_binomial_errors_and_the_standard_model():
    assert physics.binomial_error(0.5, 100) == pytest.approx(0.05)
    sm = visible_branching_ratios()
    assert sum(sm.values()) == pytest.approx(1)
    assert sm["q"] == pytest.approx(0.8738, abs=1e-4)
    assert sm["e"] == pytest.approx(0.0420, abs=1e-4)


def test_median_and_spread_never_combine_errors():
    stat = physics.median_and_spread([0.80, 0.90, 0.95, 0.85, None])
    assert stat["median"] == pytest.approx(0.875)
    assert stat["n"] == 4
    assert stat["low"] < stat["median"] < stat["high"]
    assert physics.median_and_spread([None]) is None
    one = physics.median_and_spread([0.9])
    assert one["low"] == one["median"] == one["high"] == 0.9


def test_the_correction_undoes_the_mix_ups_of_the_validation_matrix():
    # Events whose true mix is known, sorted with exactly the validation shares.
    true = [400.0, 20.0, 20.0, 20.0]
    matrix = physics.migration(VALIDATION)
    observed = [sum(matrix[j][i] * true[i] for i in range(4)) for j in range(4)]
    counts, errors = physics.corrected_counts(VALIDATION, observed)
    assert counts == pytest.approx(true)
    assert all(e > 0 for e in errors)
    # A channel the validation never saw makes the correction impossible, not wrong.
    assert (
        physics.corrected_counts([[5, 0, 0, 0], [0] * 4, [0, 0, 5, 0], [0, 0, 0, 5]], observed)
        is None
    )


def test_a_row_has_shares_errors_labelled_and_corrected():
    row = physics.derive_row(schema.check_result(result()))
    assert row["accuracy"] == pytest.approx(420 / 435, abs=1e-6)
    assert row["events"] == 435
    assert sum(row["fractions"].values()) == pytest.approx(1)
    assert row["errors"]["e"] == pytest.approx(
        math.sqrt(row["fractions"]["e"] * (1 - row["fractions"]["e"]) / 435), abs=1e-6
    )
    assert row["labelled"]["q"] == pytest.approx(377 / 435, abs=1e-6)
    assert sum(row["corrected"].values()) == pytest.approx(1, abs=1e-6)
    assert row["efficiency"]["m"] == pytest.approx(196 / 200)
    assert row["correction"] == "done"
    # A network that never says "e" cannot be undone: no corrected shares, and why.
    never_e = [[r[0] + r[1], 0, r[2], r[3]] for r in VALIDATION]
    impossible = physics.derive_row(schema.check_result(result(validation_confusion=never_e)))
    assert impossible["corrected"] is None and impossible["correction"] == "impossible"
    # Without a validation matrix the correction is left out, never guessed.
    bare = physics.derive_row({"test_accuracy": 0.9})
    assert bare["corrected"] is None and bare["fractions"] is None
    assert bare["correction"] == "no_validation"


def test_the_game_tally_adds_up_rounds():
    rounds = [
        {"pair": "pair-01", "events": 20, "human_right": 15, "machine_right": 19,
         "human_seconds": 50.0, "machine_seconds": 0.5},
        {"pair": "pair-02", "events": 20, "human_right": 20, "machine_right": 18,
         "human_seconds": 70.0, "machine_seconds": 0.3},
    ]  # fmt: skip
    tally = physics.game_tally(rounds)
    assert tally["rounds"] == 2 and tally["pairs"] == 2 and tally["events"] == 40
    assert (tally["human_right"], tally["machine_right"]) == (35, 37)
    assert (tally["human_wins"], tally["machine_wins"], tally["ties"]) == (1, 1, 0)
    assert tally["human_seconds"]["median"] == 60.0


# -- the store ----------------------------------------------------------------


def test_a_post_is_one_file_and_a_bad_one_changes_nothing(tmp_path):
    store = Store(tmp_path)
    store.put_result("pair-01", result())
    before = {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()}
    with pytest.raises(schema.Invalid):
        store.put_result("pair-01", result(test_accuracy=float("nan")))
    assert {p.name: p.read_bytes() for p in (tmp_path / "results").iterdir()} == before
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["pair-01+z-boson.json"]
    assert oct((tmp_path / "results" / "pair-01+z-boson.json").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError):
        store.put_result("tutor-01", result())


def test_the_newest_result_of_a_pair_is_its_row(tmp_path):
    store = Store(tmp_path)
    store.put_result("pair-01", result(epochs=1))
    store.put_result("pair-01", result(epochs=5, notebook="minimal"))
    store.put_result("pair-02", result())
    view = dump(tmp_path)
    assert sorted(view["pairs"]) == ["pair-01", "pair-02"]
    assert view["pairs"]["pair-01"]["row"]["epochs"] == 5
    assert view["summary"]["pairs"] == 2
    assert view["summary"]["confusion"][0][0] == 2 * 370


def test_rounds_replace_the_same_round_and_keep_the_newest(tmp_path):
    store = Store(tmp_path)
    base = {"events": 20, "human_right": 10, "human_seconds": 30.0, "machine_right": 18,
            "machine_seconds": 0.2}  # fmt: skip
    store.put_round("pair-01", {**base, "round": "a"})
    store.put_round("pair-01", {**base, "round": "a", "human_right": 12})
    store.put_round("pair-01", {**base, "round": "b"})
    rounds = store.rounds()
    assert [(r["round"], r["human_right"]) for r in rounds] == [("a", 12), ("b", 10)]
    assert {r["pair"] for r in rounds} == {"pair-01"}


def test_labels_are_fixed_once_drawn_and_never_repeat(tmp_path):
    store = Store(tmp_path)
    labels = {f"pair-{n:02d}": store.label(f"pair-{n:02d}") for n in range(1, 31)}
    assert len(set(labels.values())) == 30
    assert Store(tmp_path).label("pair-07") == labels["pair-07"]


def test_freeze_keeps_the_snapshot_and_reveal_shows_what_came_since(tmp_path):
    store = Store(tmp_path)
    store.put_result("pair-01", result(epochs=1))
    store.set_switch(frozen=True)
    store.put_result("pair-01", result(epochs=2))
    store.put_result("pair-02", result())
    board = store.board()
    frozen = projector_view(shown(store.results(), store.rounds(), board), board)
    assert [r["name"] for r in frozen["rows"]] == ["pair-01"]
    assert frozen["rows"][0]["epochs"] == 1 and frozen["held_back"] == 2
    store.set_switch(frozen=False)
    board = store.board()
    live = projector_view(shown(store.results(), store.rounds(), board), board)
    assert [(r["name"], r["epochs"]) for r in live["rows"]] == [("pair-01", 2), ("pair-02", 3)]


def test_a_pair_sees_its_own_name_and_nobody_elses(tmp_path):
    store = Store(tmp_path)
    for n in (1, 2, 3):
        store.put_result(f"pair-0{n}", result())
    board = store.board()
    view = pair_view(shown(store.results(), store.rounds(), board), board, "pair-02")
    text = json.dumps(view)
    assert "pair-02" in text and "pair-01" not in text and "pair-03" not in text
    assert view["rows"][0]["own"] and view["rows"][0]["name"] == "pair-02"
    assert [r["own"] for r in view["rows"]] == [True, False, False]
    assert all(r["name"] is None for r in view["rows"][1:])


def test_dump_purge_and_csv_from_the_command_line(tmp_path, capsys):
    store = Store(tmp_path)
    store.put_result("pair-01", result())
    store.put_round("pair-01", {**ROUND, "round": "a"})
    assert main(["dump", "--root", str(tmp_path)]) == 0
    dumped = json.loads(capsys.readouterr().out)
    assert dumped == json.loads(json.dumps(dump(tmp_path)))
    assert main(["dump", "--csv", "--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("pair,notebook,received,test_accuracy")
    assert lines[1].startswith("pair-01,z-boson,")
    assert export_rows(dumped)[0]["factor_e"] == 60
    assert main(["purge", "--root", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] >= 3
    assert dump(tmp_path)["pairs"] == {} and Store(tmp_path).rounds() == []


def test_the_store_reader_runs_as_a_module_without_numpy(tmp_path):
    """The hub image has no NumPy: the board may not import the toolkit."""
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import masterclass.board.service, masterclass.board.store\n"
        "from masterclass.board.store import main\n"
        f"main(['dump', '--root', {str(tmp_path)!r}])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["pairs"] == {}


def test_the_vendored_files_are_the_pinned_ones():
    """Charts library and font are bundled, pinned by version and sha256 (docs/board.md)."""
    import hashlib
    from pathlib import Path

    import masterclass.board

    static = Path(masterclass.board.__file__).parent / "static"
    manifest = json.loads((static / "vendor.json").read_text())
    assert {"uplot", "atkinson-hyperlegible"} <= set(manifest)
    for name, entry in manifest.items():
        assert entry["version"] and entry["licence"] in ("MIT", "OFL-1.1"), name
        for path, pinned in entry["files"].items():
            digest = hashlib.sha256((static / path).read_bytes()).hexdigest()
            assert digest == pinned["sha256"], f"{path} differs from {name} {entry['version']}"
    # Nothing is loaded from anywhere else: no URL outside the service in the page's files.
    for path in ("board.js", "board.css", "../templates/board.html"):
        text = (static / path).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


def test_the_board_corrects_as_the_pupils_notebook_does():
    """Same validation matrix, same counts: the board's shares are the toolkit's (task 5b)."""
    import numpy as np

    from masterclass.toolkit.efficiency import Efficiency

    measured = {"q": 372, "e": 19, "m": 22, "t": 22}
    for validation in (VALIDATION, [[60, 2, 0, 3], [1, 4, 0, 1], [0, 0, 5, 0], [2, 0, 1, 3]]):
        notebook = Efficiency(np.array(validation)).correct(measured)
        total = sum(notebook.values())
        counts, _ = physics.corrected_counts(validation, [measured[c] for c in "qemt"])
        assert [n / sum(counts) for n in counts] == pytest.approx(
            [notebook[c] / total for c in "qemt"], abs=1e-9
        )
    # Nearly singular: both refuse.
    shaky = [[5000, 5000, 0, 0], [4999, 5001, 0, 0], [0, 0, 5, 0], [0, 0, 0, 5]]
    assert physics.corrected_counts(shaky, [100.0, 100.0, 5.0, 5.0]) is None
    assert np.linalg.cond(Efficiency(np.array(shaky)).shares) > 1e4
