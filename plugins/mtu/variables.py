"""Configuration variables of path MTU handling.

Whether and how the path MTU to each peer is probed, its starting value,
MSS clamping, and tinc 1.1's UDP reachability probing that shares the probe
packets. tinca's choice of strategy plugin (``MTUStrategy``) is a core
variable. Defaults are tincd's code defaults.
"""

from __future__ import annotations

from tinca.core.config.values import Bool, Integer
from tinca.core.config.variables import Scope, Variable

#: every variable the path MTU plugins declare
VARIABLES: list[Variable] = [
    Variable(
        "PMTUDiscovery",
        Bool(),
        "Probe the path MTU to peers over UDP; off by default when TCPOnly is set.",
        default=True,
        scope=Scope.BOTH,
        implemented=True,
    ),
    Variable(
        "PMTU",
        Integer(),
        "Starting path MTU to a peer (lowers 1518); discovery may later replace it, as in tincd.",
        scope=Scope.BOTH,
        implemented=True,
    ),
    Variable(
        "ClampMSS",
        Bool(),
        "Lower the MSS of TCP SYN packets through the tunnel to fit the path MTU.",
        default=True,
        scope=Scope.BOTH,
        implemented=True,
    ),
    Variable(
        "MTUInfoInterval",
        Integer(),
        "Least seconds between MTU_INFO messages that tell relays a path MTU (tinc 1.1).",
        default=5,
        scope=Scope.SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "UDPDiscovery",
        Bool(),
        "Probe whether UDP reaches each peer and fall back to TCP when it does not (tinc 1.1).",
        default=True,
        scope=Scope.SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "UDPDiscoveryInterval",
        Integer(),
        "Seconds between UDP probes while a peer's UDP path is not yet confirmed (tinc 1.1).",
        default=2,
        scope=Scope.SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "UDPDiscoveryKeepaliveInterval",
        Integer(),
        "Seconds between UDP probes once a peer's UDP path works (tinc 1.1; code 10, manual 9).",
        default=10,
        scope=Scope.SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "UDPDiscoveryTimeout",
        Integer(),
        "Seconds without a probe reply before a peer's UDP path counts as lost (tinc 1.1).",
        default=30,
        scope=Scope.SERVER,
        implemented=False,
        since="1.1",
    ),
]
