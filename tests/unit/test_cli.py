"""Tests of the ``masterclass`` command: help texts, exit codes, and the ``data`` commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from tiny_opal import write_pair
from typer.testing import CliRunner

from masterclass import cli, data
from masterclass.data import store as data_store

runner = CliRunner()


def run(*args: str, **env: str):
    return runner.invoke(cli.app, list(args), env=env or None)


def _console_script() -> list[str]:
    """The installed ``masterclass`` script, or the entry point called by hand."""
    script = Path(sys.executable).parent / "masterclass"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from masterclass.cli import main; main()"]


# --------------------------------------------------------------------------- structure, help


def test_the_entry_point_runs_and_lists_the_data_commands():
    result = subprocess.run(
        [*_console_script(), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "data" in result.stdout


def test_the_root_app_is_extensible():
    group = typer.main.get_command(cli.app)
    assert "data" in group.commands
    assert set(group.commands["data"].commands) == {"fetch", "prepare", "info"}


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        ((), ["masterclass COMMAND --help"]),
        (("data",), ["masterclass data fetch --dest", "export MASTERCLASS_DATA_DIR"]),
        (("data", "fetch"), ["Examples", "--from /media/usb/opal-events", "resumes"]),
        (("data", "prepare"), ["Examples", "prepare data/raw --out data/store", "--verify"]),
        (("data", "info"), ["Examples", "MASTERCLASS_DATA_DIR", "/opt/masterclass/events"]),
    ],
)
def test_help_explains_with_examples(command, phrases):
    result = run(*command, "--help")
    assert result.exit_code == 0
    for phrase in phrases:
        assert phrase in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("data",),
        ("nonsense",),
        ("data", "prepare"),
        ("data", "prepare", "somewhere"),
        ("data", "fetch", "--bogus"),
    ],
)
def test_wrong_usage_exits_with_2(args, monkeypatch):
    monkeypatch.delenv("MASTERCLASS_DATA_DIR")
    assert run(*args).exit_code == 2


def test_fetch_without_dest_or_env_is_wrong_usage(monkeypatch):
    monkeypatch.delenv("MASTERCLASS_DATA_DIR")
    result = run("data", "fetch")
    assert result.exit_code == 2
    assert "--dest" in result.stderr


def test_importing_the_cli_does_not_import_tensorflow():
    # Block the import itself, so the test fails even where TensorFlow is not installed.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'keras'):\n"
        "            raise ImportError('TensorFlow imported: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import masterclass.cli, masterclass.data\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(masterclass.cli.app, ['data', 'info', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_cli_runs_without_numpy_or_pillow_as_in_the_hub_image():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'PIL', 'tensorflow', 'keras'):\n"
        "            raise ImportError('heavy module imported: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import masterclass.cli\n"
        "from typer.testing import CliRunner\n"
        "for args in (['--help'], ['class', '--help'], ['data', '--help']):\n"
        "    result = CliRunner().invoke(masterclass.cli.app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- data commands


def test_prepare_then_info(tmp_path):
    raw = write_pair(tmp_path / "raw")
    result = run("data", "prepare", str(raw), "--out", str(tmp_path / "store"), "-q")
    assert result.exit_code == 0, result.output
    assert "4 events" in result.stdout
    assert data.is_store(tmp_path / "store")

    result = run("data", "info", MASTERCLASS_DATA_DIR=str(tmp_path / "store"))
    assert result.exit_code == 0, result.output
    assert "from MASTERCLASS_DATA_DIR, prepared store" in result.stdout
    assert "q:     1" in result.stdout
    assert "other data" in result.stdout


def test_prepare_bad_data_exits_with_1_and_names_the_file(tmp_path):
    raw = write_pair(tmp_path / "raw", rows=["z1_1.png;q", "e1_2.png;x"])
    result = run("data", "prepare", str(raw), "--out", str(tmp_path / "store"))
    assert result.exit_code == 1
    assert "events_list.csv, line 2: unknown category 'x'" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "store").exists()


def test_prepare_verify_rejects_other_data(tmp_path):
    raw = write_pair(tmp_path / "raw")
    result = run("data", "prepare", str(raw), "--out", str(tmp_path / "s"), "--verify")
    assert result.exit_code == 1
    assert "checksum mismatch" in result.stderr


def test_info_on_the_real_events(event_store, opal_raw_dir, tmp_path):
    result = run("data", "info")
    assert result.exit_code == 0, result.output
    assert str(event_store.path) in result.stdout
    for line in ("Events:         622", "q:   539", "e:    23", "m:    32", "t:    28"):
        assert line in result.stdout
    assert "pinned upstream files" in result.stdout


def test_info_on_a_raw_pair_prepares_into_the_cache(tmp_path):
    raw = write_pair(tmp_path / "raw")
    result = run("data", "info", str(raw), MASTERCLASS_CACHE_DIR=str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert "raw pair" in result.stdout
    assert f"Prepared store: {tmp_path / 'cache' / 'stores'}" in result.stdout


def test_info_without_data_exits_with_1_and_a_hint(monkeypatch, tmp_path):
    monkeypatch.delenv("MASTERCLASS_DATA_DIR")
    monkeypatch.setattr(data_store, "DEFAULT_DATA_DIR", tmp_path / "absent")
    result = run("data", "info")
    assert result.exit_code == 1
    assert "masterclass data fetch --dest DIR" in result.stderr


def test_fetch_from_a_local_directory(opal_raw_dir, tmp_path):
    result = run("data", "fetch", "--dest", str(tmp_path / "raw"), "--from", str(opal_raw_dir))
    assert result.exit_code == 0, result.output
    assert data.is_raw_pair(tmp_path / "raw")


def test_fetch_dest_defaults_to_the_data_dir_variable(opal_raw_dir, tmp_path):
    dest = tmp_path / "raw"
    result = run("data", "fetch", "--from", str(opal_raw_dir), "-q", MASTERCLASS_DATA_DIR=str(dest))
    assert result.exit_code == 0, result.output
    assert data.is_raw_pair(dest)


def test_fetch_from_a_wrong_copy_exits_with_1(tmp_path):
    usb = write_pair(tmp_path / "usb")
    result = run("data", "fetch", "--dest", str(tmp_path / "raw"), "--from", str(usb), "-q")
    assert result.exit_code == 1
    assert "checksum mismatch" in result.stderr
    assert not (tmp_path / "raw").exists()


def test_makefile_invocations_work_end_to_end(opal_raw_dir, tmp_path):
    """The exact commands of ``make data``, with a local source instead of GitHub."""
    env = {**os.environ, "MASTERCLASS_CACHE_DIR": str(tmp_path / "cache")}
    fetch = [*_console_script(), "data", "fetch", "--dest", "data/raw", "--from", str(opal_raw_dir)]
    prepare = [*_console_script(), "data", "prepare", "data/raw", "--out", "data/store"]
    for command in (fetch, prepare):
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
    assert len(data.open_store(tmp_path / "data" / "store")) == 622
