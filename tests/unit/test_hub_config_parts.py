"""Each ``update_*`` of hub/jupyterhub_config.py on its own, against a bare traitlets Config.

The TLJH way (tests/test_configurer.py there): every function only *sets* traits of the
config it is given, so applied to a bare ``Config()`` with a small environment it sets
exactly its own traits, and applying it twice changes nothing. test_hub_config.py loads
the whole file as JupyterHub does; this module pins what each part is responsible for.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config

CONFIG = Path(__file__).parents[2] / "hub" / "jupyterhub_config.py"


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """The config file's functions, taken from one run of the file on a throw-away Config."""
    state = tmp_path_factory.mktemp("state")
    namespace = {
        "c": Config(),
        "load_subconfig": lambda path: None,
        "__file__": str(CONFIG),
        "__name__": "jupyterhub_config",
    }
    env = {"MASTERCLASS_NETWORK": "mc-spawn", "MASTERCLASS_STATE_DIR": str(state)}
    import os

    saved = dict(os.environ)
    try:
        os.environ.update(env)
        exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), namespace)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    functions = {k: v for k, v in namespace.items() if k.startswith("update_") and callable(v)}
    return functions, env


#: The config sections each part may set (everything it sets must be listed here).
OWNS = {
    "update_state": {"JupyterHub", "ConfigurableHTTPProxy"},
    "update_network": {"JupyterHub", "ConfigurableHTTPProxy"},
    "update_auth": {"JupyterHub", "RosterAuthenticator"},
    "update_spawner_class": {"JupyterHub"},
    "update_spawner": {"DockerSpawner"},
    "update_swarm": {"SwarmSpawner"},
    "update_spawn_timing": {"Spawner", "JupyterHub"},
    "update_landing": {"JupyterHub", "Spawner"},
    "update_services": {"JupyterHub"},
    "update_roles": {"JupyterHub"},
    "update_pages": {"JupyterHub"},
    "update_headers": {"JupyterHub"},
    "update_grading": {"Spawner"},
    "update_board": {"JupyterHub"},
}


def apply(function, env) -> Config:
    c = Config()
    function(c, env)
    return c


def test_every_part_is_listed_and_applied_by_update_all(parts):
    functions, _ = parts
    assert set(functions) - {"update_all"} == set(OWNS)
    source = CONFIG.read_text()
    for name in OWNS:
        assert f"    {name}(c, env)\n" in source, f"update_all does not call {name}"


@pytest.mark.parametrize("name", sorted(OWNS))
def test_a_part_sets_only_its_own_sections_and_only_sets(parts, name):
    functions, env = parts
    once = apply(functions[name], env)
    assert once, f"{name} sets nothing"
    assert set(once) <= OWNS[name], f"{name} set {set(once) - OWNS[name]}"
    twice = Config()
    functions[name](twice, env)
    functions[name](twice, env)
    assert twice == once, f"{name} is not idempotent: it appends or mutates"


def test_state(parts):
    functions, env = parts
    c = apply(functions["update_state"], env)
    assert c.JupyterHub.db_url.startswith("sqlite:///")
    assert c.JupyterHub.db_url.endswith("/jupyterhub.sqlite")
    assert len(c.ConfigurableHTTPProxy.auth_token) == 64


def test_network_trusts_only_the_named_proxies(parts):
    functions, env = parts
    c = apply(functions["update_network"], {**env, "MASTERCLASS_TRUSTED_PROXIES": "10.0.0.2, "})
    assert c.JupyterHub.trusted_downstream_ips == ["10.0.0.2"]
    assert c.JupyterHub.hub_connect_ip == "hub"


def test_auth_limits_from_the_environment(parts):
    functions, env = parts
    c = apply(functions["update_auth"], {**env, "MASTERCLASS_LOGIN_FAILURES": "3"})
    assert c.RosterAuthenticator.user_failure_limit == 3
    assert c.JupyterHub.authenticator_class.endswith("RosterAuthenticator")


def test_spawner_class_is_chosen_in_one_place(parts):
    functions, env = parts
    c = apply(functions["update_spawner_class"], env)
    assert c.JupyterHub.spawner_class == "masterclass.hub.spawner.PairSpawner"
    c = apply(functions["update_spawner_class"], {**env, "MASTERCLASS_SPAWNER": "x.Y"})
    assert c.JupyterHub.spawner_class == "x.Y"


def test_the_swarm_backend_is_chosen_in_the_same_place(parts):
    functions, env = parts
    c = apply(functions["update_spawner_class"], {**env, "MASTERCLASS_BACKEND": "swarm"})
    assert c.JupyterHub.spawner_class == "masterclass.hub.swarm.SwarmSpawner"
    with pytest.raises(ValueError, match="MASTERCLASS_BACKEND"):
        apply(functions["update_spawner_class"], {**env, "MASTERCLASS_BACKEND": "k8s"})


def test_swarm_reserves_the_measured_peak_on_pair_nodes(parts):
    functions, env = parts
    from masterclass.sizing import pair_reservation_bytes

    c = apply(functions["update_swarm"], env)
    assert c.SwarmSpawner.mem_guarantee == pair_reservation_bytes()
    assert c.SwarmSpawner.pair_node_label == "masterclass.pairs"
    c = apply(functions["update_swarm"], {**env, "MASTERCLASS_MEM_RESERVATION": "2G"})
    assert c.SwarmSpawner.mem_guarantee == "2G"


def test_spawner_names_and_limits(parts):
    functions, env = parts
    from masterclass import names

    c = apply(functions["update_spawner"], {**env, "MASTERCLASS_PREFIX": "school"})
    d = c.DockerSpawner
    volume = next(iter(d.volumes))
    assert volume.format(username="pair-01") == names.home_volume("school", "pair-01")
    assert d.escape("pair-01") == "pair-01"
    assert d.extra_host_config["cap_drop"] == ["ALL"]
    assert d.network_name == "mc-spawn"


def test_spawner_needs_the_network(parts):
    functions, _env = parts
    with pytest.raises(KeyError, match="MASTERCLASS_NETWORK"):
        apply(functions["update_spawner"], {})


def test_spawn_timing(parts):
    functions, env = parts
    c = apply(functions["update_spawn_timing"], {**env, "MASTERCLASS_START_TIMEOUT": "42"})
    assert c.Spawner.start_timeout == 42
    assert c.JupyterHub.cleanup_servers is False


def test_landing_passes_the_class_language(parts):
    functions, env = parts
    c = apply(functions["update_landing"], {**env, "MASTERCLASS_LANG": "en"})
    assert c.Spawner.environment["MASTERCLASS_LANG"] == "en"


def test_services_and_roles_name_each_other(parts):
    functions, env = parts
    services = apply(functions["update_services"], env).JupyterHub.services
    roles = apply(functions["update_roles"], env).JupyterHub.load_roles
    service_names = {s["name"] for s in services}
    for role in roles:
        assert set(role.get("services", [])) <= service_names, role["name"]


def test_pages_and_headers(parts):
    functions, env = parts
    c = apply(functions["update_pages"], env)
    assert c.JupyterHub.template_vars["masterclass"]
    headers = apply(functions["update_headers"], env).JupyterHub.tornado_settings["headers"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_grading_scopes(parts):
    functions, env = parts
    c = apply(functions["update_grading"], env)
    assert "access:services!service=exchange" in c.Spawner.server_token_scopes
