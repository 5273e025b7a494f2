"""A small network of tinc 1.1 nodes for driving SPTPS through the node, without I/O.

Each :class:`Node` holds a real :class:`~tinca.core.node.node.Node` built from
a temporary configuration directory (Ed25519 keys, the real ``sptps``
suite), with a fake device and a fake clock; what it would send by UDP
stays in its queue of outputs. :class:`Net` joins nodes with pairs of
:class:`WireLink` objects and moves what they send (request lines, ``17 LEN``
packets, ``21 LEN`` raw datagrams) and the nodes' UDP outputs when asked
to, so a test decides what is delivered, held back or lost.

The configuration directories are written by :func:`write_node` from key
material made once per test session (:func:`key_material`), the way
``tinc generate-keys`` leaves it.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import Clock, counter_random
from tests.unit.node.fakes import FakeDevice, FakeLink
from tinca.core.config.loader import load_configuration
from tinca.core.config.model import Configuration
from tinca.core.config.variables import VariableTable
from tinca.core.errors import ConfigError
from tinca.core.events import NodeEvent
from tinca.core.keys import KeygenRequest
from tinca.core.meta import requests as rq
from tinca.core.mtu import MTUSettings, MTUStrategy
from tinca.core.node.datapath import DataPath
from tinca.core.node.node import Node as RealNode
from tinca.core.node.protocol import MetaProtocol
from tinca.core.node.state import Peer
from tinca.core.plugin_manager import PluginManager
from tinca.core.stack import build_stack
from tinca.core.subnet import Subnet
from tinca.core.suite import Authenticated, SuiteContext
from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys
from tinca.plugins.ciphers.sptps.channel import SptpsChannel
from tinca.plugins.ciphers.sptps.ed25519_keys import generate_ed25519_keys
from tinca.plugins.ciphers.sptps.path import SptpsPath, SptpsPaths
from tinca.plugins.ciphers.sptps.suite import SptpsSuite

#: what both sides of a tinc 1.1 connection put in their ACK: minor 7 in the
#: top byte, PMTU discovery and ClampMSS below it
OPTIONS_17_7 = (rq.PROT_MINOR_11 << 24) | rq.OPTION_PMTU_DISCOVERY | rq.OPTION_CLAMP_MSS
UDP_PORT = 655

@functools.cache
def plugin_manager() -> PluginManager:
    """The installed plugins, as a node loads them (built once)."""
    return PluginManager()


def variable_table() -> VariableTable:
    """Every declared variable, the sptps plugin's included."""
    return plugin_manager().variables


# ---------------------------------------------------------------------------
# clock, randomness





# ---------------------------------------------------------------------------
# keys and configuration directories


@dataclass(frozen=True)
class KeyMaterial:
    """One node's keys as the key generators write them."""

    name: str
    ed25519_private: str
    ed25519_public_line: str
    rsa_private: str | None = None
    rsa_public: str | None = None


def key_material(scratch: Path, name: str, *, rsa: bool) -> KeyMaterial:
    """Generate ``name``'s Ed25519 key (deterministic) and, if asked, a 1024-bit RSA key."""
    base = scratch / name
    (base / "hosts").mkdir(parents=True)
    seed = hashlib.sha256(b"ed25519 " + name.encode()).digest()
    generate_ed25519_keys(KeygenRequest(confbase=base, name=name, random=lambda n: seed[:n]))
    ed_line = (base / "hosts" / name).read_text().strip()
    ed_private = (base / "ed25519_key.priv").read_text()
    (base / "hosts" / name).write_text("")
    rsa_private = rsa_public = None
    if rsa:
        generate_rsa_keys(KeygenRequest(confbase=base, name=name, bits=1024))
        rsa_private = (base / "rsa_key.priv").read_text()
        rsa_public = (base / "hosts" / name).read_text()
    shutil.rmtree(base)
    return KeyMaterial(name, ed_private, ed_line, rsa_private, rsa_public)


