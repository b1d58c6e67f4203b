"""The pair's side of the board: ``record`` posts measurements in the background, silently.

Runs the real client against the board service and the stand-in hub of
test_board_service.py; an unreachable or refusing board must cost the pupil's cell
nothing and show nothing.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from test_board_parts import ROUND, result
from test_board_service import Running

from masterclass.board import client
from masterclass.board.store import dump
from masterclass.toolkit.results import record


@pytest.fixture
def running(tmp_path):
    board = Running(tmp_path / "store")
    yield board
    board.stop()


@pytest.fixture
def pair_server(tmp_path, monkeypatch):
    """The environment of pair-01's kernel: its token, the board's URL, a results file."""
    log = tmp_path / "board.log"
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "pair-01")
    monkeypatch.setenv("MASTERCLASS_RESULTS_FILE", str(tmp_path / "z-boson" / "results.json"))
    monkeypatch.setenv("MASTERCLASS_BOARD_LOG", str(log))
    monkeypatch.delenv("MASTERCLASS_RESULTS", raising=False)
    yield log
    client.flush(5)


def unused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/results/"


def record_the_worksheet() -> None:
    """What the worksheet's cells record, in their order."""
    full = result()
    record(augmentation_factors=full["augmentation_factors"])
    record(
        epochs=3,
        training_images=1900,
        validation_accuracy=0.93,
        validation_confusion=full["validation_confusion"],
    )
    record(
        test_accuracy=full["test_accuracy"],
        test_events=full["test_events"],
        test_confusion=full["test_confusion"],
    )
    record(measured_ratios=full["measured_ratios"], measured_events=full["measured_events"])


def test_the_worksheets_cells_put_the_pairs_row_on_the_board(running, pair_server, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_RESULTS_URL", running.url)
    record_the_worksheet()
    assert client.flush(10)
    rows = dump(running.root)["pairs"]
    assert list(rows) == ["pair-01"]
    entry = rows["pair-01"]
    assert entry["notebook"] == "z-boson"
    assert entry["result"] == {k: v for k, v in result().items() if k != "notebook"}
    assert entry["row"]["corrected"] is not None
    assert "posted to" in pair_server.read_text()


def test_only_measurements_are_posted(running, pair_server, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_RESULTS_URL", running.url)
    record(epochs=3, augmentation_factors={"q": 1, "e": 1, "m": 1, "t": 1})
    assert client.flush(5)
    assert dump(running.root)["pairs"] == {}


def test_an_unreachable_board_costs_the_cell_nothing(pair_server, monkeypatch, capsys):
    monkeypatch.setenv("MASTERCLASS_RESULTS_URL", unused_url())
    monkeypatch.setattr(client, "RETRIES", (0.1,))
    started = time.perf_counter()
    record_the_worksheet()
    assert time.perf_counter() - started < 0.5
    assert client.flush(10)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    logged = pair_server.read_text()
    assert "could not post" in logged and "gave up posting results:z-boson after 2 tries" in logged


def test_a_refused_post_is_logged_and_not_repeated(running, pair_server, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_RESULTS_URL", running.url)
    record(test_accuracy=0.9, test_events=11, test_confusion=[[9, 1, 0, 0]] + [[0] * 4] * 3)
    assert client.flush(5)
    assert dump(running.root)["pairs"] == {}
    logged = pair_server.read_text()
    assert logged.count("refused the post") == 1 and "does not match" in logged


def test_nothing_is_posted_outside_a_hub_server(pair_server, monkeypatch):
    monkeypatch.delenv("MASTERCLASS_RESULTS_URL", raising=False)
    record(test_accuracy=0.9)
    assert client.flush(1)
    assert not pair_server.exists()


def test_a_game_round_is_posted_once_per_round(running, pair_server, monkeypatch):
    monkeypatch.setenv("MASTERCLASS_RESULTS_URL", running.url)
    args = {k: v for k, v in ROUND.items() if k != "round"}
    client.post_round("round-1", **args)
    client.post_round("round-1", **{**args, "human_right": 12})
    assert client.flush(5)
    game = dump(running.root)["game"]
    assert game["rounds"] == 1 and game["human_right"] in (10, 12)
    assert json.loads(json.dumps(game))["pairs"] == 1


def test_the_sorting_game_reports_a_finished_round(running, pair_server, monkeypatch):
    """worksheets' sortgame.report_round, as the game notebook's compare cell calls it."""
    import importlib.util
    from pathlib import Path
    from types import SimpleNamespace

    source = Path(__file__).parents[2] / "worksheets" / "src" / "notebooks" / "sortgame.py"
    spec = importlib.util.spec_from_file_location("sortgame_for_board", source)
    sortgame = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sortgame)
    monkeypatch.setenv("MASTERCLASS_RESULTS_URL", running.url)
    game = SimpleNamespace(
        finished=True, events=[0] * 20, correct=14, seconds=55.5, started_at=7.25
    )
    sortgame.report_round(game, machine_right=19, machine_seconds=0.3)
    sortgame.report_round(game, machine_right=19, machine_seconds=0.3)  # the cell re-run
    sortgame.report_round(SimpleNamespace(finished=False), machine_right=0, machine_seconds=0)
    assert client.flush(5)
    game = dump(running.root)["game"]
    assert (game["rounds"], game["human_right"], game["machine_right"]) == (1, 14, 19)
