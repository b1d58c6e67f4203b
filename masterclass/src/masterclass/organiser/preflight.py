"""Preflight checks of a class day: can this server carry the class? One row per check.

Every check returns a :class:`Row` with ``go``, ``warn`` or ``no-go`` and a reason a
teacher can act on. ``masterclass class check`` prints them and fails on any no-go.

Capacity is sized with the **measured** peak of one training pair
(:data:`PAIR_PEAK_GB`), not with the 8 GB container limit: the limit only stops a
runaway notebook, while the peak is what a pair really uses at its most expensive
step (training).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

# Peak resident memory of one training pair (GB), measured; defined once in sizing.
from masterclass.sizing import PAIR_PEAK_GB

#: Memory kept free for the system, Docker, the hub and the page cache of the image (GB).
RESERVED_GB = 2.0
#: Pairs per CPU core. Worst case all pairs train at once: 3 epochs take about 107 s of
#: two cores (docs/toolkit.md), so with two pairs per core training takes about 7 minutes,
#: still within the worksheet's training block. Idle pairs cost almost no CPU.
PAIRS_PER_CORE = 2
#: Disk per pair: its home volume (worksheet, saved models, plots) with headroom (GB).
DISK_PER_PAIR_GB = 0.5
#: Disk kept free for Docker's logs, the hub database and an image update (GB).
DISK_RESERVED_GB = 5.0
#: A certificate that expires within this many days is a no-go; within WARN_DAYS a warning.
CERT_NOGO_DAYS, CERT_WARN_DAYS = 2, 14

GO, WARN, NOGO = "go", "warn", "no-go"


@dataclass(frozen=True)
class Row:
    """One line of the preflight table."""

    check: str
    status: str
    reason: str


def meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    """``/proc/meminfo`` in bytes (MemTotal, MemAvailable, ...)."""
    values = {}
    for line in Path(path).read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return values


def cpu_cores() -> int:
    """Cores this process may use (the affinity mask, not just the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def pairs_by_memory(available_bytes: int) -> int:
    """Training pairs that fit into ``available_bytes`` at their measured peak."""
    return max(0, math.floor((available_bytes / 1e9 - RESERVED_GB) / PAIR_PEAK_GB))


def pairs_by_cpu(cores: int) -> int:
    return cores * PAIRS_PER_CORE


def pairs_by_disk(free_bytes: int) -> int:
    return max(0, math.floor((free_bytes / 1e9 - DISK_RESERVED_GB) / DISK_PER_PAIR_GB))


def memory_row(pairs: int, available_bytes: int, in_use_by_pairs: int = 0) -> Row:
    """Memory: available now (plus what the class's own containers already hold)."""
    usable = available_bytes + in_use_by_pairs
    carry = pairs_by_memory(usable)
    reason = (
        f"{usable / 1e9:.1f} GB available: {carry} pairs at the measured peak of "
        f"{PAIR_PEAK_GB} GB per training pair ({RESERVED_GB:.0f} GB kept for the system)"
    )
    return Row("memory", GO if carry >= pairs else NOGO, f"{reason}; class: {pairs} pairs")


def overcommit_row(pairs: int, limit_bytes: int, total_bytes: int) -> Row:
    """The containers' memory limits against the machine's memory, and why an excess is safe.

    Every pair's container and the formgrader get ``MASTERCLASS_MEM_LIMIT`` (8G), so
    their limits add up to more than most servers have. That is deliberate: the limit
    only stops a runaway notebook, while a pair really needs its measured peak. The
    row says how far the limits overcommit the memory, how many containers could reach
    their limit at the same time, and the limit that would rule the excess out.
    Sizes in GiB, as Docker reads ``8G``.

    >>> overcommit_row(3, 8 * 2**30, 24 * 2**30).status
    'warn'
    >>> overcommit_row(3, 5 * 2**30, 24 * 2**30).status
    'go'
    """
    gib = 2**30
    containers = pairs + 1  # the pairs and the formgrader, all with the same limit
    limit, memory = limit_bytes / gib, total_bytes / gib
    usable = memory - RESERVED_GB * 1e9 / gib
    if containers * limit <= usable:
        return Row(
            "memory limits",
            GO,
            f"{containers} containers × {limit:g}G = {containers * limit:.0f} GiB of "
            f"{memory:.0f} GiB: every container can reach its limit at once",
        )
    at_once = max(0, math.floor(usable / limit))
    safe = math.floor(max(usable, 0) / containers * 10) / 10
    return Row(
        "memory limits",
        WARN,
        f"{pairs} pairs and the formgrader × {limit:g}G = {containers * limit:.0f} GiB against "
        f"{memory:.0f} GiB ({containers * limit / memory:.1f}× overcommitted, on purpose): a "
        f"pair needs its measured peak, {PAIR_PEAK_GB} GB, the limit only stops a runaway "
        f"notebook. Only {at_once} containers could reach their limit at the same time; if "
        "more grow that far, the kernel ends the largest process on the machine (usually "
        "the kernel of the pair using the most; the others go on). To rule this out, set "
        f"MASTERCLASS_MEM_LIMIT={safe:g}G or less",
    )


def cpu_row(pairs: int, cores: int) -> Row:
    carry = pairs_by_cpu(cores)
    reason = f"{cores} cores: {carry} pairs at {PAIRS_PER_CORE} pairs per core"
    return Row("CPU", GO if carry >= pairs else NOGO, f"{reason}; class: {pairs} pairs")


def disk_row(pairs: int, path: str | os.PathLike) -> Row:
    free = shutil.disk_usage(path).free
    carry = pairs_by_disk(free)
    need = DISK_RESERVED_GB + pairs * DISK_PER_PAIR_GB
    reason = f"{free / 1e9:.1f} GB free on {path}; the class needs about {need:.1f} GB"
    return Row("disk", GO if carry >= pairs else NOGO, reason)


def homes_row(pairs: int, quota_bytes: int, free_bytes: int, where: str) -> Row:
    """The pairs' homes at their bound (MASTERCLASS_HOME_QUOTA) against the free disk.

    >>> homes_row(10, 2 * 2**30, 100 * 10**9, "/var/lib/masterclass").status
    'go'
    >>> homes_row(10, 0, 100 * 10**9, "/var/lib/masterclass").status
    'warn'
    """
    if quota_bytes == 0:
        return Row(
            "homes",
            WARN,
            "no bound per home (MASTERCLASS_HOME_QUOTA=0): one pair can fill this disk",
        )
    need = pairs * quota_bytes / 1e9 + DISK_RESERVED_GB
    reason = (
        f"{pairs} homes of at most {quota_bytes / 2**30:g}G each (MASTERCLASS_HOME_QUOTA) "
        f"need up to {need:.1f} GB with the reserve; {free_bytes / 1e9:.1f} GB free on {where}"
    )
    return Row("homes", GO if need * 1e9 <= free_bytes else NOGO, reason)


def capacity_row(pairs: int, available_bytes: int, cores: int, free_disk: int) -> Row:
    """How many pairs this server can really carry: the smallest of the three limits."""
    limits = {
        "memory": pairs_by_memory(available_bytes),
        "CPU": pairs_by_cpu(cores),
        "disk": pairs_by_disk(free_disk),
    }
    bound = min(limits, key=limits.get)
    carry = limits[bound]
    return Row(
        "capacity",
        GO if carry >= pairs else NOGO,
        f"this server carries {carry} pairs (limited by {bound}); the class has {pairs}",
    )


def is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(info[4][0].startswith(("127.", "::1")) for info in infos)


def tls_row(url: str, timeout: float = 10, now: datetime | None = None) -> Row:
    """The certificate of an https URL: trusted by this machine? How many days left?"""
    parts = urlsplit(url)
    if parts.scheme != "https":
        if is_loopback(parts.hostname or "localhost"):
            return Row("TLS", WARN, f"{url} is plain HTTP on this machine only (no certificate)")
        return Row("TLS", WARN, f"{url} is plain HTTP: passphrases cross the network unencrypted")
    host, port = parts.hostname, parts.port or 443
    from cryptography import x509

    trusted, why = True, ""
    try:
        der = _peer_certificate(host, port, verify=True, timeout=timeout)
    except ssl.SSLCertVerificationError as e:
        trusted, why = False, e.verify_message or str(e)
        der = _peer_certificate(host, port, verify=False, timeout=timeout)
    except OSError as e:
        return Row("TLS", NOGO, f"no TLS connection to {host}:{port}: {e}")
    cert = x509.load_der_x509_certificate(der)
    days = (cert.not_valid_after_utc - (now or datetime.now(UTC))).total_seconds() / 86400
    until = cert.not_valid_after_utc.date().isoformat()
    if days < CERT_NOGO_DAYS:
        return Row("TLS", NOGO, f"certificate of {host} expires on {until} ({days:.0f} days)")
    if not trusted:
        return Row(
            "TLS",
            WARN,
            f"certificate of {host} valid {days:.0f} more days, but not trusted here ({why}): "
            "browsers will warn once (MASTERCLASS_TLS=internal)",
        )
    status = WARN if days < CERT_WARN_DAYS else GO
    return Row("TLS", status, f"certificate of {host} trusted, valid {days:.0f} more days")


def _peer_certificate(host: str, port: int, verify: bool, timeout: float) -> bytes:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        return tls.getpeercert(binary_form=True)


def hub_row(url: str, timeout: float = 10) -> Row:
    """The hub answers ``/hub/health`` through the address printed on the cards."""
    host = urlsplit(url).hostname or ""
    start = time.monotonic()
    try:
        r = httpx.get(f"{url}/hub/health", timeout=timeout, verify=False, follow_redirects=True)
    except httpx.HTTPError as e:
        return Row("hub", NOGO, f"{url} does not answer: {e}")
    ms = (time.monotonic() - start) * 1000
    if r.status_code != 200:
        return Row("hub", NOGO, f"{url}/hub/health answered HTTP {r.status_code}")
    if is_loopback(host):
        return Row(
            "hub",
            WARN,
            f"answers in {ms:.0f} ms, but {host} is this machine only: pupils' computers "
            "cannot use it; set MASTERCLASS_PUBLIC_URL",
        )
    return Row("hub", GO, f"answers through {url} in {ms:.0f} ms")
