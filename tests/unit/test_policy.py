"""Packet policies: filters the node asks about every packet it routes.

A policy that drops ICMP to and from one peer (beta) drops it in both
directions — read from our device, received from beta, forwarded between
peers — counts each drop under its name, and leaves all other traffic alone.
With no policy selected the router's ``route`` is the mode's own and every
packet flows as before. ``PacketPolicy`` in tinc.conf selects registered
policies, in order.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_net
from tests.unit.node.fakes import FakeDevice, FakeLink, Harness
from tinca.core.device import DeviceRequest
from tinca.core.errors import ConfigError
from tinca.core.events import NodeEvent
from tinca.core.graph import Edge
from tinca.core.node.datapath import DataPath
from tinca.core.node.node import Node
from tinca.core.policy import NamedPolicy, PolicyContext, build_policies
from tinca.core.registry import Registry
from tinca.core.route.decisions import TO_DEVICE, Drop, Reply, ToNode
from tinca.core.route.router import Router
from tinca.core.stack import build_stack
from tinca.core.subnet import Subnet
from tinca.core.suite import PacketError

ICMP, UDP = 1, 17
ALPHA, BETA, GAMMA = "198.18.0.1", "198.18.0.2", "198.18.0.3"


def ipv4(src: str, dst: str, proto: int, size: int = 60) -> bytes:
    """A minimal IPv4 packet (checksums are not looked at on this path)."""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, size, 0, 0, 64, proto, 0,
        bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))),
    )
    return header + bytes(size - 20)


def frame(packet: bytes) -> bytes:
    return bytes(12) + b"\x08\x00" + packet


class Sealer:
    def seal(self, packet: bytes) -> bytes:
        return b"S" + packet


class Opener:
    last_inner_length = 0

    def open(self, datagram: bytes) -> bytes:
        if datagram[:1] != b"S":
            raise PacketError("Got unauthenticated packet")
        return datagram[1:]

    def authenticates(self, datagram: bytes) -> bool:
        return datagram[:1] == b"S"


class NoIcmpWith:
    """Drops IPv4 ICMP to or from one peer; records every question."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.asked: list[tuple[str, str | None, bool]] = []

    def decide(self, source: str, destination: str | None, frame: bytearray,
               inbound: bool) -> bool:
        self.asked.append((source, destination, inbound))
        if self.peer not in (source, destination):
            return True
        return not (frame[12:14] == b"\x08\x00" and frame[23] == ICMP)


class Net:
    """alpha (us, a tun device) linked to beta and gamma, keys in place."""

    def __init__(self, policies: list[NamedPolicy]) -> None:
        self.h = Harness()
        self.device = FakeDevice()
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.router = Router("alpha", "router", self.h.protocol.subnets,
                             policies=policies, clock=lambda: self.h.now)
        self.h.protocol.on_graph = self.router.apply
        self.path = DataPath(
            self.h.protocol, self.router, self.device,
            lambda payload, address: self.sent.append((payload, address)), lambda: self.h.now,
        )
        self.h.protocol.add_own_subnet(Subnet.parse(f"{ALPHA}/32"))
        self.links: dict[str, FakeLink] = {}
        for number, (name, address) in enumerate((("beta", BETA), ("gamma", GAMMA))):
            underlay = f"192.0.2.{number + 2}"
            link = self.links[name] = self.h.connect(name, underlay)
            self.h.protocol.handle(link, f"12 {10 + number} {name} alpha {underlay} 655 c 10")
            self.h.protocol.handle(link, f"10 {20 + number} {name} {address}/32#10")
            peer = self.h.protocol.peers[name]
            peer.udp_address = (underlay, 655)
            peer.sealer = Sealer()
            peer.opener = Opener()
            self.path.remember_address(peer)
            link.sent.clear()

    def from_peer(self, name: str, packet: bytes) -> None:
        address = self.h.protocol.peers[name].udp_address
        assert address is not None
        self.path.receive_datagram(b"S" + frame(packet), address)

    def sent_to(self, name: str) -> list[bytes]:
        address = self.h.protocol.peers[name].udp_address
        return [payload[1:] for payload, to in self.sent if to == address]


