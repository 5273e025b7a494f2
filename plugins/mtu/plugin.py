"""tinca's built-in path MTU plugin: declares the MTU variables (``PMTU``,
``PMTUDiscovery``, ``ClampMSS``, ...) and registers the MTU strategies."""

from __future__ import annotations

from tinca.core.config.variables import Variable
from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl
from tinca.plugins.mtu.fixed import FixedMTU
from tinca.plugins.mtu.variables import VARIABLES


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare the path MTU variables."""
    return VARIABLES


@hookimpl
def tinca_register_mtu_strategies(register: Register) -> None:
    """Offer ``fixed`` (no probing; PMTU or 1518)."""
    register("fixed", FixedMTU, doc="no probing: the path MTU is PMTU (or 1518)")
