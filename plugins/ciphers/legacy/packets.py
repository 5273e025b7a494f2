"""tinc 1.0's UDP data packets, sans-IO: seal our packets, open a peer's.

Wire format (tincd 1.0.36, ``send_udppacket``/``receive_udppacket`` in
``src/net_packet.c``), built in this order::

    payload  = compress(packet)                     # Compression level, 0 = as is
    plain    = seqno (4 bytes, big-endian) + payload
    body     = encrypt(plain)                       # EVP, PKCS#7 padding for CBC/ECB
    datagram = body + HMAC(key, body)[:MACLength]   # no MAC if Digest none or MACLength 0

* The sequence number is encrypted with the payload; the first packet under a
  key carries 1 (the counter restarts at 0 whenever a key is accepted).
* The HMAC key is the *whole* key material (cipher key followed by IV, or the
  single random byte of cipher ``none``), and the MAC covers the encrypted body,
  sequence number included. Only its first MACLength bytes are sent.
* tincd sets its cipher context up once per key and re-initialises it per
  packet without key or IV (``EVP_EncryptInit_ex(ctx, NULL, NULL, NULL,
  NULL)``). With the OpenSSL 3 that Debian's tincd links, that restarts CBC,
  CFB, CFB8 and OFB at the key's IV for every packet; ECB has no state; but
  CTR carries on from the next whole counter block (the rest of a partly used
  block is dropped) and stream ciphers (ChaCha20, RC4) carry on mid-stream.
  Those last modes only work on a loss-free, in-order path, and so it is here:
  each cipher's ``encrypter``/``decrypter`` (tinca's own in :mod:`.evp`, or a
  plugin's, found through the cipher registry) reproduces its behaviour byte
  for byte.
* The receiver checks, in this order: length (at least 4 + MACLength bytes,
  even when Digest is none), MAC, decryption (padding), the replay window,
  decompression. A packet rejected after decryption has still moved a
  stateful cipher on, exactly as in tincd.

The key for packets *from* a peer is made by the receiver (``send_ans_key`` in
``src/protocol_key.c``): fresh random bytes of key length plus IV length, with
the receiver's own Cipher, Digest, MACLength and Compression, sent hex-encoded
in ANS_KEY. The sender builds its side from that ANS_KEY (``ans_key_h``).
So each direction between two nodes has its own key, and each node's settings
govern the packets it *receives*.

Everything here is built once per key; :meth:`PacketSealer.seal` and
:meth:`PacketOpener.open` are the data path and allocate only the packet bytes.
"""

from __future__ import annotations

import hmac as _hmac
import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Protocol

from tinca.core.suite import PacketError
from tinca.plugins.ciphers.legacy import evp
from tinca.plugins.ciphers.legacy.evp import (
    LegacyAlgorithms,
    LegacyCipher,
    LegacyDigest,
    MacContext,
)

SEQNO_SIZE = 4
"""Bytes of the big-endian sequence number in front of each payload (``vpn_packet_t.seqno``)."""

MAX_SEQNO = 1 << 30
"""Past this received sequence number tincd renews its keys (``MAX_SEQNO``, net_packet.c:66)."""

DEFAULT_REPLAY_WINDOW = 16
"""tincd's ``ReplayWindow`` default, in *bytes* of bitmap: 16 tracks 128 packets."""

MAX_COMPRESSION = 11
"""The highest Compression level tincd 1.0 accepts in ANS_KEY (protocol_key.c:317)."""

_U32 = 0xFFFFFFFF  # tincd's sequence arithmetic is uint32_t and wraps
_HEX = re.compile(r"[0-9A-Fa-f]*")


class PacketCodec(Protocol):
    """What the data path needs from a compression codec (see ``tinca_register_compressions``)."""

    def compress(self, data: bytes) -> bytes:
        """``data`` compressed."""
        ...

    def decompress(self, data: bytes) -> bytes:
        """``data`` decompressed; raises on bad input."""
        ...


