"""A small attacker for SPTPS interop tests: forged meta connections and UDP datagrams.

Everything here runs inside a namespace the test made (the socket is opened
with :meth:`~tests.netns.Namespace.entered`) and builds its bytes with
tinca's own sans-IO SPTPS code, so what it sends is exactly what a tinc 1.1
peer would send, except for the one field each function gets wrong.

Meta connection (TCP, protocol 17.7; tinc 1.1 src/protocol_auth.c, src/sptps.c):
the attacker connects and sends ``0 NAME 17.7``, naming a node the target
knows. The target answers with its own ID line and its KEX record
(``00 41 80`` + 65 bytes), then each function misbehaves in its own way.

UDP (tinc 1.1 src/net_packet.c): a datagram between 1.1 nodes is
``destination ID (6) | source ID (6) | SPTPS datagram``, the destination ID
all zero when sent straight to the target. :func:`forge_udp` can send it
with any source address and port (a raw socket), so the target attributes it
to the node whose address it carries.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass

from tests.netns import Namespace
from tinca.core.meta.requests import PROT_MAJOR, PROT_MINOR_11
from tinca.plugins.ciphers.sptps.chacha_poly import RecordCipher
from tinca.plugins.ciphers.sptps.ed25519_keys import key_from_seed
from tinca.plugins.ciphers.sptps.meta import SptpsMetaConnection, SptpsMetaConnectionError
from tinca.plugins.ciphers.sptps.sptps import DATAGRAM_OVERHEAD, KEX_SIZE, RECORD_HANDSHAKE
from tinca.plugins.ciphers.sptps.udp_frame import NULL_NODE_ID, node_id, pack_frame

PORT = 655
"""tinc's default port, TCP and UDP."""

KEX_RECORD_SIZE = 2 + 1 + KEX_SIZE
"""A plaintext KEX record on the stream: length (2), type 128 (1), the 65-byte body."""

CLOSED = "closed"
"""The target ended the connection (EOF or reset): it refused us."""
STILL_OPEN = "still open"
"""The target neither closed the connection nor authenticated us before the timeout."""
AUTHENTICATED = "authenticated"
"""The target accepted us: an attack that must never succeed."""

_LENGTH = struct.Struct(">H")
_SEQNO = struct.Struct(">I")


@dataclass(frozen=True)
class Attempt:
    """One forged meta connection: our local port (the target's log names it) and how it ended."""

    port: int
    outcome: str
    #: the target's ID line, as it answered ours
    target_id: str = ""


# ---------------------------------------------------------------------------
# Meta connection
# ---------------------------------------------------------------------------


def _connect(ns: Namespace, target: str, timeout: float) -> socket.socket:
    with ns.entered():
        sock = socket.create_connection((target, PORT), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def _id_line(name: str) -> bytes:
    return f"0 {name} {PROT_MAJOR}.{PROT_MINOR_11}\n".encode("ascii")


def _read_greeting(sock: socket.socket, deadline: float) -> str:
    """Read the target's ID line and its whole KEX record; return the ID line.

    Raises ``ConnectionError`` when the target closes first.
    """
    data = b""
    while True:
        newline = data.find(b"\n")
        if newline >= 0 and len(data) >= newline + 1 + KEX_RECORD_SIZE:
            return data[:newline].decode("latin-1")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no ID and KEX from the target, got {data!r}")
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"the target closed before its ID and KEX, got {data!r}")
        data += chunk


def _outcome(sock: socket.socket, deadline: float) -> str:
    """Wait for the target to close the connection."""
    while time.monotonic() < deadline:
        try:
            if not sock.recv(4096):
                return CLOSED
        except TimeoutError:
            continue
        except ConnectionResetError:
            return CLOSED
    return STILL_OPEN


def forged_kex(
    ns: Namespace,
    target: str,
    claim: str,
    *,
    version: int = 0,
    length: int = KEX_SIZE,
    timeout: float = 10.0,
) -> Attempt:
    """Claim to be ``claim`` and answer the target's KEX with a malformed one.

    The KEX body has ``version`` as its first byte and ``length`` bytes in all
    (tinc 1.1 ``receive_kex`` wants exactly 65 bytes and version 0); the rest
    is random. Returns once the target closed the connection or ``timeout``
    passed.
    """
    deadline = time.monotonic() + timeout
    sock = _connect(ns, target, timeout)
    try:
        port = sock.getsockname()[1]
        sock.sendall(_id_line(claim))
        target_id = _read_greeting(sock, deadline)
        body = (bytes((version & 0xFF,)) + os.urandom(max(length - 1, 0)))[:length]
        sock.sendall(_LENGTH.pack(len(body)) + bytes((RECORD_HANDSHAKE,)) + body)
        return Attempt(port, _outcome(sock, deadline), target_id)
    finally:
        sock.close()


