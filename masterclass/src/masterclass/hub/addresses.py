"""The address a login really came from, believing forwarding headers only from our own hops.

Tornado (with JupyterHub's ``xheaders``) takes ``X-Real-Ip`` and ``X-Forwarded-For``
from whoever sends them, and a pair's code reaches the hub's proxy (``hub:8000``) and
the hub itself (``hub:8081``) directly on the spawn network. So the login throttle
walks the chain itself, from the TCP peer backwards, and believes a hop's header only
when that hop is one of ours:

- the hub's own proxy (configurable-http-proxy, in a container whose network namespace
  the hub shares, so it connects from one of the hub's own addresses: loopback, or the
  spawn network's when it reaches the hub as ``hub:8081``) appends the address it saw
  to ``X-Forwarded-For``;
- the HTTPS front (Caddy, a container of its own, found by its name on the stack's
  network, ``MASTERCLASS_FRONT_HOST``) and any proxy named in
  ``MASTERCLASS_TRUSTED_PROXIES`` also append (or set) ``X-Forwarded-For``; ``X-Real-Ip``
  counts only when such a front sent no ``X-Forwarded-For``.

Anything a client claims to the left of the first untrusted hop is ignored.
:func:`believe_only_our_hops` puts the same walk into tornado's ``xheaders`` for the
whole hub process, so that its request log and everything else that reads
``request.remote_ip`` see the same honest address.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> def request(peer, **headers):
...     return NS(connection=NS(context=NS(address=(peer, 5000))), headers=headers,
...               remote_ip=headers.get("X-Real-Ip", peer))
>>> client_address(request("172.20.0.5", **{"X-Real-Ip": "10.9.9.9"}), set())
'172.20.0.5'
>>> client_address(request("127.0.0.1", **{"X-Forwarded-For": "10.9.9.9, 172.20.0.5",
...                                         "X-Real-Ip": "10.9.9.8"}), set())
'172.20.0.5'
>>> client_address(request("127.0.0.1", **{"X-Forwarded-For": "10.9.9.9, 192.0.2.7, 172.18.0.3",
...                                         "X-Real-Ip": "192.0.2.7"}), {"172.18.0.3"})
'192.0.2.7'
>>> client_address(request("::ffff:127.0.0.1", **{"X-Forwarded-For": "::ffff:172.20.0.5"}), set())
'172.20.0.5'
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import time


def normal(address: str | None) -> str | None:
    """*address* as one spelling (IPv4-mapped IPv6 as IPv4); None if it is no address."""
    try:
        ip = ipaddress.ip_address((address or "").strip().strip("[]"))
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


@functools.lru_cache(maxsize=256)
def own_address(address: str) -> bool:
    """Whether *address* is one of this machine's (container's) own: it can be bound to."""
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


def peer_address(request) -> str | None:
    """The TCP peer of *request*, before tornado's ``xheaders`` rewrote ``remote_ip``."""
    context = getattr(getattr(request, "connection", None), "context", None)
    address = getattr(context, "address", None)
    if isinstance(address, tuple) and address:
        return normal(str(address[0]))
    return normal(getattr(request, "remote_ip", None))


def client_address(request, fronts) -> str:
    """The client's address: the TCP peer, walked back only through our own hops.

    *fronts* is a set of addresses or a :class:`Fronts` (looked up only when needed).
    """
    address = peer_address(request)
    if address is None:
        return "unknown"
    if isinstance(fronts, Fronts):
        fronts = fronts.addresses() if fronts.names else set()
    headers = getattr(request, "headers", None) or {}
    forwarded = [h for h in headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    # The hub's own proxy shares the hub's network namespace and appends the address it saw.
    while own_address(address) or address in fronts:
        if forwarded:
            hop = normal(forwarded.pop())
            if hop is None:
                break
            address = hop
        else:
            real = normal(headers.get("X-Real-Ip"))
            if real is not None and address in fronts:
                address = real
            break
    return address


def believe_only_our_hops(fronts: Fronts) -> bool:
    """Make tornado's ``remote_ip`` in this process the walk of :func:`client_address`.

    Tornado's ``xheaders`` believe X-Real-Ip and X-Forwarded-For from anyone; this
    wraps its (private, pinned in hub/requirements.txt) ``_apply_xheaders`` so that the
    scheme is taken as before and the address as above. False if tornado has no such
    method (then only the login throttle is honest) or it is wrapped already.
    """
    from types import SimpleNamespace

    from tornado import httpserver

    context = getattr(httpserver, "_HTTPRequestContext", None)
    original = getattr(context, "_apply_xheaders", None)
    if original is None or getattr(original, "believes_only_our_hops", False):
        return False

    def apply(self, headers) -> None:
        original(self, headers)
        request = SimpleNamespace(connection=SimpleNamespace(context=self), headers=headers)
        self.remote_ip = client_address(request, fronts)

    apply.believes_only_our_hops = True
    context._apply_xheaders = apply
    return True


class Fronts:
    """The addresses of the HTTPS front(s), looked up by name, remembered for ``ttl`` s.

    A front's container gets a new address when it is recreated, so the names are
    looked up again after ``ttl`` seconds; a name that does not resolve (no front
    running) trusts nothing.
    """

    def __init__(self, names: list[str], ttl: float = 10.0, clock=time.monotonic) -> None:
        self.names = [n for n in names if n]
        self.ttl = ttl
        self._clock = clock
        self._until = -1.0
        self._addresses: set[str] = set()

    def addresses(self) -> set[str]:
        if self._clock() < self._until:
            return self._addresses
        found: set[str] = set()
        for name in self.names:
            if normal(name) is not None:
                found.add(normal(name))
                continue
            try:
                infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            except OSError:
                continue
            found |= {normal(info[4][0]) for info in infos} - {None}
        self._addresses, self._until = found, self._clock() + self.ttl
        return found
