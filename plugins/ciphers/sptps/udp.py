"""tinc 1.1's per-node SPTPS session: key exchange over REQ_KEY/ANS_KEY, data over UDP.

One :class:`SptpsPeerSession` is what a tinc 1.1 node keeps per peer node
(``n->sptps`` with ``validkey``, ``waitingforkey`` and ``last_req_key``). It
is sans-IO: it takes the payloads of the requests the node received and the
clock, and returns the requests to send and whether a key exchange finished.
UDP framing and node IDs are in :mod:`.udp_frame`, the record types of VPN
packets in :mod:`.udp_packets`.

Theory of operation (src/protocol_key.c, src/net_packet.c)
----------------------------------------------------------

::

    initiator (wants to send)                   responder
    15 A B 15 <KEX>            -------------->  (restarts its session as responder)
                               <--------------  16 B A <KEX> -1 -1 -1 <compression>
    16 A B <SIG> -1 -1 -1 <c>  -------------->
                               <--------------  16 B A <SIG> -1 -1 -1 <compression>
    key exchange done                           key exchange done (on A's SIG)

* The session is SPTPS in datagram mode with the label
  ``tinc UDP key expansion INITIATOR RESPONDER`` and a NUL byte
  (``send_req_key``, protocol_key.c:122-131). The initiator is whoever sends
  REQ_KEY; each start (``send_req_key``) throws the old session away.
* Every handshake datagram travels in tinc's base64 over the meta
  connections: the initiator's first KEX in ``REQ_KEY`` with extension 15
  (``send_initial_sptps_data``, :103-112), every later one, in both
  directions, in ``ANS_KEY`` with ``-1 -1 -1`` and the sender's own
  compression level, which the receiver uses for the packets it sends back
  (``send_sptps_data``, net_packet.c:987-989; ``ans_key_h``, :487-533).
* A REQ_KEY always restarts the receiver as responder, even when it had
  started a session itself ("Got REQ_KEY from %s while we already started a
  SPTPS session!", :233-253). When two tincds start at the same moment both
  end up responders and wait for the 10-second restart. tinca breaks the tie
  (see :meth:`SptpsPeerSession.on_req_key`) so that two tinca nodes, and a
  tinca node and a tincd, converge at once.
* A node without a key for a peer it has traffic for starts a session; if
  none finished 10 seconds after the last start, it restarts ("No key from
  %s after 10 seconds, restarting SPTPS", ``try_sptps``, net_packet.c:1151-1168).
  A handshake or data datagram that fails restarts the session too, but only
  when the last start is more than 10 seconds old, so forged packets cannot
  cause a storm (protocol_key.c:542-553, net_packet.c:436-446).
* Data records go in UDP datagrams (or over TCP when UDP is not usable; the
  node decides). Our own key expiry forces a re-KEX of every established
  session (``send_key_changed``, protocol_key.c:52-60); a peer's KEY_CHANGED
  changes nothing for SPTPS sessions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Container
from dataclasses import dataclass, field

from tinca.core.logs import DEBUG_PROTOCOL, DEBUG_TRAFFIC, level_for
from tinca.core.meta.requests import AnsKey, ReqKey, Request, RequestType
from tinca.core.suite import SuiteError
from tinca.plugins.ciphers.sptps import tinc_base64
from tinca.plugins.ciphers.sptps.ed25519_keys import ExpandedEd25519Key
from tinca.plugins.ciphers.sptps.sptps import (
    DEFAULT_REPLAY_WINDOW,
    KEX_SIZE,
    RECORD_HANDSHAKE,
    SPTPS,
    HandshakeDone,
    Record,
)
from tinca.plugins.ciphers.sptps.sptps_errors import Failure, SptpsError, SptpsPacketError

log = logging.getLogger("tinca")
_ALWAYS = level_for(0)
_PROTOCOL = level_for(DEBUG_PROTOCOL)
_TRAFFIC = level_for(DEBUG_TRAFFIC)

RESTART_INTERVAL = 10
"""Seconds before a start without result may be redone (``last_req_key``, net_packet.c:1160)."""

COMPRESSION_LEVELS = range(13)
"""Compression levels tinc 1.1 knows: 0 none, 1-9 zlib, 10-11 LZO, 12 LZ4 (src/compression.h)."""

NO_LEGACY_FIELD = -1
"""What ANS_KEY carries for cipher, digest and MAC length in SPTPS mode (net_packet.c:989)."""

_SESSION_IS_SOUND = frozenset({Failure.REPLAYED, Failure.FAR_FUTURE})
"""Failures of datagrams that authenticated: no reason to start over."""

_HANDSHAKE_HEADER = 4 + 1  # seqno and type byte of a plaintext handshake datagram


class KeyRequestError(SuiteError):
    """A REQ_KEY or ANS_KEY for the per-node session that cannot be used (bad payload or level)."""


def udp_label(initiator: str, responder: str) -> bytes:
    """The SPTPS label of the per-node session, NUL included (protocol_key.c:122-124)."""
    return f"tinc UDP key expansion {initiator} {responder}".encode() + b"\0"


@dataclass(slots=True)
class KeyStep:
    """What one call into :class:`SptpsPeerSession` produced.

    ``requests``: REQ_KEY/ANS_KEY to send towards the peer, in order.
    ``done``: a key exchange finished (``initial`` tells the first from a re-KEX).
    ``error``: the input was refused; the node logs it (once, it is not per packet).
    ``restarted``: the session was (re)started as initiator by this call.
    """

    requests: list[Request] = field(default_factory=list)
    done: HandshakeDone | None = None
    error: SptpsError | KeyRequestError | None = None
    restarted: bool = False


class SptpsPeerSession:
    """The per-node SPTPS session with one peer (see the module docstring).

    ``my_key`` is our Ed25519 key, ``peer_public`` the peer's 32-byte public
    key. ``random(n)`` gives ``n`` random bytes (each KEX draws a 32-byte nonce
    then a 32-byte key seed); ``clock()`` gives seconds. ``compression`` is
    our own level, announced in every ANS_KEY; ``compression_levels`` the
    levels we can decompress, which a peer may announce.
    """

    def __init__(
        self,
        *,
        my_name: str,
        peer_name: str,
        my_key: ExpandedEd25519Key,
        peer_public: bytes,
        random: Callable[[int], bytes],
        clock: Callable[[], float],
        replay_window: int = DEFAULT_REPLAY_WINDOW,
        compression: int = 0,
        compression_levels: Container[int] = COMPRESSION_LEVELS,
    ) -> None:
        if my_name == peer_name:
            raise ValueError("a node has no per-node session with itself")
        self.my_name = my_name
        self.peer_name = peer_name
        self.compression = compression
        """Our level: what the peer should compress its packets to us with."""
        self.peer_compression = 0
        """The peer's level from its last ANS_KEY: what we compress with (``outcompression``)."""
        self._my_key = my_key
        self._peer_public = bytes(peer_public)
        self._random = random
        self._clock = clock
        self._replay_window = replay_window
        self._levels = compression_levels
        self._sptps: SPTPS | None = None
        self._validkey = False
        self._waiting = False
        self._last_start = -math.inf
        self._yielded = False  # we gave up our own start for the peer's REQ_KEY

    # ------------------------------------------------------------------
    # State

    @property
    def validkey(self) -> bool:
        """A key exchange finished: packets can be sealed and opened."""
        return self._validkey

    @property
    def waiting_for_key(self) -> bool:
        """A key exchange is running and has not finished (``waitingforkey``)."""
        return self._waiting

    @property
    def started(self) -> bool:
        """Whether there is a session at all (tinc: ``sptps.state != 0``)."""
        return self._sptps is not None

    @property
    def initiator(self) -> bool | None:
        """Our role in the current session; ``None`` without one."""
        return None if self._sptps is None else self._sptps.initiator

    @property
    def last_start(self) -> float:
        """When the current session was started (``last_req_key``); -inf if never."""
        return self._last_start

    @property
    def can_force_kex(self) -> bool:
        """Whether :meth:`force_kex` would start a re-KEX now."""
        return self._sptps is not None and self._sptps.can_force_kex

    # ------------------------------------------------------------------
    # Key exchange (control plane)

    def start(self) -> KeyStep:
        """Start a new session as initiator: one REQ_KEY (tinc's ``send_req_key``)."""
        now = self._clock()
        sptps = self._new_session(initiator=True, now=now)
        first = sptps.start()
        request = ReqKey(
            self.my_name, self.peer_name, int(RequestType.REQ_KEY), tinc_base64.encode(first)
        )
        return KeyStep(requests=[request], restarted=True)

    def tick(self, now: float | None = None) -> KeyStep:
        """Make sure a key exchange is under way (tinc's ``try_sptps``).

        Call it when there is a packet for the peer and no :attr:`validkey`,
        or periodically. Starts a session if none is running, and restarts
        one that has not finished after :data:`RESTART_INTERVAL` seconds,
        logging "No key from ... restarting SPTPS" once per restart.
        """
        if now is None:
            now = self._clock()
        if self._validkey:
            return KeyStep()
        if not self._waiting:
            return self.start()
        if self._last_start + RESTART_INTERVAL < now:
            log.log(_ALWAYS, "No key from %s after 10 seconds, restarting SPTPS", self.peer_name)
            return self.start()
        return KeyStep()

    def on_req_key(self, payload: str | None) -> KeyStep:
        """The peer's REQ_KEY with extension 15: its first KEX, in tinc's base64.

        As tincd, any REQ_KEY restarts us as responder, except in one case
        that breaks a tie: we had started our own session less than
        :data:`RESTART_INTERVAL` seconds ago, it has not finished, and our
        name sorts before the peer's. Then we keep ours and ignore the peer's
        (the peer yields, be it tinca or tincd). The side that yields to a
        tincd, which yields too, finds out from the tincd's KEX and starts
        again at once (see :meth:`on_ans_key`).
        """
        try:
            data = self._decode(payload)
        except ValueError as exc:
            problem = f"Got bad REQ_SPTPS_START from {self.peer_name}: {exc}"
            return KeyStep(error=KeyRequestError(problem))
        now = self._clock()
        sptps = self._sptps
        if sptps is not None:
            log.log(
                _ALWAYS,
                "Got REQ_KEY from %s while we already started a SPTPS session!",
                self.peer_name,
            )
            if (
                sptps.initiator
                and not self._validkey
                and now - self._last_start <= RESTART_INTERVAL
                and self.my_name < self.peer_name
            ):
                return KeyStep()
            self._yielded = sptps.initiator and not self._validkey
        sptps = self._new_session(initiator=False, now=now)
        step = KeyStep()
        self._queue(step, [sptps.start()])
        try:
            self._absorb(step, sptps.receive_datagram(data))
        except SptpsError as exc:
            step.error = exc
        return step

    def on_ans_key(self, key: str, compression: int) -> KeyStep:
        """The peer's ANS_KEY in SPTPS form: a handshake datagram and its compression level.

        Returns our handshake replies and, when this finished a key exchange,
        :attr:`KeyStep.done`. A level we cannot decompress refuses the whole
        request, as tinc does. A datagram that fails restarts the session if
        the last start is more than 10 seconds old.
        """
        if compression not in self._levels:
            return KeyStep(
                error=KeyRequestError(
                    f"Node {self.peer_name} uses bogus compression level {compression}"
                )
            )
        self.peer_compression = compression
        try:
            data = self._decode(key)
        except ValueError as exc:
            return self._failed(
                KeyRequestError(f"Got bad ANS_KEY from {self.peer_name}: {exc}"), handshake=True
            )
        sptps = self._sptps
        if sptps is None:
            return self._failed(
                SptpsPacketError(Failure.NOT_STARTED, "Invalid session state zero (not started)"),
                handshake=True,
            )
        if self._yielded and self._peer_also_yielded(sptps, data):
            # The peer (a tincd) answered our abandoned REQ_KEY as responder
            # while we answered its REQ_KEY: two responders never finish.
            self._yielded = False
            return self.start()
        step = KeyStep()
        try:
            # By the meta connections: in order, whatever UDP did to the window.
            self._absorb(step, sptps.receive_datagram(data, in_order=True))
        except SptpsError as exc:
            return self._failed(exc, handshake=True)
        return step

    def force_kex(self) -> KeyStep:
        """Re-key an established session (our keys expired): one ANS_KEY, or nothing."""
        sptps = self._sptps
        if sptps is None or not self._validkey or not sptps.can_force_kex:
            return KeyStep()
        step = KeyStep()
        self._queue(step, [sptps.force_kex()])
        return step

    def stop(self) -> None:
        """Forget the session (the peer became unreachable)."""
        self._sptps = None
        self._validkey = False
        self._waiting = False
        self._yielded = False

    # ------------------------------------------------------------------
    # Data (the hot path)

    def seal(self, record_type: int, data: bytes) -> bytes:
        """One SPTPS datagram holding ``data`` as record ``record_type`` (0..127).

        Raises :class:`SptpsPacketError` with ``HANDSHAKE_NOT_FINISHED``
        ("Handshake phase not finished yet") before the first key exchange;
        the node should then call :meth:`tick`.
        """
        sptps = self._sptps
        if sptps is None:
            raise SptpsPacketError(
                Failure.HANDSHAKE_NOT_FINISHED, "Handshake phase not finished yet"
            )
        return sptps.send_record(record_type, data)

    def open(self, datagram: bytes) -> Record | None:
        """The record in one datagram from the peer (``.type``, ``.data``).

        ``None`` when the datagram was a handshake step (tinc never sends
        those by UDP, but accepts them). Raises :class:`SptpsPacketError`;
        then call :meth:`after_bad_packet` to learn whether to restart.
        """
        sptps = self._sptps
        if sptps is None:
            raise SptpsPacketError(
                Failure.NOT_STARTED,
                f"Got packet from {self.peer_name} but we haven't exchanged keys yet",
            )
        event = sptps.receive_datagram(datagram)
        if event is None or type(event) is Record:
            return event
        # A re-KEX finished by a handshake record that came by UDP.
        return None

    def verify(self, datagram: bytes) -> bool:
        """Whether ``datagram`` is the peer's and would be accepted; changes nothing.

        tinc's ``sptps_verify_datagram``: tells which node a UDP packet came from.
        """
        sptps = self._sptps
        return sptps is not None and sptps.verify_datagram(datagram)

    def after_bad_packet(self, error: SptpsError, now: float | None = None) -> KeyStep:
        """What to do after :meth:`open` raised ``error`` (tinc's ``receive_udppacket``).

        Without a session: start one unless one is being negotiated. With a
        session: restart it only if the last start is more than 10 seconds
        old. Each kind of failure is logged once per session, not per packet.
        """
        if now is None:
            now = self._clock()
        if self._sptps is None:
            step = self.start()
            step.error = error
            return step
        return self._failed(error, handshake=False, now=now)

    # ------------------------------------------------------------------
    # Internals

    def _new_session(self, *, initiator: bool, now: float) -> SPTPS:
        label = (
            udp_label(self.my_name, self.peer_name)
            if initiator
            else udp_label(self.peer_name, self.my_name)
        )
        self._sptps = SPTPS(
            initiator=initiator,
            datagram=True,
            my_key=self._my_key,
            peer_public=self._peer_public,
            label=label,
            random=self._random,
            replay_window=self._replay_window,
            clock=self._clock,
        )
        self._validkey = False
        self._waiting = True
        self._last_start = now
        if initiator:
            self._yielded = False
        return self._sptps

    def _absorb(self, step: KeyStep, event: object) -> None:
        sptps = self._sptps
        assert sptps is not None
        self._queue(step, sptps.data_to_send())
        if isinstance(event, HandshakeDone):
            step.done = event
            if event.initial:
                self._validkey = True
                self._waiting = False
                self._yielded = False
                log.log(_PROTOCOL, "SPTPS key exchange with %s successful", self.peer_name)

    def _queue(self, step: KeyStep, datagrams: list[bytes]) -> None:
        for datagram in datagrams:
            step.requests.append(
                AnsKey(
                    self.my_name,
                    self.peer_name,
                    tinc_base64.encode(datagram),
                    NO_LEGACY_FIELD,
                    NO_LEGACY_FIELD,
                    NO_LEGACY_FIELD,
                    self.compression,
                )
            )

    def _failed(
        self, error: SptpsError | KeyRequestError, *, handshake: bool, now: float | None = None
    ) -> KeyStep:
        if now is None:
            now = self._clock()
        # The caller reports ``error`` (once per kind); this only decides
        # whether the session starts over. Not during a re-KEX: its records
        # travel by the meta connections and the data by UDP, so the peer's
        # first datagrams under the new key may come before its SIG. tinc
        # restarts the whole session then; dropping them is enough.
        # Nor for a data datagram the replay window refused: it authenticated,
        # so the session is sound (and a replayed capture cannot force
        # restarts). A refused handshake record is another matter: the key
        # exchange cannot go on without it, so it restarts as in tinc.
        sptps = self._sptps
        rekeying = sptps is not None and sptps.rekeying and not handshake
        sound = not handshake and isinstance(error, SptpsError) and (
            error.reason in _SESSION_IS_SOUND
        )
        if self._last_start < now - RESTART_INTERVAL and not rekeying and not sound:
            what = "handshake TCP packet" if handshake else "packet"
            log.log(
                _PROTOCOL, "Failed to decode %s from %s, restarting SPTPS", what, self.peer_name
            )
            step = self.start()
            step.error = error
            return step
        return KeyStep(error=error)

    @staticmethod
    def _decode(payload: str | None) -> bytes:
        if not payload:
            raise ValueError("invalid SPTPS data (missing)")
        data = tinc_base64.decode(payload)
        if not data:
            raise ValueError("invalid SPTPS data (empty)")
        return data

    @staticmethod
    def _peer_also_yielded(sptps: SPTPS, data: bytes) -> bool:
        """Whether ``data`` is a responder's first KEX arriving at our responder session."""
        return (
            not sptps.initiator
            and not sptps.established
            and len(data) == _HANDSHAKE_HEADER + KEX_SIZE
            and data[:4] == b"\0\0\0\0"
            and data[4] == RECORD_HANDSHAKE
        )


def sptps_packet_request(from_name: str, to_name: str, datagram: bytes) -> ReqKey:
    """A data datagram over the meta connections for a node older than minor 7.

    ``REQ_KEY FROM TO 21 <base64>`` (net_packet.c:991); newer nodes get
    ``21 LEN`` and the raw frame instead (:968-978). The receiver opens the
    decoded datagram with :meth:`SptpsPeerSession.open` and refuses probes in it.
    """
    return ReqKey(from_name, to_name, int(RequestType.SPTPS_PACKET), tinc_base64.encode(datagram))


__all__ = [
    "COMPRESSION_LEVELS",
    "NO_LEGACY_FIELD",
    "RESTART_INTERVAL",
    "KeyRequestError",
    "KeyStep",
    "SptpsPeerSession",
    "sptps_packet_request",
    "udp_label",
]
