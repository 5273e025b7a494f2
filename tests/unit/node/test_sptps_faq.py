"""tinc 1.1's well-known SPTPS log lines, as states a node recovers from by itself.

Each test drives real nodes (meta protocol, data path, ``sptps`` suite, fake
clock) into the state behind one of the messages users ask about, then
checks that the line is logged once rather than per packet and that
traffic flows again without restarting anything:

* "Invalid packet seqno": datagrams reordered (accepted within the replay
  window), replayed (dropped), or left over from a session the peer has
  since replaced;
* "Handshake phase not finished yet": packets while a key exchange runs;
* "No key from X after 10 seconds, restarting SPTPS": a peer that never
  answers REQ_KEY (net_packet.c try_sptps);
* "Got REQ_KEY from X while we already started a SPTPS session": both
  sides start at once (protocol_key.c req_key_ext_h) and still converge
  at once, not after the 10-second restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.unit.node.sptps_fakes import (
    UDP_PORT,
    UNDERLAY,
    Clock,
    KeyMaterial,
    Net,
    Node,
    build_net,
    flip_last_byte,
    key_material,
    packet,
)
from tinca.core.meta import requests as rq


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyMaterial]:
    scratch = tmp_path_factory.mktemp("keys")
    return {name: key_material(scratch, name, rsa=False) for name in ("alpha", "beta", "gamma")}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(1, logger="tinca")  # every debug level
    return caplog


def addr(name: str) -> tuple[str, int]:
    return (UNDERLAY[name], UDP_PORT)


def count(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def key_requests(node: Node, via: str, to: str) -> int:
    """REQ_KEY (extension 15) lines ``node`` sent to ``to`` over its link to ``via``."""
    prefix = f"{int(rq.RequestType.REQ_KEY)} {node.name} {to} {int(rq.RequestType.REQ_KEY)} "
    return sum(line.startswith(prefix) for line in node.links[via].sent)


def keyed(node: Node, peer: str) -> bool:
    channel = node.channel(peer)
    return channel is not None and channel.validkey


def keyed_pair(tmp_path: Path, keys: dict[str, KeyMaterial]) -> tuple[Net, Node, Node, Clock]:
    """alpha - beta with keys and confirmed UDP both ways."""
    clock = Clock()
    net = build_net(tmp_path, keys, clock, [("alpha", "beta")], names=("alpha", "beta"))
    alpha, beta = net.nodes["alpha"], net.nodes["beta"]
    alpha.request_key("beta")
    net.pump()
    assert keyed(alpha, "beta") and keyed(beta, "alpha")
    alpha.udp("beta")
    beta.udp("alpha")
    return net, alpha, beta, clock


def flows(net: Net, src: Node, dst: Node, tag: int) -> bool:
    """Whether a new packet from ``src`` reaches ``dst``'s device."""
    ip = packet(src.name, dst.name, tag=tag)
    src.path.from_device([ip])
    net.settle()
    return dst.device.written[-1:] == [ip]


# ---------------------------------------------------------------------------
# "Invalid packet seqno"


def test_reordered_datagrams_are_accepted_and_their_replays_dropped_with_one_line(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture
) -> None:
    net, alpha, beta, _clock = keyed_pair(tmp_path, keys)
    ips = [packet("alpha", "beta", tag=n) for n in range(6)]
    datagrams = alpha.seal(ips)
    assert len(datagrams) == 6
    logs.clear()
    lines_before = len(alpha.links["beta"].sent), len(beta.links["alpha"].sent)
    order = [5, 1, 3, 0, 4, 2]
    for n in order:
        beta.path.receive_datagram(datagrams[n], addr("alpha"))
    assert beta.device.written == [ips[n] for n in order]
    assert warnings(logs) == []
    # every one again, ten times
    for _ in range(10):
        for datagram in datagrams:
            beta.path.receive_datagram(datagram, addr("alpha"))
    assert len(beta.device.written) == 6
    assert [m for m in warnings(logs) if "replayed" in m] == warnings(logs)
    assert len(warnings(logs)) == 1
    # nothing was restarted: the session that took them goes on
    assert (len(alpha.links["beta"].sent), len(beta.links["alpha"].sent)) == lines_before
    assert flows(net, alpha, beta, 10) and flows(net, beta, alpha, 11)


def test_replays_long_after_the_key_exchange_do_not_restart_it(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture
) -> None:
    # tinc restarts a session a bad datagram hit when its last start is more
    # than 10 s old (net_packet.c receive_udppacket), replays included, so a
    # captured datagram sent every 10 s keeps interrupting traffic. A replay
    # authenticated, so the session is sound: tinca drops it with one line
    # and keeps the session.
    net, alpha, beta, clock = keyed_pair(tmp_path, keys)
    (datagram,) = alpha.seal([packet("alpha", "beta", tag=1)])
    beta.path.receive_datagram(datagram, addr("alpha"))
    clock.now += 30
    logs.clear()
    restarts = key_requests(beta, "alpha", "alpha")
    for _ in range(50):
        beta.path.receive_datagram(datagram, addr("alpha"))
    assert key_requests(beta, "alpha", "alpha") == restarts
    assert count(logs, "restarting SPTPS") == 0
    found = warnings(logs)
    assert len(found) == 1 and "replayed" in found[0], found
    assert keyed(alpha, "beta") and keyed(beta, "alpha")
    assert flows(net, alpha, beta, 2) and flows(net, beta, alpha, 3)


