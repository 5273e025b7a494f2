"""Which protocol a meta connection speaks, decided from the two ID lines (sans-IO).

A tinc 1.1 node with SPTPS on talks to tinc 1.0 nodes, to tinc 1.1 nodes and
to tinc 1.1 nodes whose Ed25519 key it does not know yet. The ID lines
settle which (src/protocol_auth.c ``send_id`` and ``id_h``):

* Our ID carries minor 7, except on a connection we make to a node whose
  Ed25519 key we lack: minor 1 ("I could speak SPTPS but need your key").
* The peer's minor counts as 1 when it is above 0 and we lack its key; a
  peer whose key we know may not go below 1 (a version rollback).
* Minor 2 and up: the connection runs SPTPS (:class:`.meta.SptpsMetaConnection`).
  Below: the legacy protocol, whose ACK carries our minor in its top byte;
  at minor 1 both sides send their Ed25519 key instead of the ACK, store the
  other's, and hang up, so the next connection runs SPTPS (the "upgrade").

:class:`NegotiatingMetaSession` sends our ID, buffers input until the peer's
ID line is complete, then hands the connection to the chosen session, which
sees the ID exchange as if it had made it itself.
"""

from __future__ import annotations

import logging
from typing import Protocol

from tinca.core.errors import KeyFileError
from tinca.core.logs import DEBUG_CONNECTIONS, level_for
from tinca.core.meta.requests import (
    MAXBUFSIZE,
    PROT_MAJOR,
    PROT_MINOR_11,
    Id,
    RequestError,
    RequestType,
    TermReq,
    parse_request,
)
from tinca.core.suite import MetaError, MetaEvent, MetaParams, MetaSession, PublicKeyOffered
from tinca.plugins.ciphers.legacy.suite import LegacySuite
from tinca.plugins.ciphers.sptps.ed25519_keys import parse_public_key_b64

log = logging.getLogger("tinca")
CONNECTIONS = level_for(DEBUG_CONNECTIONS)

UPGRADE_MINOR = 1
"""The minor of a connection that exchanges Ed25519 keys over the legacy protocol."""


class NegotiatingSuite(Protocol):
    """What a negotiating session needs from the suite that made it.

    :class:`~tinca.plugins.ciphers.sptps.suite.SptpsSuite` is one; naming
    only these members keeps the dependency one-way (the suite imports this
    module, not the reverse).
    """

    @property
    def legacy(self) -> LegacySuite | None:
        """The legacy suite for tinc 1.0 peers, ``None`` without an RSA key."""
        ...

    def public_key(self, name: str) -> bytes | None:
        """``name``'s Ed25519 public key (raw 32 bytes), ``None`` if unknown."""
        ...

    def own_public_key(self) -> str:
        """Our Ed25519 public key in tinc's base64 (for a key upgrade)."""
        ...

    def learn_public_key(self, peer: str, key: str) -> None:
        """Store ``peer``'s base64 Ed25519 key offered during a key upgrade."""
        ...

    def sptps_meta_session(
        self, params: MetaParams, started_at: float | None = None
    ) -> MetaSession:
        """A protocol 17.7 (SPTPS) meta session, once the peer's ID chose it."""
        ...


