"""Disk per pair (issue 15, finding 2) without Docker: the home's names, the hook, the message.

The real bound (a file system per pair, loop-mounted on the host) is probed from inside
a pair's container in tests/integration/test_hardening.py.
"""

from __future__ import annotations

import asyncio
import errno

import pytest
from tornado import web

from masterclass.hub import disk


def test_a_home_is_an_image_and_a_folder_below_the_homes_dir():
    assert disk.paths("/var/lib/masterclass/mc/homes", "pair-01") == (
        "/var/lib/masterclass/mc/homes/pair-01.img",
        "/var/lib/masterclass/mc/homes/pair-01",
    )
    for bad in ("../etc", "pair 01", "", "x/y"):
        with pytest.raises(disk.DiskError):
            disk.paths("/var/lib/masterclass/mc/homes", bad)
    with pytest.raises(disk.DiskError, match="absolute"):
        disk.paths("homes", "pair-01")


def test_the_hook_is_a_value_so_the_config_stays_idempotent():
    assert disk.HomeBound("mc", "/h", "2G") == disk.HomeBound("mc", "/h", "2G")
    assert disk.SIZE.match("2G") and disk.SIZE.match("500M") and not disk.SIZE.match("2 GB")


def test_an_unbounded_home_reports_none():
    assert disk.home_usage({"Options": None}) is None
    assert disk.home_usage({"Options": {"device": "/nonexistent/home"}}) is None


def test_a_save_into_a_full_home_says_why_in_the_class_language(tmp_path, monkeypatch):
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

    from masterclass.messages import text
    from masterclass.toolkit.diskfull import DiskAwareContentsManager, full_disk

    async def full(self, model, path=""):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as e:
            raise web.HTTPError(500, f"Unexpected error while saving file: {path} {e}") from e

    monkeypatch.setenv("MASTERCLASS_LANG", "en")
    monkeypatch.setattr(AsyncLargeFileManager, "save", full)
    manager = DiskAwareContentsManager(root_dir=str(tmp_path))
    with pytest.raises(web.HTTPError) as e:
        asyncio.run(manager.save({"type": "notebook"}, "work/z_boson.ipynb"))
    assert e.value.status_code == 507
    assert e.value.log_message.startswith(text("disk.full", size="X", path="y").split("X")[0])
    assert "z_boson.ipynb was" in e.value.log_message
    # any other error stays Jupyter's own
    assert not full_disk(web.HTTPError(500, "x"))
    assert full_disk(OSError(errno.EDQUOT, "quota"))


def test_after_a_reboot_bounded_homes_read_as_not_mounted_and_check_does_not_warn(tmp_path):
    # After a reboot the loop mounts are gone: the volumes still name their folders, which
    # are plain (empty) folders until the hub mounts each home before the pair's next start.
    from types import SimpleNamespace

    from masterclass.organiser.commands.check import home_rows
    from masterclass.organiser.commands.status import UNMOUNTED, homes
    from masterclass.organiser.settings import Settings

    folders = {"pair-01": tmp_path / "pair-01", "pair-02": tmp_path / "pair-02"}
    for folder in folders.values():
        folder.mkdir()
    attrs = {f"mc-home-{u}": {"Options": {"device": str(f)}} for u, f in folders.items()}
    attrs["mc-home-pair-03"] = {"Options": None}  # made before homes were bounded
    client = SimpleNamespace(
        volumes=SimpleNamespace(get=lambda name: SimpleNamespace(attrs=attrs[name]))
    )
    settings = Settings(prefix="mc", homes_dir=str(tmp_path), home_quota="2G")
    users = ["pair-01", "pair-02", "pair-03"]
    assert settings.volume_name("pair-01") == "mc-home-pair-01"
    assert homes(client, settings, users) == {
        "pair-01": UNMOUNTED,
        "pair-02": UNMOUNTED,
        "pair-03": "unbounded",
    }
    row = home_rows(settings, client, 3, users)[-1]
    assert row.reason == f"{UNMOUNTED}: pair-01, pair-02; no bound (made before it): pair-03"
    assert row.status == "warn"  # for pair-03 only
    del attrs["mc-home-pair-03"]
    row = home_rows(settings, client, 2, users[:2])[-1]
    assert (row.status, row.reason) == ("go", f"{UNMOUNTED}: pair-01, pair-02")
