"""The hub's state files (roster, the CLI's token, markers) as the organiser CLI reads them.

They live in the ``<prefix>-hub-state`` volume. :class:`ContainerState` reads and
writes them through ``docker exec`` in the running hub container, with the hub image's
own atomic mode-600 writer. :class:`LocalState` does the same on a local directory
(``--state DIR``): the tests use it, and so does the CLI run inside the hub container.
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from masterclass.files import write_private
from masterclass.names import is_pair
from masterclass.organiser.docker import docker_client
from masterclass.organiser.errors import ExitCode, OrganiserError, StackError, short

if TYPE_CHECKING:
    from masterclass.organiser.settings import Settings
    from masterclass.roster import Roster

#: The hub state's directory inside the hub container.
STATE_DIR = "/srv/jupyterhub/state"
#: The API token of the hub service ``masterclass-cli``.
TOKEN_FILE = "cli-api-token"
#: The class roster (bcrypt hashes only).
ROSTER_FILE = "roster.json"
#: The logins of ``make up``'s demo class (plaintext, mode 600), if it is the demo.
DEMO_LOGINS_FILE = "demo-logins.json"
#: Written by ``class export``: ``{"time": ISO 8601 UTC}``; ``purge`` checks it.
EXPORT_MARKER = "exported.json"


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
    "import base64, os; from masterclass.files import write_private; "
    "write_private(os.environ['MC_PATH'], base64.b64decode(os.environ['MC_TEXT']).decode('utf-8'))"
)


class ContainerState:
    """Hub state files in the hub container's state volume, through ``docker exec``."""

    def __init__(self, client, container: str, directory: str = STATE_DIR) -> None:
        self.client = client
        self.container_name = container
        self.directory = directory.rstrip("/")
        try:
            self.container = client.containers.get(container)
        except Exception as e:
            raise StackError(
                f"The hub container {container} does not exist ({short(e)}). "
                "Start the hub with `make up` (or set MASTERCLASS_PREFIX).",
                "hub",
            ) from None
        if self.container.status != "running":
            # Docker's own reason, if it has one: after a reboot or an engine restart, the
            # engine may start the hub before the proxy, whose network namespace it shares,
            # and leave it exited with "cannot join network of a non running container".
            reason = (self.container.attrs.get("State") or {}).get("Error") or ""
            raise StackError(
                f"The hub container {container} is {self.container.status}, not running"
                + (f" (Docker: {short(reason)})" if reason else "")
                + ". Start it with `make up`, or with `hub/start.sh` in the stack's folder "
                "(what an Ansible server's masterclass-hub unit runs).",
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


def open_state(settings: Settings, client=None) -> LocalState | ContainerState:
    """The hub state: ``--state DIR`` if given, else the running hub container's volume."""
    if settings.state_dir is not None:
        return LocalState(settings.state_dir)
    return ContainerState(client or docker_client(), settings.hub_container)


def roster_from_text(text: str) -> tuple[Roster, dict]:
    """The roster (and its raw JSON) from the text of a roster file."""
    from masterclass.roster import Roster  # bcrypt comes with the [organiser] extra

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ROSTER_FILE
        path.write_text(text, encoding="utf-8")
        roster = Roster.load(path)
    return roster, json.loads(text)


def load_roster(state) -> tuple[Roster, dict]:
    """The class roster from the hub state; :class:`OrganiserError` (exit 3) without a class."""
    text = state.read(ROSTER_FILE)
    if text is None:
        raise OrganiserError(
            f"There is no class on this hub yet ({state.describe()}). "
            'Create one: masterclass class create --name "School, date" --pairs 12',
            ExitCode.CLASS,
        )
    return roster_from_text(text)


def pairs(roster: Roster) -> list[str]:
    """The pairs' usernames of a roster, in order."""
    return [a.name for a in roster.users() if is_pair(a.name)]


def class_language(settings: Settings, client=None) -> str:
    """The language the class was created with (``create --lang``), else MASTERCLASS_LANG."""
    try:
        text = open_state(settings, client).read(ROSTER_FILE)
        lang = json.loads(text).get("lang") if text else None
    except (OrganiserError, ValueError, AttributeError):
        lang = None
    return lang or settings.lang


def json_dump(data) -> str:
    """JSON as the state files and the class directory keep it (sorted, indented)."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
