"""SPTPS, tinc 1.1's Simple Peer-to-Peer Security, as a sans-IO state machine.

One :class:`SPTPS` object is one session between two holders of Ed25519 keys.
tinc runs it in two framings:

* **stream** (the meta connection over TCP, invitations): records follow each
  other in one byte stream. Each is a 2-byte big-endian length (of the data
  only; neither encrypted nor authenticated), the type byte and the data, and
  a 16-byte tag once encryption is on. Sequence numbers are implicit: both
  sides count records from 0.
* **datagram** (the per-node session that protects VPN packets over UDP):
  each record is one datagram: the 4-byte big-endian sequence number, the
  type byte and the data, and the tag once encryption is on (21 bytes of
  overhead). Loss and reordering are tolerated within a replay window.

Record types 0..127 belong to the application; 128 is the handshake. tinc
reserves 129 (alert) and 130 (close) but never sends them, and drops the
session on any type above 128.

The handshake (theory of operation)
-----------------------------------
Both sides send a KEX at once (a nonce and an ephemeral key). When the
initiator has the responder's KEX it sends its SIG; the responder answers a
valid SIG with its own. Whoever verifies the other's SIG derives the keys
(see :mod:`.sptps_kex`) and switches its *outgoing* records to its new key.
The first handshake is in plaintext (KEX and SIG are records 0 and 1) and
both directions switch together. A later key exchange ("re-KEX") runs under
the old keys: either side may start it by sending a KEX (:meth:`SPTPS.force_kex`),
the other answers with its own, and each side follows its SIG with an ACK (an
empty handshake record) after which its records use the new key; the receiver
switches when it reads that ACK. The original initiator keeps its role, and
so always sends the first SIG, whoever forced the re-KEX. Application records
may be interleaved throughout; sequence numbers are never reset.

States (tinc's ``sptps_state_t``, same numbers): ``KEX`` waits for the
peer's KEX after ours; ``SECONDARY_KEX`` is the established state, where a
KEX from the peer starts a re-KEX; ``SIG`` waits for the peer's SIG; ``ACK``
waits for the peer's ACK after a re-KEX.

Using it
--------
``start()`` gives the first record to send. Feed every received chunk (stream)
or datagram to :meth:`SPTPS.receive`; it returns the events the input
completed and queues the handshake records to send in reply, which
:meth:`SPTPS.data_to_send` hands over (call it after every ``receive``). In
datagram mode everything from ``start``, ``force_kex`` and ``data_to_send`` is
a handshake record (tinc carries those over the meta connection, in
REQ_KEY/ANS_KEY), and everything from ``send_record`` is application data.

Errors raise :class:`~.sptps_errors.SptpsMetaError` (stream; the session is
dead afterwards and every later ``receive`` says so) or
:class:`~.sptps_errors.SptpsPacketError` (datagram; only that datagram is
rejected).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass

from tinca.plugins.ciphers.sptps import ed25519_keys
from tinca.plugins.ciphers.sptps.chacha_poly import TAG_SIZE, RecordCipher
from tinca.plugins.ciphers.sptps.ed25519_keys import ExpandedEd25519Key
from tinca.plugins.ciphers.sptps.sptps_errors import (
    Failure,
    SptpsError,
    SptpsMetaError,
    SptpsPacketError,
)
from tinca.plugins.ciphers.sptps.sptps_kex import (
    ECDH_SIZE,
    KEX_SIZE,
    NONCE_SIZE,
    SEED_SIZE,
    SIGNATURE_SIZE,
    VERSION,
    Ephemeral,
    kex_body,
    key_material,
    signed_message,
)
from tinca.plugins.ciphers.sptps.sptps_replay import DEFAULT_SIZE, ReplayWindow

RECORD_HANDSHAKE = 128
"""Record type of KEX, SIG and ACK (``SPTPS_HANDSHAKE``); 0..127 are the application's."""
RECORD_ALERT = 129
"""Reserved by tinc (``SPTPS_ALERT``), never sent; receiving it ends the session."""
RECORD_CLOSE = 130
"""Reserved by tinc (``SPTPS_CLOSE``), never sent; receiving it ends the session."""

