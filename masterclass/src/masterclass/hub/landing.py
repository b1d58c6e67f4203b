"""Where a user lands after login: pairs in their JupyterLab, tutors and organisers on the hub.

``c.JupyterHub.default_url`` (``update_landing`` in hub/jupyterhub_config.py) calls
:func:`landing_url` with the request handler. Pairs get ``""``, which keeps JupyterHub's
own behaviour: their server starts and opens with the worksheet. Tutors and organisers
land on the hub's home page, with the admin page (the pairs and their servers) and the
formgrader in the menu, instead of starting a server of their own that they rarely need
(they can still start one there).
"""

from __future__ import annotations

#: Groups whose members land on the hub's home page.
HUB_GROUPS = frozenset({"tutors", "organisers"})


def landing_url(handler) -> str:
    """``/hub/home`` for tutors and organisers, ``""`` (JupyterHub's default) for pairs."""
    user = getattr(handler, "current_user", None)
    groups = {group.name for group in getattr(user, "groups", None) or ()}
    if groups & HUB_GROUPS:
        return f"{handler.hub.base_url.rstrip('/')}/home"
    return ""
