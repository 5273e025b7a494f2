"""tinca's built-in discovery plugin: declares the discovery variables
(``ConnectTo``, ``Address``, ...) and registers the ``static`` method."""

from __future__ import annotations

from tinca.core.config.variables import Variable
from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl
from tinca.plugins.discovery.static import StaticDiscovery
from tinca.plugins.discovery.variables import VARIABLES


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare ConnectTo, Address, LocalDiscovery and the other discovery variables."""
    return VARIABLES


@hookimpl
def tinca_register_discovery(register: Register) -> None:
    """Offer ``static``: addresses from ``Address`` lines in host files."""
    register(StaticDiscovery.name, StaticDiscovery, doc="Address lines in hosts/NAME")