def host_text(keys: KeyMaterial, *, ed25519: bool = True, rsa: bool = True) -> str:
    """``hosts/NAME`` with the public keys asked for."""
    text = f"Port = {UDP_PORT}\n"
    if ed25519:
        text += keys.ed25519_public_line + "\n"
    if rsa and keys.rsa_public:
        text += keys.rsa_public
    return text


def write_node(
    confbase: Path,
    me: KeyMaterial,
    peers: dict[str, tuple[KeyMaterial, bool]],
    *,
    ed25519: bool = True,
    rsa: bool = True,
    extra: str = "",
) -> Path:
    """A configuration directory for ``me``: tinc.conf, our keys, host files.

    ``peers`` maps a name to its keys and whether its host file holds its
    Ed25519 public key. ``ed25519``/``rsa`` say whether our private keys exist.
    """
    (confbase / "hosts").mkdir(parents=True)
    (confbase / "tinc.conf").write_text(f"Name = {me.name}\nDeviceType = dummy\n{extra}")
    (confbase / "hosts" / me.name).write_text(host_text(me, ed25519=ed25519, rsa=rsa))
    if ed25519:
        (confbase / "ed25519_key.priv").write_text(me.ed25519_private)
        (confbase / "ed25519_key.priv").chmod(0o600)
    if rsa and me.rsa_private:
        (confbase / "rsa_key.priv").write_text(me.rsa_private)
        (confbase / "rsa_key.priv").chmod(0o600)
    for name, (keys, knows_ed25519) in peers.items():
        (confbase / "hosts" / name).write_text(host_text(keys, ed25519=knows_ed25519))
    return confbase


def compression(level: int) -> object | None:
    """The node's codec lookup, with no compression plugins."""
    if level:
        raise ConfigError(f"Compression = {level}: no codec in these tests")
    return None


def suite_context(confbase: Path, clock: Callable[[], float]) -> SuiteContext:
    """What the node hands a suite factory, for the configuration in ``confbase``."""
    config: Configuration = load_configuration(confbase, variable_table())
    name = config.name or ""
    return SuiteContext(
        config,
        name,
        counter_random(name.encode()),
        clock,
        compression,
        plugin_manager().registry,
    )


# ---------------------------------------------------------------------------
# node pieces


class UdpState(MTUStrategy):
    """An MTU strategy reduced to what the channel path reads: how large a
    packet UDP carries (``udp_limit``, tinc's minmtu) and whether a probe
    reply confirmed UDP. It records what the data path tells it."""

    def __init__(self, limit: int = 0, confirmed: bool = False) -> None:
        super().__init__(MTUSettings())
        self.limit = limit
        self.confirmed = confirmed
        self.received: list[int] = []
        self.replies: list[int] = []
        self.address_changes = 0

    @property
    def mtu(self) -> int | None:
        return self.limit or None

    @property
    def udp_limit(self) -> int:
        return self.limit

    @property
    def udp_confirmed(self) -> bool:
        return self.confirmed

    def due_probes(self, now: float) -> list[int]:
        return []

    def next_wakeup(self) -> float | None:
        return None

    def probe_replied(self, size: int, now: float) -> None:
        self.replies.append(size)

    def reset(self, now: float) -> None:
        pass

    def packet_received(self, length: int) -> None:
        self.received.append(length)

    def udp_address_changed(self) -> None:
        self.address_changes += 1


@dataclass
class WireLink(FakeLink):
    """One end of a meta connection.

    Everything sent is kept (``sent``, ``packets``, ``raw``); :class:`Net`
    delivers what lies beyond each list's cursor to the other end.
    """

    #: lines matching this are sent but never delivered (a peer that is silent)
    drop: Callable[[str], bool] = lambda line: False
    #: while set, nothing sent on this link is delivered (it stays queued)
    paused: bool = False
    cursor: list[int] = field(default_factory=lambda: [0, 0, 0])


