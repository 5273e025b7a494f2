"""The data path between a fake device, fake peers and a fake UDP socket."""

from __future__ import annotations

import struct

import pytest

from tests.unit.node.fakes import FakeDevice, FakeLink, Harness
from tinca.core.meta import requests as rq
from tinca.core.node.datapath import DataPath
from tinca.core.route.router import Router
from tinca.core.subnet import Subnet
from tinca.core.suite import PacketError


class FakeSealer:
    def seal(self, packet: bytes) -> bytes:
        return b"S" + packet


class FakeOpener:
    last_inner_length = 0

    def open(self, datagram: bytes) -> bytes:
        if datagram[:1] != b"S":
            raise PacketError("Got unauthenticated packet")
        self.last_inner_length = len(datagram) - 1
        return datagram[1:]

    def authenticates(self, datagram: bytes) -> bool:
        return datagram[:1] == b"S"


def ipv4(dst: str, src: str = "198.18.0.1", size: int = 60) -> bytes:
    """A minimal IPv4/UDP packet (checksums are not looked at on this path)."""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, size, 0, 0, 64, 17, 0,
        bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))),
    )
    return header + bytes(size - 20)


def frame(packet: bytes) -> bytes:
    return bytes(12) + b"\x08\x00" + packet


class Net:
    def __init__(self) -> None:
        self.h = Harness()
        self.device = FakeDevice()
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.router = Router("alpha", "router", self.h.protocol.subnets, clock=lambda: self.h.now)
        self.h.protocol.on_graph = self.router.apply
        self.path = DataPath(
            self.h.protocol, self.router, self.device,
            lambda payload, address: self.sent.append((payload, address)), lambda: self.h.now,
        )
        self.h.protocol.add_own_subnet(Subnet.parse("198.18.0.1/32"))
        self.beta: FakeLink = self.h.connect("beta")
        self.h.protocol.handle(self.beta, "12 1 beta alpha 192.0.2.1 655 c 10")
        self.h.protocol.handle(self.beta, "10 2 beta 198.18.0.2/32#10")
        self.peer = self.h.protocol.peers["beta"]
        self.peer.udp_address = ("192.0.2.2", 655)
        self.path.remember_address(self.peer)
        self.beta.sent.clear()


def test_device_packet_is_sealed_and_sent_to_the_owner_by_udp() -> None:
    net = Net()
    net.peer.sealer = FakeSealer()
    packet = ipv4("198.18.0.2")
    net.path.from_device([packet])
    assert net.sent == [(b"S" + frame(packet), ("192.0.2.2", 655))]


def test_without_a_key_the_packet_goes_over_tcp_and_a_key_is_requested() -> None:
    net = Net()
    packet = ipv4("198.18.0.2")
    net.path.from_device([packet, packet])
    assert net.sent == []
    assert net.beta.packets == [frame(packet), frame(packet)]
    # one REQ_KEY, not one per packet (tincd asks at most every 10 s)
    assert net.beta.sent == ["15 alpha beta"]


def test_tcponly_peers_get_packets_over_the_meta_connection() -> None:
    net = Net()
    net.peer.sealer = FakeSealer()
    net.peer.options |= rq.OPTION_TCPONLY
    packet = ipv4("198.18.0.2")
    net.path.from_device([packet])
    assert net.sent == [] and net.beta.packets == [frame(packet)]


def test_udp_packet_for_us_reaches_the_device_unframed() -> None:
    net = Net()
    net.peer.opener = FakeOpener()
    packet = ipv4("198.18.0.1", src="198.18.0.2")
    net.path.receive_datagram(b"S" + frame(packet), ("192.0.2.2", 655))
    assert net.device.written == [packet]


def test_probe_requests_are_echoed_as_replies() -> None:
    net = Net()
    net.peer.opener = FakeOpener()
    net.peer.sealer = FakeSealer()
    probe = bytes(14) + b"\xaa" * 50
    net.path.receive_datagram(b"S" + probe, ("192.0.2.2", 655))
    assert net.sent == [(b"S" + b"\x01" + probe[1:], ("192.0.2.2", 655))]
    assert net.device.written == []


def test_a_moved_peer_is_found_by_its_key_and_its_address_learned() -> None:
    net = Net()
    net.peer.opener = FakeOpener()
    packet = ipv4("198.18.0.1", src="198.18.0.2")
    net.path.receive_datagram(b"S" + frame(packet), ("203.0.113.9", 4000))
    assert net.device.written == [packet]
    assert net.peer.udp_address == ("203.0.113.9", 4000)


@pytest.mark.parametrize("source", [("192.0.2.2", 655), ("203.0.113.66", 1)])
def test_bad_datagrams_are_dropped_and_logged_once(
    source: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    net = Net()
    net.peer.opener = FakeOpener()
    caplog.set_level(1, logger="tinca")  # every debug level
    caplog.clear()
    for _ in range(100):
        net.path.receive_datagram(b"garbage" * 10, source)
    assert net.device.written == []
    assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]


class ReplayCheckingOpener(FakeOpener):
    """Authenticates like FakeOpener but refuses a datagram seen before."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    def open(self, datagram: bytes) -> bytes:
        if datagram in self.seen:
            raise PacketError("Got late or replayed packet")
        packet = super().open(datagram)
        self.seen.add(datagram)
        return packet


def test_a_replayed_datagram_from_elsewhere_does_not_move_the_peer() -> None:
    net = Net()
    net.peer.opener = ReplayCheckingOpener()
    datagram = b"S" + frame(ipv4("198.18.0.1", src="198.18.0.2"))
    net.path.receive_datagram(datagram, ("192.0.2.2", 655))
    net.path.receive_datagram(datagram, ("203.0.113.66", 4000))  # replayed by a stranger
    assert net.peer.udp_address == ("192.0.2.2", 655)
    assert len(net.device.written) == 1
