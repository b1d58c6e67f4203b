"""A save that fails because the pair's home is full says so, in the class language.

Each pair's home is a file system of its own with a fixed size (masterclass.hub.disk,
``MASTERCLASS_HOME_QUOTA``). When it is full, Jupyter's own error is "Unexpected error
while saving file: … [Errno 28] No space left on device". This contents manager (the
hub sets it as ``ServerApp.contents_manager_class``) answers such a save with HTTP 507
and a message in the class language instead: what happened, that the last saved version
is still there, and what to delete. JupyterLab shows it in its "File Save Error" dialog.
Jupyter writes notebooks atomically, so a failed save leaves the file as it was.
"""

from __future__ import annotations

import errno
import os

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web

from masterclass.messages import text

#: The errors of a full file system (or of a quota).
FULL = (errno.ENOSPC, errno.EDQUOT)


def full_disk(error: BaseException | None) -> bool:
    """Whether *error*, or one it was raised from, is a full file system."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in FULL:
            return True
        error = error.__cause__ or error.__context__
    return False


def home_size(path: str) -> str:
    """The size of the file system holding *path*, as the message names it (``2.1 GB``)."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return "?"
    return f"{stat.f_blocks * stat.f_frsize / 1e9:.1f} GB"


class DiskAwareContentsManager(AsyncLargeFileManager):
    """Jupyter's contents manager; a save into a full home gets the class-language message."""

    async def save(self, model, path=""):
        try:
            return await super().save(model, path)
        except Exception as e:
            if not full_disk(e):
                raise
            self.log.warning("The home is full: %s was not saved", path)
            name = path.strip("/").rsplit("/", 1)[-1] or path
            message = text("disk.full", size=home_size(self.root_dir), path=name)
            raise web.HTTPError(507, message) from e
