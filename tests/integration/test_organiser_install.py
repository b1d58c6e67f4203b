"""The light organiser CLI as the README installs it (`make organiser`), against a real stack.

A fresh virtualenv with only ``masterclass[organiser]``: no TensorFlow, NumPy or test
tools. It must explain itself, create a class in the running hub and print the cards.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hub_fixtures import ROOT, Browser, Stack

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def light_cli(tmp_path_factory) -> Path:
    """`make organiser` into a temporary venv and bin directory; the linked command."""
    where = tmp_path_factory.mktemp("organiser")
    venv, bin_dir = where / "venv", where / "bin"
    result = subprocess.run(
        [
            "make",
            "-C",
            str(ROOT),
            "organiser",
            f"ORGANISER_VENV={venv}",
            f"ORGANISER_BIN={bin_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return bin_dir / "masterclass"


def test_the_light_install_has_no_tensorflow_and_explains_itself(light_cli):
    venv_python = light_cli.resolve().parent / "python"
    for heavy in ("tensorflow", "numpy", "pytest", "playwright", "ansible", "jupyterhub"):
        probe = subprocess.run(
            [str(venv_python), "-I", "-c", f"import {heavy}"], capture_output=True, timeout=60
        )
        assert probe.returncode != 0, f"{heavy} is in the light organiser install"
    result = subprocess.run(
        [str(light_cli), "class", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("create", "cards", "check", "warm", "status", "collect", "export", "purge"):
        assert command in result.stdout
    version = subprocess.run([str(light_cli), "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("masterclass ")


@pytest.fixture(scope="module")
def stack(hub_image, student_image, request):
    with Stack().running(request) as s:
        yield s


def test_the_light_cli_creates_a_class_and_prints_its_cards(light_cli, stack, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MASTERCLASS_")},
        "MASTERCLASS_PREFIX": stack.prefix,
        "MASTERCLASS_PORT": str(stack.port),
        "MASTERCLASS_PUBLIC_URL": stack.url,
        "MASTERCLASS_CLASS_DIR": str(tmp_path / "class"),
    }

    def run(*args):
        return subprocess.run(
            [str(light_cli), "class", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )

    created = run("create", "--name", "Light CLI school, 2026-03-12", "--pairs", "2")
    assert created.returncode == 0, created.stdout + created.stderr
    logins = json.loads((tmp_path / "class" / "logins.json").read_text())["logins"]
    assert sorted(logins) == ["pair-01", "pair-02", "tutor-01"]
    (tmp_path / "class" / "cards.pdf").unlink()
    cards = run("cards")
    assert cards.returncode == 0, cards.stdout + cards.stderr
    assert (tmp_path / "class" / "cards.pdf").read_bytes().startswith(b"%PDF")
    # The hub knows the new class at once: a pair logs in with its passphrase.
    response = Browser(stack).login("pair-01", logins["pair-01"])
    assert response.status_code in (302, 303), response.text[:300]
