"""Packet routing as tincd 1.0.36 does it, without I/O.

- :mod:`.subnet_table`: which node owns an address (subnet lookups);
- :mod:`.router`: what to do with a packet (:class:`Router`: the shared
  machinery, bound to the selected routing mode);
- :mod:`.mode`: the routing-mode contract (tinc's modes are plugins);
- :mod:`.decisions`: the decisions the data path acts on;
- :mod:`.icmp`: ICMP / ICMPv6 error replies; :mod:`.mss`: TCP MSS clamping;
- :mod:`.packet`: header constants, checksum, tun framing.
"""

from tinca.core.route.decisions import (
    TO_DEVICE,
    Broadcast,
    Decision,
    Drop,
    Fragments,
    Reply,
    ToDevice,
    ToNode,
)
from tinca.core.route.mode import RoutingMode
from tinca.core.route.router import Router, RoutingModeFactory
from tinca.core.route.subnet_table import SubnetMatch, SubnetTable

__all__ = [
    "TO_DEVICE",
    "Broadcast",
    "Decision",
    "Drop",
    "Fragments",
    "Reply",
    "Router",
    "RoutingMode",
    "RoutingModeFactory",
    "SubnetMatch",
    "SubnetTable",
    "ToDevice",
    "ToNode",
]