def traffic(net: Net) -> dict[str, list[bytes]]:
    """ICMP and UDP in every direction between us, beta and gamma."""
    for proto in (ICMP, UDP):
        net.path.from_device([ipv4(ALPHA, BETA, proto), ipv4(ALPHA, GAMMA, proto)])
        net.from_peer("beta", ipv4(BETA, ALPHA, proto))
        net.from_peer("gamma", ipv4(GAMMA, ALPHA, proto))
        net.from_peer("beta", ipv4(BETA, GAMMA, proto))  # we forward these two
        net.from_peer("gamma", ipv4(GAMMA, BETA, proto))
    return {"device": list(net.device.written), "beta": net.sent_to("beta"),
            "gamma": net.sent_to("gamma")}


def test_a_policy_drops_icmp_with_one_peer_both_ways_and_counts_it() -> None:
    policy = NoIcmpWith("beta")
    net = Net([NamedPolicy("no-icmp-beta", policy)])
    seen = traffic(net)
    assert seen["device"] == [ipv4(GAMMA, ALPHA, ICMP), ipv4(BETA, ALPHA, UDP),
                              ipv4(GAMMA, ALPHA, UDP)]
    assert seen["beta"] == [frame(ipv4(ALPHA, BETA, UDP)), frame(ipv4(GAMMA, BETA, UDP))]
    assert seen["gamma"] == [frame(ipv4(ALPHA, GAMMA, ICMP)), frame(ipv4(ALPHA, GAMMA, UDP)),
                             frame(ipv4(BETA, GAMMA, UDP))]
    # Out to beta, in from beta, beta to gamma and gamma to beta.
    assert net.path.dropped == {"packet policy no-icmp-beta": 4}
    # It was asked about every packet, with where it goes and which way.
    assert policy.asked[:6] == [
        ("alpha", "beta", False), ("alpha", "gamma", False), ("beta", "alpha", True),
        ("gamma", "alpha", True), ("beta", "gamma", True), ("gamma", "beta", True),
    ]
    assert len(policy.asked) == 12


def test_without_a_policy_everything_flows_as_before() -> None:
    net = Net([])
    assert net.router.route == net.router.mode.route  # nothing between the data path and mode
    seen = traffic(net)
    assert len(seen["device"]) == 4 and len(seen["beta"]) == 4 and len(seen["gamma"]) == 4
    assert net.path.dropped == {}


def test_policies_are_asked_in_order_and_the_first_refusal_counts() -> None:
    first, second = NoIcmpWith("beta"), NoIcmpWith("gamma")
    net = Net([NamedPolicy("first", first), NamedPolicy("second", second)])
    traffic(net)
    assert net.path.dropped == {"packet policy first": 4, "packet policy second": 2}
    # A packet the first refused never reached the second.
    assert len(first.asked) == 12 and len(second.asked) == 8


def test_broadcasts_have_no_destination_and_replies_are_not_asked() -> None:
    policy = NoIcmpWith("nobody")
    net = Net([NamedPolicy("watch", policy)])
    broadcast = bytearray(frame(ipv4(ALPHA, "255.255.255.255", UDP)))
    assert net.router.route("alpha", broadcast).__class__.__name__ == "Broadcast"
    assert policy.asked == [("alpha", None, False)]
    # An unknown destination gets the router's own ICMP error, unasked.
    unknown = bytearray(frame(ipv4(ALPHA, "198.19.0.9", UDP)))
    assert isinstance(net.router.route("alpha", unknown), Reply)
    assert len(policy.asked) == 1


def test_a_refusing_policy_returns_its_own_drop() -> None:
    net = Net([NamedPolicy("never", NoIcmpWith("beta"))])
    icmp = bytearray(frame(ipv4(ALPHA, BETA, ICMP)))
    assert net.router.route("alpha", icmp) == Drop("packet policy never")
    assert net.router.route("alpha", bytearray(frame(ipv4(ALPHA, BETA, UDP)))) == ToNode("beta")
    assert net.router.route("beta", bytearray(frame(ipv4(BETA, ALPHA, UDP)))) is TO_DEVICE


