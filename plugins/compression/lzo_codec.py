"""Compression levels 10 and 11: bare LZO1X streams, as tincd 1.0 makes them.

tincd calls liblzo2 directly (``lzo1x_1_compress`` for 10, ``lzo1x_999_compress``
for 11, ``lzo1x_decompress_safe`` for both), so its packets carry no header: no
method byte, no length. ``python-lzo`` binds the same liblzo2; its
``header=False`` mode is exactly those calls, and its level 1 and 9 select
``lzo1x_1`` and ``lzo1x_999``. Without a header the decoder must be told how
big a buffer to use: tincd's is :data:`~tinca.plugins.compression.MAXSIZE`.

:data:`AVAILABLE` is false when ``python-lzo`` is not installed; the plugin then
offers no LZO levels.
"""

from __future__ import annotations

from tinca.plugins.compression import MAXSIZE, CompressionError

try:
    import lzo as _lzo
except ImportError:  # pragma: no cover - python-lzo is a declared dependency
    _lzo = None

AVAILABLE = _lzo is not None
"""Whether the LZO binding (``python-lzo``) can be imported."""

FAST = 10
"""tinc's level for ``lzo1x_1_compress``."""
BEST = 11
"""tinc's level for ``lzo1x_999_compress``."""

# python-lzo's own level numbers for the two compressors.
_BINDING_LEVEL = {FAST: 1, BEST: 9}


class LzoCodec:
    """LZO1X at tinc level 10 (fast) or 11 (best); ``max_output`` caps ``decompress``."""

    __slots__ = ("_binding_level", "level", "max_output")

    def __init__(self, level: int, max_output: int = MAXSIZE) -> None:
        if level not in _BINDING_LEVEL:
            raise ValueError(f"LZO compression levels are 10 and 11, not {level}")
        if _lzo is None:
            raise CompressionError("LZO compression (levels 10, 11) needs python-lzo")
        self.level = level
        self.max_output = max_output
        self._binding_level = _BINDING_LEVEL[level]

    def compress(self, data: bytes) -> bytes:
        """``data`` as a bare LZO1X stream."""
        # The binding parses its argument as read-only bytes only.
        return _lzo.compress(bytes(data), self._binding_level, False)

    def decompress(self, data: bytes) -> bytes:
        """The bytes inside the bare LZO1X stream ``data``; :class:`CompressionError` if bad.

        Like ``lzo1x_decompress_safe``: the stream must end exactly where ``data``
        ends and fit in ``max_output`` bytes.
        """
        try:
            return _lzo.decompress(bytes(data), False, self.max_output)
        except _lzo.error as err:
            raise CompressionError(f"bad LZO data: {err}") from None

    def __repr__(self) -> str:
        return f"LzoCodec(level={self.level})"
