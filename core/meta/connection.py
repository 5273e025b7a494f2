"""What every sans-IO meta connection keeps, whatever protects its stream.

tinc 1.0's RSA handshake and tinc 1.1's SPTPS differ in every byte, but both
connections have the same life: the side that connected speaks first, input
is fed in and turns into events, replies queue up until taken, requests flow
only once the peer's ACK is in, and the first protocol error ends the
connection for good. :class:`MetaConnectionBase` is that life;
the cipher suites' connection classes add their handshake and framing.
"""

from __future__ import annotations

from typing import Any

from tinca.core.meta.requests import OPTION_PMTU_DISCOVERY
from tinca.core.suite import MetaError

ALLOW_ALL = -1
"""``allow_request`` once the connection is active: any request is accepted."""


class MetaConnectionError(MetaError):
    """The peer broke the meta protocol; the connection must be closed.

    ``reason`` reads like tincd's log message for the same fault. ``events``
    holds what the same ``receive_data`` call had decoded before the fault,
    in order, so none of it is lost.
    """

    def __init__(self, reason: str, events: tuple[Any, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.events = events


def merge_options(mine: int, theirs: int) -> int:
    """The options of a connection once both ACKs are in (src/protocol_auth.c ``ack_h``).

    The union of both words, except that PMTU discovery stays on only if both
    sides asked for it. The peer's version byte (tinc 1.1) is kept.
    """
    merged = mine | theirs
    if not (mine & theirs & OPTION_PMTU_DISCOVERY):
        merged &= ~OPTION_PMTU_DISCOVERY
    return merged & 0xFFFFFFFF


def truncating_mean(a: int, b: int) -> int:
    """``(a + b) / 2`` in C integer arithmetic, rounded towards zero: the edge
    weight both sides compute from their two estimates."""
    total = a + b
    return total // 2 if total >= 0 else -(-total // 2)


class MetaConnectionBase:
    """The shared life of a meta connection (see the module docstring).

    Subclasses set ``_outgoing``, ``_peer_name``, ``_allow`` (a request
    number, or :data:`ALLOW_ALL` once active) and ``_max_buffer``, and
    implement ``_send_id()`` (queue our ID on ``_outbox``) and
    ``_receive(data, events)`` (which raises :class:`MetaConnectionError`).
    """

    _outgoing: bool
    _peer_name: str | None
    _allow: int
    _max_buffer: int

    def __init__(self) -> None:
        self._initiated = False
        self._failed: MetaConnectionError | None = None
        self._outbox = bytearray()

    # -- state ---------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        """True once the peer's ACK is in and requests flow."""
        return self._allow == ALLOW_ALL and self._failed is None

    @property
    def peer_name(self) -> str | None:
        """The name the peer gave in its ID (None before it)."""
        return self._peer_name

    @property
    def outgoing(self) -> bool:
        """True on the side that connected."""
        return self._outgoing

    # -- output --------------------------------------------------------------

    def initiate(self) -> bytes:
        """Start the connection; returns the first bytes to write.

        The connecting side's ID. The accepting side says nothing until it has
        read the peer's ID, so there it returns ``b""`` (or whatever replies
        are already queued); calling it is optional on that side. Call it once.
        """
        if self._initiated:
            raise RuntimeError("initiate() was called already")
        self._initiated = True
        if self._outgoing:
            self._send_id()
        return self.data_to_send()

    def data_to_send(self) -> bytes:
        """Take every byte queued for the peer (replies from :meth:`receive_data`)."""
        out = bytes(self._outbox)
        self._outbox.clear()
        return out

    def _request_bytes(self, line: str) -> bytes:
        """``line`` and its newline, once the connection may send requests.

        ValueError for a line with a newline, one that is not Latin-1, or one
        too long for the peer's buffer.
        """
        self._check_sendable()
        data = line.encode("latin-1")
        if b"\n" in data:
            raise ValueError("a request line cannot contain a newline")
        if len(data) >= self._max_buffer:
            raise ValueError(f"request line of {len(data)} bytes is too long for the peer")
        return data + b"\n"

    def _check_sendable(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._allow != ALLOW_ALL:
            raise RuntimeError("the meta connection is not authenticated yet")

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Any]:
        """Feed bytes read from the TCP connection; returns what they completed.

        Replies are queued for :meth:`data_to_send`. Raises a
        :class:`MetaConnectionError` when the peer breaks the protocol; the
        connection is dead afterwards and every later call raises it again.
        """
        if self._failed is not None:
            raise self._failed
        if self._outgoing and not self._initiated:
            raise RuntimeError("call initiate() before receive_data() on an outgoing connection")
        events: list[Any] = []
        try:
            self._receive(data, events)
        except MetaConnectionError as error:
            error.events = tuple(events)
            self._failed = error
            raise
        return events

    def _send_id(self) -> None:
        raise NotImplementedError

    def _receive(self, data: bytes, events: list[Any]) -> None:
        raise NotImplementedError


__all__ = [
    "ALLOW_ALL",
    "MetaConnectionBase",
    "MetaConnectionError",
    "merge_options",
    "truncating_mean",
]
