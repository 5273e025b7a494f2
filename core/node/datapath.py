"""The data path: packets between the device, the router and the peers.

tincd 1.0.36's send_packet / send_udppacket / receive_udppacket /
broadcast_packet, over the sealers and openers the cipher suite built. It
works on tinc's packet form: an Ethernet frame (in router mode the first 12
bytes are zero and only the EtherType counts), which is also what travels,
sealed, in each UDP datagram.

This is the hot path: no per-packet logging, decisions reused, one
allocation per packet where the router needs a mutable copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tinca.core import probes
from tinca.core.device import Device
from tinca.core.logs import DEBUG_TRAFFIC, level_for
from tinca.core.meta.requests import OPTION_PMTU_DISCOVERY, OPTION_TCPONLY
from tinca.core.node.channel_path import ChannelDataPath
from tinca.core.node.protocol import MetaProtocol
from tinca.core.node.ratelog import RateLimitedLog
from tinca.core.node.state import Link, Peer
from tinca.core.route.packet import ETHER_SIZE, MalformedPacket, frame_ip
from tinca.core.route.router import Broadcast, Drop, Fragments, Reply, Router, ToDevice, ToNode
from tinca.core.suite import PacketError

log = logging.getLogger("tinca")
TRAFFIC = level_for(DEBUG_TRAFFIC)

SendDatagram = Callable[[bytes, tuple[str, int]], None]


class DataPath(ChannelDataPath):
    """Moves packets for node ``protocol.myself``.

    Peers that speak tinc 1.1's protocol take the channel path
    (:class:`~tinca.core.node.channel_path.ChannelDataPath`).

    ``send_datagram(payload, (host, port))`` puts one UDP datagram on the
    wire; the shell picks the socket for the address family.
    """

    def __init__(
        self,
        protocol: MetaProtocol,
        router: Router,
        device: Device,
        send_datagram: SendDatagram,
        clock: Callable[[], float],
    ) -> None:
        self.protocol = protocol
        self.router = router
        self.device = device
        self.send_datagram = send_datagram
        self.myself = protocol.myself
        self.peers = protocol.peers
        self.by_address: dict[tuple[str, int], Peer] = {}
        # A tun device speaks bare IP; tinc's packets (and the router) are
        # Ethernet frames, so tun packets get a 14-byte header added/removed.
        self.tun = device.request.layer == "tun"
        self.bad = RateLimitedLog(log, clock)
        self.dropped: dict[str, int] = {}
        self._last_hard_try = -1
        self._init_channels()

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
        if peer is not None and peer.sptps:
            self.receive_channel_datagram(peer, datagram, address)
            return
        moved = peer is None or peer.opener is None
        if moved:
            found = self.channel_source(datagram) if self.channels is not None else True
            if isinstance(found, Peer):
                self.receive_channel_datagram(found, datagram, address)
                return
            peer = self._try_harder(datagram, address) if found else None
            if peer is not None and peer.sptps:
                self.receive_channel_datagram(peer, datagram, address)
                return
            if peer is None:
                self.bad.log(TRAFFIC, address[0], "unknown",
                             "Received UDP packet from unknown source %s port %d", *address)
                return
        try:
            packet = peer.opener.open(datagram)  # type: ignore[union-attr]
        except PacketError as err:
            self.bad.log(logging.WARNING, peer.name, type(err).__name__ + str(err)[:24],
                         "Dropped UDP packet from %s (%s port %d): %s", peer.name, *address, err)
            return
        if moved:
            # Learn the new address only from a packet that also passed the
            # replay check: tincd moves on the MAC alone, which lets anyone
            # who replays an old datagram redirect the peer's traffic.
            peer.udp_address = address
            self.remember_address(peer)
        if probes.is_probe(packet):
            self._probe_received(peer, packet)
            return
        counters = peer.counters  # tinc's receive_packet: probes are not counted
        counters.in_packets += 1
        counters.in_bytes += len(packet)
        self.receive_packet(peer.name, packet)

    def receive_tcp_packet(self, link: Link, packet: bytes) -> None:
        """A packet that came over a meta connection (tinc's PACKET)."""
        if link.name is not None:
            peer = self.peers.get(link.name)
            if peer is not None:
                counters = peer.counters
                counters.in_packets += 1
                counters.in_bytes += len(packet)
            self.receive_packet(link.name, packet)

    def receive_packet(self, source: str, packet: bytes) -> None:
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
        """tincd's send_packet: to ourselves, over TCP, or by UDP via ``via``."""
        if name == self.myself:
            self.write_device(packet)
            return
        peer = self.peers.get(name)
        if peer is None or not peer.reachable:
            return
        counters = peer.counters  # tinc's send_packet: whichever way it travels
        counters.out_packets += 1
        counters.out_bytes += len(packet)
        if peer.sptps:
            self.send_channel_packet(peer, packet)
            return
        via_name = peer.nexthop if peer.via == self.myself else peer.via
        via = self.peers.get(via_name or "")
        if via is None:
            return
        if (self.protocol.my_options | via.options) & OPTION_TCPONLY:
            self._send_tcp(via, packet)
        else:
            self.send_udp(via, packet)

    def _send_tcp(self, peer: Peer, packet: bytes | bytearray) -> None:
        link = peer.link
        if link is None:
            hop = self.peers.get(peer.nexthop or "")
            link = hop.link if hop is not None else None
        if link is not None:
            link.send_packet(bytes(packet))

    def send_udp(self, peer: Peer, packet: bytes | bytearray, probe: bool = False) -> None:
        """tincd's send_udppacket: seal and send, or fall back to TCP."""
        if not peer.reachable:
            return
        if peer.sptps:  # a legacy node's packet relayed through an SPTPS node
            self.send_channel_packet(peer, packet)
            return
        sealer = peer.sealer
        if sealer is None:
            self.protocol.maybe_req_key(peer)
            self._send_tcp_towards(peer, packet)
            return
        if not probe and peer.options & OPTION_PMTU_DISCOVERY:
            strategy = peer.mtu_strategy
            limit = strategy.udp_limit if strategy is not None else None
            if limit is not None and len(packet) > limit and (packet[12] | packet[13]):
                if peer.nexthop != peer.name:
                    self.send_packet(peer.nexthop or "", packet)
                else:
                    self._send_tcp_towards(peer, packet)
                return
        address = peer.udp_address
        if address is None:
            self._send_tcp_towards(peer, packet)
            return
        try:
            self.send_datagram(sealer.seal(packet), address)  # type: ignore[arg-type]
        except OSError as err:
            if err.errno == 90 and peer.mtu_strategy is not None:  # EMSGSIZE
                peer.mtu_strategy.send_too_big(len(packet))
            else:
                self.bad.log(logging.WARNING, peer.name, "send",
                             "Error sending packet to %s: %s", peer.name, err)

    def _send_tcp_towards(self, peer: Peer, packet: bytes | bytearray) -> None:
        hop = self.peers.get(peer.nexthop or "")
        if hop is not None and hop.link is not None:
            hop.link.send_packet(bytes(packet))

    # ------------------------------------------------------------------ UDP peers

    def remember_address(self, peer: Peer) -> None:
        """Index ``peer`` by its UDP address for incoming datagrams."""
        for address, known in list(self.by_address.items()):
            if known is peer and address != peer.udp_address:
                del self.by_address[address]
        if peer.udp_address is not None:
            self.by_address[peer.udp_address] = peer

    def _try_harder(self, datagram: bytes, address: tuple[str, int]) -> Peer | None:
        """An unknown source: the peer whose key authenticates the packet
        (tincd's try_harder). Peers last seen at the same host are always
        tried; the others at most once a second, so a stream of garbage from
        unknown addresses costs little (tinc 1.1's ``last_hard_try``)."""
        now = int(self.protocol.clock())
        hard = False
        found = None
        for peer in self.peers.values():
            if not peer.reachable:
                continue
            if peer.sptps:
                # Unframed datagrams come only from nodes older than minor 4.
                check = peer.channel.verify if peer.channel is not None else None
            else:
                check = peer.opener.authenticates if peer.opener is not None else None
            if check is None:
                continue
            if peer.udp_address is None or peer.udp_address[0] != address[0]:
                if self._last_hard_try == now:
                    continue
                hard = True
            if check(datagram):
                found = peer
                break
        if hard:
            self._last_hard_try = now
        return found

    # ------------------------------------------------------------------ MTU probes

    def send_probes(self, peer: Peer, sizes: list[int]) -> None:
        """Send tinc 1.0 probe requests of these sizes to ``peer`` by UDP."""
        for size in sizes:
            self.send_udp(peer, probes.probe_payload(size), probe=True)

    def _probe_received(self, peer: Peer, packet: bytes) -> None:
        if not probes.is_probe_reply(packet):
            # Answer with the same packet, marked as a reply (mtu_probe_h).
            self.send_udp(peer, probes.probe_reply(packet), probe=True)
            return
        strategy = peer.mtu_strategy
        if strategy is None:
            return
        opener = peer.opener
        inner = opener.last_inner_length if opener is not None else len(packet)
        compressed = bool(opener.compression) if opener is not None else False
        strategy.probe_replied(probes.reply_length(inner, compressed), self.protocol.clock())