# ---------------------------------------------------------------------------
# Parameters and key material
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LegacyDataParams:
    """The packet settings one key was made with: what ANS_KEY carries besides the key.

    ``cipher``/``digest`` ``None`` (or the ``none`` entries) mean no encryption /
    no MAC. ``mac_length`` is MACLength; with a digest it must not exceed the
    digest's length. ``compression`` is the level (0 = none).
    """

    cipher: LegacyCipher | None = None
    digest: LegacyDigest | None = None
    mac_length: int = evp.DEFAULT_MAC_LENGTH
    compression: int = 0

    def __post_init__(self) -> None:
        # One spelling of "none", so the data path tests for None only.
        if self.cipher is not None and self.cipher.is_null:
            object.__setattr__(self, "cipher", None)
        if self.digest is not None and self.digest.is_null:
            object.__setattr__(self, "digest", None)
        if self.mac_length < 0:
            raise ValueError(f"MACLength cannot be negative: {self.mac_length}")
        if self.digest is not None and self.mac_length > self.digest.digest_length:
            raise ValueError(
                f"MACLength {self.mac_length} exceeds the {self.digest.digest_length}-byte "
                f"{self.digest.name} digest"
            )
        if self.compression < 0:
            raise ValueError(f"Compression cannot be negative: {self.compression}")

    @classmethod
    def tinc_defaults(cls) -> LegacyDataParams:
        """tincd 1.0.36's defaults: aes-256-cbc, sha256, MACLength 4, no compression."""
        return cls(
            evp.CIPHERS[evp.DEFAULT_CIPHER], evp.DIGESTS[evp.DEFAULT_DIGEST], evp.DEFAULT_MAC_LENGTH
        )

    @property
    def key_length(self) -> int:
        """Bytes of key material: cipher key plus IV, or 1 for cipher ``none``."""
        return self.cipher.key_length + self.cipher.iv_length if self.cipher is not None else 1

    @property
    def authenticated(self) -> bool:
        """Whether packets carry a MAC (a digest and a non-zero MACLength)."""
        return self.digest is not None and self.mac_length > 0

    def ans_key_fields(self) -> tuple[int, int, int, int]:
        """Cipher NID, digest NID, MACLength and compression as ANS_KEY sends them (0 = none)."""
        return (
            self.cipher.nid if self.cipher is not None else 0,
            self.digest.nid if self.digest is not None else 0,
            self.mac_length,
            self.compression,
        )

    @classmethod
    def from_ans_key(
        cls,
        cipher_nid: int,
        digest_nid: int,
        mac_length: int,
        compression: int,
        algorithms: LegacyAlgorithms = evp.BUILTIN,
        compressions: Container[int] = (),
    ) -> LegacyDataParams:
        """The settings a peer announced in ANS_KEY, checked as ``ans_key_h`` checks them.

        NIDs are looked up in ``algorithms`` (a node passes the registered
        ciphers and digests). Raises :class:`PacketError` with tincd's
        complaint for an unknown cipher or digest, a MAC length outside the
        digest, or a compression level outside 0-11 and not in ``compressions``
        (levels a plugin registered beyond tincd's).
        """
        try:
            cipher = algorithms.cipher_by_nid(cipher_nid)
        except KeyError:
            raise PacketError("uses unknown cipher") from None
        try:
            digest = algorithms.digest_by_nid(digest_nid)
        except KeyError:
            raise PacketError("uses unknown digest") from None
        if not digest.is_null and not 0 <= mac_length <= digest.digest_length:
            raise PacketError("uses bogus MAC length")
        if not 0 <= compression <= MAX_COMPRESSION and compression not in compressions:
            raise PacketError("uses bogus compression level")
        # Without a digest tincd ignores the MAC length when sending.
        return cls(cipher, digest, max(mac_length, 0), compression)


def generate_key(params: LegacyDataParams, random: Callable[[int], bytes]) -> bytes:
    """Fresh key material for ``params``, as ``send_ans_key`` makes it.

    ``random(n)`` must return ``n`` random bytes (``os.urandom`` in the daemon).
    The first ``cipher.key_length`` bytes are the cipher key, the next
    ``cipher.iv_length`` the IV; all of it keys the HMAC.
    """
    key = random(params.key_length)
    if len(key) != params.key_length:
        raise ValueError(f"random source returned {len(key)} bytes, wanted {params.key_length}")
    return key


def key_to_hex(key: bytes) -> str:
    """Key material as ANS_KEY carries it: upper-case hex (tincd's ``bin2hex``)."""
    return key.hex().upper()


