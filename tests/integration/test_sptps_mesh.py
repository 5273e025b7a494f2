"""tinca nodes that speak only tinc 1.1's protocol (SPTPS), in namespaces (issue 4 b).

Every node has an Ed25519 key and no RSA key, so nothing but SPTPS can carry
its meta connections and its packets: tinca then runs "experimental" (tinc
1.1's name for SPTPS on) because its Ed25519 private key is readable.

- A full mesh of three nodes on one switch: every ordered pair pings, every
  pair carries a 3 s iperf3 stream, and each node's control socket shows
  the other two as SPTPS peers (status bit ``sptps``, protocol minor 7) with
  a packet key.
- A line of three (the ends have no underlay path to each other, see
  :func:`tests.mesh.make_line`), relaying by UDP: once the relay
  paths are confirmed, a burst of pings between the ends crosses the middle
  namespace as UDP datagrams in and out. In tinc 1.1 a node sends an SPTPS
  datagram for a node behind a relay to that relay by UDP, framed with the
  destination's and its own node IDs, once it knows a working path MTU to
  the relay (src/net_packet.c ``send_sptps_data``: ``origlen > relay->minmtu``
  sends by TCP instead); the relay forwards it the same way.
- The same line with UDP refused in the middle's namespace (a policy routing
  rule, so no datagram reaches or leaves it). No path MTU to the middle is
  ever confirmed, so in tinc 1.1 every datagram goes to it over TCP: as
  ``SPTPS_PACKET`` (``21 LEN`` and the framed datagram) on connections of
  minor 7 (src/net_packet.c ``send_sptps_data``: ``origlen > relay->minmtu``),
  and the middle passes it on the same way, once it has its own SPTPS
  session with the destination (``receive_tcppacket_sptps`` relays only to
  nodes with ``validkey``, and ``try_tx`` starts that session). The ends must
  still ping each other, end to end over SPTPS.

  ``TCPOnly`` would not do for this: a node skips SPTPS with a neighbour it
  shares a TCP-only connection with (``try_tx_sptps`` returns early, and
  ``send_ack``/``ack_h`` make the option symmetric), so a TCP-only middle
  never gets the ``validkey`` it needs to relay, and tinc 1.1 drops such
  packets.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable

from tests import netns
from tests.mesh import (
    ED25519,
    Node,
    NodeState,
    build,
    logs,
    make_line,
    make_nodes,
    ping_both_ways,
    ping_until,
    start_all,
    udp_counters,
)

netns_lab = netns.netns_lab

PROTOCOL_MINOR = 7
"""tinc 1.1's protocol minor (src/protocol.h PROT_MINOR), in a peer's option top byte."""
IPERF_SECONDS = 3
MIN_BITS = 1e6
"""A stream that carries less than 1 Mbit/s through the VPN is broken, not slow."""
RELAYED_PINGS = 100
"""Echo requests sent through the middle to measure what it relays."""


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def wait_connected(node: Node, peers: list[Node], timeout: float = 30) -> None:
    """Wait until ``node`` logged an activated meta connection with each of ``peers``."""
    assert node.process is not None
    for peer in peers:
        node.process.wait_for(f"Connection with {peer.name} ", timeout=timeout)


def assert_sptps_only(nodes: list[Node]) -> None:
    """No node has an RSA key, so tinc 1.0's protocol is off for all of them."""
    for node in nodes:
        assert not (node.confdir / "rsa_key.priv").exists(), node.name
        assert (node.confdir / "ed25519_key.priv").exists(), node.name
        for host in (node.confdir / "hosts").iterdir():
            text = host.read_text()
            assert "Ed25519PublicKey = " in text and "RSA PUBLIC KEY" not in text, host


def assert_sptps_peer(state: NodeState, viewer: Node) -> None:
    """``viewer``'s ``dump nodes`` line for a peer it runs an SPTPS session with."""
    assert state.reachable, f"{viewer.name}: {state.line}"
    assert state.minor == PROTOCOL_MINOR, f"{viewer.name}: {state.line}"
    assert state.sptps, f"{viewer.name} has no SPTPS session: {state.line}"
    assert state.validkey, f"{viewer.name} holds no key: {state.line}"


def test_full_mesh_of_sptps_only_nodes(netns_lab: netns.Lab) -> None:
    nodes = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tinca"), ("gamma", "tinca")])
    alpha, beta, gamma = nodes
    beta.connect_to = ["alpha"]
    gamma.connect_to = ["alpha", "beta"]
    build(netns_lab, nodes, keys=ED25519)
    assert_sptps_only(nodes)
    start_all(netns_lab, nodes)
    for node in nodes:
        wait_connected(node, [other for other in nodes if other is not node])
        assert node.process is not None
        text = node.process.output()
        for other in nodes:
            if other is not node:
                assert f"Meta connection with {other.name} uses SPTPS" in text, logs(nodes)

    for source, target in itertools.permutations(nodes, 2):
        assert ping_until(source.ns, target.overlay, 20), (
            f"{source.name} -> {target.name}\n{logs(nodes)}")
        result = source.ns.ping(target.overlay, count=3)
        assert result.received == 3, f"{source.name} -> {target.name}: {result.output}"

    for source, target in ((alpha, beta), (beta, gamma), (gamma, alpha)):
        server = target.ns.iperf3_server()
        try:
            bits = source.ns.iperf3_client(target.overlay, seconds=IPERF_SECONDS)
        finally:
            server.stop()
        assert bits > MIN_BITS, f"{source.name} -> {target.name}: {bits:.0f} bit/s"

    for node in nodes:
        states = node.dump_nodes()
        assert node.process is not None
        text = node.process.output()
        for other in nodes:
            if other is not node:
                assert_sptps_peer(states[other.name], node)
                assert f"SPTPS key exchange with {other.name} successful" in text, text
        assert "uses the legacy protocol" not in text, text