class Node:
    """One tinc 1.1 node: a real :class:`~tinca.core.node.node.Node` with fake I/O.

    The node is built from its configuration directory like a daemon's
    (plugin stack, suite, router, protocol, data path); only the meta
    connections are in-memory :class:`WireLink` objects that skip the
    handshake. Every access to :attr:`protocol` or :attr:`path` stamps the
    node's time from the shared test clock, as an input at ``clock()``
    would, so a test may move the clock and call the parts directly.
    """

    def __init__(self, confbase: Path, clock: Clock, address: str, subnet: str) -> None:
        self.clock = clock
        self.address = (address, UDP_PORT)
        self.device = FakeDevice()
        stack = build_stack(confbase)
        name = stack.config.name or ""
        event = NodeEvent(None, name, None, None, 0, str(confbase))
        self.node = RealNode(stack, event, self.device, port=str(UDP_PORT),
                             random=counter_random(name.encode()), now=clock())
        self.name = self.node.myself
        suite = self.node.suite
        assert isinstance(suite, SptpsSuite)
        self.suite = suite
        self.context = suite.context
        # What the node writes to "the device" is what the fake device shows.
        self.device.written = self.node.device_frames
        self.keys_done: list[str] = []
        self.node.protocol.on_key = self._key_arrived
        self.node.protocol.add_own_subnet(Subnet.parse(subnet))
        self.links: dict[str, WireLink] = {}

    @property
    def protocol(self) -> MetaProtocol:
        """The node's meta protocol, at the test clock's time."""
        self.node.now = self.clock()
        return self.node.protocol

    @property
    def path(self) -> DataPath:
        """The node's data path, at the test clock's time."""
        self.node.now = self.clock()
        return self.node.datapath

    @property
    def datagrams(self) -> list[tuple[bytes, tuple[str, int]]]:
        """UDP datagrams the node queued and nobody delivered yet."""
        return self.node.queued_datagrams

    def _key_arrived(self, peer: Peer) -> None:
        # The node's own handling (key event, address index, MTU strategy),
        # with a strategy a test can set (:meth:`udp`) for a peer without one.
        self.keys_done.append(peer.name)
        if peer.mtu_strategy is None:
            peer.mtu_strategy = UdpState()
        self.node._key_arrived(peer)

    def peer(self, name: str) -> Peer:
        return self.protocol.peers[name]

    def sptps_path(self, name: str) -> SptpsPath:
        """``name``'s SPTPS path (made on first use, as the node would)."""
        paths = self.protocol.paths
        assert isinstance(paths, SptpsPaths)
        return paths.sptps_path(self.peer(name))

    def channel(self, name: str) -> SptpsChannel | None:
        """Our SPTPS channel with ``name`` (tinc's ``n->sptps``)."""
        return self.sptps_path(name).channel

    def request_key(self, name: str) -> None:
        """Make sure a key exchange with ``name`` runs (tinc's try_sptps)."""
        self.sptps_path(name).request_key()

    def udp(self, name: str, limit: int = 1400, confirmed: bool = True) -> UdpState:
        """Say UDP to ``name`` carries packets up to ``limit`` bytes."""
        peer = self.peer(name)
        if not isinstance(peer.mtu_strategy, UdpState):
            peer.mtu_strategy = UdpState()
        peer.mtu_strategy.limit = limit
        peer.mtu_strategy.confirmed = confirmed
        return peer.mtu_strategy

    def seal(self, packets: list[bytes]) -> list[bytes]:
        """Send ``packets`` from our device and take the UDP payloads they
        became (nothing is delivered)."""
        self.node.receive_device(packets, self.clock())
        sealed = [payload for payload, _ in self.node.datagrams_to_send()]
        return sealed


def flip_last_byte(datagram: bytes) -> bytes:
    """``datagram`` with its tag's last byte changed: a bad tag."""
    return datagram[:-1] + bytes([datagram[-1] ^ 1])


