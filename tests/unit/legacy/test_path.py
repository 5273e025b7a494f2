"""tinc 1.0's per-peer path over fake node services: no protocol, no data path.

The path gets everything from :class:`~tinca.core.peer_paths.PathServices`;
these tests hand it a recording fake, so what the path sends, to whom and
through which suite is visible directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tinca.core.meta import requests as rq
from tinca.core.node.ratelog import RateLimitedLog
from tinca.core.node.state import Peer
from tinca.core.suite import KeyOffer
from tinca.plugins.ciphers.legacy.path import LegacyPath, LegacyPaths
from tinca.plugins.ciphers.legacy.probes import probe_payload


class Sealer:
    def seal(self, packet: bytes) -> bytes:
        return b"S" + bytes(packet)


class Opener:
    last_inner_length = 0
    compression = 0

    def open(self, datagram: bytes) -> bytes:
        self.last_inner_length = len(datagram) - 1
        return datagram[1:]

    def authenticates(self, datagram: bytes) -> bool:
        return datagram[:1] == b"S"


@dataclass
class Services:
    """A recording :class:`PathServices`."""

    myself: str = "alpha"
    my_options: int = 0
    peers: dict[str, Peer] = field(default_factory=dict)
    now: float = 100.0
    datagrams: list[tuple[bytes, tuple[str, int]]] = field(default_factory=list)
    delivered: list[tuple[str, bytes]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    keys_made: list[str] = field(default_factory=list)
    remembered: list[str] = field(default_factory=list)
    unknown: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log = RateLimitedLog(logging.getLogger("test"), self.clock)

    def clock(self) -> float:
        return self.now

    def send_datagram(self, payload: bytes, address: tuple[str, int]) -> None:
        self.datagrams.append((payload, address))

    def deliver(self, source: Peer, frame: bytes | bytearray) -> None:
        self.delivered.append((source.name, bytes(frame)))

    def send_towards(self, peer: Peer, request: rq.Request) -> None:
        self.requests.append((peer.name, request.format()))

    def answer_key_request(self, peer: str) -> tuple[KeyOffer, Any]:
        self.keys_made.append(peer)
        return KeyOffer("00" * 4, 427, 672, 4, 0), Opener()

    def remember_address(self, peer: Peer) -> None:
        self.remembered.append(peer.name)

    def receive_unknown(self, datagram: bytes, address: tuple[str, int]) -> None:
        self.unknown.append(datagram)


def peer(services: Services, paths: LegacyPaths, name: str, **fields: Any) -> Peer:
    found = services.peers[name] = Peer(name, reachable=True, nexthop=name, via=name, **fields)
    found.path = paths.path_for(found)
    return found


FRAME = bytes(12) + b"\x08\x00" + bytes(46)


def test_a_frame_for_an_indirect_peer_travels_on_its_relays_path() -> None:
    services = Services()
    paths = LegacyPaths(services)  # type: ignore[arg-type]
    relay = peer(services, paths, "beta", udp_address=("192.0.2.2", 655))
    relay.sealer = Sealer()  # type: ignore[assignment]
    far = peer(services, paths, "gamma", udp_address=("192.0.2.3", 655))
    far.via = far.nexthop = "beta"
    assert far.path is not None
    far.path.send(FRAME)
    # Sealed with the relay's key, to the relay's address (send_udppacket).
    assert services.datagrams == [(b"S" + FRAME, ("192.0.2.2", 655))]


def test_without_a_key_the_path_asks_for_one_through_the_node_once_per_interval() -> None:
    services = Services()
    paths = LegacyPaths(services)  # type: ignore[arg-type]
    beta = peer(services, paths, "beta")
    assert beta.path is not None
    beta.path.send(FRAME)
    beta.path.send(FRAME)
    assert services.requests == [("beta", "15 alpha beta")]
    assert beta.last_req_key == 100.0


def test_a_neighbour_that_comes_up_gets_a_key_made_by_the_nodes_suite() -> None:
    services = Services()
    paths = LegacyPaths(services)  # type: ignore[arg-type]
    beta = peer(services, paths, "beta")
    beta.link = object()  # type: ignore[assignment]
    assert isinstance(beta.path, LegacyPath)
    beta.path.reachability_changed(True)
    # Through the services, so a suite that wraps the legacy one sees it.
    assert services.keys_made == ["beta"] and isinstance(beta.opener, Opener)
    assert [kind for _, kind in services.requests] == [
        "16 alpha beta 00000000 427 672 4 0"]
    beta.path.reachability_changed(False)
    assert beta.opener is None


def test_a_datagram_opens_once_a_key_exists_and_a_probe_is_answered_not_delivered() -> None:
    services = Services()
    paths = LegacyPaths(services)  # type: ignore[arg-type]
    beta = peer(services, paths, "beta", udp_address=("192.0.2.2", 655))
    assert beta.path is not None
    beta.path.receive(b"S" + FRAME, ("192.0.2.2", 655), False)
    assert services.unknown == [b"S" + FRAME]  # no key yet: the node looks again
    beta.opener = Opener()  # type: ignore[assignment]
    beta.sealer = Sealer()  # type: ignore[assignment]
    beta.path.receive(b"S" + FRAME, ("192.0.2.9", 655), True)
    assert services.delivered == [("beta", FRAME)]
    assert beta.udp_address == ("192.0.2.9", 655) and services.remembered == ["beta"]
    probe = probe_payload(100, random=lambda n: bytes(n))
    beta.path.receive(b"S" + probe, ("192.0.2.9", 655), False)
    assert services.delivered == [("beta", FRAME)]
    assert services.datagrams == [(b"S" + b"\x01" + probe[1:], ("192.0.2.9", 655))]
