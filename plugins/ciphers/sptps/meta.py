"""tinc 1.1's meta connection (protocol 17.7): the ID lines, then SPTPS, sans-IO.

One :class:`SptpsMetaConnection` is one TCP meta connection between two nodes
that both speak protocol 17.7 and know each other's Ed25519 public key. Like
:class:`~tinca.plugins.ciphers.legacy.meta.LegacyMetaConnection` it never
touches a socket or the wall clock: the caller feeds it what it read with
:meth:`~SptpsMetaConnection.receive_data`, writes out what it returns, and
injects the clock and the random source.

Theory of operation (tinc 1.1, src/protocol_auth.c, src/meta.c, src/protocol_misc.c)
------------------------------------------------------------------------------------

::

    connecting side                         accepting side
    0 NAME 17.7 (plaintext) ------------->
                            <-------------  0 NAME 17.7, KEX     (on ID)
    KEX (on ID)             ------------->
    SIG (on KEX)            ------------->
                            <-------------  SIG, ACK             (on SIG)
    ACK (on SIG)            ------------->
    authenticated on ACK                    authenticated on ACK

1. Each side's first bytes are its ID line in plaintext, ``0 NAME 17.7\\n``.
   The connecting side sends it at once; the accepting side answers after
   reading the peer's (``id_h`` calls ``send_id`` only when not outgoing).
2. Having read the peer's ID, each side starts SPTPS in stream mode. The
   connecting side is the SPTPS initiator, and the label is
   ``tinc TCP key expansion OUTGOING ACCEPTING`` followed by a NUL byte
   (``id_h`` passes ``25 + len(names)`` bytes: 23 of text, one space, the NUL).
3. From then on every byte of the stream is an SPTPS record, and each request
   is one application record (type 0) holding the request line and its
   ``\\n``. When the handshake is done each side sends its ACK,
   ``4 PORT WEIGHT OPTIONS`` (``send_ack``), with tinc 1.1's minor version in
   the top byte of the options; the peer's ACK authenticates the connection.
4. ``17 LEN`` (PACKET): the next record is a VPN packet of exactly LEN bytes.
5. ``21 LEN`` (SPTPS_PACKET): the next LEN bytes of the TCP stream are raw,
   outside any SPTPS record (``send_meta_raw``). They hold an SPTPS datagram
   of the per-node session, which this class hands over unopened as
   :class:`SptpsPacketReceived`.

Because of item 5, input is cut into records here, one at a time, and each is
given to the SPTPS session on its own (tinc's ``sptps_receive_data`` also
consumes one record per call): after a ``21 LEN`` record the bytes that follow
are not a record.

The weight estimate is the time from sending our ID to sending our ACK in
milliseconds (tinc 1.1 stamps ``c->start`` in ``send_id``), unless a fixed
``weight`` overrides it; the edge weight is the mean of both estimates,
rounded towards zero, as in tinc 1.0.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tinca.core.meta.connection import (
    ALLOW_ALL,
    MetaConnectionBase,
    MetaConnectionError,
    merge_options,
    truncating_mean,
)
from tinca.core.meta.requests import (
    MAXBUFSIZE,
    PROT_MAJOR,
    PROT_MINOR_11,
    Ack,
    Id,
    Packet,
    RequestError,
    RequestType,
    SptpsPacket,
    check_id,
    parse_request,
    with_option_version,
)
from tinca.core.suite import (
    Authenticated,
    PacketReceived,
    RawPacketReceived,
    RequestLine,
)
from tinca.plugins.ciphers.sptps.ed25519_keys import ExpandedEd25519Key
from tinca.plugins.ciphers.sptps.sptps import (
    SPTPS,
    STREAM_OVERHEAD,
    Failure,
    HandshakeDone,
    SptpsMetaError,
)

# ---------------------------------------------------------------------------
# Wire constants (tinc 1.1)
# ---------------------------------------------------------------------------

#: The lowest minor version that runs the meta connection over SPTPS
#: (src/protocol_auth.c ``id_h``: ``protocol_minor >= 2`` starts SPTPS).
SPTPS_MIN_MINOR = 2

#: Record type of every meta record: ``send_meta`` passes 0 to ``sptps_send_record``.
META_RECORD_TYPE = 0

#: The label's text before the two names; the label ends with a NUL byte
#: (src/protocol_auth.c ``id_h``).
LABEL_PREFIX = b"tinc TCP key expansion"

_PLAIN_RECORD_OVERHEAD = 3  # length (2) and type (1) before the handshake ends
_C_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")  # atoi's prefix


def meta_label(outgoing_name: str, accepting_name: str) -> bytes:
    """The SPTPS label of a meta connection: the connecting side's name comes first."""
    return b"%s %s %s\0" % (
        LABEL_PREFIX,
        outgoing_name.encode("ascii"),
        accepting_name.encode("ascii"),
    )