class NegotiatingMetaSession:
    """A meta connection of a tinc 1.1 node until the peer's ID picks the protocol.

    Implements :class:`~tinca.core.suite.MetaSession`; after the ID it only
    forwards to the chosen session. :attr:`finished` turns true after a key
    upgrade: the node should close the connection (a TERMREQ went out).
    """

    def __init__(self, params: MetaParams, suite: NegotiatingSuite) -> None:
        self.params = params
        self.suite = suite
        self.inner: MetaSession | None = None
        self.finished = False
        self._buffer = bytearray()
        self._my_minor = PROT_MINOR_11
        self._peer_name: str | None = None
        self._out = bytearray()  # our own bytes (a TERMREQ) ahead of the session's
        self._started_at: float | None = None  # when our ID went out
        self.protocol: str | None = None
        """``"sptps"`` or ``"legacy"`` once the peer's ID is in."""

    @property
    def peer_name(self) -> str | None:
        """The name the peer gave in its ID (None before it)."""
        inner_name = self.inner.peer_name if self.inner is not None else None
        return inner_name or self._peer_name

    # -- MetaSession ---------------------------------------------------------

    def initiate(self) -> bytes:
        """Our ID on a connection we made; nothing on one we accepted."""
        if not self.params.outgoing:
            return b""
        expected = self.params.expected_peer
        if expected is None or self.suite.public_key(expected) is None:
            self._my_minor = UPGRADE_MINOR
        line = Id(self.params.my_name, PROT_MAJOR, self._my_minor).format()
        self._started_at = self.params.clock()
        return line.encode("ascii") + b"\n"

    def receive_data(self, data: bytes) -> list[MetaEvent]:
        """Buffer until the peer's ID is complete, then feed the chosen session."""
        if self.inner is not None:
            return self._after(self.inner.receive_data(data))
        self._buffer += data
        newline = self._buffer.find(b"\n")
        if newline < 0:
            if len(self._buffer) >= MAXBUFSIZE:
                raise MetaError("Input buffer full")
            return []
        self.inner = self._choose(bytes(self._buffer[:newline]))
        pending = bytes(self._buffer)
        self._buffer.clear()
        # Outgoing, the session's own ID is the one we already sent; accepting,
        # it has nothing to say before the peer's ID.
        self.inner.initiate()
        return self._after(self.inner.receive_data(pending))

    def data_to_send(self) -> bytes:
        """Replies queued by the chosen session."""
        out = bytes(self._out) + (b"" if self.inner is None else self.inner.data_to_send())
        self._out.clear()
        return out

    def send_request(self, line: str) -> bytes:
        """One request line (after authentication)."""
        return self._chosen().send_request(line)

    def send_packet(self, packet: bytes) -> bytes:
        """One VPN packet over the connection (``17 LEN``)."""
        return self._chosen().send_packet(packet)

    def send_raw_packet(self, data: bytes) -> bytes:
        """``21 LEN`` and raw bytes; :class:`MetaError` on a legacy connection."""
        return self._chosen().send_raw_packet(data)

    @property
    def status_bits(self) -> int:
        """The chosen session's (0 before the peer's ID chose one)."""
        return self.inner.status_bits if self.inner is not None else 0

    # -- the decision --------------------------------------------------------

    def _chosen(self) -> MetaSession:
        if self.inner is None:
            raise RuntimeError("the meta connection is not authenticated yet")
        return self.inner

    def _choose(self, raw: bytes) -> MetaSession:
        """The session for the peer's ID line (tinc 1.1's ``id_h`` rules)."""
        line = raw.split(b"\0", 1)[0].decode("latin-1")
        try:
            request = parse_request(line)
        except RequestError:
            request = None
        if not isinstance(request, Id) or request.type != RequestType.ID:
            # Let the legacy or SPTPS session report it in its own words.
            return self.suite.sptps_meta_session(self.params)
        self._peer_name = request.name
        minor = request.minor or 0
        known = self.suite.public_key(request.name) is not None
        if minor and not known:
            minor = UPGRADE_MINOR
        if minor >= 2:
            log.log(CONNECTIONS, "Meta connection with %s uses SPTPS", request.name)
            self.protocol = "sptps"
            return self.suite.sptps_meta_session(self.params, started_at=self._started_at)
        if known and minor < 1:
            raise MetaError(
                f"Peer {request.name} tries to roll back protocol version to "
                f"{request.major}.{minor}"
            )
        legacy = self.suite.legacy
        if legacy is None:
            raise MetaError(
                f"Peer {request.name} speaks only the legacy protocol, which is disabled "
                "here (no RSA private key)"
            )
        log.log(CONNECTIONS, "Meta connection with %s uses the legacy protocol", request.name)
        self.protocol = "legacy"
        return legacy.meta_session(
            self.params,
            id_minor=self._my_minor,
            ack_minor=PROT_MINOR_11,
            upgrade_key=self.suite.own_public_key() if minor == UPGRADE_MINOR else None,
            started_at=self._started_at,
        )

    def _after(self, events: list[MetaEvent]) -> list[MetaEvent]:
        """Handle a key upgrade here; pass every other event on."""
        kept: list[MetaEvent] = []
        for event in events:
            if isinstance(event, PublicKeyOffered):
                self._upgrade(event)
            else:
                kept.append(event)
        return kept

    def _upgrade(self, offer: PublicKeyOffered) -> None:
        """Store the peer's Ed25519 key unless we have it; then say goodbye."""
        known = self.suite.public_key(offer.peer_name)
        if known is not None:
            try:
                offered = parse_public_key_b64(offer.key, f"key of {offer.peer_name}")
            except KeyFileError:
                offered = None
            if offered != known:
                raise MetaError(
                    f"Already have an Ed25519 public key from {offer.peer_name} which is "
                    "different from the one presented now!"
                )
            log.info("Already have Ed25519 public key from %s, ignoring.", offer.peer_name)
        else:
            self.suite.learn_public_key(offer.peer_name, offer.key)
            log.info("Got Ed25519 public key from %s, upgrading!", offer.peer_name)
        assert self.inner is not None
        self._out += self.inner.send_request(TermReq().format())
        self.finished = True


__all__ = ["UPGRADE_MINOR", "NegotiatingMetaSession", "NegotiatingSuite"]
