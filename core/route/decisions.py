"""What routing decides for one packet: the decision types the data path acts on.

A routing mode (:mod:`tinca.core.route.mode`) returns one of these for every
packet. Common decisions are preallocated and reused (``TO_DEVICE``, the
``DROP_*`` constants, one :class:`ToNode` per node in the router), so routing
the common case allocates nothing new; the data path dispatches on the type.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ToNode:
    """Send the (possibly modified) packet to node ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class ToDevice:
    """Write the (possibly modified) packet to our device."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send copies to each of ``nodes`` (our MST or direct neighbours), and
    to our device when ``to_device``."""

    nodes: tuple[str, ...]
    to_device: bool


@dataclass(frozen=True, slots=True)
class Reply:
    """Send ``packet``, built by the router, to node ``to`` (our device when
    ``to`` is our own name). The original packet is dropped."""

    to: str
    packet: bytes


@dataclass(frozen=True, slots=True)
class Fragments:
    """Send these IPv4 fragments to node ``to`` instead of the packet."""

    to: str
    packets: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Drop:
    """Nothing to send; ``reason`` says why (stable text, for counters)."""

    reason: str


Decision = ToNode | ToDevice | Broadcast | Reply | Fragments | Drop

TO_DEVICE = ToDevice()

DROP_TOO_SHORT = Drop("too short")
DROP_UNKNOWN_TYPE = Drop("unknown ethertype")
DROP_LOOPING_BACK = Drop("looping back to its source")
DROP_ROUTING_LOOP = Drop("routing loop")
DROP_RATE_LIMITED = Drop("ICMP rate limit")
DROP_NOT_FORWARDING = Drop("forwarding off")
DROP_NOT_DIRECT = Drop("not direct")
DROP_UNREACHABLE = Drop("owner unreachable")
DROP_TTL = Drop("TTL expired")
DROP_BAD_FRAGMENT = Drop("cannot fragment")
DROP_FROM_PEER = Drop("ARP or ND from a peer in router mode")
DROP_BAD_REQUEST = Drop("malformed ARP or ND request")
DROP_UNKNOWN_TARGET = Drop("ARP or ND for an unknown address")
DROP_OWN_TARGET = Drop("ARP or ND for our own address")
