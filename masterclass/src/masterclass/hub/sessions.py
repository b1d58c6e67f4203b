"""Logout that ends the session everywhere: copied cookies die with it.

JupyterHub's login cookie (``jupyterhub-hub-login``) holds the user's ``cookie_id``,
signed; its own logout only asks the browser to forget the cookie, so a copy (another
browser, a pupil who copied it) keeps working until it expires. Here logout also gives
the user a new ``cookie_id``, so every hub cookie issued before no longer names anyone,
and deletes the user's OAuth tokens of servers and services (the cookies of JupyterLab
and the formgrader), not only those of this browser's session. A single-user server
keeps a token it has checked for up to five minutes (HubAuth's cache).

The authenticator installs it as the hub's ``/logout`` (``get_handlers``).
"""

from __future__ import annotations

from jupyterhub import orm
from jupyterhub.handlers.login import LogoutHandler
from jupyterhub.utils import new_token


def end_sessions(db, orm_user) -> int:
    """Give *orm_user* a new cookie id and delete its browser tokens; how many were deleted.

    Browser tokens are the OAuth tokens issued to a login session (they carry its
    session id); the server's own API token and tokens made on the token page stay.
    """
    orm_user.cookie_id = new_token()
    tokens = (
        db.query(orm.APIToken)
        .filter(orm.APIToken.user_id == orm_user.id)
        .filter(orm.APIToken.session_id.isnot(None))
        .all()
    )
    for token in tokens:
        db.delete(token)
    db.commit()
    return len(tokens)


class LogoutEverywhere(LogoutHandler):
    """JupyterHub's logout, plus: the user's old cookies and browser tokens stop working."""

    async def handle_logout(self):
        user = self.current_user
        if user is None:
            return
        count = end_sessions(self.db, user.orm_user)
        self.log.info("Ended every session of %s (new cookie id, %d tokens gone)", user.name, count)
