"""One meta connection, sans-IO: a link object around the cipher suite's meta session.

:class:`MetaConnection` is what the meta protocol calls a
:class:`~tinca.core.node.state.Link`. Bytes the peer sent go in through
:meth:`MetaConnection.receive`; the session's events go to the node (request
lines to the protocol, packets to the data path); what the node sends on the
connection collects in an outbox that the I/O shell drains into the TCP
transport (:meth:`MetaConnection.take_output`), and :attr:`MetaConnection.closed`
tells it to close the transport once the outbox is written. No socket and
no clock: times come from the owner's ``clock`` (the ``now`` of the node's
current input).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from tinca.core.errors import TincaError
from tinca.core.logs import DEBUG_CONNECTIONS, level_for
from tinca.core.node.state import Link
from tinca.core.suite import (
    Authenticated,
    MetaError,
    MetaSession,
    PacketReceived,
    RawPacketReceived,
    RequestLine,
)

log = logging.getLogger("tinca")
CONNECTIONS = level_for(DEBUG_CONNECTIONS)


class LinkRequests(Protocol):
    """Where a link hands what its session decoded (the node's meta protocol)."""

    def handle(self, link: Link, line: str) -> None:
        """One request line from ``link``'s peer."""
        ...

    def activate(self, link: Link, ack: Authenticated) -> None:
        """``link`` finished authentication and the ACK exchange."""
        ...

    def connection_closed(self, link: Link, report: bool) -> None:
        """``link`` ended; ``report`` when its peer's edges should go too."""
        ...


class LinkPackets(Protocol):
    """Where a link hands VPN packets that came over TCP (the node's data path)."""

    def receive_tcp_packet(self, link: Link, packet: bytes) -> None:
        """A packet sent as tinc's PACKET request."""
        ...

    def receive_raw_tcp(self, link: Link, data: bytes) -> None:
        """Raw bytes sent after an SPTPS_PACKET request."""
        ...


class LinkOwner(Protocol):
    """What a :class:`MetaConnection` needs from the node that owns it.

    :class:`~tinca.core.node.node.Node` is one; naming only these members
    keeps the dependency one-way (the node imports this module, not the
    reverse).
    """

    @property
    def clock(self) -> Callable[[], float]:
        """The node's time: the ``now`` of the input being handled, in seconds."""
        ...

    @property
    def protocol(self) -> LinkRequests:
        """The node's meta protocol."""
        ...

    @property
    def datapath(self) -> LinkPackets:
        """The node's data path."""
        ...

    def link_output(self, link: MetaConnection) -> None:
        """``link`` has bytes to write or is to be closed (the shell drains it)."""
        ...

    def link_closed(self, link: MetaConnection) -> None:
        """``link`` is gone (called once, after the protocol heard of it)."""
        ...


class MetaConnection:
    """A TCP meta connection without the TCP (implements :class:`Link`).

    ``dial`` is the ``ConnectTo`` name when we made the connection (``None``
    when we accepted it); ``local_address`` and ``fd`` are what the shell
    learned from the socket, for ``dump connections`` and edge addresses.
    """

    def __init__(
        self,
        owner: LinkOwner,
        session: MetaSession,
        address: tuple[str, str],
        *,
        dial: str | None = None,
        name: str | None = None,
        local_address: tuple[str, str] | None = None,
        fd: int = -1,
    ) -> None:
        self.owner = owner
        self.session = session
        self.address = address
        self.dial = dial
        self.name = name
        self.active = False
        self.options = 0
        self.pinged = False
        self.last_ping_time = owner.clock()
        self.edge_weight: int | None = None
        self.mst = False
        self.closed = False
        #: the session ended itself (a key upgrade): redial at once
        self.upgraded = False
        self.local_address = local_address
        self.fd = fd
        self._outbox = bytearray()

    @property
    def hostname(self) -> str:
        """``host port P`` as tincd prints a peer's address."""
        return f"{self.address[0]} port {self.address[1]}"

    # ------------------------------------------------------------- shell side

    def initiate(self) -> None:
        """Queue the suite's opening bytes (both sides send ID)."""
        self._write(self.session.initiate())

    def take_output(self) -> bytes:
        """The bytes queued for the peer since the last call (the shell writes them)."""
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def receive(self, data: bytes) -> None:
        """Bytes from the peer: feed the session and act on every event it returns."""
        if self.closed:
            return
        self.last_ping_time = self.owner.clock()  # any traffic proves the peer alive
        try:
            events = self.session.receive_data(data)
        except TincaError as err:
            who = self.name or "unknown peer"
            log.error("Error on meta connection with %s (%s): %s", who, self.hostname, err)
            self.close(report=self.active)
            return
        reply = self.session.data_to_send()
        if reply:
            self._write(reply)
        protocol = self.owner.protocol
        for event in events:
            if self.closed:
                return
            if isinstance(event, RequestLine):
                if self.name is None:  # a TERMREQ after a key upgrade, say
                    self.name = self.session.peer_name
                protocol.handle(self, event.line)
            elif isinstance(event, PacketReceived):
                self.owner.datapath.receive_tcp_packet(self, event.data)
            elif isinstance(event, RawPacketReceived):
                self.owner.datapath.receive_raw_tcp(self, event.data)
            elif isinstance(event, Authenticated):
                self.name = event.peer_name
                protocol.activate(self, event)
        if self.session.finished:
            # A key upgrade ended the connection (a TERMREQ went out); the
            # next one uses the newer protocol, without waiting.
            self.upgraded = True
            self.close(report=self.active)

    def lost(self) -> None:
        """The peer closed or the socket failed: clean up like tincd."""
        if self.closed:
            return
        if self.active:
            log.log(CONNECTIONS, "Connection closed by %s (%s)", self.name, self.hostname)
        else:
            # Worth a line even before authentication: it is how a peer
            # with the wrong key usually ends (it cannot read our stream).
            who = self.name or self.session.peer_name or "unknown peer"
            log.log(CONNECTIONS, "Connection closed by %s (%s) during authentication",
                    who, self.hostname)
        self._finish(report=True)

    # ------------------------------------------------------------- Link side

    def send_line(self, line: str) -> None:
        """Encrypt and queue one request line."""
        if not self.closed:
            self._write(self.session.send_request(line))

    def send_packet(self, packet: bytes) -> None:
        """Queue a VPN packet over this connection (tinc's PACKET)."""
        if not self.closed:
            self._write(self.session.send_packet(packet))

    def send_raw_packet(self, data: bytes) -> None:
        """A channel datagram unprotected by the connection (tinc 1.1's
        ``21 LEN``); dropped when the session's protocol cannot carry it."""
        if self.closed:
            return
        try:
            wire = self.session.send_raw_packet(data)
        except MetaError as err:
            log.debug("Not sending a raw packet to %s (%s): %s", self.name, self.hostname, err)
            return
        self._write(wire)

    def fileno(self) -> int:
        """The TCP socket's descriptor (-1 once closed or when there is none)."""
        return -1 if self.closed else self.fd

    def close(self, report: bool) -> None:
        """Close the connection (once): the shell closes the transport after
        writing what is queued, and the node hears of it at once."""
        if self.closed:
            return
        self._finish(report)

    def _write(self, data: bytes) -> None:
        if data:
            self._outbox += data
            self.owner.link_output(self)

    def _finish(self, report: bool) -> None:
        self.closed = True
        self.owner.link_output(self)
        self.owner.protocol.connection_closed(self, report)
        self.owner.link_closed(self)
