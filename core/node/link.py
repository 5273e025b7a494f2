"""One meta connection's I/O: an asyncio protocol around a sans-IO meta session.

It shuttles bytes between the TCP transport and the cipher suite's
:class:`~tinca.core.suite.MetaSession`, and hands the resulting events to the
node: activation, request lines, and packets sent over TCP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tinca.core.errors import TincaError
from tinca.core.logs import DEBUG_CONNECTIONS, level_for
from tinca.core.suite import (
    Authenticated,
    MetaError,
    MetaSession,
    PacketReceived,
    RawPacketReceived,
    RequestLine,
)

if TYPE_CHECKING:
    from tinca.core.node.outgoing import Outgoing
    from tinca.core.node.state import Link

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
    """What a :class:`MetaLink` needs from the node that owns it.

    The node's shell is one; naming only these members keeps the dependency
    one-way (the shell imports this module, not the reverse).
    """

    @property
    def clock(self) -> Callable[[], float]:
        """The node's monotonic clock, in seconds."""
        ...

    @property
    def protocol(self) -> LinkRequests:
        """The node's meta protocol."""
        ...

    @property
    def datapath(self) -> LinkPackets:
        """The node's data path."""
        ...

    def link_closed(self, link: MetaLink) -> None:
        """``link`` is gone (called once, after the protocol heard of it)."""
        ...


class MetaLink(asyncio.Protocol):
    """A TCP meta connection (implements :class:`tinca.core.node.state.Link`)."""

    def __init__(
        self,
        runtime: LinkOwner,
        session: MetaSession,
        address: tuple[str, str],
        outgoing: Outgoing | None = None,
        name: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.session = session
        self.address = address
        self.outgoing = outgoing
        self.name = name
        self.active = False
        self.options = 0
        self.pinged = False
        self.last_ping_time = runtime.clock()
        self.edge_weight: int | None = None
        self.mst = False
        self.closed = False
        self.transport: asyncio.Transport | None = None

    @property
    def hostname(self) -> str:
        """``host port P`` as tincd prints a peer's address."""
        return f"{self.address[0]} port {self.address[1]}"

    @property
    def local_address(self) -> tuple[str, str] | None:
        """Our end of the TCP connection: (host, port), once connected."""
        if self.transport is None:
            return None
        sockname = self.transport.get_extra_info("sockname")
        return (str(sockname[0]), str(sockname[1])) if sockname else None

    # ------------------------------------------------------------- asyncio side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the suite's opening bytes (both sides send ID)."""
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.transport.write(self.session.initiate())

    def data_received(self, data: bytes) -> None:
        """Feed the session; act on every event it returns."""
        if self.closed:
            return
        self.last_ping_time = self.runtime.clock()  # any traffic proves the peer alive
        try:
            events = self.session.receive_data(data)
        except TincaError as err:
            who = self.name or "unknown peer"
            log.error("Error on meta connection with %s (%s): %s", who, self.hostname, err)
            self.close(report=self.active)
            return
        reply = self.session.data_to_send()
        if reply and self.transport is not None:
            self.transport.write(reply)
        protocol = self.runtime.protocol
        for event in events:
            if self.closed:
                return
            if isinstance(event, RequestLine):
                if self.name is None:  # a TERMREQ after a key upgrade, say
                    self.name = self.session.peer_name
                protocol.handle(self, event.line)
            elif isinstance(event, PacketReceived):
                self.runtime.datapath.receive_tcp_packet(self, event.data)
            elif isinstance(event, RawPacketReceived):
                self.runtime.datapath.receive_raw_tcp(self, event.data)
            elif isinstance(event, Authenticated):
                self.name = event.peer_name
                protocol.activate(self, event)
        if self.session.finished:
            # A key upgrade ended the connection (a TERMREQ went out); the
            # next one uses the newer protocol.
            self.close(report=self.active)
            if self.outgoing is not None:
                self.outgoing.timeout = 0

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer closed or the socket failed: clean up like tincd."""
        if not self.closed:
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
        """Encrypt and send one request line."""
        if self.transport is not None and not self.closed:
            self.transport.write(self.session.send_request(line))

    def send_packet(self, packet: bytes) -> None:
        """Send a VPN packet over this connection (tinc's PACKET)."""
        if self.transport is not None and not self.closed:
            self.transport.write(self.session.send_packet(packet))

    def send_raw_packet(self, data: bytes) -> None:
        """A channel datagram unprotected by the connection (tinc 1.1's
        ``21 LEN``); dropped when the session's protocol cannot carry it."""
        if self.transport is None or self.closed:
            return
        try:
            wire = self.session.send_raw_packet(data)
        except MetaError as err:
            log.debug("Not sending a raw packet to %s (%s): %s", self.name, self.hostname, err)
            return
        self.transport.write(wire)

    def fileno(self) -> int:
        """The TCP socket's descriptor (-1 before the connection is made)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        try:
            return int(sock.fileno()) if sock is not None else -1
        except (OSError, ValueError):
            return -1

    def close(self, report: bool) -> None:
        """Close the socket and tell the node (once)."""
        if self.closed:
            return
        if self.transport is not None:
            self.transport.close()
        self._finish(report)

    def _finish(self, report: bool) -> None:
        self.closed = True
        self.runtime.protocol.connection_closed(self, report)
        self.runtime.link_closed(self)
