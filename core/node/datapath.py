"""The data path: packets between the device, the router and the peers.

tincd's send_packet / receive_packet / broadcast_packet and the address
look-up of handle_incoming_vpn_data, over the per-peer paths the cipher
suite built (:mod:`tinca.core.path`): the path of a peer seals, frames and
picks UDP or TCP; this module counts, routes and finds a datagram's sender. It
works on tinc's packet form: an Ethernet frame (in router mode the first 12
bytes are zero and only the EtherType counts), which is also what travels,
sealed, in each UDP datagram.

This is the hot path: no per-packet logging, decisions reused, one
allocation per packet where the router needs a mutable copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from tinca.core.device import DeviceRequest
from tinca.core.logs import DEBUG_TRAFFIC, level_for
from tinca.core.node.protocol import MetaProtocol
from tinca.core.node.ratelog import RateLimitedLog
from tinca.core.node.state import Link, Peer
from tinca.core.route.packet import ETHER_SIZE, MalformedPacket, frame_ip
from tinca.core.route.router import Broadcast, Drop, Fragments, Reply, Router, ToDevice, ToNode

log = logging.getLogger("tinca")
TRAFFIC = level_for(DEBUG_TRAFFIC)

SendDatagram = Callable[[bytes, tuple[str, int]], None]


class FrameSink(Protocol):
    """Where the data path delivers frames for our device: the device itself
    or the node's outbox. Only its request (for the layer) and ``write`` are used."""

    @property
    def request(self) -> DeviceRequest:
        """What the device was opened for (its layer)."""
        ...

    @property
    def write(self) -> Callable[[bytes], None]:
        """Deliver one packet in the device's layer (a method, or the
        outbox's list append)."""
        ...