def test_a_bad_tag_long_after_the_key_exchange_restarts_it_once(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture
) -> None:
    # A datagram that does not authenticate may mean a stuck session: as tinc,
    # restart when the last start is more than 10 s old, once, not per datagram.
    net, alpha, beta, clock = keyed_pair(tmp_path, keys)
    (datagram,) = alpha.seal([packet("alpha", "beta", tag=1)])
    forged = flip_last_byte(datagram)
    clock.now += 30
    logs.clear()
    restarts = key_requests(beta, "alpha", "alpha")
    for _ in range(50):
        beta.path.receive_datagram(forged, addr("alpha"))
    assert key_requests(beta, "alpha", "alpha") == restarts + 1
    assert count(logs, "restarting SPTPS") == 1
    net.pump()
    assert keyed(alpha, "beta") and keyed(beta, "alpha")
    assert flows(net, alpha, beta, 2) and flows(net, beta, alpha, 3)


def test_datagrams_of_a_session_the_peer_replaced_are_dropped_with_one_line(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture
) -> None:
    # The meta connection drops and comes back: both sides forget the session
    # (the peer became unreachable) and key again, while datagrams sealed
    # with the old keys are still on their way.
    net, alpha, beta, clock = keyed_pair(tmp_path, keys)
    stale = alpha.seal([packet("alpha", "beta", tag=n) for n in range(5)])
    for node, other in ((alpha, "beta"), (beta, "alpha")):
        node.protocol.connection_closed(node.links[other], report=True)
    net.pump()
    assert not alpha.peer("beta").reachable and not beta.peer("alpha").reachable
    clock.now += 1
    net.connect("alpha", "beta")
    alpha.request_key("beta")  # the first packet for beta would do this
    logs.clear()
    for _ in range(10):  # beta's new session is waiting for alpha's answer
        for datagram in stale:
            beta.path.receive_datagram(datagram, addr("alpha"))
    assert beta.device.written == []
    # the first one finds no session and starts one; the rest hit it before
    # its handshake is done: one line for each, not fifty
    found = warnings(logs)
    assert len(found) == len(set(found)) == 2, found
    assert any("Invalid packet seqno" in m for m in found), found
    assert key_requests(beta, "alpha", "alpha") == 1
    net.pump()
    assert keyed(alpha, "beta") and keyed(beta, "alpha")
    for datagram in stale:  # and once the new keys are in
        beta.path.receive_datagram(datagram, addr("alpha"))
    assert beta.device.written == []
    assert flows(net, alpha, beta, 10) and flows(net, beta, alpha, 11)
    everything = warnings(logs)
    assert len(everything) == len(set(everything)), everything


# ---------------------------------------------------------------------------
# "Handshake phase not finished yet"


def test_packets_during_a_key_exchange_are_dropped_with_one_line_then_flow(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture
) -> None:
    net, alpha, beta, clock = keyed_pair(tmp_path, keys)
    # beta starts over (a bad datagram 11 s after the last start), and its
    # REQ_KEY reaches alpha, whose answer is still on its way back.
    clock.now += 11
    (good,) = alpha.seal([packet("alpha", "beta")])
    beta.path.receive_datagram(flip_last_byte(good), addr("alpha"))
    alpha.links["beta"].paused = True
    net.pump()
    assert not keyed(alpha, "beta") and not keyed(beta, "alpha")
    logs.clear()
    for n in range(50):
        alpha.path.from_device([packet("alpha", "beta", tag=n)])
        beta.path.from_device([packet("beta", "alpha", tag=n)])
    net.deliver_udp()
    assert alpha.device.written == [] and beta.device.written == []
    assert count(logs, "Handshake phase not finished yet with beta") == 1
    assert count(logs, "Handshake phase not finished yet with alpha") == 1
    assert len(logs.records) == len({r.getMessage() for r in logs.records})
    alpha.links["beta"].paused = False
    net.pump()
    assert keyed(alpha, "beta") and keyed(beta, "alpha")
    assert flows(net, alpha, beta, 100) and flows(net, beta, alpha, 101)
    assert alpha.links["beta"].packets == [] and beta.links["alpha"].packets == []