# ---------------------------------------------------------------------------
# Events and errors
# ---------------------------------------------------------------------------


SptpsPacketReceived = RawPacketReceived
"""Raw bytes that followed a ``21 LEN`` request outside any SPTPS record.

tinc sends an SPTPS datagram of the per-node session this way (a 6-byte
destination ID, a 6-byte source ID, then the datagram) when UDP is not
usable. They are not protected by the meta connection.
"""


MetaEvent = Authenticated | RequestLine | PacketReceived | SptpsPacketReceived


class SptpsMetaConnectionError(MetaConnectionError):
    """The peer broke the 17.7 meta protocol; the connection must be closed.

    ``reason`` reads like tincd's log message for the same fault. ``events``
    holds what the same :meth:`~SptpsMetaConnection.receive_data` call had
    decoded before the fault, in order, so none of it is lost.
    """


class BadIdError(SptpsMetaConnectionError):
    """The ID line is malformed, names an invalid node, us, or not the node we dialled."""


class UnknownIdentityError(SptpsMetaConnectionError):
    """We have no Ed25519 public key for the node the peer claims to be."""


class VersionRollbackError(SptpsMetaConnectionError):
    """The peer asked for a protocol older than 17.2 although we know its Ed25519 key."""


class PeerAuthenticationError(SptpsMetaConnectionError):
    """The SPTPS session failed: a bad signature (wrong key), a bad tag or a bad record.

    ``failure`` is the SPTPS session's :class:`~.sptps_errors.Failure`.
    """

    def __init__(self, reason: str, failure: Failure) -> None:
        super().__init__(reason)
        self.failure = failure


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------