def refuse_udp(ns: netns.Namespace) -> None:
    """Make ``ns`` refuse UDP both ways, with routing rules alone (no netfilter).

    A rule ahead of the local table sends every UDP datagram to ``prohibit``:
    arriving ones are dropped before any socket sees them, and sending one
    fails with EACCES.
    """
    ns.ip("rule", "add", "pref", "10", "ipproto", "udp", "prohibit")
    ns.ip("rule", "add", "pref", "100", "lookup", "local")
    ns.ip("rule", "del", "pref", "0")


def start_line(lab: netns.Lab, *, middle_refuses_udp: bool = False) -> list[Node]:
    """Three SPTPS-only tinca nodes in a line, started, the ends connected to the middle."""
    nodes = make_line(lab, [("left", "tinca"), ("middle", "tinca"), ("right", "tinca")])
    left, middle, right = nodes
    build(lab, nodes, keys=ED25519)
    assert_sptps_only(nodes)
    # The ends really cannot reach each other below the VPN.
    assert not left.ns.ping(right.underlay, count=1, wait=1).ok
    if middle_refuses_udp:
        refuse_udp(middle.ns)
        send = f"import socket; socket.socket(2, 2).sendto(b'x', ({left.underlay!r}, 9))"
        sent = middle.ns.run([sys.executable, "-c", send], check=False)
        assert sent.returncode != 0 and "PermissionError" in sent.stderr, sent
    start_all(lab, [middle, left, right])
    wait_connected(middle, [left, right])
    return nodes


def ends_ping_both_ways(nodes: list[Node]) -> None:
    """The ends ping each other (through the middle), 5 of 5 both ways."""
    ping_both_ways(nodes[0], nodes[2], nodes, count=5)


def relayed_datagrams(nodes: list[Node]) -> tuple[int, int, int]:
    """Flood pings from the left end to the right one; return (answered pings,
    UDP datagrams the middle namespace received, and sent) meanwhile."""
    left, middle, right = nodes
    before = udp_counters(middle.ns)
    flood = left.ns.ping(right.overlay, count=RELAYED_PINGS, interval=0.01)
    after = udp_counters(middle.ns)
    assert flood.received >= RELAYED_PINGS * 0.95, flood.output + logs(nodes)
    return flood.received, after[0] - before[0], after[1] - before[1]


def test_line_middle_relays_sptps_datagrams_over_udp(netns_lab: netns.Lab) -> None:
    nodes = start_line(netns_lab)
    left, middle, right = nodes
    ends_ping_both_ways(nodes)

    # UDP relaying starts once each hop's path MTU is known: the ends' to the
    # middle, and the middle's to each end (its own sessions with them).
    def relay_paths_known() -> bool:
        views = (left.dump_nodes(), right.dump_nodes(), middle.dump_nodes())
        return (views[0]["middle"].minmtu > 0 and views[1]["middle"].minmtu > 0
                and views[2]["left"].minmtu > 0 and views[2]["right"].minmtu > 0)

    assert wait_until(relay_paths_known, 30), (
        f"{left.control('dump', 'nodes')}\n{middle.control('dump', 'nodes')}\n{logs(nodes)}")

    answered, received, sent = relayed_datagrams(nodes)
    # Each echo request and each reply came in from one end and went out to
    # the other: at least 2 datagrams in and 2 out per answered ping.
    assert received >= 2 * answered and sent >= 2 * answered, (
        f"UDP in {received}, out {sent} at the middle for {answered} answered pings\n"
        f"{logs(nodes)}")

    # The ends run their own SPTPS session with each other, through the middle.
    for end, other in ((left, right), (right, left)):
        state = end.dump_nodes()[other.name]
        assert_sptps_peer(state, end)
        assert state.nexthop == "middle", state.line
        assert end.process is not None
        assert f"SPTPS key exchange with {other.name} successful" in end.process.output()


def test_line_middle_relays_sptps_packets_over_tcp(netns_lab: netns.Lab) -> None:
    nodes = start_line(netns_lab, middle_refuses_udp=True)
    left, _, right = nodes
    ends_ping_both_ways(nodes)

    answered, received, sent = relayed_datagrams(nodes)
    assert received == 0 and sent == 0, (
        f"UDP in {received}, out {sent} at the middle for {answered} answered pings")
    for end, other in ((left, right), (right, left)):
        states = end.dump_nodes()
        assert states["middle"].minmtu == 0, states["middle"].line
        assert_sptps_peer(states[other.name], end)
        assert states[other.name].nexthop == "middle", states[other.name].line
        assert end.process is not None
        assert f"SPTPS key exchange with {other.name} successful" in end.process.output()
