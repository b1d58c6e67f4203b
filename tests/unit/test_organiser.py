"""The organiser package's plumbing: settings from .env, one error mapping, ctx.obj everywhere.

The commands themselves are tested in test_classday.py (on a local state and fakes) and
in tests/integration/test_classday_stack.py (on the real stack).
"""

from __future__ import annotations

import json

import pytest
import typer
from test_board_organiser import Client, Hub
from test_board_parts import result as board_result
from typer.testing import CliRunner

from masterclass import cli, names
from masterclass.board.store import Store
from masterclass.grading import layout
from masterclass.grading.course import CourseError
from masterclass.grading.grader import GradingError
from masterclass.organiser import docker as engine
from masterclass.organiser.app import errors
from masterclass.organiser.commands import grading
from masterclass.organiser.errors import ExitCode, OrganiserError, StackError
from masterclass.organiser.settings import Settings, read_dotenv
from masterclass.organiser.state import EXPORT_MARKER
from masterclass.roster import RosterError

runner = CliRunner()


def test_dotenv_inline_comments_and_quotes_mean_what_compose_reads(tmp_path):
    env = tmp_path / ".env"
    env.write_text(
        "MASTERCLASS_PORT=8123  # the port the hub publishes\n"
        "MASTERCLASS_PREFIX='school' # quoted, then a comment\n"
        'MASTERCLASS_PUBLIC_URL="https://hub.example/#not-a-comment"\n'
        "export MASTERCLASS_LANG=en\n"
        "MASTERCLASS_CPU_LIMIT=\n"
        "# MASTERCLASS_MEM_LIMIT=1G\n"
    )
    values = read_dotenv(env)
    assert values["MASTERCLASS_PORT"] == "8123"
    assert values["MASTERCLASS_PREFIX"] == "school"
    assert values["MASTERCLASS_PUBLIC_URL"] == "https://hub.example/#not-a-comment"
    assert "MASTERCLASS_MEM_LIMIT" not in values
    settings = Settings.from_env({}, env)
    assert (settings.port, settings.prefix, settings.lang) == (8123, "school", "en")
    assert settings.cpu_limit == Settings.cpu_limit  # empty means the default


def test_a_wrong_number_in_dotenv_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MASTERCLASS_PORT", raising=False)
    (tmp_path / ".env").write_text("MASTERCLASS_PORT=eighty\n")
    result = runner.invoke(cli.app, ["class", "--state", str(tmp_path / "s"), "check"])
    assert result.exit_code == ExitCode.USAGE
    assert "MASTERCLASS_PORT='eighty' is not a number" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StackError("no engine", "docker"), ExitCode.DOCKER),
        (StackError("no hub", "hub"), ExitCode.HUB),
        (StackError("state unreadable", "state"), ExitCode.HUB),
        (OrganiserError("refused", ExitCode.REFUSED), ExitCode.REFUSED),
        (RosterError("no class"), ExitCode.CLASS),
        (CourseError("bad course"), ExitCode.USAGE),
        (GradingError("bad assignment"), ExitCode.USAGE),
        (layout.LayoutError("bad name"), ExitCode.USAGE),
    ],
)
def test_one_mapping_from_errors_to_exit_codes(error, code):
    with pytest.raises(typer.Exit) as exit_, errors():
        raise error
    assert exit_.value.exit_code == code


def test_every_class_command_takes_state_and_class_dir_from_the_group(tmp_path, monkeypatch):
    # export used to read Settings.from_env() itself: its files went to the default class
    # directory and its marker into the hub container, whatever --class-dir and --state said.
    seen = {}

    def fake_run_grader(settings, course, root, action, names_, *args, **kw):
        seen["settings"] = settings
        return {"csv_text": "pair,score\n", "summary_text": "# Summary\n"}

    monkeypatch.setattr(grading, "run_grader", fake_run_grader)
    store = Store(tmp_path / "store")
    store.put_result("pair-01", board_result())
    monkeypatch.setattr(engine, "docker_client", lambda: Client(Hub(tmp_path / "store")))
    monkeypatch.delenv("MASTERCLASS_CLASS_DIR", raising=False)
    monkeypatch.delenv("MASTERCLASS_CLASS_STATE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "default-home"))
    state, class_dir = tmp_path / "state", tmp_path / "class"
    state.mkdir()
    course = tmp_path / "hub" / "course" / "course.toml"
    course.parent.mkdir(parents=True)
    course.write_text('course_id = "day"\nassignments = ["z-boson"]\n')
    args = ["class", "--state", str(state), "--class-dir", str(class_dir)]
    result = runner.invoke(cli.app, [*args, "export", "--course", str(course)])
    assert result.exit_code == 0, result.output
    assert seen["settings"].class_dir == class_dir
    assert (class_dir / "grades.csv").read_text() == "pair,score\n"
    assert (class_dir / "summary.md").exists()
    assert json.loads((state / EXPORT_MARKER).read_text())["time"]
    assert not (tmp_path / "default-home").exists()
    # The board's content goes next to the grades, read from the hub's own store.
    board = json.loads((class_dir / "results-board.json").read_text())
    assert sorted(board["pairs"]) == ["pair-01"]
    assert (class_dir / "results-board.csv").read_text().startswith("pair,")
    assert "1 pairs on the board" in result.output


def test_version():
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("masterclass ")


def test_names_are_defined_once_and_agree_with_the_hub_config():
    assert names.home_volume("p", "pair-01") == "p-home-pair-01"
    assert names.HOME_VOLUME.format(prefix="p").format(username="pair-01") == "p-home-pair-01"
    assert names.container_name("p", "Alice") == "p-x--41lice"
    assert names.roster_containers("p").match("p-pair-01")
    assert not names.roster_containers("p").match("p-hub")
    assert names.roster_homes("p").match("p-home-tutor-123")
    assert not names.roster_homes("p").match("q-home-pair-01")
    with pytest.raises(ValueError, match="unknown role"):
        names.username("teacher", 1)


@pytest.mark.parametrize("bad", ["", ".hidden", "a+b", "a/b", "x" * 65, None])
def test_layout_refuses_names_that_break_the_inbound_format(bad):
    with pytest.raises(layout.LayoutError):
        layout.check_name(bad)


def test_inbound_names_round_trip():
    name = layout.inbound_name("pair-01", "z-boson", "2026-03-12 10:15:00.000000 UTC", "ab")
    assert layout.parse_inbound(name) == ("pair-01", "z-boson", "2026-03-12 10:15:00.000000 UTC")
    assert layout.parse_inbound("pair-01+z-boson") is None
    assert layout.parse_inbound(".incoming-xyz") is None
