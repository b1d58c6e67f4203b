"""What the organiser CLI knows about the stack: the environment, then ``.env``, then defaults.

``.env`` is the file docker-compose and ``make up`` read in the checkout; it is parsed
by python-dotenv, as Compose does, so inline comments (``MASTERCLASS_PORT=8000  # port``)
and quotes mean the same to all three. The defaults are those of docs/configuration.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from masterclass.hub.disk import HOME_QUOTA, HOMES_DIR
from masterclass.names import container_name, home_volume, login_url, stack_name
from masterclass.organiser.errors import ExitCode, OrganiserError


def read_dotenv(path: Path) -> dict[str, str]:
    """The ``KEY=value`` settings of a Compose ``.env`` file (keys without a value left out)."""
    if not Path(path).is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def default_class_dir(prefix: str) -> Path:
    """Where the organiser's files of a class live on this machine (cards, logins, audit log)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "masterclass" / prefix


def parse_size(text: str) -> int:
    """Docker's memory notation (``8G``, ``512m``, ``1.5g``, plain bytes) → bytes.

    >>> parse_size("8G"), parse_size("512m"), parse_size("1024")
    (8589934592, 536870912, 1024)
    """
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not match:
        raise ValueError(f"not a memory size: {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    return int(number * 1024 ** " kmgt".index(unit or " "))


def _number(merged: dict[str, str], key: str, default, kind=int):
    value = merged.get(key)
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        raise OrganiserError(
            f"{key}={value!r} is not a number (check .env or the environment).",
            ExitCode.USAGE,
        ) from None


@dataclass
class Settings:
    """Everything the CLI needs to know about the stack, resolved once per command."""

    prefix: str = "masterclass"
    port: int = 8000
    public_url: str = "http://localhost:8000"
    api_url: str = "http://127.0.0.1:8000/hub/api"
    student_image: str = "masterclass/student:latest"
    hub_image: str = "masterclass/hub:latest"
    proxy_image: str = "masterclass/proxy:latest"
    mem_limit: str = "8G"
    cpu_limit: float = 2.0
    lang: str = "de"
    state_dir: Path | None = None
    class_dir: Path = field(default_factory=lambda: default_class_dir("masterclass"))
    token: str | None = None
    #: Size of each pair's home file system (MASTERCLASS_HOME_QUOTA; "0": no bound).
    home_quota: str = HOME_QUOTA
    #: Where the homes live on the host (MASTERCLASS_HOMES_DIR; empty: the default).
    homes_dir: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Resolve the settings: ``env`` (default ``os.environ``) over ``.env`` over defaults."""
        merged = read_dotenv(dotenv if dotenv is not None else Path(".env"))
        merged.update(os.environ if env is None else env)
        prefix = merged.get("MASTERCLASS_PREFIX") or "masterclass"
        port = _number(merged, "MASTERCLASS_PORT", 8000)
        state = merged.get("MASTERCLASS_CLASS_STATE")
        class_dir = merged.get("MASTERCLASS_CLASS_DIR")
        public_url = merged.get("MASTERCLASS_PUBLIC_URL") or f"http://localhost:{port}"
        return cls(
            prefix=prefix,
            port=port,
            public_url=public_url.rstrip("/"),
            api_url=(merged.get("MASTERCLASS_API_URL") or f"http://127.0.0.1:{port}/hub/api"),
            student_image=merged.get("MASTERCLASS_STUDENT_IMAGE") or cls.student_image,
            hub_image=merged.get("MASTERCLASS_HUB_IMAGE") or cls.hub_image,
            proxy_image=merged.get("MASTERCLASS_PROXY_IMAGE") or cls.proxy_image,
            mem_limit=merged.get("MASTERCLASS_MEM_LIMIT") or cls.mem_limit,
            cpu_limit=_number(merged, "MASTERCLASS_CPU_LIMIT", cls.cpu_limit, float),
            lang=merged.get("MASTERCLASS_LANG") or cls.lang,
            state_dir=Path(state) if state else None,
            class_dir=Path(class_dir) if class_dir else default_class_dir(prefix),
            token=merged.get("MASTERCLASS_API_TOKEN") or None,
            home_quota=merged.get("MASTERCLASS_HOME_QUOTA") or HOME_QUOTA,
            homes_dir=merged.get("MASTERCLASS_HOMES_DIR") or HOMES_DIR.format(prefix=prefix),
        )

    @property
    def hub_container(self) -> str:
        return stack_name(self.prefix, "hub")

    @property
    def server_base(self) -> str:
        """The proxy's base URL on this machine (the API URL without ``/hub/api``)."""
        return self.api_url.rstrip("/").removesuffix("/hub/api")

    def login_url(self, username: str) -> str:
        """The login page with the username filled in (what a card's QR code opens)."""
        return login_url(self.public_url, username)

    def container_name(self, username: str) -> str:
        """A user's server container, as the hub's DockerSpawner names it."""
        return container_name(self.prefix, username)

    def volume_name(self, username: str) -> str:
        """A user's home volume."""
        return home_volume(self.prefix, username)
