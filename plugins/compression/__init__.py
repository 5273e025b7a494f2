"""Packet compression for tinc 1.0's data path (the ``Compression`` levels).

A node chooses the level for packets sent *to* it and announces it in ANS_KEY;
the peer then compresses every UDP packet with that level before it adds the
sequence number and encrypts. tincd 1.0.36 knows these levels
(``compress_packet``/``uncompress_packet`` in ``src/net_packet.c``):

* 0: none;
* 1-9: zlib's ``compress2`` at that level: a zlib stream (2-byte header, deflate
  data, Adler-32 trailer), read back with ``uncompress``;
* 10: LZO ``lzo1x_1_compress``, 11: LZO ``lzo1x_999_compress``: bare LZO1X
  streams without any header, read back with ``lzo1x_decompress_safe``.

Every codec here offers ``compress(data) -> bytes`` and ``decompress(data) ->
bytes``; ``decompress`` raises :class:`CompressionError` on anything tincd's
decoder would refuse, including output larger than tincd's packet buffer.
"""

from __future__ import annotations

from tinca.core.errors import TincaError

MTU = 1518
"""tincd 1.0.36's largest VPN packet (``src/net.h``; Debian builds without jumbograms)."""

MAXSIZE = MTU + 4 + 32 + 64 + MTU // 64 + 20
"""tincd 1.0.36's packet buffer: 1661 bytes (``MAXSIZE`` in ``src/net.h``).

Packet plus sequence number, ``EVP_MAX_BLOCK_LENGTH`` (32), ``EVP_MAX_MD_SIZE``
(64) and the compression allowance ``MTU / 64 + 20``. tincd decompresses into a
buffer this big, so a packet that inflates to more is an error there, and here.
"""


class CompressionError(TincaError):
    """Compressed data that tincd's decoder would refuse (corrupt, truncated, too big)."""