class SptpsMetaConnection(MetaConnectionBase):
    """One tinc 1.1 meta connection over SPTPS, from the first ID on, without I/O.

    ``outgoing`` is True on the side that connected (it speaks first: call
    :meth:`initiate`), False on the side that accepted. ``expected_peer`` is
    the name the connecting side dialled (required when ``outgoing``).

    ``lookup_public_key(name)`` returns the 32-byte Ed25519 public key from
    that node's host config, or None when we have none: the connection then
    fails with :class:`UnknownIdentityError`.

    ``my_options`` (the low 24 bits go into our ACK, our minor version above
    them) and ``weight`` (a fixed weight, tinc's ``Weight``) may be callables
    that get the peer's name, as tinc reads them from its host config.

    ``clock()`` returns seconds (monotonic); ``random(n)`` returns ``n``
    random bytes and feeds the SPTPS key exchanges (nonce, then ephemeral
    seed). ``max_buffer_size`` is tinc's ``MAXBUFSIZE``: the longest ID line
    (newline included) accepted before SPTPS starts. ``started_at`` is the
    clock time our ID went out when someone else sent it (the weight
    estimate counts from there).
    """

    def __init__(
        self,
        *,
        my_name: str,
        my_key: ExpandedEd25519Key,
        outgoing: bool,
        lookup_public_key: Callable[[str], bytes | None],
        my_port: int | str,
        my_options: int | Callable[[str], int],
        clock: Callable[[], float],
        random: Callable[[int], bytes],
        expected_peer: str | None = None,
        weight: int | Callable[[str], int | None] | None = None,
        max_buffer_size: int = MAXBUFSIZE,
        started_at: float | None = None,
    ) -> None:
        if not check_id(my_name):
            raise ValueError(f"invalid node name {my_name!r}")
        if outgoing and expected_peer is None:
            raise ValueError("an outgoing connection needs the expected_peer it dials")
        self._my_name = my_name
        self._my_key = my_key
        self._outgoing = outgoing
        self._lookup_public_key = lookup_public_key
        self._my_port = str(my_port)
        self._my_options = my_options
        self._weight = weight
        self._clock = clock
        self._random = random
        self._expected_peer = expected_peer
        self._max_buffer = max_buffer_size

        super().__init__()
        self._start: float | None = started_at  # when our ID went out
        self._allow: int = RequestType.ID
        self._peer_name: str | None = None
        self._sptps: SPTPS | None = None
        self._estimated_weight = 0
        self._sent_options = 0
        self._inbuf = bytearray()
        self._scanned = 0  # bytes at the front of _inbuf known to hold no newline (ID phase)
        self._packet_length = 0  # "17 LEN": the next record's length, 0 if none expected
        self._raw_length = 0  # "21 LEN": raw bytes still to come, 0 if none expected

    # -- output --------------------------------------------------------------

    def send_request(self, line: str) -> bytes:
        """One request (without its newline) as one record; returns all queued bytes.

        Only after :class:`Authenticated`. ValueError for a line with a
        newline, one that is not Latin-1, or one longer than tinc takes.
        """
        data = self._request_bytes(line)
        self._outbox += self._session().send_record(META_RECORD_TYPE, data)
        return self.data_to_send()

    def send_packet(self, packet: bytes) -> bytes:
        """One VPN packet: a ``17 LEN`` record, then a record with the packet.

        Only after :class:`Authenticated`. ValueError for a packet longer
        than ``17 LEN`` can announce (tinc reads LEN as a ``short``), and for
        an empty one: tinc reads ``17 0`` as "no packet follows".
        """
        sptps = self._session()
        if not packet:
            raise ValueError("an empty packet cannot be sent over a meta connection")
        header = Packet(len(packet)).format().encode("ascii")  # validates the length
        self._outbox += sptps.send_record(META_RECORD_TYPE, header + b"\n")
        self._outbox += sptps.send_record(META_RECORD_TYPE, packet)
        return self.data_to_send()

    def send_raw_packet(self, data: bytes) -> bytes:
        """A ``21 LEN`` record, then ``data`` raw on the stream (tinc's ``send_sptps_tcppacket``).

        ``data`` is an already protected SPTPS datagram with its node IDs; the
        meta connection does not encrypt it again. Only after
        :class:`Authenticated`; ValueError when LEN does not fit a ``short``.
        """
        sptps = self._session()
        header = SptpsPacket(len(data)).format().encode("ascii")
        self._outbox += sptps.send_record(META_RECORD_TYPE, header + b"\n")
        self._outbox += data
        return self.data_to_send()

    @property
    def finished(self) -> bool:
        """Always False: the connection never ends itself."""
        return False

    @property
    def status_bits(self) -> int:
        """None: tinc 1.1 sets no cipher bits on an SPTPS meta connection."""
        return 0

    def _session(self) -> SPTPS:
        """The SPTPS session, once requests may flow."""
        self._check_sendable()
        assert self._sptps is not None  # active connections have one
        return self._sptps

    # -- input ---------------------------------------------------------------

    def _receive(self, data: bytes, events: list[MetaEvent]) -> None:
        buf = self._inbuf
        buf += data
        pos = 0
        try:
            while pos < len(buf):
                if self._raw_length:
                    end = pos + self._raw_length
                    if len(buf) < end:
                        break
                    events.append(SptpsPacketReceived(bytes(buf[pos:end])))
                    self._raw_length = 0
                    pos = end
                elif self._sptps is None:
                    newline = buf.find(b"\n", pos + self._scanned)
                    if newline < 0:
                        self._scanned = len(buf) - pos
                        if self._scanned >= self._max_buffer:
                            raise SptpsMetaConnectionError(
                                f"Input buffer full for {self._who()}"
                            )
                        break
                    line = bytes(buf[pos:newline])
                    pos = newline + 1
                    self._scanned = 0
                    self._on_id_line(line)
                else:
                    if len(buf) - pos < 2:
                        break
                    length = (buf[pos] << 8) | buf[pos + 1]
                    # The handshake records are plaintext; afterwards every
                    # record carries a tag (both directions switch together).
                    overhead = STREAM_OVERHEAD if self._sptps.established else (
                        _PLAIN_RECORD_OVERHEAD
                    )
                    end = pos + length + overhead
                    if len(buf) < end:
                        break
                    self._on_record(bytes(buf[pos:end]), events)
                    pos = end
        finally:
            del buf[:pos]

    def _on_record(self, record: bytes, events: list[MetaEvent]) -> None:
        sptps = self._sptps
        assert sptps is not None
        try:
            received = sptps.receive(record)
        except SptpsMetaError as error:
            raise PeerAuthenticationError(
                f"Error while processing SPTPS data from {self._who()}: {error}", error.reason
            ) from None
        self._outbox += b"".join(sptps.data_to_send())
        for event in received:
            if isinstance(event, HandshakeDone):
                if event.initial and self._allow == RequestType.ACK:
                    self._send_ack()
            else:
                self._on_application_record(event.data, events)

    def _on_application_record(self, data: bytes, events: list[MetaEvent]) -> None:
        # tinc ignores the record type of meta records.
        if self._packet_length:
            if len(data) != self._packet_length:
                raise SptpsMetaConnectionError(
                    f"Got a packet of {len(data)} bytes from {self._who()} "
                    f"after PACKET announced {self._packet_length}"
                )
            self._packet_length = 0
            events.append(PacketReceived(data))
            return
        if data.endswith(b"\n"):
            data = data[:-1]
        # tinc handles the record as a C string: it ends at the first NUL.
        line = data.split(b"\0", 1)[0].decode("latin-1")
        self._on_request(line, events)

    def _on_request(self, line: str, events: list[MetaEvent]) -> None:
        who = self._who()
        match = _C_INT.match(line)
        if match is None:  # atoi() read nothing
            raise SptpsMetaConnectionError(f"Bogus data received from {who}")
        try:
            rtype = RequestType(int(match.group(1)))
        except ValueError:
            raise SptpsMetaConnectionError(f"Unknown request from {who}: {line[:40]}") from None
        if self._allow != ALLOW_ALL and rtype != self._allow:
            raise SptpsMetaConnectionError(
                f"Unauthorized request from {who}: got {rtype.name} while waiting for ACK"
            )
        if rtype == RequestType.ACK and self._allow != ALLOW_ALL:
            events.append(self._on_ack(line))
        elif rtype == RequestType.PACKET:
            self._packet_length = self._length(line, RequestType.PACKET)
        elif rtype == RequestType.SPTPS_PACKET:
            self._raw_length = self._length(line, RequestType.SPTPS_PACKET)
        else:
            events.append(RequestLine(line))

    def _length(self, line: str, rtype: RequestType) -> int:
        try:
            request = parse_request(line)
        except RequestError:
            raise SptpsMetaConnectionError(f"Got bad {rtype.name} from {self._who()}") from None
        assert isinstance(request, Packet | SptpsPacket)
        return request.length

    # -- the handshake -------------------------------------------------------

    def _who(self) -> str:
        return self._peer_name or self._expected_peer or "<unknown>"

    def _send_id(self) -> None:
        if self._start is None:
            self._start = self._clock()
        line = Id(self._my_name, PROT_MAJOR, PROT_MINOR_11).format()
        self._outbox += line.encode("ascii") + b"\n"

    def _on_id_line(self, raw: bytes) -> None:
        who = self._who()
        line = raw.split(b"\0", 1)[0].decode("latin-1")
        match = _C_INT.match(line)
        if match is None:
            raise SptpsMetaConnectionError(f"Bogus data received from {who}")
        if int(match.group(1)) != RequestType.ID:
            raise SptpsMetaConnectionError(
                f"Unauthorized request from {who}: got request {match.group(1)} "
                "while waiting for ID"
            )
        try:
            request = parse_request(line)
        except RequestError:
            raise BadIdError(f"Got bad ID from {who}") from None
        assert isinstance(request, Id)
        name = request.name
        # Control connections (^COOKIE) and invitations (?KEY) are not meta
        # connections between nodes; this session refuses them as bad IDs.
        if not check_id(name) or name == self._my_name:
            raise BadIdError(f"Got bad ID from {who}: invalid name {name!r}")
        if self._expected_peer is not None and name != self._expected_peer:
            raise BadIdError(f"Peer is {name} instead of {self._expected_peer}")
        self._peer_name = name
        minor = request.minor or 0
        if request.major != PROT_MAJOR:
            raise BadIdError(
                f"Peer {name} uses incompatible version {request.major}.{minor}"
            )
        peer_public = self._lookup_public_key(name)
        if peer_public is None:
            raise UnknownIdentityError(f"Peer had unknown identity ({name})")
        if minor < 1:
            raise VersionRollbackError(
                f"Peer {name} tries to roll back protocol version to {request.major}.{minor}"
            )
        if minor < SPTPS_MIN_MINOR:
            # 17.1 asks for the legacy handshake followed by a key upgrade.
            raise VersionRollbackError(
                f"Peer {name} uses legacy protocol {request.major}.{minor} "
                "which we don't support"
            )
        if not self._outgoing:
            self._send_id()
        if self._outgoing:
            label = meta_label(self._my_name, name)
        else:
            label = meta_label(name, self._my_name)
        self._allow = RequestType.ACK
        self._sptps = SPTPS(
            initiator=self._outgoing,
            datagram=False,
            my_key=self._my_key,
            peer_public=peer_public,
            label=label,
            random=self._random,
        )
        self._outbox += self._sptps.start()

    def _send_ack(self) -> None:
        assert self._peer_name is not None and self._sptps is not None
        assert self._start is not None
        estimate = int((self._clock() - self._start) * 1000)  # truncated milliseconds
        fixed = self._weight(self._peer_name) if callable(self._weight) else self._weight
        self._estimated_weight = estimate if fixed is None else fixed
        options = self._my_options
        mine = options(self._peer_name) if callable(options) else options
        # tinc keeps the connection's options without the version byte and
        # sends its minor version in the top byte (send_ack).
        self._sent_options = mine & 0x00FFFFFF
        ack = Ack(
            self._my_port,
            self._estimated_weight,
            with_option_version(self._sent_options, PROT_MINOR_11),
        )
        self._outbox += self._sptps.send_record(
            META_RECORD_TYPE, ack.format().encode("ascii") + b"\n"
        )

    def _on_ack(self, line: str) -> Authenticated:
        assert self._peer_name is not None
        try:
            request = parse_request(line)
        except RequestError:
            request = None
        if not isinstance(request, Ack):
            raise SptpsMetaConnectionError(f"Got bad ACK from {self._who()}")
        port = _C_INT.match(request.port)  # tinc turns the port text into a number later
        port_number = int(port.group(1)) if port else 0
        self._allow = ALLOW_ALL
        return Authenticated(
            peer_name=self._peer_name,
            peer_port=port_number if 0 <= port_number <= 0xFFFF else 0,
            peer_options=request.options,
            weight=truncating_mean(request.weight, self._estimated_weight),
            options=merge_options(self._sent_options, request.options),
            peer_weight=request.weight,
        )


__all__ = [
    "LABEL_PREFIX",
    "META_RECORD_TYPE",
    "SPTPS_MIN_MINOR",
    "BadIdError",
    "MetaEvent",
    "PeerAuthenticationError",
    "SptpsMetaConnection",
    "SptpsMetaConnectionError",
    "SptpsPacketReceived",
    "UnknownIdentityError",
    "VersionRollbackError",
    "meta_label",
]