def key_from_hex(text: str, params: LegacyDataParams) -> bytes:
    """Key material from an ANS_KEY hex field, checked against ``params`` like ``ans_key_h``.

    As in tincd, the key has ``len(text) // 2`` bytes (an odd last digit is
    ignored) and either case is accepted. Raises :class:`PacketError` ("invalid
    key", "uses wrong keylength").
    """
    digits = text[: len(text) // 2 * 2]
    if not _HEX.fullmatch(digits):
        raise PacketError("invalid key")
    key = bytes.fromhex(digits)
    if len(key) != params.key_length:
        raise PacketError("uses wrong keylength")
    return key


def _split_key(key: bytes, params: LegacyDataParams) -> tuple[bytes, bytes]:
    if len(key) != params.key_length:
        raise ValueError(f"key material must be {params.key_length} bytes, not {len(key)}")
    if params.cipher is None:
        return b"", b""
    n = params.cipher.key_length
    return key[:n], key[n : n + params.cipher.iv_length]


# ---------------------------------------------------------------------------
# The two directions
# ---------------------------------------------------------------------------


def _mac_context(key: bytes, params: LegacyDataParams) -> MacContext | None:
    digest = params.digest
    return digest.hmac(key) if digest is not None and params.authenticated else None


def _check_codec(params: LegacyDataParams, codec: PacketCodec | None) -> PacketCodec | None:
    if not params.compression:
        return None
    if codec is None:
        raise ValueError(f"compression level {params.compression} needs a codec")
    return codec


class PacketSealer:
    """Our packets to one peer under one key (the peer's ANS_KEY): tincd's ``send_udppacket``.

    ``key`` and ``params`` come from the peer's ANS_KEY; ``codec`` compresses
    at ``params.compression`` (``None`` when that is 0). :attr:`seqno` is the
    number the last sealed packet carried (0 before the first).
    """

    def __init__(
        self, key: bytes, params: LegacyDataParams, codec: PacketCodec | None = None
    ) -> None:
        cipher_key, iv = _split_key(key, params)
        self.params = params
        self.seqno = 0
        self._codec = _check_codec(params, codec)
        self._encrypt = params.cipher.encrypter(cipher_key, iv) if params.cipher else None
        self._mac = _mac_context(key, params)
        self._mac_length = params.mac_length

    def key_fields(self) -> tuple[int, int, int, int]:
        """Cipher NID, digest NID, MACLength and compression of the key (ANS_KEY's fields)."""
        return self.params.ans_key_fields()

    def seal(self, packet: bytes | bytearray) -> bytes:
        """The UDP payload carrying ``packet`` (an Ethernet frame) under the next sequence number.

        Raises :class:`PacketError` only if the codec fails to compress.
        """
        if self._codec is not None:
            try:
                packet = self._codec.compress(bytes(packet))
            except Exception as err:  # a codec failing is tincd's "error while compressing"
                raise PacketError(f"Error while compressing packet: {err}") from None
        self.seqno = seqno = (self.seqno + 1) & _U32
        body = seqno.to_bytes(SEQNO_SIZE, "big") + packet
        if self._encrypt is not None:
            body = self._encrypt(body)
        if self._mac is not None:
            mac = self._mac.copy()
            mac.update(body)
            body += mac.finalize()[: self._mac_length]
        return body


class PacketOpener:
    """One peer's packets to us under one key (our ANS_KEY to it): tincd's ``receive_udppacket``.

    ``key``/``params`` are what we sent in ANS_KEY; ``codec`` decompresses at
    ``params.compression``. ``replay_window`` is ``ReplayWindow`` in *bytes* of
    bitmap (tracking 8 packets each; 0 turns the replay check off).

    State a daemon may read: :attr:`received_seqno` (highest sequence number
    accepted), :attr:`lost` (packets skipped by far-future jumps, which tincd
    logs as "Lost N packets"), :attr:`last_inner_length` (the last packet's
    length before decompression, which tincd uses for MTU probes) and
    :attr:`needs_rekey`.
    """

    def __init__(
        self,
        key: bytes,
        params: LegacyDataParams,
        codec: PacketCodec | None = None,
        replay_window: int = DEFAULT_REPLAY_WINDOW,
    ) -> None:
        if replay_window < 0:
            raise ValueError(f"ReplayWindow cannot be negative: {replay_window}")
        cipher_key, iv = _split_key(key, params)
        self.params = params
        self.received_seqno = 0
        self.farfuture = 0
        self.lost = 0
        self.last_inner_length = 0
        self._codec = _check_codec(params, codec)
        self._decrypt = params.cipher.decrypter(cipher_key, iv) if params.cipher else None
        self._mac = _mac_context(key, params)
        self._mac_length = params.mac_length
        # tincd's length check counts MACLength even when there is no digest.
        self._min_length = SEQNO_SIZE + params.mac_length
        self._window = replay_window
        self._late = bytearray(replay_window)

    @property
    def compression(self) -> int:
        """The compression level of packets under this key (0: none)."""
        return self.params.compression

    @property
    def needs_rekey(self) -> bool:
        """True once the peer's sequence numbers pass :data:`MAX_SEQNO`: renew our keys now."""
        return self.received_seqno > MAX_SEQNO

    def authenticates(self, datagram: bytes) -> bool:
        """Whether ``datagram``'s MAC is right for this key (tincd's ``try_mac``).

        Used to find the sender of a packet from an unknown address; never
        changes state. False when packets carry no MAC.
        """
        if self._mac is None or len(datagram) < self._min_length:
            return False
        split = len(datagram) - self._mac_length
        mac = self._mac.copy()
        mac.update(datagram[:split])
        return _hmac.compare_digest(mac.finalize()[: self._mac_length], datagram[split:])

    def open(self, datagram: bytes) -> bytes:
        """The packet inside ``datagram``, or :class:`PacketError` saying why not.

        Any byte string is safe input: the only exception is :class:`PacketError`.
        """
        if len(datagram) < self._min_length:
            raise PacketError("Got too short packet")
        body = datagram
        if self._mac is not None:
            split = len(datagram) - self._mac_length
            body = datagram[:split]
            mac = self._mac.copy()
            mac.update(body)
            if not _hmac.compare_digest(mac.finalize()[: self._mac_length], datagram[split:]):
                raise PacketError("Got unauthenticated packet")
        if self._decrypt is not None:
            body = self._decrypt(body)
            if len(body) < SEQNO_SIZE:
                raise PacketError("Got too short packet")
        seqno = int.from_bytes(body[:SEQNO_SIZE], "big")
        if self._window:
            self._check_replay(seqno)
        if seqno > self.received_seqno:
            self.received_seqno = seqno
        payload = body[SEQNO_SIZE:]
        self.last_inner_length = len(payload)
        if self._codec is not None:
            try:
                payload = self._codec.decompress(payload)
            except Exception:  # any codec's complaint about hostile bytes is a bad packet
                payload = b""
            if not payload:  # tincd treats an empty result as failure too
                raise PacketError("Error while uncompressing packet")
        return payload

    def _check_replay(self, seqno: int) -> None:
        """tincd's replay window: accept each sequence number once, tolerate reordering.

        ``_late`` is a ring of ``window * 8`` bits; a set bit marks a sequence
        number that was skipped and may still arrive late.
        """
        received = self.received_seqno
        late = self._late
        window = self._window
        if seqno != (received + 1) & _U32:
            span = window * 8
            if seqno >= (received + span) & _U32:
                farfuture = self.farfuture
                self.farfuture = (farfuture + 1) & _U32
                gap = (seqno - received - 1) & _U32
                if farfuture < window >> 2:
                    raise PacketError(
                        f"Packet is {gap} seqs in the future, dropped ({self.farfuture})"
                    )
                # Enough in a row: assume the peer really moved on.
                self.lost += gap
                late[:] = bytes(window)
            elif seqno <= received:
                if (received >= span and seqno <= received - span) or not (
                    late[(seqno // 8) % window] & (1 << seqno % 8)
                ):
                    raise PacketError(
                        f"Got late or replayed packet, seqno {seqno}, last received {received}"
                    )
            else:
                for skipped in range(received + 1, seqno):
                    late[(skipped // 8) % window] |= 1 << skipped % 8
        self.farfuture = 0
        late[(seqno // 8) % window] &= ~(1 << seqno % 8) & 0xFF
