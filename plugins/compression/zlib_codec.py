"""Compression levels 1-9: zlib streams, as tincd 1.0 makes them with ``compress2``.

Python's :func:`zlib.compress` is ``compress2`` itself, so for the same zlib
version the bytes are identical to tincd's. Decompression follows zlib's
``uncompress`` into a :data:`~tinca.plugins.compression.MAXSIZE` buffer: the
stream must be complete (Adler-32 checked) and inflate to at most that many
bytes; bytes after the end of the stream are ignored, as ``uncompress`` does.
"""

from __future__ import annotations

import zlib

from tinca.plugins.compression import MAXSIZE, CompressionError

MIN_LEVEL = 1
MAX_LEVEL = 9


class ZlibCodec:
    """zlib at one ``level`` (1-9); ``max_output`` caps what ``decompress`` returns."""

    __slots__ = ("level", "max_output")

    def __init__(self, level: int, max_output: int = MAXSIZE) -> None:
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise ValueError(f"zlib compression levels are 1 to 9, not {level}")
        self.level = level
        self.max_output = max_output

    def compress(self, data: bytes) -> bytes:
        """``data`` as a zlib stream at this codec's level."""
        return zlib.compress(data, self.level)

    def decompress(self, data: bytes) -> bytes:
        """The bytes inside the zlib stream ``data``; :class:`CompressionError` if bad."""
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(data, self.max_output)
        except zlib.error as err:
            raise CompressionError(f"bad zlib data: {err}") from None
        if not inflater.eof:
            if inflater.unconsumed_tail:
                raise CompressionError(f"zlib data inflates to more than {self.max_output} bytes")
            raise CompressionError("truncated zlib data")
        return out

    def __repr__(self) -> str:
        return f"ZlibCodec(level={self.level})"
