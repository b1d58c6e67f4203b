"""Tests of ``masterclass class``: roster interplay, bad input, preflight rules, purge logic.

Everything here runs on a local state directory (``--state``) and, for the commands that
talk to the hub and Docker, on small fakes of both; tests/integration/test_classday_stack.py
drives the same commands against the real stack.
"""

from __future__ import annotations

import json
import socket
import ssl
import stat
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from masterclass import cli, roster
from masterclass.files import write_private
from masterclass.grading.layout import COURSE_DIR, EXCHANGE_DIR
from masterclass.messages import LANGUAGES
from masterclass.names import MAX_PAIRS
from masterclass.organiser import api as hubapi
from masterclass.organiser import cards, preflight
from masterclass.organiser import docker as engine
from masterclass.organiser import state as hubstate
from masterclass.organiser.app import Lang
from masterclass.organiser.errors import ExitCode
from masterclass.organiser.exchange import LIST_EXCHANGE
from masterclass.organiser.settings import Settings, parse_size

runner = CliRunner()


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """A local hub state and class directory; no .env and no stack settings leak in."""
    monkeypatch.chdir(tmp_path)
    for key in ("MASTERCLASS_PREFIX", "MASTERCLASS_PUBLIC_URL", "MASTERCLASS_API_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    state, class_dir = tmp_path / "state", tmp_path / "class"
    return state, class_dir


def run(dirs, *args, input=None, **env):
    state, class_dir = dirs
    base = ["class", "--state", str(state), "--class-dir", str(class_dir)]
    return runner.invoke(cli.app, [*base, *args], input=input, env=env or None)


def create(dirs, pairs=3, name="Gymnasium X, 2026-03-12", *extra):
    result = run(dirs, "create", "--name", name, "--pairs", str(pairs), "--rounds", "4", *extra)
    assert result.exit_code == 0, result.output
    return result


def saved_logins(dirs) -> dict[str, str]:
    return json.loads((dirs[1] / "logins.json").read_text())["logins"]


# --------------------------------------------------------------------------- create


def test_create_keeps_only_hashes_in_the_roster(dirs):
    create(dirs, 3, "Gymnasium X, 2026-03-12", "--tutors", "2")
    state, class_dir = dirs
    text = (state / "roster.json").read_text()
    logins = saved_logins(dirs)
    assert sorted(logins) == ["pair-01", "pair-02", "pair-03", "tutor-01", "tutor-02"]
    loaded = roster.Roster.load(state / "roster.json")
    for username, passphrase in logins.items():
        assert passphrase not in text
        assert loaded.verify(username, passphrase)
    assert loaded.name == "Gymnasium X, 2026-03-12"
    for path in (state / "roster.json", class_dir / "logins.json", class_dir / "cards.pdf"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(class_dir.stat().st_mode) == 0o700


def test_create_writes_the_cards_at_once(dirs):
    create(dirs, 9)
    info = subprocess.run(
        ["pdfinfo", str(dirs[1] / "cards.pdf")], capture_output=True, text=True, check=True
    ).stdout
    assert f"Pages:           {cards.page_count(9)}" in info
    assert "Pages:           4" in info


def test_create_refuses_an_existing_class_and_changes_nothing(dirs):
    create(dirs, 2)
    before = (dirs[0] / "roster.json").read_bytes()
    logins_before = saved_logins(dirs)
    result = run(dirs, "create", "--name", "Other", "--pairs", "5", "--rounds", "4")
    assert result.exit_code == ExitCode.CLASS
    assert "already has the class 'Gymnasium X, 2026-03-12'" in result.output
    assert (dirs[0] / "roster.json").read_bytes() == before
    assert saved_logins(dirs) == logins_before


def test_create_points_at_purge_for_the_demo_class(dirs):
    roster.demo(dirs[0])
    result = run(dirs, "create", "--name", "Real", "--pairs", "5")
    assert result.exit_code == ExitCode.CLASS
    assert "demo class" in result.output


def test_add_pairs_keeps_existing_passphrases(dirs):
    create(dirs, 3)
    old = saved_logins(dirs)
    result = run(dirs, "create", "--add-pairs", "2", "--rounds", "4")
    assert result.exit_code == 0, result.output
    new = saved_logins(dirs)
    assert sorted(set(new) - set(old)) == ["pair-04", "pair-05"]
    loaded = roster.Roster.load(dirs[0] / "roster.json")
    for username, passphrase in new.items():
        assert loaded.verify(username, passphrase), username
    assert {k: new[k] for k in old} == old
    assert (dirs[1] / "cards-pair-04-pair-05.pdf").exists()


def test_add_pairs_without_a_class_is_refused(dirs):
    result = run(dirs, "create", "--add-pairs", "2")
    assert result.exit_code == ExitCode.CLASS
    assert not (dirs[0] / "roster.json").exists()


def test_add_pairs_beyond_the_maximum_changes_nothing(dirs):
    create(dirs, 150)
    before = (dirs[0] / "roster.json").read_bytes()
    result = run(dirs, "create", "--add-pairs", "60", "--rounds", "4")
    assert result.exit_code == ExitCode.CLASS
    assert "at most 200 pairs" in result.output
    assert (dirs[0] / "roster.json").read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "X", "--pairs", "0"],
        ["--name", "X", "--pairs", "-3"],
        ["--name", "X", "--pairs", "201"],
        ["--name", "../etc", "--pairs", "3"],
        ["--name", "a/b", "--pairs", "3"],
        ["--name", "C:\\class", "--pairs", "3"],
        ["--name", "   ", "--pairs", "3"],
        ["--name", "X", "--pairs", "3", "--lang", "fr"],
        ["--name", "X"],
        ["--add-pairs", "2", "--name", "X"],
    ],
)
def test_bad_input_changes_nothing(dirs, args):
    result = run(dirs, "create", *args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert not dirs[0].exists()
    assert not dirs[1].exists()


def test_create_writes_an_audit_line(dirs):
    create(dirs, 2)
    (line,) = (dirs[1] / "audit.log").read_text().splitlines()
    entry = json.loads(line)
    assert entry["action"] == "create"
    assert entry["class"] == "Gymnasium X, 2026-03-12"
    assert entry["pairs"] == 2


# --------------------------------------------------------------------------- cards


def test_cards_renders_again_from_the_logins_file(dirs):
    create(dirs, 3)
    (dirs[1] / "cards.pdf").unlink()
    result = run(dirs, "cards")
    assert result.exit_code == 0, result.output
    assert (dirs[1] / "cards.pdf").read_bytes().startswith(b"%PDF")


def test_cards_only_some_pairs(dirs, tmp_path):
    create(dirs, 3)
    out = tmp_path / "one.pdf"
    result = run(dirs, "cards", "--only", "pair-02", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert run(dirs, "cards", "--only", "pair-09").exit_code == ExitCode.USAGE


def test_cards_without_the_logins_file_says_why(dirs):
    create(dirs, 2)
    (dirs[1] / "logins.json").unlink()
    result = run(dirs, "cards")
    assert result.exit_code == ExitCode.CLASS
    assert "only on the printed cards" in result.output


def test_commands_on_an_unknown_class(dirs):
    for command in (["cards"], ["status", "--once"]):
        result = run(dirs, *command, MASTERCLASS_API_TOKEN="x")
        assert result.exit_code == ExitCode.CLASS, (command, result.output)
        assert "no class on this hub yet" in result.output
    assert not dirs[0].exists()


# --------------------------------------------------------------------------- help, settings


@pytest.mark.parametrize("command", ["create", "cards", "check", "warm", "status", "purge"])
def test_help_explains_with_examples(command):
    result = runner.invoke(cli.app, ["class", command, "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.output
    assert f"masterclass class {command}" in result.output


def test_group_help_lists_the_exit_codes():
    result = runner.invoke(cli.app, ["class", "--help"])
    assert "Exit codes" in result.output
    assert "6 purge refused" in " ".join(result.output.split())


def test_constants_agree_with_the_roster_and_the_cards():
    assert MAX_PAIRS == roster.MAX_PAIRS
    assert tuple(lang.value for lang in Lang) == LANGUAGES


def test_settings_read_dotenv_and_the_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nMASTERCLASS_PREFIX=school\nMASTERCLASS_PORT=8123\n"
        "MASTERCLASS_PUBLIC_URL='https://hub.school.example/'\n"
    )
    settings = Settings.from_env({"MASTERCLASS_PORT": "9000"}, dotenv)
    assert settings.prefix == "school"
    assert settings.port == 9000
    assert settings.api_url == "http://127.0.0.1:9000/hub/api"
    assert settings.public_url == "https://hub.school.example"
    assert settings.hub_container == "school-hub"
    assert settings.container_name("pair-01") == "school-pair-01"
    assert settings.volume_name("pair-01") == "school-home-pair-01"
    assert settings.login_url("pair-01") == "https://hub.school.example/hub/login?username=pair-01"
    assert settings.class_dir.parts[-2:] == ("masterclass", "school")


@pytest.mark.parametrize(
    ("text", "size"), [("8G", 8 * 2**30), ("512m", 512 * 2**20), ("1.5g", int(1.5 * 2**30))]
)
def test_parse_size(text, size):
    assert parse_size(text) == size


# --------------------------------------------------------------------------- preflight


def test_capacity_uses_the_measured_peak_not_the_limit():
    # 24 GB available, 2 GB reserved: 22 / 1.3 = 16 pairs (the 8 GB limit would say 2).
    assert preflight.pairs_by_memory(24e9) == 16
    assert preflight.memory_row(16, 24e9).status == preflight.GO
    assert preflight.memory_row(17, 24e9).status == preflight.NOGO
    assert preflight.pairs_by_cpu(2) == 4
    row = preflight.capacity_row(10, 24e9, 2, 100e9)
    assert row.status == preflight.NOGO
    assert "carries 4 pairs (limited by CPU)" in row.reason


def test_disk_row(tmp_path):
    assert preflight.disk_row(1, tmp_path).check == "disk"


def test_tls_row_for_plain_http():
    assert preflight.tls_row("http://localhost:8000").status == preflight.WARN
    assert "unencrypted" in preflight.tls_row("http://192.0.2.10").reason


@pytest.fixture
def tls_server(tmp_path):
    """A local TLS server with a self-signed certificate valid for ``days`` more days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def start(days: int) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days, hours=1))
            .sign(key, hashes.SHA256())
        )
        (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "k.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def serve():
            for _ in range(2):  # tls_row connects twice: verified, then to read the cert
                conn, _ = listener.accept()
                try:
                    with context.wrap_socket(conn, server_side=True):
                        pass
                except (ssl.SSLError, OSError):
                    pass
            listener.close()

        threading.Thread(target=serve, daemon=True).start()
        return f"https://127.0.0.1:{port}"

    return start


def test_tls_row_reports_days_left_of_an_untrusted_certificate(tls_server):
    row = preflight.tls_row(tls_server(30))
    assert row.status == preflight.WARN
    assert "valid 30 more days" in row.reason
    assert "not trusted" in row.reason


def test_tls_row_an_expiring_certificate_is_a_nogo(tls_server):
    row = preflight.tls_row(tls_server(1))
    assert row.status == preflight.NOGO
    assert "expires" in row.reason


def test_hub_row_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    row = preflight.hub_row(f"http://127.0.0.1:{port}")
    assert row.status == preflight.NOGO
    assert "does not answer" in row.reason


def test_check_without_docker_is_a_nogo_with_reasons(dirs):
    create(dirs, 2)
    result = run(
        dirs,
        "check",
        DOCKER_HOST="unix:///nonexistent/docker.sock",
        MASTERCLASS_PUBLIC_URL="http://127.0.0.1:9",
    )
    assert result.exit_code == ExitCode.NOGO
    out = " ".join(result.output.split())
    assert "No Docker engine answers" in out
    assert "'Gymnasium X, 2026-03-12': 2 pairs" in out


def test_warm_without_docker(dirs):
    result = run(dirs, "warm", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert result.exit_code == ExitCode.DOCKER
    assert "No Docker engine answers" in result.output


def test_status_and_purge_with_an_unreachable_hub_change_nothing(dirs):
    create(dirs, 2)
    before = (dirs[0] / "roster.json").read_bytes()
    env = {"MASTERCLASS_API_TOKEN": "t", "MASTERCLASS_API_URL": "http://127.0.0.1:9/hub/api"}
    for command in (["status", "--once"], ["purge", "--yes", "--force"]):
        result = run(dirs, *command, **env)
        assert result.exit_code == ExitCode.HUB, result.output
        assert "does not answer" in result.output
    assert (dirs[0] / "roster.json").read_bytes() == before
    assert (dirs[1] / "logins.json").exists()


def test_purge_without_a_token_explains_the_service(dirs):
    create(dirs, 2)
    result = run(dirs, "purge", "--yes")
    assert result.exit_code == ExitCode.HUB
    assert "masterclass-cli" in result.output


# ---------------------------------------------------------------- fakes of hub and Docker


class FakeAPI:
    """The REST API calls the CLI makes, on a dict of user models."""

    def __init__(self, users: dict[str, dict]) -> None:
        self.models = users
        self.deleted: list[str] = []

    def users(self):
        return dict(self.models)

    def request(self, method, path, ok=(), **kw):
        class R:
            status_code = 204
            text = ""

        name = path.rsplit("/", 1)[-1]
        assert method == "DELETE"
        self.deleted.append(name)
        if self.models.pop(name, None) is None:
            R.status_code = 404
        return R()


class FakeDocker:
    def __init__(self, containers, volumes, exchange=(), course=(), board=()) -> None:
        self._containers = dict.fromkeys(containers)
        self._volumes = dict.fromkeys(volumes)
        self.exchange = list(exchange)  # files in the hub container's exchange
        self.board = list(board)  # pairs with results on the results board
        self.course = list(course)  # files in the formgrader's course directory
        self.restarted: list[str] = []
        self.execs: list[list[str]] = []  # the commands run in the hub container
        outer = self

        class Obj:
            status = "running"

            def __init__(self, name, store):
                self.name, self.store = name, store

            def remove(self, force=False):
                self.store.pop(self.name, None)

            def restart(self):
                outer.restarted.append(self.name)

            def exec_run(self, cmd):
                if cmd[:3] == ["python", "-m", "masterclass.board.store"]:  # the results board
                    assert self.name.endswith("-hub")
                    outer.execs.append(cmd)
                    if cmd[3] == "purge":
                        removed, outer.board = len(outer.board), []
                        return 0, json.dumps({"removed": removed}).encode()
                    pairs = {pair: {} for pair in outer.board}
                    return 0, json.dumps({"pairs": pairs, "rounds": []}).encode()
                if cmd[:2] == ["find", str(COURSE_DIR)]:  # the formgrader's course
                    assert self.name.endswith("-formgrader")
                    outer.execs.append(cmd)
                    if cmd[-1] == "-delete":
                        outer.course.clear()
                        return 0, b""
                    return 0, b"".join(f"{f}\0".encode() for f in outer.course)
                assert cmd[:2] == ["find", str(EXCHANGE_DIR)]
                outer.execs.append(cmd)
                if cmd[-1] == "-delete":
                    outer.exchange.clear()
                    return 0, b""
                assert cmd == LIST_EXCHANGE
                return 0, outer.listing()

        class Collection:
            def __init__(self, store):
                self.store = store

            def list(self, all=False):
                return [Obj(n, self.store) for n in self.store]

            def get(self, name):
                if name not in self.store:
                    raise LookupError(f"No such volume: {name}")
                return Obj(name, self.store)

        self.containers = Collection(outer._containers)
        self.volumes = Collection(outer._volumes)

    def listing(self) -> bytes:
        """What ``find EXCHANGE_DIR -mindepth 1 -printf '%y %P\\0'`` prints for the files."""
        root = f"{EXCHANGE_DIR}/"
        entries: dict[str, str] = {}
        for path in self.exchange:
            parts = path.removeprefix(root).split("/")
            for depth in range(1, len(parts)):
                entries.setdefault("/".join(parts[:depth]), "d")
            entries["/".join(parts)] = "f"
        return b"".join(f"{kind} {path}\0".encode() for path, kind in entries.items())


@pytest.fixture
def fake_stack(monkeypatch):
    def install(users, containers=(), volumes=(), exchange=(), course=(), board=()):
        api, client = FakeAPI(users), FakeDocker(containers, volumes, exchange, course, board)
        monkeypatch.setattr(hubapi.HubAPI, "connect", classmethod(lambda cls, s, st: api))
        monkeypatch.setattr(engine, "docker_client", lambda: client)
        return api, client

    return install


def _active(minutes_ago: float | None) -> dict:
    if minutes_ago is None:
        return {"last_activity": None, "groups": []}
    t = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {"last_activity": t.isoformat().replace("+00:00", "Z"), "groups": ["pairs"]}


def test_purge_refuses_without_an_export_and_changes_nothing(dirs, fake_stack):
    create(dirs, 2)
    api, client = fake_stack(
        {"pair-01": _active(5), "pair-02": _active(None)},
        ["masterclass-pair-01"],
        ["masterclass-home-pair-01"],
    )
    result = run(dirs, "purge", "--yes")
    assert result.exit_code == ExitCode.REFUSED
    assert "No export since the pairs' last activity" in result.output
    assert api.deleted == []
    assert client.volumes.list()
    assert (dirs[0] / "roster.json").exists()
    assert not (dirs[1] / "audit.log").read_text().count("purge")


def test_purge_after_an_export_deletes_everything_once(dirs, fake_stack):
    create(dirs, 2)
    api, client = fake_stack(
        {"pair-01": _active(5), "tutor-01": _active(3), "someone-else": _active(1)},
        ["masterclass-pair-01", "masterclass-hub", "other-pair-01"],
        [
            "masterclass-home-pair-01",
            "masterclass-home-pair-02",
            "masterclass-course",
            "masterclass-hub-state",
        ],
        exchange=[f"{EXCHANGE_DIR}/day/inbound/pair-01+z-boson+1/z_boson.ipynb"],
        board=["pair-01", "pair-02"],
    )
    write_private(
        dirs[0] / hubstate.EXPORT_MARKER, json.dumps({"time": datetime.now(UTC).isoformat()})
    )
    result = run(dirs, "purge", "--yes")
    assert result.exit_code == 0, result.output
    assert "results board" in result.output and "2 pairs" in result.output
    assert client.board == []  # the board's store is emptied with the rest
    assert sorted(api.deleted) == ["pair-01", "tutor-01"]
    assert [c.name for c in client.containers.list()] == ["masterclass-hub", "other-pair-01"]
    assert [v.name for v in client.volumes.list()] == ["masterclass-hub-state"]
    assert client.exchange == []
    assert not (dirs[0] / "roster.json").exists()
    assert not (dirs[1] / "logins.json").exists()
    assert not list(dirs[1].glob("cards*.pdf"))
    entries = [json.loads(x) for x in (dirs[1] / "audit.log").read_text().splitlines()]
    assert [e["action"] for e in entries] == ["create", "purge"]
    assert entries[1]["forced"] is False
    # The second purge finds nothing and exits 0 without touching anything.
    again = run(dirs, "purge", "--yes")
    assert again.exit_code == 0, again.output
    assert "Nothing to purge" in again.output
    assert len((dirs[1] / "audit.log").read_text().splitlines()) == 2


def test_purge_asks_and_a_no_deletes_nothing(dirs, fake_stack):
    create(dirs, 1)
    api, _ = fake_stack({"pair-01": _active(None)})
    result = run(dirs, "purge", input="n\n")
    assert result.exit_code == ExitCode.REFUSED
    assert "Delete all of this for good?" in result.output
    assert api.deleted == []
    assert (dirs[0] / "roster.json").exists()


def test_purge_with_force_records_it(dirs, fake_stack):
    create(dirs, 1)
    api, _ = fake_stack({"pair-01": _active(1)})
    result = run(dirs, "purge", "--force", input="y\n")
    assert result.exit_code == 0, result.output
    assert api.deleted == ["pair-01"]
    last = json.loads((dirs[1] / "audit.log").read_text().splitlines()[-1])
    assert last["forced"] is True


def test_status_once_shows_every_pair(dirs, fake_stack):
    create(dirs, 3)
    fake_stack(
        {
            "pair-01": {**_active(2), "servers": {"": {"ready": True}}, "server": "/user/pair-01/"},
            "pair-02": {**_active(None), "pending": "spawn"},
        }
    )
    result = run(dirs, "status", "--once")
    assert result.exit_code == 0, result.output
    lines = {
        line.split("│")[1].strip(): line for line in result.output.splitlines() if "pair-0" in line
    }
    assert set(lines) == {"pair-01", "pair-02", "pair-03"}
    assert "running" in lines["pair-01"] and "yes" in lines["pair-01"]
    assert "starting" in lines["pair-02"] and "no" in lines["pair-02"]
    assert "stopped" in lines["pair-03"] and "never" in lines["pair-03"]


def test_status_prints_once_when_the_output_is_not_a_terminal(dirs, fake_stack, monkeypatch):
    """Into a pipe or a file (a script, cron) the live table would never end."""
    from masterclass.organiser.commands import status

    create(dirs, 2)
    fake_stack({"pair-01": _active(2)})

    def no_second_round(seconds):
        raise AssertionError(f"the live table waited {seconds} s for its next round")

    monkeypatch.setattr(status.time, "sleep", no_second_round)
    result = run(dirs, "status")
    assert result.exit_code == 0, result.output
    assert sum("pair-0" in line for line in result.output.splitlines()) == 2


def test_status_counts_submissions_in_the_exchange(dirs, fake_stack):
    create(dirs, 2)
    inbound = f"{EXCHANGE_DIR}/day/inbound"
    _, client = fake_stack(
        {"pair-01": _active(2), "pair-02": _active(1)},
        ["masterclass-hub"],
        exchange=[
            f"{inbound}/pair-02+z-boson+2026-1/z_boson.ipynb",
            f"{inbound}/pair-02+z-boson+2026-1/timestamp.txt",
            f"{inbound}/pair-02+z-boson+2026-2/z_boson.ipynb",
            f"{inbound}/.incoming-0123/z_boson.ipynb",
        ],
    )
    result = run(dirs, "status", "--once")
    assert result.exit_code == 0, result.output
    assert client.execs == [LIST_EXCHANGE]  # one listing of the exchange (status reads no board)
    lines = {
        line.split("│")[1].strip(): line for line in result.output.splitlines() if "pair-0" in line
    }
    assert "yes (2×)" in lines["pair-02"]
    assert "yes (" not in lines["pair-01"]


def test_server_state():
    assert hubapi.server_state(None) == "stopped"
    assert hubapi.server_state({"pending": "spawn"}) == "starting"
    assert hubapi.server_state({"servers": {"": {"ready": False}}}) == "starting"
    assert hubapi.server_state({"servers": {"": {"ready": True}}}) == "running"
    assert hubapi.server_state({"servers": {}, "server": None}) == "stopped"


def test_local_state_round_trip(tmp_path):
    state = hubstate.LocalState(tmp_path / "s")
    assert state.read("x") is None
    state.write("x", "hello")
    assert state.read("x") == "hello"
    assert stat.S_IMODE((tmp_path / "s" / "x").stat().st_mode) == 0o600
    assert state.remove("x") is True
    assert state.remove("x") is False


def test_the_class_commands_do_not_need_the_hub_extra_to_import():
    # `masterclass data` must work without bcrypt, reportlab or the docker SDK.
    import sys

    code = (
        "import sys; sys.modules.update(bcrypt=None, reportlab=None, segno=None, docker=None); "
        "import masterclass.cli"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_purge_empties_the_course_the_formgrader_uses_and_restarts_it(dirs, fake_stack):
    create(dirs, 1)
    _api, client = fake_stack(
        {"pair-01": _active(5)},
        ["masterclass-hub", "masterclass-formgrader"],
        ["masterclass-home-pair-01", "masterclass-course"],
        course=[
            "nbgrader_config.py",
            "language_config.py",
            "source/z-boson/z_boson.ipynb",
            "gradebook.db",
            "submitted/pair-01/z-boson/z_boson.ipynb",
        ],
    )
    write_private(
        dirs[0] / hubstate.EXPORT_MARKER, json.dumps({"time": datetime.now(UTC).isoformat()})
    )
    result = run(dirs, "purge", "--yes")
    assert result.exit_code == 0, result.output
    assert "course (collected notebooks, grades)" in result.output
    # Emptied in place (the formgrader has it mounted), not removed; the formgrader restarts.
    assert client.course == [] and client.restarted == ["masterclass-formgrader"]
    assert [v.name for v in client.volumes.list()] == ["masterclass-course"]
    # After the restart the formgrader wrote its config and sources again: not pupils' work.
    client.course = ["nbgrader_config.py", "language_config.py", "source/z-boson/z_boson.ipynb"]
    again = run(dirs, "purge", "--yes")
    assert again.exit_code == 0 and "Nothing to purge" in again.output, again.output
