"""tinca's built-in compression plugin: tinc 1.0's levels 1-9 (zlib) and 10-11 (LZO).

Registered through the ``tinca`` entry point group like any third-party plugin.
Level 0 (no compression) is built into the data path and not registered.
"""

from __future__ import annotations

from tinca.core.hookspecs import Register
from tinca.core.markers import hookimpl
from tinca.plugins.compression import lzo_codec
from tinca.plugins.compression.lzo_codec import LzoCodec
from tinca.plugins.compression.zlib_codec import MAX_LEVEL, MIN_LEVEL, ZlibCodec


@hookimpl
def tinca_register_compressions(register: Register) -> None:
    """Offer ``1``-``9`` (zlib) and, when python-lzo is installed, ``10``-``11`` (LZO)."""
    for level in range(MIN_LEVEL, MAX_LEVEL + 1):
        register(str(level), ZlibCodec(level), doc=f"zlib level {level} (compress2)")
    if lzo_codec.AVAILABLE:
        register(str(lzo_codec.FAST), LzoCodec(lzo_codec.FAST), doc="LZO lzo1x_1 (fast)")
        register(str(lzo_codec.BEST), LzoCodec(lzo_codec.BEST), doc="LZO lzo1x_999 (best)")