MAX_RECORD_DATA = 0xFFFF
"""Most data bytes in one record: tinc passes record lengths as ``uint16_t``."""

STREAM_OVERHEAD = 2 + 1 + TAG_SIZE
"""Bytes an encrypted stream record adds to its data: length, type, tag."""
DATAGRAM_OVERHEAD = 4 + 1 + TAG_SIZE
"""Bytes an encrypted datagram adds to its data (``SPTPS_DATAGRAM_OVERHEAD``)."""

DEFAULT_REPLAY_WINDOW = DEFAULT_SIZE
"""tinc's default ``ReplayWindow``: 16 bytes of bitmap, 128 datagrams."""

_U32 = 0xFFFFFFFF
_SEQNO = struct.Struct(">I")
_LENGTH = struct.Struct(">H")
_TYPE_BYTE = tuple(bytes((t,)) for t in range(256))
_PLAIN_STREAM_OVERHEAD = 2 + 1
_PLAIN_DATAGRAM_OVERHEAD = 4 + 1


class State(enum.IntEnum):
    """Handshake states, numbered as tinc's ``sptps_state_t``."""

    KEX = 1
    SECONDARY_KEX = 2
    SIG = 3
    ACK = 4


@dataclass(frozen=True, slots=True)
class HandshakeDone:
    """A key exchange finished: both directions now use the new keys.

    ``initial`` is true for the first handshake (application records may
    flow from now on) and false after a re-KEX.
    """

    initial: bool


@dataclass(slots=True)
class Record:
    """An application record from the peer: its type (0..127) and data.

    Read-only by convention. It is made for every packet on the data path,
    and a frozen dataclass costs twice as much to build.
    """

    type: int
    data: bytes


SptpsEvent = HandshakeDone | Record


