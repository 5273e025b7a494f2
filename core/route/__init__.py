"""Packet routing as tincd 1.0.36 does it, without I/O.

- :mod:`.subnet_table`: which node owns an address (subnet lookups);
- :mod:`.router`: what to do with a packet (:class:`Router`, decisions);
- :mod:`.icmp`: ICMP / ICMPv6 error replies; :mod:`.mss`: TCP MSS clamping;
- :mod:`.packet`: header constants, checksum, tun framing.
"""

from tinca.core.route.router import (
    TO_DEVICE,
    Broadcast,
    Decision,
    Drop,
    Fragments,
    Reply,
    Router,
    ToDevice,
    ToNode,
)
from tinca.core.route.subnet_table import SubnetMatch, SubnetTable

__all__ = [
    "TO_DEVICE",
    "Broadcast",
    "Decision",
    "Drop",
    "Fragments",
    "Reply",
    "Router",
    "SubnetMatch",
    "SubnetTable",
    "ToDevice",
    "ToNode",
]
