"""The ``static`` discovery method: peers are where their host files say.

For each ``Address = HOST [PORT]`` line in ``hosts/PEER``, in file order, it
offers ``HOST`` with ``PORT``, or else the peer's ``Port`` (default 655), as
tincd does. Host files are read when asked, so an edited file counts from the
next dial; it never pushes.
"""

from __future__ import annotations

from tinca.core.discovery import Candidate, DiscoveryContext, DiscoverySource
from tinca.core.errors import ConfigError

DEFAULT_PORT = "655"


class StaticDiscovery(DiscoverySource):
    """Candidates from ``Address`` lines in host files."""

    name = "static"

    def __init__(self, context: DiscoveryContext) -> None:
        self.config = context.config

    def addresses(self, peer: str) -> list[Candidate]:
        """Every ``Address`` of ``peer``; none when it has no host file."""
        try:
            host = self.config.host(peer)
        except ConfigError:
            return []
        default_port = str(host.get("Port", None) or DEFAULT_PORT)
        return [
            Candidate(address, port or default_port, self.name)
            for address, port in host.get_all("Address")
        ]

    async def candidates(self, peer: str) -> list[Candidate]:
        """:meth:`addresses`: reading a host file needs no waiting."""
        return self.addresses(peer)