def wrong_signature(
    ns: Namespace,
    target: str,
    claim: str,
    target_name: str,
    target_public: bytes,
    *,
    timeout: float = 10.0,
) -> Attempt:
    """Claim to be ``claim`` and run the handshake honestly with a key nobody knows.

    The target verifies our SIG against ``claim``'s real public key, so it
    must fail there (tinc 1.1 ``receive_sig``: "Failed to verify SIG record").
    """
    deadline = time.monotonic() + timeout
    conn = SptpsMetaConnection(
        my_name=claim,
        my_key=key_from_seed(os.urandom(32)),
        outgoing=True,
        lookup_public_key=lambda name: target_public if name == target_name else None,
        my_port=PORT,
        my_options=0,
        clock=time.monotonic,
        random=os.urandom,
        expected_peer=target_name,
    )
    sock = _connect(ns, target, timeout)
    try:
        port = sock.getsockname()[1]
        sock.sendall(conn.initiate())
        while time.monotonic() < deadline:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return Attempt(port, CLOSED)
            if not data:
                return Attempt(port, CLOSED)
            try:
                events = conn.receive_data(data)
            except SptpsMetaConnectionError as err:
                # The target's own records failed on our side: not what we test.
                raise AssertionError(
                    f"the target's handshake failed for the attacker: {err}"
                ) from None
            reply = conn.data_to_send()
            if reply:
                sock.sendall(reply)
            if events or conn.authenticated:
                return Attempt(port, AUTHENTICATED)
        return Attempt(port, STILL_OPEN)
    finally:
        sock.close()


def truncated_record(
    ns: Namespace, target: str, claim: str, *, sent: int = 20, timeout: float = 10.0
) -> Attempt:
    """Claim to be ``claim``, send a KEX record cut after ``sent`` body bytes, and close.

    The record's length field announces the full 65 bytes. The outcome is
    always :data:`CLOSED`: we are the side that closes.
    """
    deadline = time.monotonic() + timeout
    sock = _connect(ns, target, timeout)
    try:
        port = sock.getsockname()[1]
        sock.sendall(_id_line(claim))
        target_id = _read_greeting(sock, deadline)
        body = bytes((0,)) + os.urandom(KEX_SIZE - 1)
        sock.sendall(_LENGTH.pack(KEX_SIZE) + bytes((RECORD_HANDSHAKE,)) + body[:sent])
        return Attempt(port, CLOSED, target_id)
    finally:
        sock.close()


# ---------------------------------------------------------------------------
# UDP
# ---------------------------------------------------------------------------


def direct_frame(source: str, datagram: bytes) -> bytes:
    """A UDP payload from node ``source`` straight to its receiver (null destination ID)."""
    return pack_frame(NULL_NODE_ID, node_id(source), datagram)


def bad_tag_datagram(seqno: int, data: bytes, record_type: int = 0) -> bytes:
    """A well-formed SPTPS datagram sealed under a random key: its tag fails for anyone.

    Record type 0 is a plain VPN packet (tinc 1.1 ``PKT_NORMAL``).
    """
    return RecordCipher(os.urandom(64)).seal(seqno, _SEQNO.pack(seqno), record_type, data)


def short_datagram(size: int = DATAGRAM_OVERHEAD - 1) -> bytes:
    """An SPTPS datagram too short to hold seqno, type and tag (``Received short packet``)."""
    if size >= DATAGRAM_OVERHEAD:
        raise ValueError(f"a short datagram has fewer than {DATAGRAM_OVERHEAD} bytes")
    return os.urandom(size)


def forge_udp(
    ns: Namespace, src: str, dst: str, payloads: list[bytes], sport: int = PORT, dport: int = PORT
) -> None:
    """Send UDP datagrams from any source address and port, through a raw socket in ``ns``.

    The kernel fills in the IP checksum and length; the UDP checksum is 0
    (none, allowed over IPv4).
    """
    with ns.entered():
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        for payload in payloads:
            udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
            header = struct.pack(
                "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
                socket.inet_aton(src), socket.inet_aton(dst),
            )
            raw.sendto(header + udp, (dst, 0))
    finally:
        raw.close()


def send_udp(ns: Namespace, dst: str, payloads: list[bytes], dport: int = PORT) -> None:
    """Send UDP datagrams from ``ns``'s own address (an ephemeral port)."""
    with ns.entered():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for payload in payloads:
            sock.sendto(payload, (dst, dport))
    finally:
        sock.close()
