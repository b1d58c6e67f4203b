"""The exchange volume as the organiser sees it: one listing for ``status`` and ``purge``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from masterclass.grading.layout import EXCHANGE_DIR, parse_inbound
from masterclass.organiser.docker import running_container

if TYPE_CHECKING:
    from masterclass.organiser.settings import Settings

#: Lists everything in the exchange once: type (f, d, ...) and path, NUL-separated.
LIST_EXCHANGE = ["find", str(EXCHANGE_DIR), "-mindepth", "1", "-printf", "%y %P\\0"]


@dataclass
class Exchange:
    """One listing of the exchange: what the class status and the purge need to know."""

    #: Every file in the exchange (paths relative to ``EXCHANGE_DIR``).
    files: list[str] = field(default_factory=list)
    #: Submissions per user (each press of Submit makes one inbound folder).
    submissions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, listing: str) -> Exchange:
        """Parse the NUL-separated ``<type> <relative path>`` entries of :data:`LIST_EXCHANGE`.

        >>> listing = "d day\\0d day/inbound\\0d day/inbound/pair-01+z-boson+t+x\\0"
        >>> Exchange.parse(listing).submissions
        {'pair-01': 1}
        """
        exchange = cls()
        for entry in listing.split("\0"):
            kind, _, path = entry.partition(" ")
            if not path:
                continue
            if kind == "f":
                exchange.files.append(path)
            parts = path.split("/")
            if len(parts) == 3 and parts[1] == "inbound":
                inbound = parse_inbound(parts[2])
                if inbound is not None:
                    exchange.submissions[inbound.user] = (
                        exchange.submissions.get(inbound.user, 0) + 1
                    )
        return exchange


def list_exchange(settings: Settings, client) -> Exchange:
    """The exchange in the running hub container (one ``find``); empty without a hub."""
    hub = running_container(settings.prefix, client, "hub")
    if hub is None:
        return Exchange()
    code, out = hub.exec_run(LIST_EXCHANGE)
    if code != 0 or not out:
        return Exchange()
    return Exchange.parse(out.decode(errors="replace"))
