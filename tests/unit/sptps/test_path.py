"""The SPTPS data path (tinc 1.1's net_packet.c) over real channels between real nodes.

Two or three nodes with the ``sptps`` suite and their own Ed25519 keys key
each other over REQ_KEY/ANS_KEY passed between their meta protocols; then
each test checks where a packet goes (UDP framed with node IDs, ``17 LEN``,
``21 LEN`` or ``REQ_KEY ... 21``), what a relay does with a datagram that is
not for it, and that bad, forged or replayed datagrams are dropped, logged
once and never move a peer's UDP address.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.unit.node.sptps_fakes import (
    ADDRESSES,
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
    write_node,
)
from tinca.core.meta import requests as rq
from tinca.plugins.ciphers.sptps.path import SPTPS_DATAGRAM_OVERHEAD, SptpsPath
from tinca.plugins.ciphers.sptps.udp_frame import NODE_ID_SIZE, node_id

NULL_ID = bytes(NODE_ID_SIZE)
ETHER = 14


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyMaterial]:
    scratch = tmp_path_factory.mktemp("keys")
    return {name: key_material(scratch, name, rsa=False) for name in ("alpha", "beta", "gamma")}


def addr(name: str) -> tuple[str, int]:
    return (UNDERLAY[name], UDP_PORT)


def key(net: Net, a: str, b: str) -> None:
    """Run the key exchange between ``a`` and ``b`` (``a`` starts it)."""
    node = net.nodes[a]
    node.request_key(b)
    net.pump()
    assert node.channel(b).validkey  # type: ignore[union-attr]
    assert net.nodes[b].channel(a).validkey  # type: ignore[union-attr]


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def no_repeats(caplog: pytest.LogCaptureFixture) -> None:
    seen = [r.getMessage() for r in caplog.records]
    repeated = {m for m in seen if seen.count(m) > 1}
    assert not repeated, repeated


def pair(tmp_path: Path, keys: dict[str, KeyMaterial]) -> tuple[Net, Node, Node]:
    net = build_net(tmp_path, keys, Clock(), [("alpha", "beta")], names=("alpha", "beta"))
    key(net, "alpha", "beta")
    return net, net.nodes["alpha"], net.nodes["beta"]


# ---------------------------------------------------------------------------
# where a packet goes


def test_the_suite_makes_neighbours_sptps_peers(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    net = build_net(tmp_path, keys, Clock(), [("alpha", "beta")], names=("alpha", "beta"))
    beta = net.nodes["alpha"].peer("beta")
    assert beta.reachable and isinstance(beta.path, SptpsPath)
    assert rq.option_version(beta.options) == rq.PROT_MINOR_11


def test_confirmed_udp_carries_a_packet_in_one_datagram_with_null_destination(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    net, alpha, beta = pair(tmp_path, keys)
    alpha.udp("beta", 1400)
    ip = packet("alpha", "beta")
    sent_lines = len(alpha.links["beta"].sent)
    alpha.path.from_device([ip])
    assert len(alpha.datagrams) == 1
    payload, to = alpha.datagrams[0]
    assert to == addr("beta")
    # dst = all zero (sent straight to its destination), src = our ID, then
    # the datagram: router mode drops the Ethernet header from the record.
    assert payload[:NODE_ID_SIZE] == NULL_ID
    assert payload[NODE_ID_SIZE:2 * NODE_ID_SIZE] == node_id("alpha")
    assert len(payload) == 2 * NODE_ID_SIZE + SPTPS_DATAGRAM_OVERHEAD + len(ip)
    assert alpha.links["beta"].packets == [] and alpha.links["beta"].raw == []
    assert len(alpha.links["beta"].sent) == sent_lines  # no key request: keys are valid
    net.deliver_udp()
    assert beta.device.written == [ip]
    assert beta.peer("alpha").stats["in"] == 1


def test_a_packet_too_big_for_udp_goes_to_a_neighbour_as_a_plain_packet(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    net, alpha, beta = pair(tmp_path, keys)
    alpha.udp("beta", 100)
    ip = packet("alpha", "beta", size=200)
    alpha.path.from_device([ip])
    assert alpha.datagrams == []
    link = alpha.links["beta"]
    assert link.packets == [bytes(12) + b"\x08\x00" + ip] and link.raw == []
    net.pump()
    assert beta.device.written == [ip]


def test_a_packet_that_fits_goes_by_udp_and_a_bigger_one_by_tcp(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    _, alpha, _ = pair(tmp_path, keys)
    alpha.udp("beta", ETHER + 100)
    alpha.path.from_device([packet("alpha", "beta", size=100), packet("alpha", "beta", size=101)])
    assert len(alpha.datagrams) == 1
    assert len(alpha.links["beta"].packets) == 1


def test_without_keys_a_neighbour_gets_the_packet_over_tcp_and_one_key_request(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    net = build_net(tmp_path, keys, Clock(), [("alpha", "beta")], names=("alpha", "beta"))
    alpha, beta = net.nodes["alpha"], net.nodes["beta"]
    link = alpha.links["beta"]
    before = len(link.sent)
    ips = [packet("alpha", "beta", tag=n) for n in range(3)]
    alpha.path.from_device(ips)
    assert alpha.datagrams == [] and len(link.packets) == 3
    requests = [rq.parse_request(line) for line in link.sent[before:]]
    assert [(r.type, r.ext) for r in requests] == [  # type: ignore[attr-defined]
        (rq.RequestType.REQ_KEY, rq.RequestType.REQ_KEY)
    ]
    net.pump()
    assert beta.device.written == ips
    assert alpha.channel("beta").validkey  # type: ignore[union-attr]


def line_net(tmp_path: Path, keys: dict[str, KeyMaterial]) -> tuple[Net, Node, Node, Node]:
    """alpha - beta - gamma; every pair keyed (beta must hold gamma's key to relay)."""
    net = build_net(tmp_path, keys, Clock(), [("alpha", "beta"), ("beta", "gamma")])
    alpha, beta, gamma = (net.nodes[n] for n in ("alpha", "beta", "gamma"))
    assert alpha.peer("gamma").nexthop == "beta" and isinstance(alpha.peer("gamma").path, SptpsPath)
    key(net, "alpha", "gamma")
    key(net, "beta", "gamma")
    return net, alpha, beta, gamma


def test_without_udp_a_non_neighbour_gets_a_raw_21_len_packet_via_the_next_hop(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    net, alpha, beta, gamma = line_net(tmp_path, keys)
    ip = packet("alpha", "gamma")
    alpha.path.from_device([ip])
    assert alpha.datagrams == []
    link = alpha.links["beta"]
    assert link.packets == [] and len(link.raw) == 1
    raw = link.raw[0]
    assert raw[:NODE_ID_SIZE] == node_id("gamma")
    assert raw[NODE_ID_SIZE:2 * NODE_ID_SIZE] == node_id("alpha")
    assert len(raw) == 2 * NODE_ID_SIZE + SPTPS_DATAGRAM_OVERHEAD + len(ip)
    net.pump()
    # beta passed it on unopened, again as 21 LEN (it has no UDP with gamma)
    assert beta.links["gamma"].raw == [raw]
    assert beta.device.written == []
    assert gamma.device.written == [ip]


def test_a_next_hop_older_than_minor_7_gets_the_datagram_as_req_key_21(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    net, alpha, _, gamma = line_net(tmp_path, keys)
    alpha.links["beta"].options = (4 << 24) | rq.OPTION_CLAMP_MSS
    before = len(alpha.links["beta"].sent)
    ip = packet("alpha", "gamma")
    alpha.path.from_device([ip])
    assert alpha.links["beta"].raw == []
    request = rq.parse_request(alpha.links["beta"].sent[before])
    assert isinstance(request, rq.ReqKey)
    assert (request.from_name, request.to_name, request.ext) == (
        "alpha", "gamma", rq.RequestType.SPTPS_PACKET
    )
    net.pump()
    assert gamma.device.written == [ip]


def relay_net(tmp_path: Path, keys: dict[str, KeyMaterial]) -> tuple[Net, Node, Node, Node]:
    """beta - alpha - gamma, alpha the relay. alpha has keys and UDP with both
    (that is how it knows their addresses); beta and gamma have keys, but UDP
    between them is not confirmed yet, so beta sends through alpha."""
    net = build_net(tmp_path, keys, Clock(), [("alpha", "beta"), ("alpha", "gamma")])
    alpha, beta, gamma = (net.nodes[n] for n in ("alpha", "beta", "gamma"))
    key(net, "alpha", "beta")
    key(net, "alpha", "gamma")
    key(net, "beta", "gamma")
    beta.udp("alpha", 1400)
    alpha.udp("gamma", 1400)
    return net, alpha, beta, gamma


def test_a_datagram_for_another_node_is_relayed_unopened(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    # beta - alpha - gamma: alpha is the relay
    net, alpha, beta, gamma = relay_net(tmp_path, keys)
    ip = packet("beta", "gamma")
    beta.path.from_device([ip])
    assert len(beta.datagrams) == 1
    payload, to = beta.datagrams[0]
    assert to == addr("alpha")
    assert payload[:NODE_ID_SIZE] == node_id("gamma")
    assert payload[NODE_ID_SIZE:2 * NODE_ID_SIZE] == node_id("beta")
    beta.datagrams.clear()
    alpha.path.receive_datagram(payload, addr("beta"))
    assert alpha.datagrams == [(payload, addr("gamma"))]  # the same bytes, to gamma
    assert alpha.device.written == []
    net.deliver_udp()
    assert gamma.device.written == [ip]
    # It came through a relay: gamma must not take alpha's address for beta's.
    assert gamma.peer("beta").udp_address == addr("beta")


def test_a_req_key_21_passing_through_goes_on_by_udp_when_it_can(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    # tinc 1.1 decodes an SPTPS_PACKET that is not for it and sends it on with
    # send_sptps_data, "because we want to use UDP if it's available"
    # (protocol_key.c req_key_ext_h), instead of forwarding the line.
    net, alpha, beta, gamma = relay_net(tmp_path, keys)
    beta.udp("alpha", 0, confirmed=False)
    beta.links["alpha"].options = (6 << 24) | rq.OPTION_CLAMP_MSS  # an older next hop
    ip = packet("beta", "gamma")
    before = len(beta.links["alpha"].sent)
    beta.path.from_device([ip])
    request = rq.parse_request(beta.links["alpha"].sent[before])
    assert isinstance(request, rq.ReqKey) and request.ext == rq.RequestType.SPTPS_PACKET
    lines_to_gamma = len(alpha.links["gamma"].sent)
    net.pump()
    assert len(alpha.datagrams) == 1
    payload, to = alpha.datagrams[0]
    assert to == addr("gamma")
    assert payload[:2 * NODE_ID_SIZE] == node_id("gamma") + node_id("beta")
    assert not any(" 21 " in line for line in alpha.links["gamma"].sent[lines_to_gamma:])
    net.deliver_udp()
    assert gamma.device.written == [ip]


def test_a_datagram_for_another_node_from_an_unknown_address_is_not_relayed(
    tmp_path: Path, keys: dict[str, KeyMaterial], caplog: pytest.LogCaptureFixture
) -> None:
    # tinc 1.1 takes a datagram from an address it does not know only when it
    # names us (null destination) and its source's channel verifies it.
    _net, alpha, beta, _gamma = relay_net(tmp_path, keys)
    beta.path.from_device([packet("beta", "gamma")])
    (payload, _), = beta.datagrams
    beta.datagrams.clear()
    caplog.set_level(1, logger="tinca")
    caplog.clear()
    for _ in range(10):
        alpha.path.receive_datagram(payload, ("203.0.113.9", 4000))
    assert alpha.datagrams == []
    assert len(messages(caplog, "unknown source")) == 1


def test_a_relayed_datagram_for_an_unknown_destination_is_dropped_and_logged_once(
    tmp_path: Path, keys: dict[str, KeyMaterial], caplog: pytest.LogCaptureFixture
) -> None:
    _net, alpha, _beta = pair(tmp_path, keys)
    caplog.set_level(1, logger="tinca")
    caplog.clear()
    bogus = node_id("nobody") + node_id("beta") + bytes(40)
    for _ in range(20):
        alpha.path.receive_datagram(bogus, addr("beta"))
    assert alpha.datagrams == [] and alpha.device.written == []
    assert len(messages(caplog, "unknown source and/or destination ID")) == 1


# ---------------------------------------------------------------------------
# bad input


def test_a_datagram_with_a_bad_tag_is_dropped_and_logged_once_in_fifty(
    tmp_path: Path, keys: dict[str, KeyMaterial], caplog: pytest.LogCaptureFixture
) -> None:
    _net, alpha, beta = pair(tmp_path, keys)
    alpha.udp("beta", 1400)
    (payload,) = alpha.seal([packet("alpha", "beta", tag=1)])
    forged = flip_last_byte(payload)
    caplog.set_level(1, logger="tinca")
    caplog.clear()
    for _ in range(50):
        beta.path.receive_datagram(forged, addr("alpha"))
    assert beta.device.written == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "alpha" in warnings[0].getMessage()
    no_repeats(caplog)
    # The session is intact: the genuine datagram still opens.
    beta.path.receive_datagram(payload, addr("alpha"))
    assert beta.device.written == [packet("alpha", "beta", tag=1)]


def test_garbage_from_unknown_addresses_costs_at_most_one_hard_try_a_second(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    # tinc 1.1's try_harder checks every node's MAC for a datagram from an
    # address no edge has, but at most once per second (last_hard_try,
    # net_packet.c); and a datagram that names its source by ID and fails
    # that node's check is not tried against the others (skip_harder).
    _net, _alpha, beta = pair(tmp_path, keys)
    channel = beta.channel("alpha")
    assert channel is not None
    calls = []
    verify = channel.verify

    def counting(datagram: bytes) -> bool:
        calls.append(datagram)
        return verify(datagram)

    channel.verify = counting  # type: ignore[method-assign]
    for n in range(50):
        beta.path.receive_datagram(bytes([n]) * 80, ("203.0.113.50", 5000 + n))
    assert len(calls) <= 1
    calls.clear()
    named = NULL_ID + node_id("alpha") + bytes(60)
    for n in range(50):
        beta.path.receive_datagram(named, ("203.0.113.51", 5000 + n))
    assert len(calls) <= 50
    assert beta.device.written == []


def test_the_udp_address_is_learned_only_from_a_datagram_that_authenticates(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    _net, alpha, beta = pair(tmp_path, keys)
    alpha.udp("beta", 1400)
    moved = ("203.0.113.7", 40000)
    first, second = alpha.seal([packet("alpha", "beta", tag=1), packet("alpha", "beta", tag=2)])
    peer = beta.peer("alpha")
    assert peer.udp_address == addr("alpha")
    forged = first[:-1] + bytes([first[-1] ^ 0x80])
    beta.path.receive_datagram(forged, moved)
    assert peer.udp_address == addr("alpha") and moved not in beta.path.by_address
    beta.path.receive_datagram(first, addr("alpha"))
    # a replay of a genuine datagram from elsewhere does not move it either
    beta.path.receive_datagram(first, moved)
    assert peer.udp_address == addr("alpha") and moved not in beta.path.by_address
    beta.path.receive_datagram(second, moved)  # genuine and new: the peer moved
    assert peer.udp_address == moved
    assert beta.path.by_address[moved] is peer
    assert addr("alpha") not in beta.path.by_address
    assert peer.mtu_strategy.address_changes == 1  # type: ignore[union-attr]
    assert len(beta.device.written) == 2


def test_a_replayed_datagram_is_dropped_and_logged_once(
    tmp_path: Path, keys: dict[str, KeyMaterial], caplog: pytest.LogCaptureFixture
) -> None:
    _net, alpha, beta = pair(tmp_path, keys)
    alpha.udp("beta", 1400)
    alpha.path.from_device([packet("alpha", "beta")])
    (payload, _), = alpha.datagrams
    alpha.datagrams.clear()
    beta.path.receive_datagram(payload, addr("alpha"))
    caplog.set_level(1, logger="tinca")
    caplog.clear()
    for _ in range(50):
        beta.path.receive_datagram(payload, addr("alpha"))
    assert len(beta.device.written) == 1
    assert len(messages(caplog, "replayed")) >= 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "replayed" in warnings[0].getMessage()
    no_repeats(caplog)


def test_a_peer_whose_key_we_lack_is_asked_for_it_and_then_keyed(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    # alpha and gamma know each other only by name: REQ_PUBKEY/ANS_PUBKEY
    # through beta bring the keys (stored in the host files), then the key
    # exchange runs and packets flow.
    clock = Clock()
    knows = {"alpha": {"beta"}, "beta": {"alpha", "gamma"}, "gamma": {"beta"}}
    nodes = []
    for name in ("alpha", "beta", "gamma"):
        peers = {o: (keys[o], o in knows[name]) for o in knows if o != name}
        confbase = write_node(tmp_path / name, keys[name], peers, rsa=False)
        nodes.append(Node(confbase, clock, UNDERLAY[name], ADDRESSES[name] + "/32"))
    net = Net(nodes)
    net.connect("alpha", "beta")
    net.connect("beta", "gamma")
    alpha, _beta, gamma = nodes
    key(net, "beta", "gamma")
    before = len(alpha.links["beta"].sent)
    alpha.path.from_device([packet("alpha", "gamma", tag=1)])
    first = rq.parse_request(alpha.links["beta"].sent[before])
    assert isinstance(first, rq.ReqKey)
    assert (first.to_name, first.ext) == ("gamma", rq.RequestType.REQ_PUBKEY)
    net.pump()
    assert keyed_both(alpha, gamma)
    for me, peer in ((alpha, "gamma"), (gamma, "alpha")):
        host = (tmp_path / me.name / "hosts" / peer).read_text()
        assert host.count(keys[peer].ed25519_public_line) == 1
    ip = packet("alpha", "gamma", tag=2)
    alpha.path.from_device([ip])
    net.pump()
    assert gamma.device.written == [ip]
    assert clock.now == 1000.0  # no 10-second wait anywhere


def keyed_both(one: Node, two: Node) -> bool:
    a, b = one.channel(two.name), two.channel(one.name)
    return a is not None and b is not None and a.validkey and b.validkey


# ---------------------------------------------------------------------------
# probes and re-keying


def test_probes_are_answered_and_the_reply_reaches_the_strategy(
    tmp_path: Path, keys: dict[str, KeyMaterial]
) -> None:
    net, alpha, beta = pair(tmp_path, keys)
    state = alpha.udp("beta", 0, confirmed=False)
    beta.udp("alpha", 0, confirmed=False)
    alpha.path.send_probes(alpha.peer("beta"), [1000])
    (payload, to), = alpha.datagrams
    assert to == addr("beta") and payload[:NODE_ID_SIZE] == NULL_ID  # probes ignore minmtu
    net.deliver_udp()
    assert state.replies == [1000]
    assert beta.device.written == [] and alpha.device.written == []


def test_our_key_expiry_rekeys_in_place_and_udp_traffic_goes_on(
    tmp_path: Path, keys: dict[str, KeyMaterial], caplog: pytest.LogCaptureFixture
) -> None:
    net, alpha, beta = pair(tmp_path, keys)
    alpha.udp("beta", 1400)
    beta.udp("alpha", 1400)
    caplog.set_level(1, logger="tinca")
    alpha.protocol.expire_keys()
    channel = alpha.channel("beta")
    assert channel is not None and channel.validkey  # the old keys stay until the new ones
    # A packet sealed with the old key, arriving before the re-key is done.
    alpha.path.from_device([packet("alpha", "beta", tag=1)])
    net.deliver_udp()
    net.pump()
    assert len(messages(caplog, "SPTPS re-key with")) == 2  # one on each side
    alpha.path.from_device([packet("alpha", "beta", tag=2)])
    beta.path.from_device([packet("beta", "alpha", tag=3)])
    net.settle()
    assert beta.device.written == [packet("alpha", "beta", tag=1), packet("alpha", "beta", tag=2)]
    assert alpha.device.written == [packet("beta", "alpha", tag=3)]
    assert alpha.links["beta"].packets == [] and beta.links["alpha"].packets == []
