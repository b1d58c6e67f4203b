"""A JupyterHub authenticator that checks pair and tutor logins against the class roster.

Every pair has its own passphrase (JupyterHub's shared-password authenticator
cannot do that). The roster file is re-read when it changes, so accounts that the
organiser CLI adds take effect without restarting the hub. Repeated failed logins
are throttled per username and client address (the address the login really came
from, masterclass.hub.addresses) and per address; many failures for one username from
all addresses together slow its logins down but lock nobody out. `masterclass class
unlock` lifts a lock (masterclass.hub.lockout); locks and unlocks are logged. Logout
ends every session of the user (masterclass.hub.sessions).

The login page already fills in the username from the link
``/hub/login?username=pair-01`` (JupyterHub 5 and 6 do this natively), so the QR
code on a pair's card only needs that link.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import defaultdict, deque
from pathlib import Path

from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import Bool, Float, Int, List, Unicode, default

from masterclass.hub import lockout
from masterclass.hub.addresses import Fronts, believe_only_our_hops, client_address, normal
from masterclass.messages import text
from masterclass.roster import DEFAULT_PATH, GROUPS, Roster, RosterError


class LoginThrottle:
    """Counts failed logins per key in a sliding window and locks keys that exceed a limit.

    A locked key stays locked for ``lockout`` seconds after its last failure; while it
    is locked, no password is even checked, so guessing costs the attacker time.
    """

    max_keys = 10_000

    def __init__(self, limit: int, window: float, lockout: float, clock=time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        failures = self._failures[key]
        while failures and failures[0] < now - max(self.window, self.lockout):
            failures.popleft()
        return failures

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 if it is not locked."""
        failures = self._recent(key)
        now = self._clock()
        in_window = [t for t in failures if t >= failures[-1] - self.window] if failures else []
        if len(in_window) < self.limit:
            return 0.0
        return max(0.0, failures[-1] + self.lockout - now)

    def fail(self, key: str) -> None:
        """Record a failed login for ``key``."""
        self._recent(key).append(self._clock())
        # Random usernames must not grow the table without bound.
        if len(self._failures) > self.max_keys:
            for stale in [k for k in self._failures if not self._recent(k)]:
                del self._failures[stale]

    def reset(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""
        self._failures.pop(key, None)

    def forget(self, match) -> list[str]:
        """Forget the failures of every key for which ``match(key)`` is true; those keys."""
        keys = [k for k in self._failures if match(k)]
        for key in keys:
            del self._failures[key]
        return keys


class RosterAuthenticator(Authenticator):
    """Log pairs, tutors and organisers in with the passphrases of the class roster.

    Groups come from the roster (``pairs``, ``tutors``, ``organisers``) at every
    login; organisers are hub admins. Only accounts in the roster are allowed.
    """

    roster_path = Unicode(
        help="""Path of the class roster (JSON, mode 600) written by `masterclass class create`.

        Defaults to $MASTERCLASS_ROSTER, else /srv/jupyterhub/state/roster.json.
        """,
    ).tag(config=True)

    @default("roster_path")
    def _default_roster_path(self):
        return os.environ.get("MASTERCLASS_ROSTER", str(DEFAULT_PATH))

    user_failure_limit = Int(
        5,
        help="""Failed logins for one username from one client address within
        `failure_window` before that username is locked for that address.""",
    ).tag(config=True)

    user_failure_ceiling = Int(
        20,
        help="""Failed logins for one username from all addresses together within
        `failure_window` after which every login for it is slowed down by
        `slowdown_seconds` (never refused: the right passphrase still gets in).""",
    ).tag(config=True)

    slowdown_seconds = Float(
        3.0, help="""Seconds each login of a username above `user_failure_ceiling` waits."""
    ).tag(config=True)

    front_hosts = List(
        Unicode(),
        help="""Names or addresses of the HTTPS front(s) and trusted proxies whose
        X-Forwarded-For (or X-Real-Ip) names the client. Everyone else's is ignored.""",
    ).tag(config=True)

    unlock_path = Unicode(
        help="""The unlock requests of `masterclass class unlock` (beside the roster)."""
    ).tag(config=True)

    @default("unlock_path")
    def _default_unlock_path(self):
        return str(Path(self.roster_path).parent / lockout.UNLOCKS_FILE)

    ip_failure_limit = Int(
        30,
        help="""Failed logins from one client address within `failure_window` before it is
        locked. Higher than the per-user limit: a whole school often shares one address.""",
    ).tag(config=True)

    failure_window = Float(300.0, help="""Seconds over which failed logins are counted.""").tag(
        config=True
    )

    lockout_seconds = Float(
        60.0, help="""Seconds a locked username or address has to wait after its last failure."""
    ).tag(config=True)

    # Our own check_allowed is the allow config: only roster accounts may log in.
    @default("any_allow_config")
    def _default_any_allow_config(self):
        return True

    # Group membership follows the roster at every login.
    @default("manage_groups")
    def _default_manage_groups(self):
        return True

    # Organisers become admins at login; nobody else is made admin by config.
    admin_from_roster = Bool(
        True, help="""Make roster organisers JupyterHub admins at login."""
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._roster: Roster | None = None
        self._roster_mtime: float | None = None
        self.user_throttle = LoginThrottle(
            self.user_failure_limit, self.failure_window, self.lockout_seconds
        )
        self.ip_throttle = LoginThrottle(
            self.ip_failure_limit, self.failure_window, self.lockout_seconds
        )
        self.ceiling_throttle = LoginThrottle(
            self.user_failure_ceiling, self.failure_window, self.lockout_seconds
        )
        self.fronts = Fronts(self.front_hosts)
        # Unlock requests from before this start have nothing left to unlock.
        self._unlocks_applied: dict[str, float] = {}
        self._unlocks_mtime = self._read_unlocks()[0]
        lockout.due(self._read_unlocks()[1], self._unlocks_applied)

    def _read_unlocks(self) -> tuple[int | None, dict[str, float]]:
        path = Path(self.unlock_path)
        try:
            return path.stat().st_mtime_ns, lockout.parse(path.read_text(encoding="utf-8"))
        except OSError:
            return None, {}

    def apply_unlocks(self) -> None:
        """Lift the locks `masterclass class unlock` asked for since the last look."""
        mtime, requests = self._read_unlocks()
        if mtime is None or mtime == self._unlocks_mtime:
            return
        self._unlocks_mtime = mtime
        for target in lockout.due(requests, self._unlocks_applied):
            if normal(target) is not None:
                self.ip_throttle.reset(target)
                self.user_throttle.forget(lambda k, t=target: k.endswith(f" from {t}"))
            else:
                self.user_throttle.forget(lambda k, t=target: k.startswith(f"{t} from "))
                self.ceiling_throttle.reset(target)
            self.log.warning("Unlocked logins of %s (masterclass class unlock)", target)

    async def client_address(self, handler) -> str:
        """The address the login came from; also what the hub's request log shows."""
        if handler is None:
            return "unknown"
        fronts = await asyncio.to_thread(self.fronts.addresses)
        ip = client_address(handler.request, fronts)
        handler.request.remote_ip = ip
        return ip

    def _fail(self, username: str, ip: str) -> None:
        """Count a failed login; log each lock as it begins."""
        for throttle, key, who in (
            (self.user_throttle, f"{username} from {ip}", f"{username[:32]!r} from {ip}"),
            (self.ip_throttle, ip, f"every username from {ip}"),
            (self.ceiling_throttle, username, f"{username[:32]!r} from all addresses (slowed)"),
        ):
            locked = throttle.retry_after(key) > 0
            throttle.fail(key)
            if not locked and throttle.retry_after(key) > 0:
                self.log.warning(
                    "Locked logins of %s for %.0f s after %d failures within %.0f s",
                    who, throttle.lockout, throttle.limit, throttle.window,
                )  # fmt: skip

    def get_handlers(self, app):
        """JupyterHub's login page, and a logout that ends every session of the user.

        JupyterHub calls this once, while it builds its web application: the moment to
        make the whole hub process see client addresses as the throttle does.
        """
        from masterclass.hub.sessions import LogoutEverywhere

        if believe_only_our_hops(self.fronts):
            self.log.info(
                "Client addresses believed only via the hub's proxy and %s", self.fronts.names
            )

        return [*super().get_handlers(app), ("/logout", LogoutEverywhere)]

    def roster(self) -> Roster | None:
        """The current roster, re-read when the file changed; None if there is none yet."""
        path = Path(self.roster_path)
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            self.log.warning("No class roster at %s: nobody can log in yet.", path)
            self._roster = self._roster_mtime = None
            return None
        if self._roster is None or mtime != self._roster_mtime:
            try:
                self._roster = Roster.load(path)
            except RosterError as e:
                self.log.error("%s", e)
                return None
            self._roster_mtime = mtime
        return self._roster

    def check_allowed(self, username, authentication=None):
        roster = self.roster()
        return roster is not None and username in roster

    async def authenticate(self, handler, data):
        username = self.normalize_username(data.get("username", ""))
        password = data.get("password", "")
        ip = await self.client_address(handler)
        self.apply_unlocks()
        key = f"{username} from {ip}"

        wait = max(self.user_throttle.retry_after(key), self.ip_throttle.retry_after(ip))
        if wait > 0:
            self.log.warning(
                "Throttled login for %r from %s (%.0f s left)", username[:32], ip, wait
            )
            raise web.HTTPError(429, text("login.throttled", seconds=math.ceil(wait)))
        if self.ceiling_throttle.retry_after(username) > 0:
            # Guessed from many addresses: slow every try down, but lock nobody out.
            self.log.warning("Slowed login for %r from %s", username[:32], ip)
            await asyncio.sleep(self.slowdown_seconds)

        roster = self.roster()
        ok = roster is not None and await asyncio.to_thread(roster.verify, username, password)
        if not ok:
            self._fail(username, ip)
            return None

        self.user_throttle.reset(key)
        role = roster.role(username)
        model = {"name": username, "groups": [GROUPS[role]]}
        if self.admin_from_roster:
            model["admin"] = role == "organiser"
        return model
