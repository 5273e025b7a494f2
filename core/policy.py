"""Packet policies: filters on the forwarding path (``PacketPolicy = NAME ...``).

A packet policy is a plugin object that sees every packet the node routes,
in both directions — read from our device, or received from a peer (for our
device or to pass on) — and may drop it: a firewall, an ACL between nodes,
a rate limiter. Plugins offer policies through
``tinca_register_packet_policies`` (see :mod:`tinca.core.hookspecs`);
``PacketPolicy`` in ``tinc.conf`` selects them, and they are asked in that
order. The first to refuse a packet drops it; the data path counts the drop
under the reason ``"packet policy NAME"``. The router
(:class:`~tinca.core.route.router.Router`) asks them.

Policies are asked after the routing mode decided, so they know where the
packet would go, and before anything is sent. Packets the mode drops itself,
and replies it builds for the sender (ICMP errors, ARP and neighbor
advertisements), are not shown to them; nor are tinc 1.1 (SPTPS) datagrams a
node relays for two others, which it cannot decrypt (their endpoints' policies
see those packets). With no policy selected the router's ``route`` is the
mode's own: the data path pays nothing for this slot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tinca.core.route.decisions import Drop

if TYPE_CHECKING:
    from tinca.core.config.model import Configuration
    from tinca.core.registry import Registry

POLICIES_HOOK = "tinca_register_packet_policies"
"""The registry hook that packet policies are offered through."""


class PacketPolicy(Protocol):
    """A filter the node consults for every packet it routes."""

    def decide(self, source: str, destination: str | None, frame: bytearray,
               inbound: bool) -> bool:
        """Whether the packet may go on; ``False`` drops it.

        ``source`` is the node the packet came from: our own name for a
        packet read from our device, else the peer that sent it (the original
        sender, also when it was relayed). ``destination`` is where routing
        sends it: our own name (our device), another node's name, or ``None``
        for a broadcast. ``inbound`` is true for a packet from a peer; a
        packet from a peer for another node (``inbound`` and ``destination``
        not our name) is one we forward. ``frame`` is tinc's Ethernet-framed
        form of the packet as it will be sent (TTL already lowered, MSS
        clamped; in router mode the MAC addresses are zero and only the
        EtherType counts): read it, do not change it. Called for every
        packet, on the data path: decide from the bytes, without I/O.
        """
        ...


@dataclass(frozen=True)
class PolicyContext:
    """What a policy factory gets: the validated configuration (a policy's own
    variables are in it) and our node's name."""

    config: Configuration
    myself: str


PacketPolicyFactory = Callable[[PolicyContext], PacketPolicy]
"""What a plugin registers: builds the policy for one node."""


@dataclass(frozen=True)
class NamedPolicy:
    """A selected policy and the drop decision counted in its name."""

    name: str
    policy: PacketPolicy
    drop: Drop = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drop", Drop(f"packet policy {self.name}"))


def build_policies(registry: Registry, names: Sequence[str], context: PolicyContext
                   ) -> list[NamedPolicy]:
    """Build the policies ``names`` selects (``PacketPolicy``), in order.

    Raises :class:`~tinca.core.errors.PluginError` listing the registered
    policies when a name is unknown (configuration checking reports it
    earlier, at its line).
    """
    return [NamedPolicy(name, registry.get(name).value(context)) for name in names]