def test_datagrams_before_we_have_a_session_start_one_and_are_logged_once(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture
) -> None:
    net, alpha, beta, _clock = keyed_pair(tmp_path, keys)
    early = alpha.seal([packet("alpha", "beta", tag=n) for n in range(20)])
    beta.channel("alpha").stop()  # type: ignore[union-attr]  # beta lost its session
    logs.clear()
    requests = key_requests(beta, "alpha", "alpha")
    for datagram in early:
        beta.path.receive_datagram(datagram, addr("alpha"))
    assert beta.device.written == []
    assert key_requests(beta, "alpha", "alpha") == requests + 1  # one start, not twenty
    found = warnings(logs)
    assert len(found) == len(set(found)) <= 2, found
    net.pump()
    assert keyed(alpha, "beta") and keyed(beta, "alpha")
    assert flows(net, alpha, beta, 100) and flows(net, beta, alpha, 101)


# ---------------------------------------------------------------------------
# "No key from X after 10 seconds, restarting SPTPS"


def test_a_silent_peer_gets_a_new_req_key_after_10_seconds_of_traffic(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    net = build_net(tmp_path, keys, clock, [("alpha", "beta"), ("beta", "gamma")])
    alpha, beta, gamma = (net.nodes[n] for n in ("alpha", "beta", "gamma"))
    beta.request_key("gamma")  # the relay has its own keys with gamma
    net.pump()
    # gamma's answers to alpha never arrive
    gamma.links["beta"].drop = lambda line: line.startswith("16 gamma alpha ")
    start = clock.now
    logs.clear()
    for second in range(11):  # a packet a second, for 10 seconds
        clock.now = start + second
        alpha.path.from_device([packet("alpha", "gamma", tag=second)])
        net.pump()
    assert key_requests(alpha, "beta", "gamma") == 1
    assert count(logs, "No key from gamma after 10 seconds, restarting SPTPS") == 0
    assert gamma.device.written == []
    # the peer answers again; the next packet after 10 s restarts the exchange
    gamma.links["beta"].drop = lambda line: False
    for tenth in range(5):
        clock.now = start + 10.5 + tenth / 10
        alpha.path.from_device([packet("alpha", "gamma", tag=50 + tenth)])
        net.pump()
    assert key_requests(alpha, "beta", "gamma") == 2
    assert count(logs, "No key from gamma after 10 seconds, restarting SPTPS") == 1
    assert keyed(alpha, "gamma") and keyed(gamma, "alpha")
    assert gamma.device.written  # what came after the keys got through
    assert flows(net, alpha, gamma, 100) and flows(net, gamma, alpha, 101)
    assert count(logs, "No key from gamma after 10 seconds, restarting SPTPS") == 1


def test_each_restart_is_logged_once(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    net = build_net(tmp_path, keys, clock, [("alpha", "beta")], names=("alpha", "beta"))
    alpha, beta = net.nodes["alpha"], net.nodes["beta"]
    beta.links["alpha"].drop = lambda line: line.startswith("16 beta alpha ")
    start = clock.now
    for step in range(0, 310):  # 31 s, a packet every 0.1 s
        clock.now = start + step / 10
        alpha.path.from_device([packet("alpha", "beta", tag=step)])
        net.pump()
    # starts at 0 s, 10.1 s, 20.2 s, 30.3 s -> three restarts
    assert count(logs, "No key from beta after 10 seconds, restarting SPTPS") == 3
    assert key_requests(alpha, "beta", "beta") == 4
    # tinc's neighbour fallback kept the traffic going over the meta connection
    assert len(beta.device.written) == 310


# ---------------------------------------------------------------------------
# "Got REQ_KEY from X while we already started a SPTPS session"


@pytest.mark.parametrize("far", [False, True], ids=["neighbours", "through-a-relay"])
def test_both_sides_starting_at_once_converge_without_waiting(
    tmp_path: Path, keys: dict[str, KeyMaterial], logs: pytest.LogCaptureFixture, far: bool
) -> None:
    clock = Clock()
    if far:
        net = build_net(tmp_path, keys, clock, [("alpha", "beta"), ("beta", "gamma")])
        one, two = net.nodes["alpha"], net.nodes["gamma"]
        net.nodes["beta"].request_key("gamma")
        net.pump()
    else:
        net = build_net(tmp_path, keys, clock, [("alpha", "beta")], names=("alpha", "beta"))
        one, two = net.nodes["alpha"], net.nodes["beta"]
    logs.clear()
    # both have a packet for the other before either REQ_KEY arrives
    one.path.from_device([packet(one.name, two.name, tag=1)])
    two.path.from_device([packet(two.name, one.name, tag=2)])
    net.pump()
    assert keyed(one, two.name) and keyed(two, one.name)  # same instant: no 10 s restart
    assert count(logs, "restarting SPTPS") == 0
    assert count(logs, f"Got REQ_KEY from {two.name} while we already started") <= 1
    assert count(logs, f"Got REQ_KEY from {one.name} while we already started") <= 1
    assert count(logs, "while we already started a SPTPS session") >= 1
    assert flows(net, one, two, 10) and flows(net, two, one, 11)
