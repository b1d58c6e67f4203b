"""The organiser's side of the board: `class board`, and reading and purging the store.

The hub container is a stand-in whose ``exec_run`` runs the real store reader on a
temporary store, so the CLI helpers read exactly what ``dump`` prints.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

from test_board_parts import result
from typer.testing import CliRunner

from masterclass.board.store import Store
from masterclass.cli import app
from masterclass.organiser.board import board_pairs, purge_board, read_board, write_board
from masterclass.organiser.settings import Settings

runner = CliRunner()


class Hub:
    """The running hub container: ``python -m masterclass.board.store`` on a local store."""

    name = "masterclass-hub"
    status = "running"

    def __init__(self, root) -> None:
        self.root = root

    def exec_run(self, command):
        assert command[:3] == ["python", "-m", "masterclass.board.store"], command
        run = subprocess.run(
            [sys.executable, *command[1:]],
            env={**os.environ, "MASTERCLASS_RESULTS_DIR": str(self.root)},
            capture_output=True,
            check=False,
        )
        return run.returncode, run.stdout + run.stderr


class Client:
    def __init__(self, hub) -> None:
        self.hub = hub
        self.containers = self

    def get(self, name):
        if name != self.hub.name:
            raise LookupError(name)
        return self.hub


def test_class_board_prints_the_projector_url():
    env = {"MASTERCLASS_PUBLIC_URL": "https://hub.school.example/"}
    run = runner.invoke(app, ["class", "board"], env=env)
    assert run.exit_code == 0, run.output
    assert run.output == "https://hub.school.example/services/results/projector\n"
    run = runner.invoke(app, ["class", "board", "--pair"], env=env)
    assert run.output == "https://hub.school.example/services/results/pair\n"


def test_the_export_reads_the_board_and_purge_empties_it(tmp_path):
    store = Store(tmp_path / "store")
    store.put_result("pair-01", result())
    store.put_result("pair-02", result(epochs=5))
    client, settings = Client(Hub(tmp_path / "store")), Settings()
    view = read_board(settings, client)
    assert sorted(view["pairs"]) == ["pair-01", "pair-02"]
    assert board_pairs(settings, client) == 2
    whole, rows = write_board(view, tmp_path / "class")
    assert json.loads(whole.read_text()) == view
    table = list(csv.DictReader(rows.open()))
    assert [(r["pair"], r["epochs"]) for r in table] == [("pair-01", "3"), ("pair-02", "5")]
    assert purge_board(settings, client) >= 3
    assert read_board(settings, client)["pairs"] == {}


def test_without_a_running_hub_there_is_nothing_to_read_or_purge(tmp_path):
    client = Client(Hub(tmp_path))
    settings = Settings(prefix="elsewhere")
    assert read_board(settings, client) is None
    assert board_pairs(settings, client) == 0
    assert purge_board(settings, client) == 0
