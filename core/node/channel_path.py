"""The data path of peers with a per-node channel (tinc 1.1's SPTPS nodes).

tinc 1.1's send_sptps_packet, send_sptps_data, handle_incoming_vpn_packet,
receive_tcppacket_sptps and try_tx (src/net_packet.c of the 1.1 branch),
over the channels the cipher suite made. The channel seals and opens; this
module decides where a datagram goes:

* to the peer itself by UDP, framed ``dst_id | src_id | datagram`` for
  peers of minor 4 and up, with an all-zero destination when it is ours and
  sent straight to the destination;
* to a relay by UDP (the destination's ``via``, or its next hop while UDP
  with it is unconfirmed), which passes it on unopened;
* over the meta connection of the next hop, as ``21 LEN`` and the framed
  datagram (a ``REQ_KEY ... 21 <base64>`` for next hops older than minor 7),
  when UDP is off (``TCPOnly``), not confirmed for packets of this size, or
  the relay is too old to relay.

A packet to a direct neighbour that UDP cannot carry yet goes as a plain
``17 LEN`` packet on the (already protected) meta connection instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from tinca.core.logs import DEBUG_TRAFFIC, level_for
from tinca.core.meta.requests import OPTION_TCPONLY, option_version
from tinca.core.node.protocol import minmtu
from tinca.core.node.ratelog import RateLimitedLog
from tinca.core.node.state import Link, Peer
from tinca.core.suite import PacketError, PeerChannels

if TYPE_CHECKING:
    from tinca.core.node.protocol import MetaProtocol

log = logging.getLogger("tinca")
TRAFFIC = level_for(DEBUG_TRAFFIC)

SPTPS_DATAGRAM_OVERHEAD = 21
"""Bytes an SPTPS datagram adds to its record: seqno 4, type 1, tag 16 (net.h)."""
MIN_RELAY_MINOR = 4
"""Protocol minor from which a node frames UDP datagrams with node IDs and relays them."""
MIN_RAW_TCP_MINOR = 7
"""Protocol minor from which a meta connection carries ``21 LEN`` raw datagrams."""
ETHER_HEADER = 14
EMSGSIZE = 90


def udp_confirmed(peer: Peer) -> bool:
    """Whether a probe reply proved UDP with ``peer`` works (tinc 1.1's
    ``udp_confirmed``; strategies without the notion count as confirmed)."""
    strategy = peer.mtu_strategy
    confirmed = strategy.udp_confirmed if strategy is not None else None
    return True if confirmed is None else confirmed


class ChannelDataPath:
    """The SPTPS half of :class:`~tinca.core.node.datapath.DataPath` (a mixin).

    It uses the data path's ``protocol``, ``peers``, ``myself``,
    ``send_datagram``, ``bad`` (rate-limited log) and ``receive_packet``.
    """

    # What the data path provides (see DataPath).
    protocol: MetaProtocol
    peers: dict[str, Peer]
    myself: str
    send_datagram: Callable[[bytes, tuple[str, int]], None]
    bad: RateLimitedLog
    receive_packet: Callable[[str, bytes], None]
    remember_address: Callable[[Peer], None]
    channels: PeerChannels | None

    def _init_channels(self) -> None:
        channels = self.protocol.channels
        self.channels = channels
        self.my_id = channels.node_id(self.myself) if channels else b""
        self.null_id = bytes(channels.id_size) if channels else b""
        self.id_size = channels.id_size if channels else 0
        self._by_id: dict[bytes, Peer] = {}
        self._ids: dict[str, bytes] = {self.myself: self.my_id} if channels else {}
        self.protocol.on_datagram = self._datagram_from_request
        self.protocol.on_udp_address = self._udp_address_changed
        self.protocol.on_relay = self._relay_from_request
        self._indexed = 0  # peers in the ID index when it was last built

    def _udp_address_changed(self, peer: Peer) -> None:
        self.remember_address(peer)
        if peer.mtu_strategy is not None:
            peer.mtu_strategy.udp_address_changed()

    def _peer_by_id(self, nid: bytes) -> Peer | None:
        peer = self._by_id.get(nid)
        # Rebuilt only when nodes were added since: a bogus ID costs a lookup.
        if peer is None and self.channels is not None and len(self.peers) != self._indexed:
            node_id = self.channels.node_id
            self._by_id = {node_id(p.name): p for p in self.peers.values()}
            self._indexed = len(self.peers)
            peer = self._by_id.get(nid)
        return peer

    # ------------------------------------------------------------------ sending

    def send_channel_packet(self, peer: Peer, frame: bytes | bytearray) -> None:
        """tinc 1.1's send_sptps_packet, then try_tx."""
        self._send_channel_packet(peer, frame)
        self.try_tx(peer)

    def _send_channel_packet(self, peer: Peer, frame: bytes | bytearray) -> None:
        channel = peer.channel
        keyed = channel is not None and channel.validkey
        link = peer.link
        if not keyed and link is None:
            return
        probe = len(frame) >= ETHER_HEADER and not (frame[12] | frame[13])
        if probe:
            if keyed:
                self._seal_and_send(peer, frame, probe=True)
            return
        if link is not None and len(frame) > minmtu(peer):
            # A neighbour UDP cannot carry this to yet: the meta connection
            # is protected already, so the packet goes as a plain PACKET.
            link.send_packet(bytes(frame))
            return
        if not keyed:
            self.bad.log(TRAFFIC, peer.name, "handshake",
                         "Handshake phase not finished yet with %s; dropping packet",
                         peer.name)
            return
        self._seal_and_send(peer, frame, probe=False)

    def _seal_and_send(self, peer: Peer, frame: bytes | bytearray, probe: bool) -> None:
        channel = peer.channel
        assert channel is not None
        try:
            datagram = channel.seal(frame)
        except PacketError as err:
            self.bad.log(logging.WARNING, peer.name, "seal",
                         "Could not send packet to %s: %s", peer.name, err)
            return
        self.send_channel_datagram(peer, self.myself, datagram, probe)

    def send_channel_datagram(self, to: Peer, source: str, datagram: bytes, probe: bool) -> None:
        """tinc 1.1's send_sptps_data: ``datagram`` (from ``source``) on its way to ``to``."""
        peers = self.peers
        myself = self.myself
        origlen = len(datagram) - SPTPS_DATAGRAM_OVERHEAD
        via = peers.get(to.via or "") if to.via != myself else None
        if via is not None and (probe or origlen <= minmtu(via)):
            relay = via
        else:
            relay = peers.get(to.nexthop or "")
            if relay is None:
                return
        direct = source == myself and relay is to
        relay_minor = option_version(relay.options)
        tcponly = (self.protocol.my_options | relay.options) & OPTION_TCPONLY
        address = relay.udp_address
        if (
            tcponly
            or (not direct and relay_minor < MIN_RELAY_MINOR)
            or (not probe and origlen > minmtu(relay))
            or address is None
        ):
            self._send_channel_tcp(to, source, datagram)
            return
        if relay_minor >= MIN_RELAY_MINOR:
            dst = self.null_id if direct else self._id(to.name)
            payload = dst + self._id(source) + datagram
        else:
            payload = datagram
        try:
            self.send_datagram(payload, address)
        except OSError as err:
            if err.errno == EMSGSIZE and relay.mtu_strategy is not None:
                relay.mtu_strategy.send_too_big(origlen)
            else:
                self.bad.log(TRAFFIC, relay.name, "send",
                             "Error sending UDP SPTPS packet to %s: %s", relay.name, err)

    def _send_channel_tcp(self, to: Peer, source: str, datagram: bytes) -> None:
        hop = self.peers.get(to.nexthop or "")
        link: Link | None = hop.link if hop is not None else None
        if link is None or self.channels is None:
            return
        if option_version(link.options) >= MIN_RAW_TCP_MINOR:
            link.send_raw_packet(self._id(to.name) + self._id(source) + datagram)
            return
        request = self.channels.request_packet(source, to.name, datagram)
        link.send_line(request.format())

    def _id(self, name: str) -> bytes:
        """``name``'s node ID, hashed once (every framed datagram needs one)."""
        nid = self._ids.get(name)
        if nid is None:
            assert self.channels is not None
            nid = self._ids[name] = self.channels.node_id(name)
        return nid

    def try_tx(self, peer: Peer) -> None:
        """tinc 1.1's try_tx for an SPTPS peer: keep a key exchange going with
        it and with the relay its packets use (UDP and MTU probes run on the
        node's timer instead)."""
        if not peer.reachable or not peer.sptps:
            return
        channel = peer.channel
        if (
            channel is not None and channel.validkey and peer.via == peer.name
            and (peer.nexthop == peer.name or udp_confirmed(peer))
        ):
            return  # keyed, direct, nothing to set up (the common case)
        protocol = self.protocol
        if peer.link is not None and (protocol.my_options | peer.options) & OPTION_TCPONLY:
            return
        channel = peer.channel
        if channel is None or not channel.validkey:
            protocol.try_sptps(peer)
        myself = self.myself
        via_name = peer.nexthop if peer.via == myself else peer.via
        if via_name != peer.name:
            via = self.peers.get(via_name or "")
            if via is not None and option_version(via.options) >= MIN_RELAY_MINOR:
                self.try_tx(via)
            return
        if not udp_confirmed(peer) and peer.nexthop != peer.name:
            hop = self.peers.get(peer.nexthop or "")
            if hop is not None and option_version(hop.options) >= MIN_RELAY_MINOR:
                self.try_tx(hop)

    # ------------------------------------------------------------------ receiving

    def channel_source(self, datagram: bytes) -> Peer | bool:
        """The SPTPS node that sent a datagram from an address we do not know:
        the node its source ID names, if the datagram says it came straight
        from there and that node's channel accepts it (tinc 1.1's first guess
        in handle_incoming_vpn_packet). ``False`` when it names such a node
        but fails its check (it is from an unknown source, no need to try
        harder); ``True`` when it names none (try the other nodes)."""
        size = self.id_size
        if not size or len(datagram) < 2 * size or datagram[:size] != self.null_id:
            return True
        peer = self._peer_by_id(datagram[size:2 * size])
        if peer is None or not peer.sptps or peer.channel is None:
            return True
        return peer if peer.channel.verify(datagram[2 * size:]) else False

    def receive_channel_datagram(
        self, peer: Peer, datagram: bytes, address: tuple[str, int]
    ) -> None:
        """A UDP datagram that came from SPTPS node ``peer``'s address (or
        names ``peer`` as its source): for us, or to relay."""
        size = self.id_size
        source = peer
        body = datagram
        if option_version(peer.options) >= MIN_RELAY_MINOR:
            if len(datagram) < 2 * size:
                self.bad.log(TRAFFIC, peer.name, "short",
                             "Got too short UDP packet from %s", peer.name)
                return
            dst = datagram[:size]
            body = datagram[2 * size:]
            src = datagram[size:2 * size]
            # Mostly the sender itself: no index lookup then.
            found = peer if src == self._id(peer.name) else self._peer_by_id(src)
            to_me = dst == self.null_id or dst == self.my_id
            to = None if to_me else self._peer_by_id(dst)
            if found is None or not found.sptps or (not to_me and to is None):
                self.bad.log(logging.WARNING, peer.name, "ids",
                             "Received UDP packet from %s (%s port %d) with unknown source "
                             "and/or destination ID", peer.name, *address)
                return
            source = found
            if peer.name != source.via and (to is None or to.via == self.myself):
                # It did not come straight from its static relay: tell that
                # relay where the source's packets really come from.
                self.protocol.send_udp_info(None, source)
            if to is not None:
                if not to.reachable:
                    self.bad.log(TRAFFIC, to.name, "unreachable",
                                 "Cannot relay packet from %s because the destination, "
                                 "%s, is unreachable", source.name, to.name)
                    return
                self.send_channel_datagram(to, source.name, body, probe=False)
                self.try_tx(to)
                return
            direct = dst == self.null_id
        else:
            direct = True
        if not self._open_for_us(source, body, via_udp=True):
            return
        if direct and source.udp_address != address:
            # Learned only from a datagram that passed the channel's checks.
            source.udp_address = address
            self._udp_address_changed(source)
        if not direct:
            # Help the sender find the MTU of the relay path (MTU_INFO).
            self.protocol.send_mtu_info(None, peer)

    def receive_raw_tcp(self, link: Link, data: bytes) -> None:
        """``21 LEN`` raw bytes from a meta connection (receive_tcppacket_sptps)."""
        size = self.id_size
        who = link.name or "unknown"
        if not size or len(data) < 2 * size:
            self.bad.log(logging.WARNING, who, "short-tcp",
                         "Got too short TCP SPTPS packet from %s", who)
            return
        dst = data[:size]
        source = self._peer_by_id(data[size:2 * size])
        to_me = dst == self.my_id
        to = None if to_me else self._peer_by_id(dst)
        if source is None or (not to_me and to is None):
            self.bad.log(logging.WARNING, who, "ids-tcp",
                         "Got TCP SPTPS packet from %s with unknown source or destination ID",
                         who)
            return
        body = data[2 * size:]
        if to is None or to.via == self.myself:
            self.protocol.send_udp_info(None, source)
        if to is not None:
            if not to.reachable:
                return
            if to.channel is not None and to.channel.validkey:
                self.send_channel_datagram(to, source.name, body, probe=False)
            self.try_tx(to)
            return
        if self._open_for_us(source, body, via_udp=False):
            self.protocol.send_mtu_info(None, source)

    def _relay_from_request(self, to: Peer, source: Peer, datagram: bytes) -> None:
        """A ``REQ_KEY ... 21`` datagram passing through: on by UDP if we can."""
        self.send_channel_datagram(to, source.name, datagram, probe=False)
        self.try_tx(to)

    def _datagram_from_request(self, source: Peer, datagram: bytes) -> None:
        """A datagram that came as ``REQ_KEY ... 21 <base64>`` addressed to us."""
        if self._open_for_us(source, datagram, via_udp=False):
            self.protocol.send_mtu_info(None, source)

    def _open_for_us(self, source: Peer, body: bytes, via_udp: bool) -> bool:
        channel = source.channel
        if channel is None or not source.sptps:
            self.protocol.try_sptps(source)
            self.bad.log(TRAFFIC, source.name, "nokey",
                         "Got packet from %s but we haven't exchanged keys yet", source.name)
            return False
        try:
            opened = channel.open(body, via_udp)
        except PacketError as err:
            reason = err.reason
            self.bad.log(logging.WARNING, source.name,
                         str(reason) if reason is not None else type(err).__name__,
                         "Dropped packet from %s: %s", source.name, err)
            self.protocol._emit(source, channel.after_bad_packet(err), report=False)
            return False
        if opened is None:
            return True
        probe, frame = opened
        strategy = source.mtu_strategy
        if via_udp and strategy is not None:
            strategy.packet_received(len(frame))
        if probe:
            self._channel_probe(source, frame)
        else:
            counters = source.counters  # tinc's receive_packet: probes are not counted
            counters.in_packets += 1
            counters.in_bytes += len(frame)
            self.receive_packet(source.name, frame)
        return True

    # ------------------------------------------------------------------ probes

    def _channel_probe(self, peer: Peer, body: bytes) -> None:
        channel = peer.channel
        assert channel is not None
        try:
            is_request, length = channel.parse_probe(body)
        except PacketError as err:
            self.bad.log(TRAFFIC, peer.name, "probe",
                         "Bad probe from %s: %s", peer.name, err)
            return
        if is_request:
            reply = channel.probe_reply(body, option_version(peer.options))
            self._seal_and_send(peer, reply, probe=True)
            return
        strategy = peer.mtu_strategy
        if strategy is not None:
            strategy.probe_replied(length, self.protocol.clock())

    def send_channel_probes(self, peer: Peer, sizes: list[int]) -> None:
        """Probe requests of these sizes (and a gratuitous reply if the
        strategy wants one) to SPTPS peer ``peer``."""
        channel = peer.channel
        if channel is None or not channel.validkey:
            return
        for size in sizes:
            self._seal_and_send(peer, channel.probe_request(size), probe=True)
        strategy = peer.mtu_strategy
        gratuitous = strategy.gratuitous_reply if strategy is not None else None
        if gratuitous:
            self._seal_and_send(peer, channel.gratuitous_reply(gratuitous), probe=True)
