"""tinca's core: the plugin contract, configuration, and the node that plugins fill.

Plugin authors import :data:`hookimpl` from here and read :mod:`tinca.core.hookspecs`.
"""

from tinca.core.markers import hookimpl, hookspec

__all__ = ["__version__", "hookimpl", "hookspec"]

__version__ = "0.1.0"
