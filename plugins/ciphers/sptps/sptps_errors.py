"""Why an SPTPS session rejected its input, and the exceptions that say so.

Every rejection carries a :class:`Failure` (what kind of problem, for code
that reacts differently to, say, a replayed datagram and a forged signature)
and a message a person can act on. A stream session (the meta connection)
raises :class:`SptpsMetaError`, a subclass of the core's
:class:`~tinca.core.suite.MetaError`: the connection must then be closed. A
datagram session (the per-node UDP session) raises :class:`SptpsPacketError`,
a :class:`~tinca.core.suite.PacketError`: that one datagram is dropped and
the session goes on, as in tinc.
"""

from __future__ import annotations

import enum

from tinca.core.suite import MetaError, PacketError, SuiteError


class Failure(enum.Enum):
    """The kinds of input an SPTPS session refuses (tinc logs each with its own message)."""

    NOT_STARTED = "the session was not started"
    SESSION_FAILED = "an earlier error ended the stream session"
    TRUNCATED = "the record or datagram is too short"
    BAD_SEQNO = "a handshake datagram arrived out of order"
    BAD_KEX = "the KEX record is malformed or its ephemeral key is unusable"
    BAD_SIGNATURE = "the SIG record does not verify against the peer's public key"
    BAD_ACK = "the ACK record is malformed"
    BAD_TAG = "the record failed authentication"
    BAD_RECORD_TYPE = "the record type is not allowed"
    HANDSHAKE_NOT_FINISHED = "application data before the handshake finished"
    REPLAYED = "the datagram was already received or is older than the replay window"
    FAR_FUTURE = "the datagram's sequence number is too far ahead"
    BAD_STATE = "the operation is not possible in the current handshake state"


class SptpsError(SuiteError):
    """Base of the SPTPS errors; ``reason`` says which :class:`Failure` it is."""

    reason: Failure

    def __init__(self, reason: Failure, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SptpsMetaError(SptpsError, MetaError):
    """A stream-mode (meta connection) SPTPS failure; the connection is finished."""


class SptpsPacketError(SptpsError, PacketError):
    """A datagram-mode SPTPS failure; the datagram is dropped."""
