"""The running class hub as the organiser CLI sees it: settings, state files, REST API, Docker.

The organiser runs ``masterclass class …`` on the server, in the checkout where
``make up`` runs. The CLI reaches the stack in three ways:

- **hub state** (the roster, the CLI's API token, the export marker) lives in the
  ``<prefix>-hub-state`` volume. :class:`ContainerState` reads and writes those files
  through ``docker exec`` in the running hub container (``<prefix>-hub``), writing
  atomically with mode 600 by the hub image's own :func:`masterclass.roster.write_private`.
  :class:`LocalState` does the same on a local directory (``--state DIR``): used by the
  tests and when the CLI runs inside the hub container itself.
- **the JupyterHub REST API** on the hub's local port (``http://127.0.0.1:$MASTERCLASS_PORT``),
  with the token of the ``masterclass-cli`` service (see :data:`TOKEN_FILE`);
- **the Docker engine** for images, the pairs' containers, their memory and volumes.

Settings come from the environment, then from ``.env`` in the current directory (the
file docker-compose and ``make up`` read), then the defaults of docs/configuration.md.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: File in the hub state that holds the API token of the hub service ``masterclass-cli``.
TOKEN_FILE = "cli-api-token"
#: The roster inside the hub state.
ROSTER_FILE = "roster.json"
#: The logins of ``make up``'s demo class (plaintext, mode 600), if it is the demo.
DEMO_LOGINS_FILE = "demo-logins.json"
#: Written by ``masterclass class export`` (grading): {"time": ISO 8601 UTC}; purge checks it.
EXPORT_MARKER = "exported.json"

#: Usernames the roster hands out; only such accounts are ever deleted by the CLI.
ROSTER_USER = re.compile(r"^(pair|tutor|organiser)-\d{2,3}$")


class StackError(Exception):
    """The stack cannot do what was asked; the message says why and what to do.

    ``kind`` is one of ``"docker"``, ``"hub"``, ``"state"`` (which part failed), so that
    the CLI can map it onto its exit codes.
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


# --------------------------------------------------------------------------- settings


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a docker-compose ``.env`` file (comments and blanks skipped)."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return values
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def default_class_dir(prefix: str) -> Path:
    """Where the organiser's files of a class live on this machine (cards, logins, audit log)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "masterclass" / prefix


@dataclass
class Settings:
    """Everything the CLI needs to know about the stack, resolved once per command."""

    prefix: str = "masterclass"
    port: int = 8000
    public_url: str = "http://localhost:8000"
    api_url: str = "http://127.0.0.1:8000/hub/api"
    student_image: str = "masterclass/student:latest"
    hub_image: str = "masterclass/hub:latest"
    mem_limit: str = "8G"
    cpu_limit: float = 2.0
    lang: str = "de"
    state_dir: Path | None = None
    class_dir: Path = field(default_factory=lambda: default_class_dir("masterclass"))
    token: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Resolve the settings: ``env`` (default ``os.environ``) over ``.env`` over defaults."""
        merged = read_dotenv(dotenv if dotenv is not None else Path(".env"))
        merged.update(os.environ if env is None else env)
        prefix = merged.get("MASTERCLASS_PREFIX") or "masterclass"
        port = int(merged.get("MASTERCLASS_PORT") or 8000)
        state = merged.get("MASTERCLASS_CLASS_STATE")
        class_dir = merged.get("MASTERCLASS_CLASS_DIR")
        return cls(
            prefix=prefix,
            port=port,
            public_url=(merged.get("MASTERCLASS_PUBLIC_URL") or f"http://localhost:{port}").rstrip(
                "/"
            ),
            api_url=(merged.get("MASTERCLASS_API_URL") or f"http://127.0.0.1:{port}/hub/api"),
            student_image=merged.get("MASTERCLASS_STUDENT_IMAGE") or cls.student_image,
            hub_image=merged.get("MASTERCLASS_HUB_IMAGE") or cls.hub_image,
            mem_limit=merged.get("MASTERCLASS_MEM_LIMIT") or cls.mem_limit,
            cpu_limit=float(merged.get("MASTERCLASS_CPU_LIMIT") or cls.cpu_limit),
            lang=merged.get("MASTERCLASS_LANG") or cls.lang,
            state_dir=Path(state) if state else None,
            class_dir=Path(class_dir) if class_dir else default_class_dir(prefix),
            token=merged.get("MASTERCLASS_API_TOKEN") or None,
        )

    @property
    def hub_container(self) -> str:
        return f"{self.prefix}-hub"

    def login_url(self, username: str) -> str:
        """The login page with the username filled in (what a card's QR code opens)."""
        return f"{self.public_url}/hub/login?username={username}"

    def container_name(self, username: str) -> str:
        """A user's server container, as DockerSpawner names it (``<prefix>-<escaped name>``)."""
        from masterclass.hub.names import docker_safe_name

        return f"{self.prefix}-{docker_safe_name(username)}"

    def volume_name(self, username: str) -> str:
        """A user's home volume (``c.DockerSpawner.volumes`` in hub/jupyterhub_config.py)."""
        from masterclass.hub.names import docker_safe_name

        return f"{self.prefix}-home-{docker_safe_name(username)}"