class Net:
    """Nodes joined by meta connections; delivery happens in :meth:`pump`."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = {node.name: node for node in nodes}
        self.by_udp = {node.address: node for node in nodes}
        self._ends: list[tuple[Node, WireLink, Node, WireLink]] = []
        self.lost_udp: list[tuple[str, bytes, tuple[str, int]]] = []

    def connect(self, a: str, b: str, options: int = OPTIONS_17_7) -> None:
        """An authenticated meta connection between ``a`` and ``b``."""
        node_a, node_b = self.nodes[a], self.nodes[b]
        link_a = WireLink(None, (node_b.address[0], "40000"))
        link_b = WireLink(None, (node_a.address[0], "40001"))
        node_a.links[b], node_b.links[a] = link_a, link_b
        self._ends += [(node_a, link_a, node_b, link_b), (node_b, link_b, node_a, link_a)]
        for node, link, peer in ((node_a, link_a, b), (node_b, link_b, a)):
            node.protocol.link_added(link)
            node.protocol.activate(link, Authenticated(peer, UDP_PORT, options, 10, options, 10))
        self.pump()

    def pump(self, rounds: int = 50) -> int:
        """Deliver meta traffic until quiet; returns how many items moved."""
        moved = 0
        for _ in range(rounds):
            step = 0
            for _node, link, other, other_link in self._ends:
                if link.paused:
                    continue
                lines, packets, raws = link.cursor
                for line in link.sent[lines:]:
                    link.cursor[0] += 1
                    step += 1
                    if not link.drop(line):
                        other.protocol.handle(other_link, line)
                for packet in link.packets[packets:]:
                    link.cursor[1] += 1
                    step += 1
                    other.path.receive_tcp_packet(other_link, packet)
                for data in link.raw[raws:]:
                    link.cursor[2] += 1
                    step += 1
                    other.path.receive_raw_tcp(other_link, data)
            moved += step
            if not step:
                return moved
        raise AssertionError("meta traffic did not settle")

    def deliver_udp(self, lose: Callable[[str, bytes], bool] = lambda name, data: False) -> int:
        """Hand every queued UDP datagram to the node at its address; ``lose``
        decides which are lost on the way. Returns how many moved."""
        moved = 0
        while True:
            batch = [(node, node.node.datagrams_to_send()) for node in self.nodes.values()]
            if not any(sent for _, sent in batch):
                return moved
            for node, sent in batch:
                for payload, to in sent:
                    moved += 1
                    target = self.by_udp.get(to)
                    if target is None or lose(node.name, payload):
                        self.lost_udp.append((node.name, payload, to))
                        continue
                    target.node.receive_datagram(payload, node.address, target.clock())

    def settle(self) -> None:
        """Deliver meta traffic and UDP until both are quiet."""
        while self.pump() + self.deliver_udp():
            pass


# ---------------------------------------------------------------------------
# packets


def ipv4(dst: str, src: str, size: int = 60, tag: int = 0) -> bytes:
    """A minimal IPv4/UDP packet; ``tag`` goes in the ID field to tell packets apart."""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, size, tag, 0, 64, 17, 0,
        bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))),
    )
    return header + bytes(size - 20)


ADDRESSES = {"alpha": "198.18.0.1", "beta": "198.18.0.2", "gamma": "198.18.0.3"}
UNDERLAY = {"alpha": "192.0.2.1", "beta": "192.0.2.2", "gamma": "192.0.2.3"}


def packet(src: str, dst: str, size: int = 60, tag: int = 0) -> bytes:
    """An IPv4 packet from node ``src``'s subnet to node ``dst``'s."""
    return ipv4(ADDRESSES[dst], ADDRESSES[src], size, tag)


def build_net(
    tmp: Path, keys: dict[str, KeyMaterial], clock: Clock, links: list[tuple[str, str]],
    names: tuple[str, ...] = ("alpha", "beta", "gamma"),
) -> Net:
    """Nodes ``names`` that know each other's Ed25519 keys, joined by ``links``."""
    nodes = []
    for name in names:
        peers = {other: (keys[other], True) for other in names if other != name}
        confbase = write_node(tmp / name, keys[name], peers, rsa=False)
        nodes.append(Node(confbase, clock, UNDERLAY[name], ADDRESSES[name] + "/32"))
    net = Net(nodes)
    for a, b in links:
        net.connect(a, b)
    return net
