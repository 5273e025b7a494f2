"""The routing-mode contract: what a mode (tinc's ``Mode``) decides.

A routing mode says where each packet goes. tinc has three — ``router``
(by the owner of the destination IP subnet), ``switch`` (by learned MAC
addresses) and ``hub`` (everything to everyone) — and they are plugins like
any other: a plugin offers modes through ``tinca_register_routing_modes``
(see :mod:`tinca.core.hookspecs`) and ``Mode = NAME`` picks one.

A registered factory (:data:`~tinca.core.route.router.RoutingModeFactory`)
gets the node's :class:`~tinca.core.route.router.Router` and returns a
:class:`RoutingMode`. The router is the machinery every mode shares: the
settings tincd reads at start (``Forwarding``, ``Broadcast``,
``DecrementTTL``, ``DirectOnly``, ...), the current routes, the subnet table,
path MTUs, and decisions and replies built the way tincd builds them (ICMP
errors with tincd's rate limit, TTL decrement, MSS clamping, IPv4
fragmentation, broadcasts along the spanning tree). A mode combines those;
it performs no I/O.

The router binds the mode's :meth:`RoutingMode.route` once, at construction,
as its own ``route``: the data path calls the mode directly for every packet.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

from tinca.core.device import Layer
from tinca.core.errors import PluginError

if TYPE_CHECKING:
    from tinca.core.route.decisions import Decision
    from tinca.core.subnet import Subnet

MODES_HOOK = "tinca_register_routing_modes"
"""The registry hook that routing modes are offered through."""


class RoutingMode(abc.ABC):
    """One routing mode working for one :class:`~tinca.core.route.router.Router`.

    Only :meth:`route` is required. A mode that learns addresses from traffic
    (tinc's switch mode learns the MAC addresses behind our device) sets
    :attr:`learns_addresses` and overrides :meth:`take_learned`,
    :meth:`expire` and :meth:`roamed`; the defaults learn nothing.
    """

    learns_addresses: ClassVar[bool] = False
    """True when the mode adds subnets of ours to the subnet table as it sees
    traffic: the node then announces :meth:`take_learned` after each batch
    from the device and withdraws :meth:`expire` on its housekeeping tick."""

    uses_mac_addresses: ClassVar[bool] = True
    """False when the mode routes on IP headers alone (tinc's router mode):
    frames between peers then carry no usable MAC addresses, so on a tap
    device the node writes our interface's MAC into frames for the device
    and the mode answers ARP and neighbor solicitations itself (tincd's
    ``overwrite_mac``)."""

    @abc.abstractmethod
    def route(self, source: str, packet: bytearray) -> Decision:
        """Decide what to do with ``packet`` from node ``source``.

        ``source`` is our own name for a packet read from our device, else
        the peer it came from. ``packet`` is tinc's Ethernet-framed form of
        any length (shorter than an Ethernet header included); the mode may
        change it in place (the data path sends it as it is afterwards). Must
        never raise on packet contents: a packet the mode cannot handle is a
        :class:`~tinca.core.route.decisions.Drop`. Called for every packet,
        so it should reuse preallocated decisions (``router.deliver`` does).
        """

    def take_learned(self) -> list[Subnet]:
        """Subnets of ours learned since the last call (already in the table)."""
        return []

    def expire(self, now: float) -> list[Subnet]:
        """Remove learned subnets whose time has come (``now`` on the router's
        clock) from the table and return them, in the order to withdraw them."""
        return []

    def roamed(self, subnet: Subnet) -> None:
        """Another node announced ``subnet``: if we learned it too, let it go
        at the next :meth:`expire` (the address moved behind that node)."""
        return None


class UnknownModeError(PluginError, ValueError):
    """No plugin registered the routing mode asked for (a user's error when
    it comes from configuration, hence a :class:`PluginError`)."""



def mode_layer(factory: object) -> Layer:
    """The device layer a registered routing mode needs: IP packets (``tun``)
    for a :class:`RoutingMode` class that does not use MAC addresses, else
    Ethernet frames (``tap``, which any mode can route)."""
    if isinstance(factory, type) and issubclass(factory, RoutingMode):
        return "tap" if factory.uses_mac_addresses else "tun"
    return "tap"
