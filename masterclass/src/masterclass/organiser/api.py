"""The JupyterHub REST API as the organiser CLI uses it, with the ``masterclass-cli`` token."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from masterclass.organiser.errors import StackError, short
from masterclass.organiser.state import TOKEN_FILE

if TYPE_CHECKING:
    from masterclass.organiser.settings import Settings


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
                f"The hub does not answer at {settings.api_url} ({short(e)}). "
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
            raise StackError(f"The hub API failed on {method} {path}: {short(e)}", "hub") from None
        if r.status_code not in ok:
            raise StackError(
                f"The hub API answered HTTP {r.status_code} on {method} {path}: {r.text[:300]}",
                "hub",
            )
        return r

    def users(self, include_stopped: bool = False) -> dict[str, dict]:
        """Every hub user's model (name → model), following the API's pagination.

        *include_stopped*: stopped servers too, with their spawner state (on a swarm, the
        node that holds the pair's home).
        """
        users: dict[str, dict] = {}
        offset = 0
        stopped = {"include_stopped_servers": 1} if include_stopped else {}
        while True:
            r = self.request(
                "GET",
                "/users",
                params={"offset": offset, "limit": 200, **stopped},
                headers={"Accept": "application/jupyterhub-pagination+json"},
            )
            body = r.json()
            items = body["items"] if isinstance(body, dict) else body
            users.update({u["name"]: u for u in items})
            nxt = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
            if not nxt or not items:
                return users
            offset = nxt["offset"]

    def create_user(self, name: str) -> None:
        """Make sure the hub knows *name* (it exists already after the pair's first login)."""
        self.request("POST", f"/users/{name}", ok=(201, 409))


def server_state(model: dict | None) -> str:
    """``running``, ``starting``, ``stopping`` or ``stopped`` from a hub user model.

    >>> server_state(None), server_state({"pending": "spawn"})
    ('stopped', 'starting')
    >>> server_state({"servers": {"": {"ready": True}}})
    'running'
    """
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
