"""The plaintext of tinc 1.0's path MTU probes, and how replies are told apart.

A probe travels like any VPN packet (compressed, sequence-numbered, encrypted
and MACed by the legacy data path); only its plaintext is special. In tincd
1.0.36 (``src/net_packet.c``):

* a probe is an "Ethernet frame" whose first 14 bytes are zero and whose other
  bytes are random (``send_mtu_probe``, l.152-153). Its length is the size being
  probed; tinc never probes below :data:`MIN_PROBE` bytes (l.148-150);
* a receiver treats every decrypted packet whose EtherType bytes 12 and 13 are
  both zero as a probe instead of routing it (``receive_udppacket``, l.409);
* byte 0 says which way it goes: zero asks, non-zero answers. A node answers a
  request by setting byte 0 to 1 and sending the very same packet back, so the
  reply has the request's length (``mtu_probe_h``, l.178-180).

These helpers allocate a new ``bytes`` per call; probes are a handful a second
per peer, not data-path traffic.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from tinca.core.errors import TincaError
from tinca.core.mtu import MTU

HEADER = 14
"""Zero bytes that open a probe: the Ethernet addresses and EtherType of a frame."""

MIN_PROBE = 64
"""tincd 1.0 raises every probe size below this to it (``send_mtu_probe``)."""

COMPRESSION_ALLOWANCE = MTU // 64 + 20
"""Bytes tincd 1.0 takes off a received probe's compressed length when the peer
compresses (``receive_udppacket``, l.404: ``MTU / 64 + 20`` = 43 for MTU 1518)."""

_REQUEST = 0
_REPLY = 1


class ProbeError(TincaError, ValueError):
    """A packet was handled as an MTU probe but is not the kind expected."""


def probe_payload(size: int, random: Callable[[int], bytes] = os.urandom) -> bytes:
    """The plaintext of a probe request of ``size`` bytes.

    14 zero bytes, then ``size - 14`` bytes from ``random``. ``size`` must lie in
    ``14 .. 1518``; the strategies only ask for ``64 .. 1518``.
    """
    if not HEADER <= size <= MTU:
        raise ProbeError(f"an MTU probe must be {HEADER} to {MTU} bytes, not {size}")
    tail = random(size - HEADER)
    if len(tail) != size - HEADER:
        raise ProbeError(f"the random source gave {len(tail)} bytes, not {size - HEADER}")
    return bytes(HEADER) + tail


def is_probe(plaintext: bytes | bytearray | memoryview) -> bool:
    """Whether a decrypted (and decompressed) VPN packet is an MTU probe.

    True for requests and replies alike: EtherType bytes 12 and 13 are zero.
    Packets shorter than an Ethernet header are not probes (tincd would read
    stale buffer bytes there; such a packet is not a valid frame either).
    """
    return len(plaintext) >= HEADER and plaintext[12] == 0 and plaintext[13] == 0


def is_probe_reply(plaintext: bytes | bytearray | memoryview) -> bool:
    """Whether ``plaintext`` is a probe that answers one of ours (byte 0 non-zero)."""
    return is_probe(plaintext) and plaintext[0] != _REQUEST


def probe_reply(plaintext: bytes | bytearray | memoryview) -> bytes:
    """The answer to the probe request ``plaintext``: the same bytes with byte 0 = 1.

    Raises :class:`ProbeError` when ``plaintext`` is not a probe request (not a
    probe at all, or already a reply), so a reply is never echoed back.
    """
    if not is_probe(plaintext):
        raise ProbeError("not an MTU probe: shorter than 14 bytes or EtherType is not zero")
    if plaintext[0] != _REQUEST:
        raise ProbeError("this MTU probe is a reply, not a request; replies are not answered")
    return bytes((_REPLY,)) + bytes(plaintext[1:])


def reply_length(received: int, compressed: bool) -> int:
    """The probe size tincd 1.0 credits for a reply, to pass to ``probe_replied``.

    ``received`` is the reply's plaintext length after decryption, before
    decompression (what came off the wire minus sequence number, padding and
    MAC). Without compression that is the probe's size. With compression tincd
    subtracts :data:`COMPRESSION_ALLOWANCE`, so the MTU it learns leaves room for
    compression overhead. (tincd's unsigned length would wrap below 43 bytes;
    a probe never compresses that small, and this returns 0 instead.)
    """
    if received < 0:
        raise ProbeError(f"a received length cannot be negative: {received}")
    if not compressed:
        return received
    return max(0, received - COMPRESSION_ALLOWANCE)
