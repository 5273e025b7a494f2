"""Fakes for driving the node's sans-IO parts without sockets or devices."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tinca.core.device import Device, DeviceRequest
from tinca.core.graph import Graph
from tinca.core.meta import requests as rq
from tinca.core.node.protocol import Lifecycle, MetaProtocol, ProtocolSettings
from tinca.core.peer_paths import PathServices
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.suite import Authenticated, KeyOffer, PacketError
from tinca.plugins.ciphers.legacy.path import LegacyPaths


@dataclass
class FakeLink:
    """Records what the protocol sends on it."""

    name: str | None
    address: tuple[str, str]
    active: bool = False
    options: int = 0
    pinged: bool = False
    last_ping_time: float = 0.0
    edge_weight: int | None = None
    mst: bool = False
    sent: list[str] = field(default_factory=list)
    packets: list[bytes] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    closed: bool | None = None
    #: no meta session behind it: the protocol never reads one
    session: Any = None
    local_address: tuple[str, str] | None = None

    def send_line(self, line: str) -> None:
        self.sent.append(line)

    def send_packet(self, packet: bytes) -> None:
        self.packets.append(packet)

    def send_raw_packet(self, data: bytes) -> None:
        self.raw.append(data)

    def fileno(self) -> int:
        return -1

    def close(self, report: bool) -> None:
        self.closed = report

    def types(self) -> list[int]:
        return [int(line.split()[0]) for line in self.sent]


class FakeDevice(Device):
    """A tun device that records what the node writes to it."""

    kind = "fake"

    def __init__(self) -> None:
        super().__init__(DeviceRequest(None, "tun"))
        self.written: list[bytes] = []

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read_batch(self, limit: int) -> list[bytes]:
        return []

    def write(self, packet: bytes) -> None:
        self.written.append(packet)


class FakeSuite:
    name = "fake"

    def __init__(self) -> None:
        self.answers: list[tuple[str, rq.AnsKey]] = []

    def meta_session(self, params):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def peer_paths(self, services: PathServices) -> LegacyPaths:
        return LegacyPaths(services)  # tinc 1.0's packet keys only

    def answer_key_request(self, peer: str) -> tuple[KeyOffer, object]:
        return KeyOffer("00" * 48, 427, 672, 4, 0), f"opener-for-{peer}"

    def accept_key_answer(self, peer: str, answer: rq.AnsKey) -> object:
        if answer.cipher == 9999:
            raise PacketError(f"Node {peer} uses unknown cipher!")
        self.answers.append((peer, answer))
        return f"sealer-for-{peer}"


class Harness:
    def __init__(self, **settings: bool) -> None:
        self.now = 100.0
        self.events: list[Lifecycle] = []
        counter = itertools.count(1)
        self.graph = Graph("alpha")
        self.suite = FakeSuite()
        self.protocol = MetaProtocol(
            myself="alpha",
            my_options=rq.OPTION_PMTU_DISCOVERY | rq.OPTION_CLAMP_MSS,
            settings=ProtocolSettings(**settings),
            graph=self.graph,
            subnets=SubnetTable(self.graph.reachable),
            suite=self.suite,  # type: ignore[arg-type]
            clock=lambda: self.now,
            random=lambda n: next(counter).to_bytes(n, "big"),
            on_lifecycle=self.events.append,
            on_graph=lambda update: None,
            on_key=lambda peer: None,
        )

    def connect(self, name: str, address: str = "192.0.2.2", weight: int = 10) -> FakeLink:
        link = FakeLink(None, (address, "40000"))
        self.protocol.link_added(link)
        self.protocol.activate(link, Authenticated(name, 655, 0xC, weight, 0xC, weight))
        return link


