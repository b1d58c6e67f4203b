"""The organiser's files of a class on this machine: cards, the one-time logins, the audit log.

They live in the class directory (``$MASTERCLASS_CLASS_DIR``, default
``~/.local/share/masterclass/<prefix>``, mode 700): ``cards.pdf`` and ``logins.json``
(the plaintext passphrases, mode 600, kept only so that ``cards`` can print again;
``purge`` deletes both) and ``audit.log`` (append-only, one JSON line per action).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from masterclass.organiser.settings import Settings

LOGINS_FILE = "logins.json"
CARDS_FILE = "cards.pdf"
AUDIT_FILE = "audit.log"


def class_dir(settings: Settings) -> Path:
    """The class directory, created with mode 700 if missing."""
    path = settings.class_dir
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def audit(settings: Settings, action: str, class_name: str | None, **details) -> None:
    """Append one JSON line to the audit log (mode 600, opened append-only)."""
    line = json.dumps(
        {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "class": class_name,
            "by": getpass.getuser(),
            "host": socket.gethostname(),
            "prefix": settings.prefix,
            **details,
        },
        sort_keys=True,
    )
    fd = os.open(class_dir(settings) / AUDIT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def read_logins(settings: Settings) -> dict | None:
    """The saved logins of the class (``{"class", "lang", "url", "created", "logins"}``)."""
    try:
        return json.loads((settings.class_dir / LOGINS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def write_cards(settings: Settings, saved: dict, out: Path | None = None, only=None) -> Path:
    """Render the cards of *saved* logins (all, or the usernames in *only*) to a PDF."""
    from masterclass.organiser import cards

    logins = saved["logins"]
    if only:
        logins = {u: p for u, p in logins.items() if u in only}
    pdf = cards.render(saved["class"], saved["url"], logins, saved["lang"], saved["created"])
    return cards.write(out or class_dir(settings) / CARDS_FILE, pdf)


def local_files(settings: Settings) -> list[Path]:
    """The class's files with passphrases on this machine (what ``purge`` deletes here)."""
    candidates = (settings.class_dir / LOGINS_FILE, *settings.class_dir.glob("cards*.pdf"))
    return [p for p in candidates if p.exists()]