class DataPath:
    """Moves packets for node ``protocol.myself``.

    ``send_datagram(payload, (host, port))`` puts one UDP datagram on the
    wire; the shell picks the socket for the address family.
    """

    def __init__(
        self,
        protocol: MetaProtocol,
        router: Router,
        device: FrameSink,
        send_datagram: SendDatagram,
        clock: Callable[[], float],
    ) -> None:
        self.protocol = protocol
        self.router = router
        self.device = device
        self.send_datagram = send_datagram
        self.myself = protocol.myself
        self.peers = protocol.peers
        self.paths = protocol.paths
        self.by_address: dict[tuple[str, int], Peer] = {}
        # A tun device speaks bare IP; tinc's packets (and the router) are
        # Ethernet frames, so tun packets get a 14-byte header added/removed.
        self.tun = device.request.layer == "tun"
        self.bad = RateLimitedLog(log, clock)
        self.dropped: dict[str, int] = {}
        self._last_hard_try = -1
        protocol.services.attach(
            send_datagram=send_datagram,
            deliver=self.deliver,
            send_packet=self.send_packet,
            remember_address=self.remember_address,
            udp_address_changed=self.udp_address_changed,
            receive_unknown=self.receive_unknown,
        )

    # ------------------------------------------------------------------ inputs

    def from_device(self, packets: list[bytes]) -> None:
        """A batch read from our device."""
        route = self.router.route
        myself = self.myself
        tun = self.tun
        for packet in packets:
            if tun:
                try:
                    frame = frame_ip(packet)
                except MalformedPacket:
                    self.dropped["not IP"] = self.dropped.get("not IP", 0) + 1
                    continue
            else:
                frame = bytearray(packet)
            self._dispatch(myself, frame, route(myself, frame))

    def write_device(self, frame: bytes | bytearray) -> None:
        """Deliver a frame to our device (unframed for tun)."""
        if self.tun:
            if len(frame) > ETHER_SIZE:
                self.device.write(bytes(frame[ETHER_SIZE:]))
        else:
            self.device.write(bytes(frame))

    def receive_datagram(self, datagram: bytes, address: tuple[str, int]) -> None:
        """One UDP datagram from ``address``."""
        peer = self.by_address.get(address)
        path = peer.path if peer is not None else None
        if path is not None:
            path.receive(datagram, address, False)
        else:
            self.receive_unknown(datagram, address)

    def receive_unknown(self, datagram: bytes, address: tuple[str, int]) -> None:
        """A datagram from an address no peer is known at (or that its
        peer's path could not open): the peer the suite's paths name, else
        the one whose path authenticates it (tincd's try_harder)."""
        named = self.paths.identify(datagram)
        found = self._try_harder(datagram, address) if named is True else named
        path = found.path if isinstance(found, Peer) else None
        if path is None:
            self.bad.log(TRAFFIC, address[0], "unknown",
                         "Received UDP packet from unknown source %s port %d", *address)
            return
        path.receive(datagram, address, True)

    def receive_tcp_packet(self, link: Link, packet: bytes) -> None:
        """A packet that came over a meta connection (tinc's PACKET)."""
        name = link.name
        if name is None:
            return
        peer = self.peers.get(name)
        if peer is not None:
            self.deliver(peer, packet)  # counted like any packet a path opened
        else:
            self.receive_packet(name, packet)

    def receive_raw_tcp(self, link: Link, data: bytes) -> None:
        """``21 LEN`` raw bytes from a meta connection: the suite's paths decide."""
        self.paths.receive_raw(link, data)

    def deliver(self, source: Peer, frame: bytes | bytearray) -> None:
        """A packet a path opened from ``source``: count it and route it
        (tinc's receive_packet; probes never get here)."""
        counters = source.counters
        counters.in_packets += 1
        counters.in_bytes += len(frame)
        self.receive_packet(source.name, frame)

    def receive_packet(self, source: str, packet: bytes | bytearray) -> None:
        """Route a packet that arrived from node ``source``."""
        frame = bytearray(packet)
        self._dispatch(source, frame, self.router.route(source, frame))

    # ------------------------------------------------------------------ routing

    def _dispatch(self, source: str, frame: bytearray, decision: object) -> None:
        if isinstance(decision, ToNode):
            self.send_packet(decision.name, frame)
        elif isinstance(decision, ToDevice):
            self.write_device(frame)
        elif isinstance(decision, Broadcast):
            if decision.to_device:
                self.write_device(frame)
            for name in decision.nodes:
                self.send_packet(name, frame)
        elif isinstance(decision, Reply):
            if decision.to == self.myself:
                self.write_device(decision.packet)
            else:
                self.send_packet(decision.to, decision.packet)
        elif isinstance(decision, Fragments):
            for fragment in decision.packets:
                self.send_packet(decision.to, fragment)
        elif isinstance(decision, Drop):
            self.dropped[decision.reason] = self.dropped.get(decision.reason, 0) + 1

    # ------------------------------------------------------------------ sending

    def send_packet(self, name: str, packet: bytes | bytearray) -> None:
        """tincd's send_packet: to ourselves, or counted and on the peer's path."""
        if name == self.myself:
            self.write_device(packet)
            return
        peer = self.peers.get(name)
        if peer is None or not peer.reachable:
            return
        counters = peer.counters  # tinc's send_packet: whichever way it travels
        counters.out_packets += 1
        counters.out_bytes += len(packet)
        path = peer.path
        if path is not None:
            path.send(packet)

    def send_probes(self, peer: Peer, sizes: list[int]) -> None:
        """Path MTU probes of these sizes to ``peer``, in its path's format."""
        if peer.path is not None:
            peer.path.send_probes(sizes)

    # ------------------------------------------------------------------ UDP peers

    def remember_address(self, peer: Peer) -> None:
        """Index ``peer`` by its UDP address for incoming datagrams."""
        for address, known in list(self.by_address.items()):
            if known is peer and address != peer.udp_address:
                del self.by_address[address]
        if peer.udp_address is not None:
            self.by_address[peer.udp_address] = peer

    def udp_address_changed(self, peer: Peer) -> None:
        """``peer``'s UDP address changed: index it, tell its MTU strategy."""
        self.remember_address(peer)
        if peer.mtu_strategy is not None:
            peer.mtu_strategy.udp_address_changed()

    def _try_harder(self, datagram: bytes, address: tuple[str, int]) -> Peer | None:
        """An unknown source: the peer whose path authenticates the packet
        (tincd's try_harder). Peers last seen at the same host are always
        tried; the others at most once a second, so a stream of garbage from
        unknown addresses costs little (tinc 1.1's ``last_hard_try``)."""
        now = int(self.protocol.clock())
        hard = False
        found = None
        for peer in self.peers.values():
            path = peer.path
            if not peer.reachable or path is None or not path.verifiable:
                continue
            if peer.udp_address is None or peer.udp_address[0] != address[0]:
                if self._last_hard_try == now:
                    continue
                hard = True
            if path.authenticates(datagram):
                found = peer
                break
        if hard:
            self._last_hard_try = now
        return found
