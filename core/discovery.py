"""The contract of discovery plugins: where can a peer be reached?

A discovery method (``Discovery = static ...`` in tinc.conf) is built once per
configuration and asked, per peer, for candidate addresses in preference
order. Candidates are unresolved: the daemon resolves names without blocking
its loop, and tries them in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Candidate:
    """One way to reach a peer: a host name or address, a port, and who said so."""

    host: str
    port: str
    source: str


class DiscoveryMethod(Protocol):
    """Built by a discovery factory: ``factory(config) -> DiscoveryMethod``."""

    def candidates(self, peer: str) -> list[Candidate]:
        """Addresses to try for ``peer``, best first (may be empty)."""
        ...
