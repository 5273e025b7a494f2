"""tinca's built-in routing plugin: registers tinc's three routing modes."""

from __future__ import annotations

from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl
from tinca.plugins.routing.hub import HubMode
from tinca.plugins.routing.router_mode import RouterMode
from tinca.plugins.routing.switch import SwitchMode


@hookimpl
def tinca_register_routing_modes(register: Register) -> None:
    """Offer ``router``, ``switch`` and ``hub`` (tinc's ``Mode`` values)."""
    register("router", RouterMode, doc="by the owner of the destination IP subnet (tinc's default)")
    register("switch", SwitchMode, doc="by learned MAC addresses, like an Ethernet switch")
    register("hub", HubMode, doc="every frame to everyone, like an Ethernet hub")
