"""SPTPS's record cipher: ChaCha20 with a 64-bit nonce, and Poly1305 over the ciphertext.

tinc 1.1 (``src/chacha-poly1305/chacha-poly1305.c``) protects each record
with its own construction, close to but not the same as RFC 8439 or
libsodium's original ChaCha20-Poly1305:

* ChaCha20 in D. J. Bernstein's original layout: a 64-bit block counter and a
  64-bit nonce. The nonce is the record's sequence number as 8 bytes
  big-endian.
* The Poly1305 one-time key is the first 32 bytes of keystream block 0; the
  record (type byte and data) is encrypted from block 1 on.
* The tag is Poly1305 over the ciphertext alone: no associated data, no
  lengths, no padding.
* Only the first 32 of the 64 key bytes SPTPS derives per direction are used.
  tinc also keys a second ChaCha20 with the other 32 (``header_ctx``) but never
  uses it.

With ``cryptography``'s ChaCha20 the 16-byte "nonce" is OpenSSL's IV: the
little-endian block counter (8 bytes here) and then the 8-byte nonce. (OpenSSL
counts blocks in 32 bits, tinc in 64; a record of at most 64 KiB never gets
near the difference.) The cipher context is built once per key; each record
only resets its nonce. Poly1305 needs a new key per record, and building it
is the largest per-record cost (``cryptography`` has no cheaper way).
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import ChaCha20
from cryptography.hazmat.primitives.poly1305 import Poly1305

KEY_SIZE = 64
"""Key bytes per direction (``CHACHA_POLY1305_KEYLEN``); only the first 32 are used."""

TAG_SIZE = 16
"""Bytes of the Poly1305 tag after each encrypted record (``POLY1305_TAGLEN``)."""

_CHACHA_KEY_SIZE = 32
# OpenSSL's 16-byte ChaCha20 IV: block counter 0 (8 bytes, little-endian), then
# the record's sequence number as tinc's 8-byte big-endian nonce.
_IV = struct.Struct(">8xQ")
_BLOCK_ZERO = bytes(64)  # one keystream block; its first 32 bytes key Poly1305
_TYPE_BYTE = tuple(bytes((t,)) for t in range(256))


class RecordCipher:
    """ChaCha20-Poly1305 as SPTPS uses it, for one direction under one key.

    Not thread-safe: the ChaCha20 context is reused for every record.
    """

    __slots__ = ("_chacha",)

    def __init__(self, key: bytes) -> None:
        if len(key) < _CHACHA_KEY_SIZE:
            raise ValueError(f"an SPTPS record key has at least 32 bytes, not {len(key)}")
        self._chacha = Cipher(ChaCha20(key[:_CHACHA_KEY_SIZE], bytes(16)), mode=None).encryptor()

    def seal(self, seqno: int, header: bytes, record_type: int, data: bytes) -> bytes:
        """``header``, the record (type, ``data``) encrypted under ``seqno``, the tag."""
        chacha = self._chacha
        chacha.reset_nonce(_IV.pack(seqno))
        # One pass over block 0 and the record: the first block only yields the
        # Poly1305 key, so the record itself is encrypted from block 1 on.
        stream = memoryview(chacha.update(_BLOCK_ZERO + _TYPE_BYTE[record_type] + data))
        ciphertext = stream[64:]
        return b"".join((header, ciphertext, Poly1305.generate_tag(stream[:32], ciphertext)))

    def open(self, seqno: int, sealed: bytes | memoryview) -> bytes | None:
        """The plaintext (type byte and data) of ``sealed`` (ciphertext, then tag), or ``None``.

        ``None`` means the tag did not match; nothing is decrypted then.
        ``sealed`` must hold at least the tag (the SPTPS framing checks that).
        """
        chacha = self._chacha
        chacha.reset_nonce(_IV.pack(seqno))
        poly_key = chacha.update(_BLOCK_ZERO)[:32]
        sealed = memoryview(sealed)
        ciphertext = sealed[:-TAG_SIZE]
        try:
            Poly1305.verify_tag(poly_key, ciphertext, bytes(sealed[-TAG_SIZE:]))
        except InvalidSignature:
            return None
        return chacha.update(ciphertext)
