"""The core's own plugin: it declares the variables the core itself acts on.

Registered by the plugin manager under the name ``core`` (it cannot be
blocked). Plugins declare their own variables the same way.
"""

from __future__ import annotations

from tinca.core.config.core_variables import VARIABLES
from tinca.core.config.variables import Variable
from tinca.core.markers import hookimpl


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare the core's variables (identity, binding, devices, routing, ...)."""
    return VARIABLES