def parse_size(text: str) -> int:
    """Docker's memory notation (``8G``, ``512m``, ``1.5g``, plain bytes) → bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not match:
        raise ValueError(f"not a memory size: {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    return int(number * 1024 ** " kmgt".index(unit or " "))


# --------------------------------------------------------------------------- docker


def docker_client(timeout: float = 30):
    """A Docker SDK client that answers, else :class:`StackError` (kind ``docker``)."""
    import docker  # the SDK comes with dockerspawner ([hub] extra)

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:
        raise StackError(
            f"No Docker engine answers ({_short(e)}). Start it (on Debian: "
            "`systemctl start docker`, or `make docker` as root), then try again.",
            "docker",
        ) from None
    return client


def _short(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


# --------------------------------------------------------------------------- hub state


class LocalState:
    """Hub state files in a local directory (tests, or the CLI inside the hub container)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def describe(self) -> str:
        return str(self.directory)

    def read(self, name: str) -> str | None:
        try:
            return (self.directory / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write(self, name: str, text: str) -> None:
        from masterclass.roster import write_private

        write_private(self.directory / name, text)

    def remove(self, name: str) -> bool:
        try:
            (self.directory / name).unlink()
        except FileNotFoundError:
            return False
        return True


# Runs inside the hub container: the image carries masterclass, so the write is the same
# atomic mode-600 write as on a local directory.
_WRITE = (
    "import base64, os, pathlib; from masterclass.roster import write_private; "
    "write_private(pathlib.Path(os.environ['MC_PATH']), "
    "base64.b64decode(os.environ['MC_TEXT']).decode('utf-8'))"
)


class ContainerState:
    """Hub state files in the hub container's state volume, through ``docker exec``."""

    def __init__(self, client, container: str, directory: str = "/srv/jupyterhub/state") -> None:
        self.client = client
        self.container_name = container
        self.directory = directory.rstrip("/")
        try:
            self.container = client.containers.get(container)
        except Exception as e:
            raise StackError(
                f"The hub container {container} does not exist ({_short(e)}). "
                "Start the hub with `make up` (or set MASTERCLASS_PREFIX).",
                "hub",
            ) from None
        if self.container.status != "running":
            raise StackError(
                f"The hub container {container} is {self.container.status}, not running. "
                "Start it with `make up`.",
                "hub",
            )

    def describe(self) -> str:
        return f"{self.container_name}:{self.directory}"

    def _exec(self, cmd: list[str], environment: dict | None = None) -> tuple[int, str]:
        result = self.container.exec_run(cmd, environment=environment, demux=True)
        out, err = result.output
        return result.exit_code, (out or b"").decode("utf-8") + (err or b"").decode("utf-8")

    def read(self, name: str) -> str | None:
        code, out = self._exec(
            ["python", "-c", "import sys; sys.stdout.write(open(sys.argv[1]).read())",
             f"{self.directory}/{name}"]
        )  # fmt: skip
        if code == 0:
            return out
        if "FileNotFoundError" in out:
            return None
        raise StackError(f"Cannot read {name} in {self.describe()}: {out[-300:]}", "state")

    def write(self, name: str, text: str) -> None:
        env = {
            "MC_PATH": f"{self.directory}/{name}",
            "MC_TEXT": base64.b64encode(text.encode("utf-8")).decode("ascii"),
        }
        code, out = self._exec(["python", "-c", _WRITE], environment=env)
        if code != 0:
            raise StackError(f"Cannot write {name} in {self.describe()}: {out[-300:]}", "state")

    def remove(self, name: str) -> bool:
        code, out = self._exec(["rm", "--", f"{self.directory}/{name}"])
        if code == 0:
            return True
        if "No such file" in out:
            return False
        raise StackError(f"Cannot remove {name} in {self.describe()}: {out[-300:]}", "state")


def open_state(settings: Settings, client=None):
    """The hub state: ``--state DIR`` if given, else the running hub container's volume."""
    if settings.state_dir is not None:
        return LocalState(settings.state_dir)
    return ContainerState(client or docker_client(), settings.hub_container)


#: Where the hub container holds nbgrader's exchange (released worksheets, submissions).
EXCHANGE_DIR = "/srv/nbgrader/exchange"


def running_container(settings: Settings, client, service: str):
    """Return the running container ``<prefix>-<service>`` of this stack, or None."""
    try:
        container = client.containers.get(f"{settings.prefix}-{service}")
    except Exception:
        return None
    return container if getattr(container, "status", None) == "running" else None


def running_hub(settings: Settings, client):
    """Return the running hub container, or None."""
    return running_container(settings, client, "hub")


@dataclass
class Exchange:
    """One listing of the exchange: what the class status and the purge need to know."""

    #: Every file in the exchange (paths relative to :data:`EXCHANGE_DIR`).
    files: list[str] = field(default_factory=list)
    #: Submissions per user: entries ``<course>/inbound/<user>+<assignment>+<timestamp>``
    #: (each press of Submit makes one).
    submissions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, listing: str) -> Exchange:
        """Parse the NUL-separated ``<type> <relative path>`` entries of :data:`LIST_EXCHANGE`."""
        exchange = cls()
        for entry in listing.split("\0"):
            kind, _, path = entry.partition(" ")
            if not path:
                continue
            if kind == "f":
                exchange.files.append(path)
            parts = path.split("/")
            if len(parts) == 3 and parts[1] == "inbound":
                user = parts[2].split("+", 1)[0]
                if not user.startswith("."):
                    exchange.submissions[user] = exchange.submissions.get(user, 0) + 1
        return exchange


