"""nbgrader's release into the exchange, without making the exchange root world-writable.

nbgrader's ``ExchangeReleaseAssignment.ensure_root`` sets the exchange root to 0777: its
design for a shared file system on which pupils write their submissions themselves.
Here nobody but root in the hub and formgrader containers touches the exchange volume;
pairs reach it only through the exchange service (masterclass.grading.service). So a
release from the formgrader keeps the root at 0755 (and takes write access for group
and others away if something made it looser).

Runs where nbgrader is installed (the formgrader and grader containers); the course's
nbgrader_config.py names it (masterclass.grading.grader.DEFAULT_EXCHANGE).
"""

from __future__ import annotations

import os

from nbgrader.exchange.default import ExchangeReleaseAssignment


class ReleaseAssignment(ExchangeReleaseAssignment):
    """nbgrader's release, with the exchange root left 0755 instead of made 0777."""

    def ensure_root(self):
        if not os.path.isdir(self.root):
            self.log.warning("Creating exchange directory: %s", self.root)
            os.makedirs(self.root, mode=0o755, exist_ok=True)
        mode = os.stat(self.root).st_mode & 0o7777
        if mode & 0o022:
            tight = mode & ~0o022
            self.log.warning("%s was writable for group or others: now %o", self.root, tight)
            os.chmod(self.root, tight)
