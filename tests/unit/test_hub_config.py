"""hub/jupyterhub_config.py loaded by traitlets, as JupyterHub does, with a fake environment."""

import shutil
import stat
import sys
from pathlib import Path

import pytest
from traitlets.config import Config, PyFileConfigLoader

CONFIG = Path(__file__).parents[2] / "hub" / "jupyterhub_config.py"
GiB = 2**30


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("MASTERCLASS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MASTERCLASS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MASTERCLASS_NETWORK", "mc-spawn")
    return monkeypatch


def load(path=CONFIG) -> Config:
    loader = PyFileConfigLoader(path.name, str(path.parent))
    return loader.load_config()


def test_required_network_fails_loudly(env):
    env.delenv("MASTERCLASS_NETWORK")
    with pytest.raises(KeyError, match="MASTERCLASS_NETWORK"):
        load()


def test_state_lives_in_the_state_volume_with_private_secrets(env, tmp_path):
    c = load()
    state = tmp_path / "state"
    assert c.JupyterHub.db_url == f"sqlite:///{state}/jupyterhub.sqlite"
    assert c.JupyterHub.cookie_secret_file == f"{state}/jupyterhub_cookie_secret"
    token = (state / "proxy_token").read_text().strip()
    assert c.ConfigurableHTTPProxy.auth_token == token and len(token) == 64
    assert stat.S_IMODE((state / "proxy_token").stat().st_mode) == 0o600
    # the same token after a restart
    assert load().ConfigurableHTTPProxy.auth_token == token


def test_defaults_for_a_class(env):
    c = load()
    d = c.DockerSpawner
    assert c.JupyterHub.spawner_class == "masterclass.hub.spawner.PairSpawner"
    assert d.image == "masterclass/student:latest"
    assert d.allowed_images == ["masterclass/student:latest"]
    assert d.network_name == "mc-spawn" and d.use_internal_ip is True
    assert d.volumes == {"masterclass-home-{username}": "/home/jovyan"}
    assert d.remove is True and c.JupyterHub.cleanup_servers is False
    assert d.mem_limit == "8G" and d.extra_host_config["memswap_limit"] == "8G"
    assert d.cpu_limit == 2.0
    assert d.extra_host_config["pids_limit"] == 1024
    assert d.extra_host_config["security_opt"] == ["no-new-privileges"]
    assert d.extra_host_config["cap_drop"] == ["ALL"]
    assert d.extra_create_kwargs == {"user": "1000:1000"}
    assert c.Spawner.start_timeout >= 120 and c.Spawner.http_timeout >= 60
    assert c.JupyterHub.concurrent_spawn_limit >= 30
    assert c.Spawner.default_url == "/lab"
    assert c.Spawner.environment == {
        "MASTERCLASS_LANG": "de",
        "MASTERCLASS_EXCHANGE_URL": "http://hub:8000/services/exchange/",
        "MASTERCLASS_RESULTS_URL": "http://hub:8000/services/results/",
        "MASTERCLASS_WORKSHEET": "",
    }
    assert c.Spawner.args == [
        "--ServerApp.kernel_websocket_connection_class=masterclass.toolkit.oom.OOMAwareConnection",
        "--ServerApp.contents_manager_class=masterclass.toolkit.diskfull.DiskAwareContentsManager",
    ]
    assert c.JupyterHub.authenticator_class.endswith("RosterAuthenticator")
    assert c.RosterAuthenticator.roster_path.endswith("state/roster.json")
    assert c.JupyterHub.hub_connect_ip == "hub"
    assert c.JupyterHub.trusted_downstream_ips == []
    # The proxy is a container of its own (images/proxy), in whose network namespace the
    # hub runs: the hub must not start one, and reaches its API on the loopback.
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:8001"
    assert c.JupyterHub.last_activity_interval == 30


def test_dockerspawner_reads_names_volume_and_8_gib(env):
    from types import SimpleNamespace

    from dockerspawner import DockerSpawner

    user = SimpleNamespace(name="pair-01", id=1, url="/user/pair-01/")
    spawner = DockerSpawner(config=load(), user=user)
    assert spawner.container_name == "masterclass-pair-01"
    assert spawner.volume_binds == {
        "masterclass-home-pair-01": {"bind": "/home/jovyan", "mode": "rw"}
    }
    assert spawner.mem_limit == 8 * GiB
    other = DockerSpawner(config=load(), user=SimpleNamespace(name="pair.01", id=2, url="/"))
    assert other.container_name == "masterclass-x-pair-2E01"
    assert spawner.cpu_limit == 2.0
    assert spawner.allowed_images == {"masterclass/student:latest": "masterclass/student:latest"}


