"""tinca's built-in path MTU plugin: declares the MTU variables (``PMTU``,
``PMTUDiscovery``, ``ClampMSS``, ...) and registers the MTU strategies."""

from __future__ import annotations

from tinca.core.config.variables import Variable
from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl
from tinca.plugins.mtu.fixed import FixedMTU
from tinca.plugins.mtu.tinc10 import Tinc10Probing
from tinca.plugins.mtu.tinc11 import Tinc11Probing
from tinca.plugins.mtu.variables import VARIABLES


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare the path MTU variables."""
    return VARIABLES


@hookimpl
def tinca_register_mtu_strategies(register: Register) -> None:
    """Offer ``tinc10`` and ``tinc11`` (tinc's own probing) and ``fixed`` (none)."""
    register(
        "tinc10",
        Tinc10Probing,
        doc="tincd 1.0.36 path MTU discovery: random-size probe rounds, "
        "keep-alive every PingInterval",
    )
    register(
        "tinc11",
        Tinc11Probing,
        doc="tinc 1.1 path MTU discovery: UDP discovery probes, then up to 20 probes "
        "on a shrinking powf schedule, maxmtu/maxmtu+1 keep-alive every PingInterval",
    )
    register("fixed", FixedMTU, doc="no probing: the path MTU is PMTU (or 1518)")