#: Lists everything in the exchange once: type (f, d, ...) and path, NUL-separated.
LIST_EXCHANGE = ["find", EXCHANGE_DIR, "-mindepth", "1", "-printf", "%y %P\\0"]


def list_exchange(settings: Settings, client) -> Exchange:
    """The exchange in the running hub container (one ``find``); empty without a hub."""
    hub = running_hub(settings, client)
    if hub is None:
        return Exchange()
    code, out = hub.exec_run(LIST_EXCHANGE)
    if code != 0 or not out:
        return Exchange()
    return Exchange.parse(out.decode(errors="replace"))


# --------------------------------------------------------------------------- REST API


class HubAPI:
    """A small client of the JupyterHub REST API, authenticated with an admin-scoped token."""

    def __init__(self, url: str, token: str, timeout: float = 30) -> None:
        self.me: str | None = None
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"token {token}"},
            timeout=timeout,
        )

    @classmethod
    def connect(cls, settings: Settings, state=None) -> HubAPI:
        """Find the token (env, then the hub state), check that the hub accepts it."""
        token = settings.token
        if token is None and state is not None:
            token = (state.read(TOKEN_FILE) or "").strip() or None
        if not token:
            raise StackError(
                "The class CLI has no API token for the hub. The hub creates one for its "
                f"`masterclass-cli` service in the state volume ({TOKEN_FILE}); see "
                "docs/organisers.md. Or set MASTERCLASS_API_TOKEN to an organiser's token.",
                "hub",
            )
        api = cls(settings.api_url, token)
        try:
            r = api.http.get("/user")
        except httpx.HTTPError as e:
            raise StackError(
                f"The hub does not answer at {settings.api_url} ({_short(e)}). "
                "Is it running? Start it with `make up`.",
                "hub",
            ) from None
        if r.status_code in (401, 403):
            raise StackError(
                f"The hub at {settings.api_url} refuses the class CLI's API token "
                f"(HTTP {r.status_code}).",
                "hub",
            )
        if r.status_code != 200:
            raise StackError(f"The hub API answered HTTP {r.status_code}: {r.text[:200]}", "hub")
        # The token's owner (a service, or an organiser's user) is never deleted by a purge.
        api.me = r.json().get("name")
        return api

    def request(self, method: str, path: str, ok=(200, 201, 202, 204), **kw) -> httpx.Response:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise StackError(f"The hub API failed on {method} {path}: {_short(e)}", "hub") from None
        if r.status_code not in ok:
            raise StackError(
                f"The hub API answered HTTP {r.status_code} on {method} {path}: {r.text[:300]}",
                "hub",
            )
        return r

    def users(self) -> dict[str, dict]:
        """Every hub user's model (name → model), following the API's pagination."""
        users: dict[str, dict] = {}
        offset = 0
        while True:
            r = self.request(
                "GET",
                "/users",
                params={"offset": offset, "limit": 200},
                headers={"Accept": "application/jupyterhub-pagination+json"},
            )
            body = r.json()
            items = body["items"] if isinstance(body, dict) else body
            users.update({u["name"]: u for u in items})
            nxt = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
            if not nxt or not items:
                return users
            offset = nxt["offset"]

    def user(self, name: str) -> dict | None:
        r = self.request("GET", f"/users/{name}", ok=(200, 404))
        return r.json() if r.status_code == 200 else None

    def create_user(self, name: str) -> None:
        self.request("POST", f"/users/{name}", ok=(201, 409))

    def start_server(self, name: str) -> None:
        self.request("POST", f"/users/{name}/server", ok=(201, 202, 400))

    def delete_user(self, name: str) -> bool:
        """Delete a user (the hub stops its server first); False if there was none."""
        r = self.request("DELETE", f"/users/{name}", ok=(204, 404))
        return r.status_code == 204


def server_state(model: dict | None) -> str:
    """``running``, ``starting``, ``stopping`` or ``stopped`` from a hub user model."""
    if not model:
        return "stopped"
    if model.get("pending") == "spawn":
        return "starting"
    if model.get("pending") == "stop":
        return "stopping"
    server = (model.get("servers") or {}).get("")
    if server is not None:
        return "running" if server.get("ready", True) else "starting"
    return "running" if model.get("server") else "stopped"


def json_dump(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