def test_environment_overrides(env):
    env.setenv("MASTERCLASS_MEM_LIMIT", "512M")
    env.setenv("MASTERCLASS_CPU_LIMIT", "1.5")
    env.setenv("MASTERCLASS_PIDS_LIMIT", "256")
    env.setenv("MASTERCLASS_PREFIX", "mctest1")
    env.setenv("MASTERCLASS_STUDENT_IMAGE", "masterclass/student:test")
    env.setenv("MASTERCLASS_WORKSHEET", "masterclass/worksheet/worksheet.ipynb")
    env.setenv("MASTERCLASS_LANG", "en")
    env.setenv("MASTERCLASS_OOM_MESSAGE", "0")
    env.setenv("MASTERCLASS_TRUSTED_PROXIES", "172.30.0.10, 172.30.0.11")
    env.setenv("MASTERCLASS_CULL_TIMEOUT", "600")
    env.setenv("MASTERCLASS_SPAWNER", "masterclass.swarm.SwarmSpawner")
    c = load()
    d = c.DockerSpawner
    assert d.mem_limit == "512M" and d.extra_host_config["memswap_limit"] == "512M"
    assert d.cpu_limit == 1.5 and d.extra_host_config["pids_limit"] == 256
    assert d.prefix == "mctest1"
    assert d.volumes == {"mctest1-home-{username}": "/home/jovyan"}
    assert d.allowed_images == ["masterclass/student:test"]
    assert c.Spawner.default_url == "/lab/tree/masterclass/worksheet/worksheet.ipynb"
    assert c.Spawner.environment["MASTERCLASS_LANG"] == "en"
    # The pair's server keeps the worksheet's place (masterclass.grading.autofetch).
    worksheet = c.Spawner.environment["MASTERCLASS_WORKSHEET"]
    assert worksheet == "masterclass/worksheet/worksheet.ipynb"
    assert c.JupyterHub.template_vars["masterclass_pages"]["lang"] == "en"
    assert c.Spawner.args == [
        "--ServerApp.contents_manager_class=masterclass.toolkit.diskfull.DiskAwareContentsManager"
    ]
    assert c.JupyterHub.trusted_downstream_ips == ["172.30.0.10", "172.30.0.11"]
    assert "--timeout=600" in c.JupyterHub.services[0]["command"]
    assert c.JupyterHub.spawner_class == "masterclass.swarm.SwarmSpawner"


def test_idle_culler_outlasts_lunch_and_may_only_stop_servers(env):
    c = load()
    services = {s["name"]: s for s in c.JupyterHub.services}
    service = services["idle-culler"]
    assert service["command"][:3] == [sys.executable, "-m", "jupyterhub_idle_culler"]
    timeout = int(next(a for a in service["command"] if a.startswith("--timeout=")).split("=")[1])
    assert timeout >= 2 * 3600
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["idle-culler"]["services"] == ["idle-culler"]
    assert "delete:servers" in roles["idle-culler"]["scopes"]
    assert "admin:users" not in roles["idle-culler"]["scopes"]


def test_rbac_tutors_help_pairs_organisers_admin(env):
    roles = {r["name"]: r for r in load().JupyterHub.load_roles}
    tutor = roles["tutor"]
    assert tutor["groups"] == ["tutors"]
    assert {"access:servers!group=pairs", "servers!group=pairs"} <= set(tutor["scopes"])
    # The admin page, but no admin rights: it shows and acts on what the other scopes allow.
    assert "admin-ui" in tutor["scopes"]
    assert not [s for s in tutor["scopes"] if s.startswith("admin:")]
    assert roles["pair"] == {"name": "pair", "scopes": ["self"], "groups": ["pairs"]}
    assert roles["admin"]["groups"] == ["organisers"]


def test_roles_are_valid_jupyterhub_scopes(env):
    from jupyterhub import scopes

    c = load()
    for role in c.JupyterHub.load_roles:
        for scope in role.get("scopes", []):
            base = scope.split("!")[0]
            assert base in scopes.scope_definitions or base in c.JupyterHub.custom_scopes, scope


def test_escape_hatch_is_applied_last(env, tmp_path):
    hub = tmp_path / "hub"
    (hub / "jupyterhub_config.d").mkdir(parents=True)
    shutil.copy(CONFIG, hub / "jupyterhub_config.py")
    (hub / "jupyterhub_config.d" / "50-site.py").write_text("c.DockerSpawner.cpu_limit = 4.0\n")
    assert load(hub / "jupyterhub_config.py").DockerSpawner.cpu_limit == 4.0


def test_the_organiser_cli_has_a_private_token_and_only_user_and_server_admin(env, tmp_path):
    c = load()
    services = {s["name"]: s for s in c.JupyterHub.services}
    token_file = tmp_path / "state" / "cli-api-token"
    assert services["masterclass-cli"]["api_token"] == token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o777 == 0o600
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["masterclass-cli"]["scopes"] == ["admin:users", "admin:servers"]
    assert roles["masterclass-cli"]["services"] == ["masterclass-cli"]


def test_the_formgrader_is_a_service_for_tutors_with_a_private_token(env, tmp_path):
    c = load()
    service = {s["name"]: s for s in c.JupyterHub.services}["formgrader"]
    token_file = tmp_path / "secrets" / "formgrader-api-token"
    assert service["api_token"] == token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o777 == 0o600
    # Not the CLI's token: the formgrader container must not act as the organiser CLI.
    assert service["api_token"] != (tmp_path / "state" / "cli-api-token").read_text().strip()
    assert service["url"] == "http://formgrader:8888"
    assert service["oauth_no_confirm"] is True
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["formgrader-user"]["scopes"] == ["access:services!service=formgrader"]
    assert set(roles["formgrader-user"]["groups"]) == {"tutors", "organisers"}
    # Pairs get the exchange, never the formgrader.
    pair_scopes = {s for r in roles.values() if "pairs" in r.get("groups", []) for s in r["scopes"]}
    assert not any("formgrader" in s for s in pair_scopes)
    assert not any("formgrader" in s for s in c.Spawner.server_token_scopes)


def test_tutors_and_organisers_land_on_the_hub_pairs_on_their_server(env):
    from types import SimpleNamespace as NS

    landing = load().JupyterHub.default_url
    hub = NS(base_url="/hub/")

    def handler(*groups):
        user = NS(groups=[NS(name=g) for g in groups])
        return NS(current_user=user, hub=hub)

    assert landing(handler("tutors")) == "/hub/home"
    assert landing(handler("organisers")) == "/hub/home"
    # "" keeps JupyterHub's default for pairs: start the server, open the worksheet.
    assert landing(handler("pairs")) == ""
    assert landing(NS(current_user=None, hub=hub)) == ""
