"""The results board in hub/jupyterhub_config.py: its service, roles, scope and the pairs' URL."""

from __future__ import annotations

import re

from test_hub_config import env, load  # noqa: F401 (the fixture)

from masterclass.board.service import PROJECTOR_SCOPE


def test_the_board_is_a_managed_service_with_its_store_and_the_class_language(env):  # noqa: F811
    env.setenv("MASTERCLASS_LANG", "en")
    env.setenv("MASTERCLASS_RESULTS_DIR", "/data/results")
    c = load()
    service = {s["name"]: s for s in c.JupyterHub.services}["results"]
    assert service["command"][1:] == [
        "-m",
        "masterclass.board.service",
        "--root=/data/results",
        "--lang=en",
        "--heartbeat=10",
    ]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", service["url"])
    assert service["oauth_client_allowed_scopes"] == [PROJECTOR_SCOPE]
    assert service["oauth_no_confirm"] is True
    assert PROJECTOR_SCOPE in c.JupyterHub.custom_scopes


def test_pairs_post_with_their_server_token_and_only_staff_see_the_projector(env):  # noqa: F811
    c = load()
    assert "access:services!service=results" in c.Spawner.server_token_scopes
    assert c.Spawner.environment["MASTERCLASS_RESULTS_URL"] == "http://hub:8000/services/results/"
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert set(roles["results-user"]["groups"]) == {"pairs", "tutors", "organisers"}
    assert roles["results-projector"]["scopes"] == [PROJECTOR_SCOPE]
    assert set(roles["results-projector"]["groups"]) == {"tutors", "organisers"}
    pair_scopes = {s for r in roles.values() if "pairs" in r.get("groups", []) for s in r["scopes"]}
    assert PROJECTOR_SCOPE not in pair_scopes
    assert PROJECTOR_SCOPE not in c.Spawner.server_token_scopes


def test_the_custom_scope_is_one_jupyterhub_accepts(env):  # noqa: F811
    from jupyterhub.scopes import _custom_scope_pattern

    for scope in load().JupyterHub.custom_scopes:
        assert _custom_scope_pattern.match(scope), scope
