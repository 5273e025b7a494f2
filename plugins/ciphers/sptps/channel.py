"""One peer's SPTPS data channel as the node drives it (tinc 1.1's ``n->sptps``).

:class:`SptpsChannel` puts three sans-IO pieces behind one object the
SPTPS path (:mod:`.path`) drives: the per-node key exchange
over REQ_KEY/ANS_KEY (:mod:`.udp`), the record types and compression of VPN
packets (:mod:`.udp_packets`), and the node's compression codecs. The path
does the routing (direct, relayed, UDP or TCP) and the framing with node IDs.
"""

from __future__ import annotations

from collections.abc import Callable

from tinca.core.meta.requests import AnsKey, ReqKey, Request
from tinca.core.suite import PacketError
from tinca.plugins.ciphers.sptps import tinc_base64
from tinca.plugins.ciphers.sptps.sptps_errors import SptpsError
from tinca.plugins.ciphers.sptps.udp import KeyStep, SptpsPeerSession
from tinca.plugins.ciphers.sptps.udp_packets import PKT_PROBE, decode_record, encode_packet
from tinca.plugins.mtu import tinc11 as probe_records

Codec = Callable[[int], object | None]
"""``compression(level)``: the codec object for a level (``None`` for 0)."""


class SptpsChannel:
    """The SPTPS channel with one peer (see the module docstring).

    ``session`` is the per-node key exchange; ``router`` is ``Mode = router``
    (packets travel without their Ethernet header); ``codec(level)`` gives the
    compression codec of a level: our own level decompresses what the peer
    sends, the peer's announced level compresses what we send.
    """

    def __init__(self, session: SptpsPeerSession, *, router: bool, codec: Codec) -> None:
        self.session = session
        self.router = router
        self._codec = codec
        incoming = codec(session.compression)
        self._decompress = getattr(incoming, "decompress", None)
        self._compress: Callable[[bytes], bytes] | None = None
        self._compress_level = 0

    # -- key exchange --------------------------------------------------------

    @property
    def validkey(self) -> bool:
        """A key exchange finished: packets can be sealed and opened."""
        return self.session.validkey

    @property
    def waiting_for_key(self) -> bool:
        """A key exchange is under way."""
        return self.session.waiting_for_key

    def request_key(self, now: float) -> KeyStep:
        """tinc's ``try_sptps``: start a session, or restart one 10 s stale."""
        return self.session.tick(now)

    def on_request(self, request: Request) -> KeyStep:
        """A REQ_KEY (extension 15) or an SPTPS ANS_KEY from the peer."""
        if isinstance(request, ReqKey):
            return self.session.on_req_key(request.payload)
        if isinstance(request, AnsKey):
            return self.session.on_ans_key(request.key, request.compression)
        raise TypeError(f"not a key request: {request!r}")

    def force_kex(self) -> KeyStep:
        """Re-key an established session (our KeyExpire passed)."""
        return self.session.force_kex()

    def stop(self) -> None:
        """Forget the session."""
        self.session.stop()

    def after_bad_packet(self, error: Exception | None = None) -> KeyStep:
        """A datagram failed: maybe restart (at most once per 10 s)."""
        if isinstance(error, SptpsError):
            return self.session.after_bad_packet(error)
        return KeyStep()

    # -- data ----------------------------------------------------------------

    def seal(self, frame: bytes | bytearray) -> bytes:
        """The datagram carrying one Ethernet-framed packet or probe."""
        level = self.session.peer_compression
        if level != self._compress_level:
            self._compress_level = level
            self._compress = getattr(self._codec(level), "compress", None) if level else None
        record_type, data = encode_packet(bytes(frame), router=self.router,
                                          compress=self._compress)
        return self.session.seal(record_type, data)

    def open(self, datagram: bytes, via_udp: bool = True) -> tuple[bool, bytes] | None:
        """``(is_probe, frame)`` from the peer's datagram; ``None`` for a handshake step."""
        record = self.session.open(datagram)
        if record is None:
            return None
        if record.type == PKT_PROBE and not via_udp:
            raise PacketError("Got SPTPS PROBE packet via TCP")
        return decode_record(record.type, record.data, router=self.router, via_udp=via_udp,
                             decompress=self._decompress)

    def verify(self, datagram: bytes) -> bool:
        """Whether ``datagram`` is the peer's (tinc's ``sptps_verify_datagram``)."""
        return self.session.verify(datagram)

    # -- probes (tinc 1.1's records, see tinca.plugins.mtu.tinc11) --------------

    def probe_request(self, size: int) -> bytes:
        """The body of a probe of ``size`` bytes."""
        return probe_records.probe_request(size)

    def probe_reply(self, request: bytes, peer_minor: int) -> bytes:
        """Type 2 reply for peers of 17.3 and up, type 1 for older ones."""
        return probe_records.probe_reply_record(request, peer_minor=peer_minor)

    def gratuitous_reply(self, length: int) -> bytes:
        """An unsolicited type 2 reply carrying ``length``."""
        return probe_records.gratuitous_reply_record(length)

    def parse_probe(self, body: bytes) -> tuple[bool, int]:
        """``(is_request, length)``; raises :class:`PacketError` for a malformed probe."""
        try:
            probe = probe_records.parse_probe_record(body)
        except probe_records.ProbeError as exc:
            raise PacketError(str(exc)) from None
        return probe.is_request, probe.length


def packet_from_request(request: ReqKey) -> bytes:
    """The datagram in a ``REQ_KEY ... 21 <base64>``; raises :class:`PacketError`."""
    try:
        data = tinc_base64.decode(request.payload or "")
    except ValueError as exc:
        raise PacketError(f"Got bad SPTPS_PACKET from {request.from_name}: {exc}") from None
    if not data:
        raise PacketError(f"Got bad SPTPS_PACKET from {request.from_name}: no data")
    return data


__all__ = ["SptpsChannel", "packet_from_request"]