class SPTPS:
    """One SPTPS session (stream or datagram framing), sans-IO.

    ``my_key`` signs our SIG records; ``peer_public`` (32 bytes) must have
    signed the peer's. ``label`` binds the session to its purpose and both
    names (tinc: ``"tinc TCP key expansion A B\\0"`` and so on); it must be
    the same bytes on both sides. ``random(n)`` returns ``n`` random bytes:
    each key exchange draws the 32-byte KEX nonce and then the 32-byte seed of
    the ephemeral key, as tinc does. ``replay_window`` is tinc's
    ``ReplayWindow`` in bytes (datagram mode only; 0 turns the check off).
    ``clock`` (seconds) only stamps :attr:`handshake_completed_at`.
    """

    __slots__ = (
        "_buffer",
        "_clock",
        "_ephemeral",
        "_error",
        "_failed",
        "_his_kex",
        "_in_cipher",
        "_in_seqno",
        "_instate",
        "_label",
        "_my_kex",
        "_my_key",
        "_need",
        "_out_cipher",
        "_out_seqno",
        "_outgoing",
        "_outstate",
        "_peer_public",
        "_pending_in_key",
        "_previous_in_cipher",
        "_random",
        "_replay",
        "_state",
        "datagram",
        "handshake_completed_at",
        "initiator",
    )

    def __init__(
        self,
        *,
        initiator: bool,
        datagram: bool,
        my_key: ExpandedEd25519Key,
        peer_public: bytes,
        label: bytes,
        random: Callable[[int], bytes],
        replay_window: int = DEFAULT_REPLAY_WINDOW,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if len(peer_public) != ed25519_keys.PUBLIC_KEY_SIZE:
            raise ValueError(
                f"an Ed25519 public key has {ed25519_keys.PUBLIC_KEY_SIZE} bytes, "
                f"not {len(peer_public)}"
            )
        self.initiator = initiator
        """Whether we are the initiator (in tinc: the side that made the connection)."""
        self.datagram = datagram
        """Datagram framing (UDP) rather than stream framing (TCP)."""
        self.handshake_completed_at: float | None = None
        """The clock's time when the last key exchange finished (``None`` without a clock)."""
        self._my_key = my_key
        self._peer_public = bytes(peer_public)
        self._label = bytes(label)
        self._random = random
        self._clock = clock
        self._error: type[SptpsError] = SptpsPacketError if datagram else SptpsMetaError
        self._state: State | None = None
        self._instate = False  # the peer's records are encrypted
        self._outstate = False  # ours are
        self._in_cipher: RecordCipher | None = None
        self._out_cipher: RecordCipher | None = None
        self._pending_in_key: bytes | None = None  # until the peer's ACK
        # Datagram mode, during a re-KEX: the key the peer used before, kept
        # while its ACK (sealed with it) is still on the way.
        self._previous_in_cipher: RecordCipher | None = None
        self._in_seqno = 0  # stream mode; datagram mode counts in the replay window
        self._out_seqno = 0
        self._replay = ReplayWindow(replay_window) if datagram else None
        self._my_kex: bytes | None = None
        self._his_kex: bytes | None = None
        self._ephemeral: Ephemeral | None = None
        self._outgoing: list[bytes] = []
        self._buffer = bytearray()  # stream mode: an incomplete record
        self._need = 2  # stream mode: bytes the buffered record needs
        self._failed = False

    # ------------------------------------------------------------------
    # State

    @property
    def state(self) -> State | None:
        """The handshake state; ``None`` before :meth:`start`."""
        return self._state

    @property
    def established(self) -> bool:
        """The first handshake finished: application records may be sent."""
        return self._outstate

    @property
    def rekeying(self) -> bool:
        """A key exchange runs on an established session (a re-KEX)."""
        return self._outstate and self._state is not State.SECONDARY_KEX

    @property
    def can_force_kex(self) -> bool:
        """Whether :meth:`force_kex` is possible now (established, no key exchange running)."""
        return self._outstate and self._state is State.SECONDARY_KEX

    @property
    def out_seqno(self) -> int:
        """The sequence number our next record gets.

        Settable for tools and tests only (tinc's ``sptps_test`` does it on a
        ``#N`` line): in stream mode the peer counts records itself, so any
        change breaks the session.
        """
        return self._out_seqno

    @out_seqno.setter
    def out_seqno(self, value: int) -> None:
        self._out_seqno = value & _U32

    # ------------------------------------------------------------------
    # Sending

    def start(self) -> bytes:
        """Begin the handshake: our first KEX record (one datagram in datagram mode)."""
        if self._state is not None:
            raise self._error(Failure.BAD_STATE, "The SPTPS session was already started")
        self._state = State.KEX
        return self._send_kex()

    def force_kex(self) -> bytes:
        """Start a re-KEX now: our new KEX record, sent under the current key.

        Only possible when :attr:`can_force_kex`; otherwise raises (tinc:
        "Cannot force KEX in current state").
        """
        if not self.can_force_kex:
            raise self._error(Failure.BAD_STATE, "Cannot force KEX in current state")
        self._state = State.KEX
        return self._send_kex()

    def send_record(self, record_type: int, data: bytes) -> bytes:
        """One application record, ready to send: stream bytes or one datagram.

        Raises the session's error with ``HANDSHAKE_NOT_FINISHED`` before the
        first handshake is complete, and ``ValueError`` for a type outside
        0..127 or more than 65535 bytes of data.
        """
        if not self._outstate:
            raise self._error(Failure.HANDSHAKE_NOT_FINISHED, "Handshake phase not finished yet")
        if not 0 <= record_type < RECORD_HANDSHAKE:
            raise ValueError(f"Invalid application record type {record_type} (must be 0..127)")
        if len(data) > MAX_RECORD_DATA:
            raise ValueError(
                f"an SPTPS record holds at most {MAX_RECORD_DATA} bytes, not {len(data)}"
            )
        seqno = self._out_seqno
        self._out_seqno = (seqno + 1) & _U32
        header = _SEQNO.pack(seqno) if self.datagram else _LENGTH.pack(len(data))
        cipher = self._out_cipher
        assert cipher is not None  # _outstate: the first handshake set the key
        return cipher.seal(seqno, header, record_type, data)

    def data_to_send(self) -> list[bytes]:
        """Handshake records queued by :meth:`receive`, in order; then empty.

        In stream mode, send them as one concatenated byte string; in datagram
        mode each item is one datagram.
        """
        out = self._outgoing
        self._outgoing = []
        return out

    # ------------------------------------------------------------------
    # Receiving

    def receive(self, data: bytes) -> list[SptpsEvent]:
        """Feed received bytes; return the events they complete, in order.

        Stream mode takes any chunk of the byte stream; datagram mode exactly
        one datagram. Handshake replies go to :meth:`data_to_send`.
        """
        if self.datagram:
            event = self.receive_datagram(data)
            return [] if event is None else [event]
        if self._failed:
            raise self._error(Failure.SESSION_FAILED, "The SPTPS session already failed")
        if self._state is None:
            raise self._error(Failure.NOT_STARTED, "Invalid session state zero (not started)")
        try:
            return self._receive_stream(data)
        except SptpsError:
            self._failed = True
            raise

    def receive_datagram(self, datagram: bytes, in_order: bool = False) -> SptpsEvent | None:
        """Datagram mode: the event of one datagram, or ``None`` (a handshake step).

        The lean path for the data plane; :meth:`receive` wraps it.
        ``in_order`` says the datagram came by a reliable, ordered channel
        (tinc's meta connections carry the handshake records): a handshake
        record then passes even when the replay window, which UDP data moves,
        calls it late or far ahead. It must still authenticate.
        """
        window = self._replay
        if window is None:
            raise ValueError("receive_datagram() needs a datagram-mode session")
        if self._instate:
            # The data path: keep it first and short.
            if len(datagram) < DATAGRAM_OVERHEAD:
                raise SptpsPacketError(Failure.TRUNCATED, "Received short packet")
            seqno = _SEQNO.unpack_from(datagram)[0]
            cipher = self._in_cipher
            assert cipher is not None  # _instate: the first handshake set the key
            plain = cipher.open(seqno, memoryview(datagram)[4:])
            if plain is None:
                plain = self._open_across_rekey(seqno, datagram)
            # As in tinc: only an authentic datagram may move the window.
            try:
                window.check(seqno)
            except SptpsPacketError:
                # tinc refuses it; the re-KEX then stalls until a restart.
                if not (in_order and plain[0] == RECORD_HANDSHAKE):
                    raise
            record_type = plain[0]
            if record_type < RECORD_HANDSHAKE:
                return Record(record_type, plain[1:])
            if record_type == RECORD_HANDSHAKE:
                return self._receive_handshake(plain[1:])
            raise SptpsPacketError(Failure.BAD_RECORD_TYPE, f"Invalid record type {record_type}")

        # The first handshake: plaintext, strictly in order.
        if self._state is None:
            raise SptpsPacketError(Failure.NOT_STARTED, "Invalid session state zero (not started)")
        if len(datagram) < _PLAIN_DATAGRAM_OVERHEAD:
            raise SptpsPacketError(Failure.TRUNCATED, "Received short packet")
        seqno = _SEQNO.unpack_from(datagram)[0]
        if seqno != window.expected:
            raise SptpsPacketError(
                Failure.BAD_SEQNO, f"Invalid packet seqno: {seqno} != {window.expected}"
            )
        window.expected = (seqno + 1) & _U32
        if datagram[4] != RECORD_HANDSHAKE:
            raise SptpsPacketError(
                Failure.HANDSHAKE_NOT_FINISHED,
                "Application record received before handshake finished",
            )
        return self._receive_handshake(datagram[5:])

    def _open_across_rekey(self, seqno: int, datagram: bytes) -> bytes:
        """A datagram the current key does not open, during a re-KEX.

        The handshake records travel by the meta connections, the data by
        UDP, so the peer's first datagrams under its new key can come before
        its ACK, and its ACK (under the old key) after we switched. tinc drops
        the former and restarts the session; here a datagram that opens under
        the pending key switches to it early, and the old key stays usable
        for stragglers until the next key exchange. Both keys are the peer's
        and the replay window still applies, so nothing unauthenticated or
        replayed gets through.
        """
        body = memoryview(datagram)[4:]
        if self._pending_in_key is not None:
            pending = RecordCipher(self._pending_in_key)
            plain = pending.open(seqno, body)
            if plain is not None:
                self._previous_in_cipher = self._in_cipher
                self._in_cipher = pending
                self._pending_in_key = None
                return plain
        if self._previous_in_cipher is not None:
            plain = self._previous_in_cipher.open(seqno, body)
            if plain is not None:
                return plain
        raise SptpsPacketError(Failure.BAD_TAG, "Failed to decrypt and verify packet")

    def verify_datagram(self, datagram: bytes) -> bool:
        """Whether ``datagram`` is authentic and would pass the replay window; changes nothing.

        tinc uses this to find which peer an unlabelled UDP packet came from.
        """
        if not self._instate or len(datagram) < DATAGRAM_OVERHEAD or self._replay is None:
            return False
        seqno = _SEQNO.unpack_from(datagram)[0]
        if not self._replay.accepts(seqno):
            return False
        cipher = self._in_cipher
        assert cipher is not None  # _instate: the first handshake set the key
        return cipher.open(seqno, memoryview(datagram)[4:]) is not None

    def _receive_stream(self, data: bytes) -> list[SptpsEvent]:
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._need:
                return []
            data = bytes(buffer)
            buffer.clear()
        events: list[SptpsEvent] = []
        end = len(data)
        pos = 0
        need = 2
        while end - pos >= 2:
            length = (data[pos] << 8) | data[pos + 1]
            # Whether a tag follows can change with every record (the first
            # handshake turns encryption on), so it is decided per record.
            need = length + (STREAM_OVERHEAD if self._instate else _PLAIN_STREAM_OVERHEAD)
            if end - pos < need:
                break
            self._stream_record(data[pos + 2 : pos + need], events)
            pos += need
            need = 2
        if pos < end:
            buffer += data[pos:]
        self._need = need
        return events

    def _stream_record(self, body: bytes, events: list[SptpsEvent]) -> None:
        seqno = self._in_seqno
        self._in_seqno = (seqno + 1) & _U32
        if self._instate:
            cipher = self._in_cipher
            assert cipher is not None  # _instate: the first handshake set the key
            plain = cipher.open(seqno, body)
            if plain is None:
                raise SptpsMetaError(Failure.BAD_TAG, "Failed to decrypt and verify record")
        else:
            plain = body
        record_type = plain[0]
        if record_type < RECORD_HANDSHAKE:
            if not self._instate:
                raise SptpsMetaError(
                    Failure.HANDSHAKE_NOT_FINISHED,
                    "Application record received before handshake finished",
                )
            events.append(Record(record_type, plain[1:]))
        elif record_type == RECORD_HANDSHAKE:
            event = self._receive_handshake(plain[1:])
            if event is not None:
                events.append(event)
        else:
            raise SptpsMetaError(Failure.BAD_RECORD_TYPE, f"Invalid record type {record_type}")

    # ------------------------------------------------------------------
    # Handshake

    def _receive_handshake(self, data: bytes) -> HandshakeDone | None:
        state = self._state
        if state is State.KEX or state is State.SECONDARY_KEX:
            self._check_kex(data)
            if state is State.SECONDARY_KEX:
                # The peer started a re-KEX: answer with our own KEX first.
                self._outgoing.append(self._send_kex())
            self._his_kex = bytes(data)
            if self.initiator:
                self._outgoing.append(self._send_sig())
            self._state = State.SIG
            return None
        if state is State.SIG:
            self._receive_sig(data)
            if self._outstate:
                self._state = State.ACK
                return None
            # The first handshake has no ACK: both directions switch now.
            self._outstate = True
            self._use_in_key()
            return self._finished(initial=True)
        # State.ACK
        if data:
            raise self._error(Failure.BAD_ACK, "Invalid ACK record length")
        if self._pending_in_key is not None:
            self._use_in_key()
        return self._finished(initial=False)

    def _check_kex(self, data: bytes) -> None:
        if len(data) != KEX_SIZE:
            raise self._error(
                Failure.BAD_KEX, f"Invalid KEX record length {len(data)} (expected {KEX_SIZE})"
            )
        if data[0] != VERSION:
            raise self._error(Failure.BAD_KEX, f"Received incorrect version {data[0]}")

    def _receive_sig(self, data: bytes) -> None:
        if len(data) != SIGNATURE_SIZE:
            raise self._error(
                Failure.BAD_SIGNATURE,
                f"Invalid SIG record length {len(data)} (expected {SIGNATURE_SIZE})",
            )
        his_kex, my_kex = self._his_kex, self._my_kex
        assert his_kex is not None and my_kex is not None and self._ephemeral is not None
        message = signed_message(not self.initiator, his_kex, my_kex, self._label)
        if not ed25519_keys.verify(self._peer_public, message, bytes(data)):
            raise self._error(
                Failure.BAD_SIGNATURE, "Failed to verify SIG record (wrong key or forged)"
            )
        try:
            shared = self._ephemeral.shared_secret(his_kex[1 + NONCE_SIZE :])
        except ValueError as exc:
            raise self._error(
                Failure.BAD_KEX, f"Failed to compute ECDH shared secret: {exc}"
            ) from None
        self._ephemeral = None
        if self.initiator:
            keys = key_material(shared, my_kex, his_kex, self._label)
        else:
            keys = key_material(shared, his_kex, my_kex, self._label)
            self._outgoing.append(self._send_sig())
        self._my_kex = self._his_kex = None
        if self._outstate:
            # Re-KEX: the ACK is the last record under the old key.
            self._outgoing.append(self._frame(RECORD_HANDSHAKE, b""))
        key0, key1 = keys[:64], keys[64:]
        self._out_cipher = RecordCipher(key1 if self.initiator else key0)
        self._pending_in_key = key0 if self.initiator else key1

    def _use_in_key(self) -> None:
        assert self._pending_in_key is not None
        if self.datagram and self._in_cipher is not None:
            # Datagrams the peer sealed just before its ACK may come after it.
            self._previous_in_cipher = self._in_cipher
        self._in_cipher = RecordCipher(self._pending_in_key)
        self._pending_in_key = None
        self._instate = True

    def _finished(self, *, initial: bool) -> HandshakeDone:
        self._state = State.SECONDARY_KEX
        if self._clock is not None:
            self.handshake_completed_at = self._clock()
        return HandshakeDone(initial=initial)

    def _send_kex(self) -> bytes:
        nonce = self._draw(NONCE_SIZE)
        ephemeral = Ephemeral(self._draw(SEED_SIZE))
        self._my_kex = kex_body(nonce, ephemeral.public)
        self._ephemeral = ephemeral
        return self._frame(RECORD_HANDSHAKE, self._my_kex)

    def _send_sig(self) -> bytes:
        assert self._my_kex is not None and self._his_kex is not None
        message = signed_message(self.initiator, self._my_kex, self._his_kex, self._label)
        return self._frame(RECORD_HANDSHAKE, self._my_key.sign(message))

    def _frame(self, record_type: int, data: bytes) -> bytes:
        seqno = self._out_seqno
        self._out_seqno = (seqno + 1) & _U32
        header = _SEQNO.pack(seqno) if self.datagram else _LENGTH.pack(len(data))
        if self._outstate:
            cipher = self._out_cipher
            assert cipher is not None  # _outstate: the first handshake set the key
            return cipher.seal(seqno, header, record_type, data)
        return header + _TYPE_BYTE[record_type] + data

    def _draw(self, size: int) -> bytes:
        data = self._random(size)
        if len(data) != size:
            raise ValueError(f"the random source returned {len(data)} bytes, wanted {size}")
        return data


__all__ = [
    "DATAGRAM_OVERHEAD",
    "DEFAULT_REPLAY_WINDOW",
    "ECDH_SIZE",
    "KEX_SIZE",
    "MAX_RECORD_DATA",
    "RECORD_ALERT",
    "RECORD_CLOSE",
    "RECORD_HANDSHAKE",
    "SPTPS",
    "STREAM_OVERHEAD",
    "Failure",
    "HandshakeDone",
    "Record",
    "SptpsError",
    "SptpsEvent",
    "SptpsMetaError",
    "SptpsPacketError",
    "State",
]