# ---------------------------------------------------------------------------
# Selected through the configuration

ACL_PLUGIN = '''
"""A third-party packet policy: drops IPv4 ICMP to or from the AclPeer node."""
from tinca.core import hookimpl
from tinca.core.config.values import NodeName
from tinca.core.config.variables import Scope, Variable


class IcmpAcl:
    def __init__(self, context):
        self.myself = context.myself
        self.peer = context.config.lookup("AclPeer")

    def decide(self, source, destination, frame, inbound):
        if self.peer not in (source, destination):
            return True
        return not (frame[12:14] == b"\\x08\\x00" and frame[23] == 1)


class Everything:
    def __init__(self, context):
        pass

    def decide(self, source, destination, frame, inbound):
        return True


@hookimpl
def tinca_config_variables():
    return [Variable("AclPeer", NodeName(), "Whose ICMP the ACL drops.", scope=Scope.SERVER,
                     since="tinca")]


@hookimpl
def tinca_register_packet_policies(register):
    register("icmp-acl", IcmpAcl, doc="no ICMP with AclPeer")
    register("everything", Everything, doc="lets everything through")
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test plugin ``icmp_acl`` on sys.path."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "icmp_acl.py").write_text(ACL_PLUGIN)
    monkeypatch.syspath_prepend(str(mods))
    yield "icmp_acl"
    sys.modules.pop("icmp_acl", None)


def runtime(confbase: Path) -> Node:
    stack = build_stack(confbase)
    factory = stack.manager.registry("tinca_register_device_types").get("dummy").value
    event = NodeEvent(None, "alpha", None, None, 0, str(stack.config.confbase))
    return Node(stack, event, factory(DeviceRequest(None, "tun")))


def test_packet_policy_selects_registered_policies_in_order(tmp_path: Path, plugin: str) -> None:
    make_net(tmp_path, "alpha",
             f"LoadPlugin = {plugin}\nPacketPolicy = Everything icmp-acl\nAclPeer = beta\n")
    node = runtime(tmp_path)
    node.graph.add_edge(Edge("alpha", "beta", ("192.0.2.2", "655"), 0, 10))
    node.graph.add_edge(Edge("beta", "alpha", ("192.0.2.1", "655"), 0, 10))
    node.router.apply(node.graph.compute())
    node.subnets.add("beta", Subnet.parse(f"{BETA}/32"))
    icmp = bytearray(frame(ipv4(ALPHA, BETA, ICMP)))
    assert node.router.route("alpha", icmp) == Drop("packet policy icmp-acl")
    assert node.router.route("alpha", bytearray(frame(ipv4(ALPHA, BETA, UDP)))) == ToNode("beta")


def test_without_packet_policy_the_node_routes_unfiltered(tmp_path: Path, plugin: str) -> None:
    make_net(tmp_path, "alpha", f"LoadPlugin = {plugin}\n")
    node = runtime(tmp_path)
    assert node.router.route == node.router.mode.route


def test_an_unknown_policy_is_a_configuration_error(tmp_path: Path) -> None:
    make_net(tmp_path, "alpha", "PacketPolicy = firewall\n")
    with pytest.raises(ConfigError, match=r"tinc\.conf:4: PacketPolicy = firewall: no installed "
                       r"plugin provides packet policy 'firewall'; installed: none"):
        build_stack(tmp_path)


def test_build_policies_names_each_drop_after_its_policy(tmp_path: Path) -> None:
    make_net(tmp_path, "alpha")
    config = build_stack(tmp_path).config
    registry = Registry("packet policy")
    registry.add("Wall", lambda context: NoIcmpWith(context.myself), plugin="test")
    built = build_policies(registry, ["wall"], PolicyContext(config, "alpha"))
    assert [(p.name, p.drop) for p in built] == [("wall", Drop("packet policy wall"))]
