"""tinca-sample-lz4: compression level 12, tinc 1.1's LZ4, in pure Python.

tinc 1.1 knows one more ``Compression`` level than tinc 1.0: 12, a bare LZ4
block (``LZ4_compress_fast_extState`` to compress, ``LZ4_decompress_safe`` to
decompress, no frame header, no length). tinca's built-in compression plugin
offers 1-11 only. With this package installed::

    # tinc.conf or hosts/NAME of the node that receives the packets
    Compression = 12

the node announces level 12 in ANS_KEY and its peers compress what they send
it with this codec. The level is only for peers that know it: tinca nodes and
tinc 1.1 (tincd 1.0 refuses levels above 11 in ANS_KEY).

What a compression registration provides (hook ``tinca_register_compressions``)
    ``register(level, codec)`` with the level as a string and a ready codec
    object with ``compress(bytes) -> bytes`` and ``decompress(bytes) ->
    bytes``. ``decompress`` gets attacker-controlled bytes: it raises on
    anything malformed and never returns more than tinc's packet buffer
    (:data:`MAX_OUTPUT`). Both run on the data path, once per packet.

The codec counts its calls (:attr:`Lz4Codec.compressed`, ``decompressed``)
and logs the first packet it handles each way at INFO (``lz4: first packet
compressed ...``), so you can see it at work.

The compressor is the greedy LZ4 parse (a 4-byte hash table, matches up to
64 KiB back) and keeps the format's end rules (the last match starts at least
12 bytes before the end, the last 5 bytes are literals), so liblz4 decodes
its output; the decoder reads any valid block. Pure Python is slow: this is a
sample of the slot, not a fast codec.

Entry point: ``sample-lz4 = "tinca_sample_lz4"`` in the ``tinca`` group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tinca.core import hookimpl
from tinca.core.errors import TincaError

log = logging.getLogger("tinca_sample_lz4")

LEVEL = 12
"""tinc 1.1's number for LZ4 (``COMPRESS_LZ4`` in src/compression.h)."""
MAX_OUTPUT = 1661
"""tinc's packet buffer (``MAXSIZE``): a packet may not decompress to more."""

_MIN_MATCH = 4
_MFLIMIT = 12  # a match may not start in the last 12 bytes
_LAST_LITERALS = 5  # the last 5 bytes are always literals
_MAX_OFFSET = 65535


class Lz4Error(TincaError):
    """Bytes that are not a valid LZ4 block (or decompress to too much)."""


def _put_length(out: bytearray, n: int) -> None:
    while n >= 255:
        out.append(255)
        n -= 255
    out.append(n)


def _sequence(out: bytearray, literals: bytes, offset: int, match: int) -> None:
    lit = len(literals)
    extra = match - _MIN_MATCH if match else 0
    out.append((min(lit, 15) << 4) | (min(extra, 15) if match else 0))
    if lit >= 15:
        _put_length(out, lit - 15)
    out += literals
    if match:
        out += offset.to_bytes(2, "little")
        if extra >= 15:
            _put_length(out, extra - 15)


def compress(data: bytes) -> bytes:
    """``data`` as one LZ4 block."""
    n = len(data)
    out = bytearray()
    table: dict[bytes, int] = {}
    anchor = i = 0
    limit = n - _MFLIMIT
    while i < limit:
        key = data[i : i + 4]
        candidate = table.get(key)
        table[key] = i
        if candidate is None or i - candidate > _MAX_OFFSET:
            i += 1
            continue
        match = _MIN_MATCH
        longest = n - _LAST_LITERALS - i
        while match < longest and data[candidate + match] == data[i + match]:
            match += 1
        _sequence(out, data[anchor:i], i - candidate, match)
        i += match
        anchor = i
    _sequence(out, data[anchor:], 0, 0)
    return bytes(out)


def decompress(block: bytes, max_output: int = MAX_OUTPUT) -> bytes:
    """The bytes inside the LZ4 block ``block``, as ``LZ4_decompress_safe`` reads it.

    Raises :class:`Lz4Error` for a malformed block or more than ``max_output`` bytes.
    """
    out = bytearray()
    n = len(block)
    i = 0
    if not n:
        raise Lz4Error("empty LZ4 block")

    def length(i: int, value: int) -> tuple[int, int]:
        while True:
            if i >= n:
                raise Lz4Error("LZ4 block ends inside a length")
            byte = block[i]
            i += 1
            value += byte
            if byte != 255:
                return i, value

    while True:
        token = block[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            i, lit = length(i, lit)
        if i + lit > n or len(out) + lit > max_output:
            raise Lz4Error("LZ4 literals run past the block or the buffer")
        out += block[i : i + lit]
        i += lit
        if i == n:
            return bytes(out)
        if i + 2 > n:
            raise Lz4Error("LZ4 block ends inside an offset")
        offset = block[i] | block[i + 1] << 8
        i += 2
        if not 0 < offset <= len(out):
            raise Lz4Error(f"LZ4 match offset {offset} points before the start")
        match = (token & 15) + _MIN_MATCH
        if token & 15 == 15:
            i, match = length(i, match)
        if len(out) + match > max_output:
            raise Lz4Error("LZ4 block decompresses to more than the packet buffer")
        start = len(out) - offset
        if offset >= match:
            out += out[start : start + match]
        else:  # overlapping copy: the last `offset` bytes repeat
            pattern = bytes(out[start:])
            out += (pattern * (match // offset + 1))[:match]
        if i >= n:
            raise Lz4Error("LZ4 block ends with a match, not literals")


class Lz4Codec:
    """The level-12 codec: :func:`compress` and :func:`decompress`, counted."""

    def __init__(self) -> None:
        self.compressed = 0
        self.decompressed = 0

    def compress(self, data: bytes) -> bytes:
        """``data`` as an LZ4 block."""
        if not self.compressed:
            log.info("lz4: first packet compressed (%d bytes)", len(data))
        self.compressed += 1
        return compress(bytes(data))

    def decompress(self, data: bytes) -> bytes:
        """The packet inside an LZ4 block; :class:`Lz4Error` if malformed."""
        result = decompress(bytes(data))
        if not self.decompressed:
            log.info("lz4: first packet decompressed (%d bytes)", len(result))
        self.decompressed += 1
        return result


@hookimpl
def tinca_register_compressions(register: Callable[..., object]) -> None:
    """Offer ``Compression = 12``."""
    register(str(LEVEL), Lz4Codec(), doc="LZ4 (tinc 1.1's level 12), pure Python")
