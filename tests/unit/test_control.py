"""tinc 1.1's control protocol: the sans-IO session, the dump records and
what tinca prints from them, against a fake node and, for the socket shell
and the client, a control server on a UNIX socket in the test's directory.

Known answers come from tinc 1.1 itself: node ids from the recorded tinc 1.1
meta capture, and the edge lengths of ``dump graph`` from tincctl's float
expression compiled with gcc.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinca.core.cli import control_client as cc
from tinca.core.cli.control_client import ControlClient, ControlClientError, NodeInfo
from tinca.core.control import (
    CONNECTION_CONTROL,
    CONNECTION_DECRYPTIN,
    CONNECTION_ENCRYPTOUT,
    CONNECTION_LOG,
    DEBUG_UNSET,
    MAX_LOG_TEXT,
    ConnectionRecord,
    ControlError,
    ControlHandler,
    ControlLogHandler,
    ControlRequest,
    ControlServer,
    ControlSession,
    EdgeRecord,
    NodeRecord,
    SubnetRecord,
    disconnect,
    dump_connections,
    dump_edges,
    dump_nodes,
    dump_subnets,
    format_log_record,
    make_cookie,
    node_id,
    purge,
)
from tinca.core.counters import Counters
from tinca.core.errors import ConfigError
from tinca.core.graph import OPTION_INDIRECT, Edge, Graph
from tinca.core.logs import NOTICE, level_for
from tinca.core.node.protocol import ProtocolSettings
from tinca.core.node.state import Peer
from tinca.core.pidfile import PidfileInfo, read_pid, read_pidfile, write_control_pidfile
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.subnet import Subnet

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "sptps" / "meta.json"
COOKIE = "ab" * 32
OPTIONS = 0x0C  # PMTU discovery and ClampMSS: tinc's defaults


# ---------------------------------------------------------------------------
# a fake node


class FakeLink:
    def __init__(self, name: str | None, address: tuple[str, str], *, active: bool = True,
                 pinged: bool = False, mst: bool = False, fd: int = 7,
                 sockname: tuple[str, int] = ("192.0.2.1", 40000)) -> None:
        self.name = name
        self.address = address
        self.active = active
        self.options = OPTIONS if active else 0
        self.pinged = pinged
        self.mst = mst
        self.fd = fd
        self.local_address = (sockname[0], str(sockname[1]))
        # a tinc 1.0 meta connection: its stream is encrypted with METAKEY's ciphers
        self.session = SimpleNamespace(status_bits=CONNECTION_ENCRYPTOUT | CONNECTION_DECRYPTIN)
        self.closed_with: bool | None = None

    def fileno(self) -> int:
        return self.fd

    def close(self, report: bool) -> None:
        self.closed_with = report


class FakeConfig:
    def __init__(self, addresses: dict[str, list[str]]) -> None:
        self.addresses = addresses

    def host(self, name: str) -> SimpleNamespace:
        if name not in self.addresses:
            raise ConfigError(f"no host file for {name}")
        return SimpleNamespace(get_all=lambda variable: self.addresses[name])


def sealer(cipher: int = 427, digest: int = 672, mac: int = 4, compression: int = 0) -> object:
    fields = (cipher, digest, mac, compression)
    return SimpleNamespace(key_fields=lambda: fields)


def fake_runtime(*, settings: ProtocolSettings | None = None) -> SimpleNamespace:
    """alpha (us) -- beta -- gamma (indirect), delta known but unreachable.

    beta has keys both ways and a confirmed UDP path; alpha and gamma own
    subnets; delta owns one too and announced an edge to echo.
    """
    graph = Graph("alpha", OPTIONS)
    both = [("alpha", "beta", ("192.0.2.2", "655"), OPTIONS, 10),
            ("beta", "alpha", ("192.0.2.1", "655"), OPTIONS, 10),
            ("beta", "gamma", ("192.0.2.3", "655"), OPTIONS | OPTION_INDIRECT, 20),
            ("gamma", "beta", ("192.0.2.2", "655"), OPTIONS, 20),
            ("delta", "echo", None, 0, 5)]
    for f, t, address, options, weight in both:
        graph.add_edge(Edge(f, t, address, options, weight))
    update = graph.compute()
    peers: dict[str, Peer] = {}
    for name, route in update.routes.items():
        if name == "alpha":
            continue
        peer = peers[name] = Peer(name)
        peer.reachable = route.reachable
        peer.nexthop, peer.via, peer.options = route.nexthop, route.via, route.options
        if route.address is not None:
            peer.udp_address = (route.address[0], int(route.address[1]))
    beta = peers["beta"]
    beta.sealer = sealer()  # type: ignore[assignment]
    beta.opener = object()  # type: ignore[assignment]
    beta.mtu_strategy = SimpleNamespace(  # type: ignore[assignment]
        node_mtu=1459, minmtu=1459, maxmtu=1459, udp_limit=1459, rtt=0.001234,
        udp_confirmed=True)
    beta.stats = {"in": 12, "out": 34}
    peers["gamma"].last_req_key = 95.0  # asked 5 s ago: still waiting
    subnets = SubnetTable(graph.reachable)
    subnets.add("alpha", Subnet.parse("198.18.0.1/32"))
    subnets.add("gamma", Subnet.parse("198.18.3.0/24#5"))
    subnets.add("delta", Subnet.parse("2001:db8::/32"))
    links = [FakeLink("beta", ("192.0.2.2", "655"), mst=True, fd=9),
             FakeLink(None, ("198.51.100.7", "40001"), active=False, fd=11)]
    beta.link = links[0]  # type: ignore[assignment]
    sent: list[str] = []
    nonces = iter(range(0x100, 0x1000))
    protocol = SimpleNamespace(
        peers=peers, links=links, settings=settings or ProtocolSettings(),
        broadcast=lambda request: sent.append(request.format()),
        nonce=lambda: next(nonces),
    )
    return SimpleNamespace(
        myself="alpha", port="655", options=OPTIONS, graph=graph, subnets=subnets,
        protocol=protocol, clock=lambda: 100.0, sent=sent, counters=Counters("alpha", peers),
        config=FakeConfig({"alpha": [], "beta": ["192.0.2.2"], "gamma": []}),
    )


class FakeTarget:
    def __init__(self, node: object = None, reload_ok: bool = True) -> None:
        self.node = node
        self.debug = 2
        self.reload_ok = reload_ok
        self.calls: list[str] = []

    def control_stop(self) -> None:
        self.calls.append("stop")

    def control_reload(self) -> bool:
        self.calls.append("reload")
        return self.reload_ok

    def control_retry(self) -> None:
        self.calls.append("retry")

    def control_set_debug(self, level: int) -> None:
        self.calls.append(f"debug {level}")
        self.debug = level


def session(target: FakeTarget | None = None, **kwargs: object) -> ControlSession:
    target = target or FakeTarget(fake_runtime())
    return ControlSession(cookie=COOKIE, myself="alpha", pid=4321,
                          handler=ControlHandler(target), **kwargs)  # type: ignore[arg-type]


def authed(target: FakeTarget | None = None, **kwargs: object) -> ControlSession:
    s = session(target, **kwargs)
    s.receive_data(f"0 ^{COOKIE} 0\n".encode())
    assert s.data_to_send() == b"0 alpha 17.7\n4 0 4321\n"
    return s


def ask(s: ControlSession, line: str) -> list[str]:
    s.receive_data(line.encode() + b"\n")
    return s.data_to_send().decode().splitlines()


# ---------------------------------------------------------------------------
# identities


def test_node_ids_are_those_tinc_11_puts_in_its_udp_packets() -> None:
    capture = json.loads(VECTORS.read_text())
    for name, expected in capture["node_ids"].items():
        assert node_id(name) == expected
    # the source id of every UDP payload alpha sent, as it went over the wire
    from_alpha = [u for u in capture["udp"] if u["dir"] == "alpha2beta"]
    assert from_alpha
    for payload in from_alpha:
        assert bytes.fromhex(payload["hex"])[6:12].hex() == node_id("alpha")


def test_cookie_is_64_hex_digits_of_the_random_source() -> None:
    assert make_cookie(lambda n: bytes(range(n))) == bytes(range(32)).hex()
    assert len(make_cookie()) == 64


# ---------------------------------------------------------------------------
# the session: authentication and framing


def test_greeting_after_the_right_cookie() -> None:
    s = session()
    s.receive_data(b"0 ^" + COOKIE.encode())
    assert s.data_to_send() == b""  # no newline yet
    s.receive_data(b" 0\n")
    assert s.data_to_send() == b"0 alpha 17.7\n4 0 4321\n"
    assert s.authenticated and not s.closed


@pytest.mark.parametrize("first", [
    f"0 ^{'cd' * 32} 0",  # wrong cookie
    f"0 ^{COOKIE[:-1]} 0",  # one digit short
    "0 beta 17.7",  # a node's ID: no meta connections on this socket
    "18 3",  # a request before the ID
    "hello",  # not a request at all
    "0",  # ID without a name
])
def test_anything_but_the_cookie_ends_the_connection(first: str) -> None:
    s = session()
    s.receive_data(first.encode() + b"\n18 3\n")
    assert s.closed and not s.authenticated
    assert s.data_to_send() == b""


def test_only_control_requests_after_authentication() -> None:
    s = authed()
    s.receive_data(b"8\n")  # PING
    assert s.closed and s.data_to_send() == b""


def test_overlong_line_ends_the_connection() -> None:
    s = authed()
    s.receive_data(b"18 3 " + b"x" * 5000)
    assert s.closed


def test_requests_split_and_batched_in_any_way() -> None:
    s = authed()
    for byte in b"18 10\n18 10\r\n":
        s.receive_data(bytes([byte]))
    assert s.data_to_send() == b"18 10 0\n18 10 0\n"


def test_unknown_and_unhandled_types_get_invalid() -> None:
    s = authed()
    # 2 (RESTART), 7 (DUMP_GRAPH) and 11 (CONNECT) have no handler in tinc 1.1 either
    for rtype in (2, 7, 11, 14, 99, -3):
        assert ask(s, f"18 {rtype}") == ["18 -1"]
    assert not s.closed


# ---------------------------------------------------------------------------
# commands


def test_stop_retry_and_reload_reach_the_daemon() -> None:
    target = FakeTarget(fake_runtime())
    s = authed(target)
    assert ask(s, "18 0") == ["18 0 0"]
    assert ask(s, "18 10") == ["18 10 0"]
    assert ask(s, "18 1") == ["18 1 0"]
    target.reload_ok = False
    assert ask(s, "18 1") == ["18 1 22"]  # EINVAL, as reload_configuration
    assert target.calls == ["stop", "retry", "reload", "reload"]


def test_set_debug_answers_the_old_level_and_negative_only_asks() -> None:
    target = FakeTarget(fake_runtime())
    s = authed(target)
    assert ask(s, "18 9 5") == ["18 9 2"]
    assert ask(s, "18 9 -1") == ["18 9 5"]
    assert target.calls == ["debug 5"] and target.debug == 5
    s.receive_data(b"18 9\n")  # no level: tinc drops the connection
    assert s.closed


def test_disconnect_closes_every_connection_with_that_name() -> None:
    runtime = fake_runtime()
    s = authed(FakeTarget(runtime))
    assert ask(s, "18 12 beta") == ["18 12 0"]
    assert runtime.protocol.links[0].closed_with is True  # active: DEL_EDGE follows
    assert ask(s, "18 12 zeta") == ["18 12 -2"]
    assert ask(s, "18 12") == ["18 12 -1"]


def test_disconnect_of_a_connection_still_authenticating_reports_nothing() -> None:
    runtime = fake_runtime()
    runtime.protocol.links[1].name = "zeta"
    assert disconnect(runtime, "zeta")  # type: ignore[arg-type]
    assert runtime.protocol.links[1].closed_with is False


# ---------------------------------------------------------------------------
# dumps


def test_dump_nodes_lines() -> None:
    s = authed(FakeTarget(fake_runtime()))
    lines = ask(s, "18 3")
    aid, bid, did, eid, gid = (node_id(n) for n in ("alpha", "beta", "delta", "echo", "gamma"))
    assert lines == [
        f"18 3 alpha {aid} MYSELF port 655 0 0 0 0 c 18 alpha alpha 0 1518 0 1518 0 -1 0 0 0 0",
        f"18 3 beta {bid} 192.0.2.2 port 655 427 672 4 0 c c9a beta beta 1 1459 1459 1459 0 "
        "1234 12 0 34 0",
        f"18 3 delta {did} unknown port unknown 0 0 0 0 0 20 - - -1 1518 0 1518 0 -1 0 0 0 0",
        f"18 3 echo {eid} unknown port unknown 0 0 0 0 0 20 - - -1 1518 0 1518 0 -1 0 0 0 0",
        f"18 3 gamma {gid} 192.0.2.3 port 655 0 0 0 0 d 3c beta beta 2 1518 0 1518 0 -1 "
        "0 0 0 0",
        "18 3",
    ]


def test_node_status_bits() -> None:
    records = {r.name: r for r in dump_nodes(fake_runtime())}  # type: ignore[arg-type]
    # visited + reachable; beta adds validkey, udp_confirmed, validkey_in, has_address
    assert records["alpha"].status == 0x18
    assert records["beta"].status == 0x02 | 0x08 | 0x10 | 0x80 | 0x400 | 0x800
    # gamma: reachable through beta's indirect edge, and a REQ_KEY is pending
    assert records["gamma"].status == 0x04 | 0x08 | 0x10 | 0x20
    assert records["gamma"].via == "beta"
    assert records["delta"].status == 0x20  # unreachable: tinc's BFS marks it indirect


def test_dump_nodes_shows_when_a_node_changed_state() -> None:
    records = dump_nodes(fake_runtime(), {"beta": 1764300000.7})  # type: ignore[arg-type]
    assert records[1].last_state_change == 1764300000


def test_dump_edges_in_node_then_target_order_with_our_local_addresses() -> None:
    lines = [r.reply() for r in dump_edges(fake_runtime())]  # type: ignore[arg-type]
    assert lines == [
        "18 4 alpha beta 192.0.2.2 port 655 192.0.2.1 port 655 c 10",
        "18 4 beta alpha 192.0.2.1 port 655 unspec port unspec c 10",
        "18 4 beta gamma 192.0.2.3 port 655 unspec port unspec d 20",
        "18 4 delta echo unknown port unknown unspec port unspec 0 5",
        "18 4 gamma beta 192.0.2.2 port 655 unspec port unspec c 20",
    ]


def test_dump_subnets_in_tree_order_as_tinc_11_prints_them() -> None:
    lines = [r.reply() for r in dump_subnets(fake_runtime())]  # type: ignore[arg-type]
    assert lines == [
        "18 5 198.18.0.1 alpha",  # /32 left out, default weight too
        "18 5 198.18.3.0/24#5 gamma",
        "18 5 2001:db8::/32 delta",
    ]


def test_dump_connections_meta_then_control() -> None:
    runtime = fake_runtime()
    runtime.protocol.links[0].pinged = True
    control = authed(fileno=13)
    control.receive_data(b"18 15 3 1\n")
    lines = [r.reply() for r in dump_connections(runtime, [control])]  # type: ignore[arg-type]
    assert lines == [
        "18 6 beta 192.0.2.2 port 655 c 9 1c1",  # pinged, encrypted both ways, in the MST
        "18 6 <unknown> 198.51.100.7 port 40001 0 11 0",
        "18 6 <control> localhost port unix 0 13 1a00",  # control, log, log colour
    ]


def test_an_sptps_meta_connection_has_no_legacy_cipher_bits() -> None:
    # tinc 1.1 sets encryptout/decryptin only for legacy connections.
    runtime = fake_runtime()
    runtime.protocol.links[0].session = SimpleNamespace(status_bits=0)
    (first, *_) = [r.reply() for r in dump_connections(runtime, [])]  # type: ignore[arg-type]
    assert first == "18 6 beta 192.0.2.2 port 655 c 9 100"  # in the MST only


def test_dumps_without_a_node_are_empty() -> None:
    s = authed(FakeTarget(None))
    for rtype in (3, 4, 5, 6, 13):
        assert ask(s, f"18 {rtype}") == [f"18 {rtype}"]


# ---------------------------------------------------------------------------
# purge


def test_purge_forgets_unreachable_nodes_nobody_points_to() -> None:
    runtime = fake_runtime()
    forgotten = purge(runtime)  # type: ignore[arg-type]
    # delta's edge to echo and its subnet are withdrawn; delta goes, and echo
    # goes too once nothing points to it
    assert runtime.sent == [
        "11 100 delta 2001:db8:0:0:0:0:0:0/32#10",
        "13 101 delta echo",
    ]
    assert forgotten == ["delta", "echo"]
    assert "delta" not in runtime.graph and "delta" not in runtime.protocol.peers
    assert runtime.subnets.subnets_of("delta") == []
    assert runtime.graph.nodes() == ["alpha", "beta", "gamma"]


def test_purge_keeps_a_node_an_edge_still_points_to() -> None:
    runtime = fake_runtime()
    runtime.graph.add_edge(Edge("gamma", "delta", ("192.0.2.4", "655"), OPTIONS, 5))
    runtime.graph.compute()
    purge(runtime)  # type: ignore[arg-type]
    assert "delta" in runtime.graph and "echo" not in runtime.graph


def test_purge_with_strict_subnets_keeps_nodes_that_own_subnets() -> None:
    runtime = fake_runtime(settings=ProtocolSettings(strictsubnets=True, tunnelserver=True))
    purge(runtime)  # type: ignore[arg-type]
    assert runtime.sent == ["11 100 delta 2001:db8:0:0:0:0:0:0/32#10"]  # no DEL_EDGE
    assert "delta" in runtime.graph and runtime.subnets.subnets_of("delta")
    assert "echo" not in runtime.graph


# ---------------------------------------------------------------------------
# records: the daemon's lines read back


@given(
    name=st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True),
    numbers=st.lists(st.integers(0, 2**31 - 1), min_size=17, max_size=17),
    rtt=st.integers(-1, 10**7),
)
def test_node_records_round_trip(name: str, numbers: list[int], rtt: int) -> None:
    n = numbers
    record = NodeRecord(name, node_id(name), "192.0.2.9", "655", n[0], n[1], n[2], n[3], n[4],
                        n[5], "-", name, n[6], n[7], n[8], n[9], n[10], rtt, *n[11:15])
    assert NodeRecord.parse(record.reply()) == record


def test_other_records_round_trip() -> None:
    edge = EdgeRecord("a", "b", "2001:db8::1", "655", "unspec", "unspec", 0x0D, 42)
    assert EdgeRecord.parse(edge.reply()) == edge
    subnet = SubnetRecord("198.18.0.0/16#3", "a")
    assert SubnetRecord.parse(subnet.reply()) == subnet
    connection = ConnectionRecord("a", "192.0.2.1", "655", 0x0C, 5, 0x1C0)
    assert ConnectionRecord.parse(connection.reply()) == connection


@pytest.mark.parametrize("line", [
    "18 4 a b 192.0.2.1 port 655 unspec port unspec c 1",  # an edge, not a node
    "18 3 a 0 192.0.2.1 655 0 0 0 0 c 18 a a 0 1518 0 1518 0 -1 0 0 0 0",  # no "port"
    "18 3 a 0 h port 6 x 0 0 0 c 18 a a 0 1518 0 1518 0 -1 0 0 0 0",  # cipher not a number
    "18 3 a 0 h port 6 0 0 0 0 zz 18 a a 0 1518 0 1518 0 -1 0 0 0 0",  # options not hex
    "18 3 a 0 h port 6 0 0 0 0 c 18 a a 0 1518 0 1518 0 -1 0 0 0",  # a field short
])
def test_bad_node_lines_are_refused(line: str) -> None:
    with pytest.raises(ControlError):
        NodeRecord.parse(line)


# ---------------------------------------------------------------------------
# what the client prints


def beta_record(**changes: object) -> NodeRecord:
    base = NodeRecord.parse(dump_nodes(fake_runtime())[1].reply())  # type: ignore[arg-type]
    return NodeRecord(**{**base.__dict__, **changes})


def test_dump_nodes_printed_as_tincctl_prints() -> None:
    assert cc.format_node(beta_record()) == (
        f"beta id {node_id('beta')} at 192.0.2.2 port 655 cipher 427 digest 672 maclength 4 "
        "compression 0 options c status 0c9a nexthop beta via beta distance 1 "
        "pmtu 1459 (min 1459 max 1459) rx 12 0 tx 34 0 rtt 1.234"
    )
    assert cc.format_node(beta_record(udp_ping_rtt=-1, pmtu=70000)).endswith(
        "pmtu 4464 (min 1459 max 1459) rx 12 0 tx 34 0"  # %hd, as tincctl reads it
    )


def test_edges_subnets_and_connections_printed_as_tincctl_prints() -> None:
    edge = EdgeRecord("a", "b", "192.0.2.2", "655", "unspec", "unspec", 0xD, 7)
    assert cc.format_edge(edge) == (
        "a to b at 192.0.2.2 port 655 local unspec port unspec options d weight 7"
    )
    assert cc.format_subnet(SubnetRecord("198.18.0.0/16#10", "a")) == "198.18.0.0/16 owner a"
    assert cc.format_subnet(SubnetRecord("198.18.0.0/16#5", "a")) == "198.18.0.0/16#5 owner a"
    connection = ConnectionRecord("<control>", "localhost", "unix", 0, 12, 0x200)
    assert cc.format_connection(connection) == (
        "<control> at localhost port unix options 0 socket 12 status 200"
    )


# tincctl's `1.0f + 65536.0f / (float)weight` printed with %f, from gcc
EDGE_LENGTHS = {1: "65537.000000", 3: "21846.333984", 5: "13108.200195", 7: "9363.286133",
                10: "6554.600098", 20: "3277.800049", 100: "656.359985", 1000: "66.536003",
                12345: "6.308708", 100000: "1.655360"}


def test_graph_is_tincctl_dot_text() -> None:
    nodes = [NodeRecord.parse(r.reply()) for r in dump_nodes(fake_runtime())]  # type: ignore[arg-type]
    edges = [EdgeRecord.parse(r.reply()) for r in dump_edges(fake_runtime())]  # type: ignore[arg-type]
    assert cc.graph_lines(nodes, edges) == [
        "graph {",
        ' "alpha" [label = "alpha", color = "green", style = "filled"];',
        ' "beta" [label = "beta", color = "green"];',  # key and UDP
        ' "delta" [label = "delta", color = "red"];',
        ' "echo" [label = "echo", color = "red"];',
        ' "gamma" [label = "gamma", color = "orange"];',  # via beta
        f' "beta" -- "alpha" [w = {EDGE_LENGTHS[10]}, weight = {EDGE_LENGTHS[10]}];',
        f' "gamma" -- "beta" [w = {EDGE_LENGTHS[20]}, weight = {EDGE_LENGTHS[20]}];',
        "}",
    ]
    directed = cc.graph_lines(nodes, edges, directed=True)
    assert directed[0] == "digraph {" and len(directed) == 1 + 5 + 5 + 1
    length = EDGE_LENGTHS[5]
    assert f' "delta" -> "echo" [w = {length}, weight = {length}];' in directed


@pytest.mark.parametrize(("weight", "text"), sorted(EDGE_LENGTHS.items()))
def test_edge_lengths_are_c_floats(weight: int, text: str) -> None:
    edge = EdgeRecord("b", "a", "h", "1", "h", "1", 0, weight)
    assert cc.graph_lines([], [edge])[1] == f' "b" -- "a" [w = {text}, weight = {text}];'


def test_info_node_text() -> None:
    record = beta_record(last_state_change=0)
    assert NodeInfo(record, ["alpha", "gamma"], ["198.18.0.2#10"]).lines() == [
        "Node:         beta",
        f"Node ID:      {node_id('beta')}",
        "Address:      192.0.2.2 port 655",
        "Online since: never",
        "Status:       validkey visited reachable udp_confirmed",
        "Options:      pmtu_discovery clamp_mss",
        "Protocol:     17.0",
        "Reachability: directly with UDP",
        "PMTU:         1459",
        "RTT:          1.234",
        "RX:           12 packets  0 bytes",
        "TX:           34 packets  0 bytes",
        "Edges:        alpha gamma",
        "Subnets:      198.18.0.2",
    ]


@pytest.mark.parametrize(("changes", "reachability"), [
    ({"host": "MYSELF"}, "can reach itself"),
    ({"status": 0x20}, "unreachable"),
    ({"via": "gamma"}, "indirectly via gamma"),
    ({"status": 0x18}, "unknown"),
    ({"minmtu": 0}, "directly with TCP"),
    ({"minmtu": 0, "nexthop": "gamma"}, "none, forwarded via gamma"),
])
def test_info_node_reachability(changes: dict[str, object], reachability: str) -> None:
    lines = NodeInfo(beta_record(**changes), [], []).lines()
    assert f"Reachability: {reachability}" in lines
    assert ("PMTU:         1459" in lines) == (reachability == "directly with UDP")
    assert lines[3].startswith("Last seen:" if reachability == "unreachable" else "Online since:")


def test_info_subnet_matches_addresses_subnets_and_weights() -> None:
    records = [SubnetRecord("198.18.0.0/16", "a"), SubnetRecord("198.18.3.0/24#5", "b"),
               SubnetRecord("198.18.3.7", "c"), SubnetRecord("2001:db8::/32", "d"),
               SubnetRecord("00:16:3e:00:00:01", "e")]

    def owners(item: str) -> list[str]:
        return [r.owner for r in cc.matching_subnets(item, records)]

    assert owners("198.18.3.7") == ["a", "b", "c"]  # an address: every subnet holding it
    assert owners("198.18.3.0/24") == ["b"]  # a subnet: the same network and length
    assert owners("198.18.3.0/24#10") == []  # with a weight: that weight only
    assert owners("2001:db8::5") == ["d"]
    assert owners("00:16:3e:00:00:01") == ["e"]
    with pytest.raises(ControlClientError, match="Could not parse"):
        cc.matching_subnets("198.18.300.1", records)
    assert [cc.classify_info_item(i) for i in ("beta", "198.18.0.1", "fe80::1", "a-b")] == [
        "node", "subnet", "subnet", "invalid"]


# ---------------------------------------------------------------------------
# log records


def record(level: int, message: str, *args: object) -> logging.LogRecord:
    made = logging.LogRecord("tinca", level, __file__, 1, message, args, None)
    made.created = time.mktime((2026, 11, 28, 3, 30, 0, 0, 0, -1))
    return made


def test_log_records_read_as_tinc_streams_them() -> None:
    assert format_log_record(record(NOTICE, "Ready")) == b"2026-11-28 03:30:00 NOTICE  Ready"
    assert format_log_record(record(logging.ERROR, "bad %s", "x")).startswith(
        b"2026-11-28 03:30:00 ERROR   bad x")
    assert b" INFO    " in format_log_record(record(level_for(1), "Connection"))
    assert b" DEBUG   " in format_log_record(record(level_for(5), "packet"))
    colored = format_log_record(record(logging.WARNING, "hm"), color=True)
    assert colored == b"\x1b[90m2026-11-28 03:30:00 \x1b[33;1mWARNING\x1b[0m hm"
    assert len(format_log_record(record(NOTICE, "x" * 5000))) == MAX_LOG_TEXT


def test_log_subscription_and_framing() -> None:
    changes: list[int] = []
    s = authed(on_log_change=lambda: changes.append(1))
    s.receive_data(b"18 15 5 0\n")
    assert s.log_level == 5 and not s.log_color and changes == [1]
    assert s.status == CONNECTION_CONTROL | CONNECTION_LOG
    assert s.wants_log(5, 0) and not s.wants_log(6, 0)
    s.send_log(b"hello")
    assert s.data_to_send() == b"18 15 5\nhello"
    s.receive_data(b"18 15 99\n")
    assert s.log_level == 10  # clamped, as tinc clamps to DEBUG_SCARY_THINGS
    s.receive_data(b"18 15\n")  # no level: 0
    assert s.log_level == 0
    s.receive_data(b"18 15 -7\n")
    assert s.log_level == DEBUG_UNSET
    assert s.wants_log(3, 3) and not s.wants_log(4, 3)  # the daemon's level


# ---------------------------------------------------------------------------
# the pidfile


def test_pidfile_with_cookie(tmp_path: Path) -> None:
    path = tmp_path / "tinc.pid"
    path.write_text("77\n")  # what tincad writes before the control socket is up
    assert read_pidfile(path) is None and read_pid(path) == 77
    write_control_pidfile(path, PidfileInfo(77, COOKIE, "127.0.0.1", "655"))
    assert path.read_text() == f"77 {COOKIE} 127.0.0.1 port 655\n"
    assert path.stat().st_mode & 0o777 == 0o600  # the cookie is a credential
    assert read_pidfile(path) == PidfileInfo(77, COOKIE, "127.0.0.1", "655")
    assert read_pid(path) == 77
    assert list(tmp_path.iterdir()) == [path]


# ---------------------------------------------------------------------------
# the asyncio server and the blocking client, over a real UNIX socket


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, with its level and handler levels put back afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, [(h, h.level) for h in root.handlers]
    yield root
    root.setLevel(level)
    for handler, old in handlers:
        handler.setLevel(old)


class Served:
    """A ControlServer on its own event loop thread, with its pidfile."""

    def __init__(self, tmp_path: Path, target: FakeTarget) -> None:
        self.pidfile = tmp_path / "c.pid"
        self.socket = tmp_path / "c.socket"
        self.server = ControlServer(self.socket, target, pid=os.getpid())
        self.server.bind()
        write_control_pidfile(self.pidfile, PidfileInfo(os.getpid(), self.server.cookie,
                                                        "127.0.0.1", "655"))
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(5)

    def connect(self) -> ControlClient:
        return ControlClient.connect(self.pidfile, self.socket, timeout=5)

    def close(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            await asyncio.sleep(0.05)  # let closing transports finish
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path, root_logger: logging.Logger) -> Iterator[Served]:
    target = FakeTarget(fake_runtime())
    server = Served(tmp_path, target)
    root_logger.addHandler(server.server.log_handler)
    try:
        yield server
    finally:
        root_logger.removeHandler(server.server.log_handler)
        server.close()


def test_client_and_server_talk_over_the_socket(served: Served) -> None:
    assert served.socket.stat().st_mode & 0o777 == 0o700  # its owner only, as tinc binds it
    with served.connect() as client:
        assert client.pid == os.getpid() and client.name == "alpha"
        records = cc.parse_dump(ControlRequest.DUMP_NODES,
                                client.dump(ControlRequest.DUMP_NODES))
        assert [r.name for r in records] == ["alpha", "beta", "delta", "echo", "gamma"]
        info = cc.info_node(client, "gamma")
        assert info.edges_to == ["beta"] and info.subnets == ["198.18.3.0/24#5"]
        with pytest.raises(ControlClientError, match="Unknown node zeta"):
            cc.info_node(client, "zeta")
        assert cc.info_subnet(client, "198.18.3.9") == ["Subnet: 198.18.3.0/24#5",
                                                        "Owner:  gamma"]
        connections = cc.parse_dump(ControlRequest.DUMP_CONNECTIONS,
                                    client.dump(ControlRequest.DUMP_CONNECTIONS))
        assert connections[-1].name == "<control>"
        assert client.command(ControlRequest.RETRY) == 0


def test_log_records_reach_a_subscribed_client(served: Served, root_logger: logging.Logger) -> None:
    root_logger.setLevel(level_for(0))
    with served.connect() as client:
        client.request(ControlRequest.LOG, 5, 0)
        deadline = time.monotonic() + 5
        while not any(s.log_level == 5 for s in served.server.sessions()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # the root logger now lets debug level 5 through, other handlers do not
        assert root_logger.level == level_for(5)
        others = [h for h in root_logger.handlers if not isinstance(h, ControlLogHandler)]
        assert all(h.level == level_for(2) for h in others)
        logging.getLogger("tinca.test").log(level_for(6), "too deep")
        logging.getLogger("tinca.test").log(level_for(5), "traffic %d", 42)
        header = client.recv_line()
        assert header is not None
        words = header.split()
        assert words[:2] == ["18", "15"]
        text = client.recv_data(int(words[2]))
        assert text is not None and text.endswith(b"DEBUG   traffic 42")
    deadline = time.monotonic() + 5
    while root_logger.level != level_for(2):  # the client left: back to the daemon's level
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_wrong_cookie_is_refused_by_the_server(served: Served) -> None:
    served.pidfile.write_text(f"{os.getpid()} {'00' * 32} 127.0.0.1 port 655\n")
    with pytest.raises(ControlClientError, match="Cannot read greeting"):
        served.connect()


def test_client_explains_a_missing_plain_or_stale_pidfile(tmp_path: Path) -> None:
    pidfile, sock = tmp_path / "x.pid", tmp_path / "x.socket"
    with pytest.raises(ControlClientError, match=f"Could not open pid file {pidfile}"):
        ControlClient.connect(pidfile, sock)
    pidfile.write_text(f"{os.getpid()}\n")
    with pytest.raises(ControlClientError, match="no control cookie"):
        ControlClient.connect(pidfile, sock)
    gone = subprocess.Popen(["true"])
    gone.wait()
    pidfile.write_text(f"{gone.pid} {COOKIE} 127.0.0.1 port 655\n")
    sock.write_text("")
    with pytest.raises(ControlClientError, match=f"Could not find tincd running at pid {gone.pid}"):
        ControlClient.connect(pidfile, sock)
    assert not pidfile.exists() and not sock.exists()  # stale files cleaned up, as tinc does


def test_a_second_server_on_a_live_socket_is_refused(served: Served) -> None:
    from tinca.core.errors import TincaError

    with pytest.raises(TincaError, match="still in use"):
        ControlServer(served.socket, FakeTarget()).bind()


def test_a_client_that_never_authenticates_is_dropped(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tinca.core.control.server.AUTH_TIMEOUT", 0.2)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(served.socket))
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed without a word
        assert time.monotonic() - started < 4
