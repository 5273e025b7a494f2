"""tinc's hub mode (``Mode = hub``): every frame goes to everyone.

tincd 1.0.36's RMODE_HUB: frames are broadcast as ``Broadcast`` says (along
the minimum spanning tree by default), and frames from peers also go to our
device; nothing is learned.
"""

from __future__ import annotations

from tinca.core.route.decisions import DROP_TOO_SHORT, Decision
from tinca.core.route.mode import RoutingMode
from tinca.core.route.packet import ETHER_SIZE
from tinca.core.route.router import Router


class HubMode(RoutingMode):
    """Broadcasting every frame for one router."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._broadcast = router.route_broadcast

    def route(self, source: str, packet: bytearray) -> Decision:
        """Every frame of at least an Ethernet header is broadcast."""
        if len(packet) < ETHER_SIZE:
            return DROP_TOO_SHORT
        return self._broadcast(source, packet)
