"""Configuration variables of peer discovery: where peers are.

Which peers to connect to, at which addresses, whether to look for them on
the local network, and how relays share the UDP addresses they observe.
Defaults are tincd's code defaults; where tinc 1.0.36 and 1.1 differ, the doc
says so and ``default`` is the 1.0.36 one (or 1.1's for 1.1-only variables).
"""

from __future__ import annotations

from tinca.core.config.values import Bool, HostPort, Integer, NodeName, Words
from tinca.core.config.variables import Scope, Variable

#: every variable the discovery plugins declare
VARIABLES: list[Variable] = [
    Variable(
        "Discovery",
        Words(),
        "Discovery methods to ask for peer addresses, in order (static: Address lines).",
        default=("static",),
        scope=Scope.SERVER,
        since="tinca",
    ),
    Variable(
        "ConnectTo",
        NodeName(),
        "A node to keep a meta connection to; its host file says where to find it.",
        scope=Scope.SERVER,
        multiple=True,
        implemented=True,
    ),
    Variable(
        "Address",
        HostPort(),
        "A public address (name or IP, and optionally port) at which this host can be reached.",
        scope=Scope.HOST,
        multiple=True,
        implemented=True,
    ),
    Variable(
        "LocalDiscovery",
        Bool(),
        "Also try peers on the LAN: off in 1.0 (broadcasts), on in 1.1 (announced local address).",
        default=False,
        scope=Scope.SERVER,
        implemented=False,
    ),
    Variable(
        "AutoConnect",
        Bool(),
        "Pick peers to connect to by itself, keeping a few meta connections up (tinc 1.1).",
        default=True,
        scope=Scope.SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "UDPInfoInterval",
        Integer(),
        "Least seconds between UDP_INFO messages passing our UDP address to relays (tinc 1.1).",
        default=5,
        scope=Scope.SERVER,
        implemented=False,
        since="1.1",
    ),
]
