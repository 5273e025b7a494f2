"""The sans-IO node's decisions, against real :class:`Node` objects and no I/O.

Two or three nodes built from real configuration directories (Ed25519 keys,
the default plugins) are joined in memory: :class:`Mesh` carries each
node's meta bytes to the other end of the connection and hands its UDP
datagrams to the node at their address, aioquic's ``roundtrip`` style. Time
is a number the test moves; every input gets it as ``now``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.node.fakes import FakeDevice
from tests.unit.node.sptps_fakes import (
    ADDRESSES,
    UDP_PORT,
    UNDERLAY,
    KeyMaterial,
    key_material,
    packet,
    write_node,
)
from tinca.core.device import DeviceRequest
from tinca.core.events import HostEvent, NodeEvent, SubnetEvent
from tinca.core.meta import requests as rq
from tinca.core.node.link import MetaConnection
from tinca.core.node.node import PROBE_TICK, TICK, Dial, HookCall, Node
from tinca.core.node.outgoing import BACKOFF_STEP
from tinca.core.stack import build_stack
from tinca.core.subnet import Subnet

START = 1000.0


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyMaterial]:
    scratch = tmp_path_factory.mktemp("keys")
    return {name: key_material(scratch, name, rsa=False) for name in ("alpha", "beta", "gamma")}


def confbase(tmp: Path, keys: dict[str, KeyMaterial], name: str, extra: str = "") -> Path:
    peers = {other: (keys[other], True) for other in keys if other != name}
    base = write_node(tmp / name, keys[name], peers, rsa=False,
                      extra=f"Subnet = {ADDRESSES[name]}/32\n{extra}")
    return base


def make_node(tmp: Path, keys: dict[str, KeyMaterial], name: str, extra: str = "",
              now: float = START, layer: str = "tun") -> Node:
    base = confbase(tmp, keys, name, extra)
    event = NodeEvent(None, name, None, None, 0, str(base))
    device = FakeDevice()
    device.request = DeviceRequest(None, layer)  # type: ignore[arg-type]
    node = Node(build_stack(base), event, device, port=str(UDP_PORT), now=now)
    node.load_own_subnets(now)
    return node


class Mesh:
    """Nodes whose outputs this delivers to each other (see the module docstring)."""

    def __init__(self, *nodes: Node) -> None:
        self.nodes = {node.myself: node for node in nodes}
        self.by_udp = {(UNDERLAY[node.myself], UDP_PORT): node for node in nodes}
        self.now = START
        #: each meta connection's far end: link -> (node, link)
        self.ends: dict[MetaConnection, tuple[Node, MetaConnection]] = {}
        #: what each node asked for besides bytes: name -> dials, hook calls
        self.dials: dict[str, list[Dial]] = {name: [] for name in self.nodes}
        self.hooks: dict[str, list[HookCall]] = {name: [] for name in self.nodes}
        self.lines: list[tuple[str, str]] = []
        self.udp_lost = False

    def start(self) -> None:
        for node in self.nodes.values():
            node.start(self.now)
        self.settle()

    def connect(self, a: str, b: str) -> tuple[MetaConnection, MetaConnection]:
        """``a`` dialled ``b`` and the TCP connection is up."""
        node_a, node_b = self.nodes[a], self.nodes[b]
        link_a = node_a.meta_connected(b, (UNDERLAY[b], str(UDP_PORT)), self.now,
                                       local_address=(UNDERLAY[a], "40000"))
        link_b = node_b.meta_accepted((UNDERLAY[a], "40000"), self.now,
                                      local_address=(UNDERLAY[b], str(UDP_PORT)))
        self.ends[link_a] = (node_b, link_b)
        self.ends[link_b] = (node_a, link_a)
        self.settle()
        return link_a, link_b

    def settle(self, rounds: int = 100) -> None:
        """Deliver every output until the nodes are quiet."""
        for _ in range(rounds):
            moved = False
            for name, node in self.nodes.items():
                self.dials[name] += node.dials_to_start()
                self.hooks[name] += node.hook_calls()
                for link in node.links_to_flush():
                    data = link.take_output()
                    other = self.ends.get(link)
                    if other is None:
                        continue
                    far_node, far_link = other
                    if data:
                        moved = True
                        far_node.receive_meta(far_link, data, self.now)
                    if link.closed and not far_link.closed:
                        moved = True
                        far_node.meta_lost(far_link, self.now)
                for payload, address in node.datagrams_to_send():
                    target = self.by_udp.get(address)
                    if target is not None and not self.udp_lost:
                        moved = True
                        target.receive_datagram(payload, (UNDERLAY[name], UDP_PORT), self.now)
            if not moved:
                return
        raise AssertionError("the nodes did not settle")

    def advance(self, seconds: float, step: float = PROBE_TICK) -> None:
        """Let ``seconds`` pass, running every node's timers when due."""
        end = self.now + seconds
        while True:
            due = [t for node in self.nodes.values() if (t := node.next_timer()) is not None]
            wake = min(due, default=end)
            if wake > end:
                break
            self.now = max(self.now, wake)
            for node in self.nodes.values():
                when = node.next_timer()
                if when is not None and when <= self.now:
                    node.handle_timer(self.now)
            self.settle()
        self.now = end

    def fired(self, name: str) -> list[str]:
        return [call.hook for call in self.hooks[name]]


def active(node: Node, peer: str) -> MetaConnection | None:
    for link in node.protocol.links:
        if isinstance(link, MetaConnection) and link.active and link.name == peer:
            return link
    return None


# ---------------------------------------------------------------------------
# dialling and back-off


def test_start_dials_every_connect_to_peer_in_order(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    alpha = make_node(tmp_path, keys, "alpha", "ConnectTo = gamma\nConnectTo = beta\n"
                                               "ConnectTo = alpha\n")
    alpha.start(START)
    assert alpha.dials_to_start() == [Dial("gamma", True), Dial("beta", True)]
    assert alpha.next_timer() == pytest.approx(START + PROBE_TICK)


def test_failed_rounds_back_off_as_tincd_and_retry_ends_the_wait(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    alpha = make_node(tmp_path, keys, "alpha", "ConnectTo = beta\nMaxTimeout = 12\n")
    alpha.start(START)
    assert alpha.dials_to_start() == [Dial("beta", True)]
    now = START
    for expected in (BACKOFF_STEP, 2 * BACKOFF_STEP, 12, 12):  # capped at MaxTimeout
        alpha.dial_failed("beta", now)
        assert alpha.outgoing["beta"].timeout == expected
        # No dial before the delay is over, one when it is.
        for tick in range(1, expected):
            alpha.handle_timer(now + tick)
            assert alpha.dials_to_start() == []
        now += expected
        alpha.handle_timer(now)
        assert alpha.dials_to_start() == [Dial("beta", True)]
        # ... and no second while that round is still running
        alpha.handle_timer(now + TICK)
        assert alpha.dials_to_start() == []
    alpha.dial_failed("beta", now)
    alpha.retry(now + 1)  # SIGALRM
    alpha.handle_timer(now + 1 + TICK)
    assert alpha.dials_to_start() == [Dial("beta", True)]


def test_a_lost_connection_goes_on_with_the_round_at_once(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    mesh = Mesh(make_node(tmp_path, keys, "alpha", "ConnectTo = beta\n"),
                make_node(tmp_path, keys, "beta"))
    mesh.start()
    assert mesh.dials["alpha"] == [Dial("beta", True)]
    link_a, link_b = mesh.connect("alpha", "beta")
    assert link_a.active and link_b.active
    mesh.nodes["beta"].stop(mesh.now)  # beta goes away
    mesh.settle()
    assert link_a.closed
    assert mesh.dials["alpha"][-1] == Dial("beta", False)


def test_a_second_connection_with_the_same_peer_replaces_the_first(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    mesh = Mesh(make_node(tmp_path, keys, "alpha"), make_node(tmp_path, keys, "beta"))
    mesh.start()
    first_a, first_b = mesh.connect("alpha", "beta")
    second_a, second_b = mesh.connect("beta", "alpha")
    assert first_a.closed and first_b.closed
    assert active(mesh.nodes["alpha"], "beta") is second_b
    assert active(mesh.nodes["beta"], "alpha") is second_a
    assert mesh.nodes["alpha"].protocol.peers["beta"].link is second_b


# ---------------------------------------------------------------------------
# lifecycle events


def test_lifecycle_events_are_translated_in_tincds_order(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    mesh = Mesh(make_node(tmp_path, keys, "alpha"), make_node(tmp_path, keys, "beta"))
    alpha = mesh.nodes["alpha"]
    own = alpha.hook_calls()  # subnet-up of our own subnet, before start
    assert [call.hook for call in own] == ["tinca_subnet_up"]
    own_subnet = Subnet.parse(ADDRESSES["alpha"] + "/32")
    assert own[0].kwargs["event"] == SubnetEvent(alpha.node_event, "alpha", own_subnet.format(),
                                                 10, None, None)
    mesh.start()
    assert mesh.fired("alpha") == ["tinca_metrics_start"]
    mesh.connect("alpha", "beta")
    assert mesh.fired("alpha")[1:] == ["tinca_host_up", "tinca_subnet_up"]
    host_up, subnet_up = mesh.hooks["alpha"][1:]
    assert host_up.kwargs["event"] == HostEvent(alpha.node_event, "beta", UNDERLAY["beta"],
                                                UDP_PORT)
    assert subnet_up.kwargs["event"].subnet == Subnet.parse(ADDRESSES["beta"] + "/32").format()
    assert subnet_up.kwargs["event"].remote_address == UNDERLAY["beta"]
    mesh.hooks["alpha"].clear()
    mesh.nodes["beta"].stop(mesh.now)
    mesh.settle()
    assert mesh.fired("alpha") == ["tinca_host_down", "tinca_subnet_down"]
    alpha.unload_own_subnets(mesh.now)
    assert [call.hook for call in alpha.hook_calls()] == ["tinca_subnet_down"]


# ---------------------------------------------------------------------------
# timers: dead connections, key expiry, probes, MAC expiry


def test_a_silent_peer_is_pinged_after_ping_interval_and_dropped_after_ping_timeout(
    tmp_path: Path, keys  # type: ignore[no-untyped-def]
) -> None:
    settings = "PingInterval = 10\nPingTimeout = 3\n"
    mesh = Mesh(make_node(tmp_path, keys, "alpha", settings), make_node(tmp_path, keys, "beta"))
    mesh.start()
    link_a, _ = mesh.connect("alpha", "beta")
    connected = mesh.now
    # tincd checks every PingTimeout; the first PING goes once PingInterval passed.
    mesh.advance(9.5)
    assert not link_a.pinged
    mesh.advance(3.0)
    assert link_a.last_ping_time > connected  # the PING went and the PONG came
    assert not link_a.closed
    # Now beta stops answering: nothing it sends arrives.
    far = mesh.ends.pop(link_a)
    mesh.advance(10.0 + 3.0 + 3.0)
    assert link_a.pinged
    mesh.advance(3.0)
    assert link_a.closed
    assert far[1].closed is False  # beta never heard (its bytes went nowhere)


def test_a_connection_that_does_not_authenticate_in_ping_timeout_is_closed(
    tmp_path: Path, keys  # type: ignore[no-untyped-def]
) -> None:
    alpha = make_node(tmp_path, keys, "alpha", "PingTimeout = 5\n")
    alpha.start(START)
    link = alpha.meta_accepted(("192.0.2.9", "40000"), START)
    alpha.handle_timer(START + 4.5)
    assert not link.closed
    alpha.handle_timer(START + 5.5)
    assert link.closed
    assert link in alpha.links_to_flush()


def test_keys_expire_after_key_expire(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    settings = "KeyExpire = 20\nPingTimeout = 5\n"
    mesh = Mesh(make_node(tmp_path, keys, "alpha", settings), make_node(tmp_path, keys, "beta"))
    mesh.start()
    link_a, _ = mesh.connect("alpha", "beta")
    sent: list[str] = []
    original = link_a.send_line
    link_a.send_line = lambda line: (sent.append(line), original(line))[1]  # type: ignore[method-assign]
    mesh.advance(14.0)
    assert not [line for line in sent if line.startswith(f"{int(rq.RequestType.KEY_CHANGED)} ")]
    mesh.advance(10.0)
    assert [line for line in sent if line.startswith(f"{int(rq.RequestType.KEY_CHANGED)} ")]


def test_a_new_key_starts_the_peers_probing_on_the_probe_tick(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    mesh = Mesh(make_node(tmp_path, keys, "alpha"), make_node(tmp_path, keys, "beta"))
    mesh.start()
    mesh.connect("alpha", "beta")
    alpha, beta = mesh.nodes["alpha"], mesh.nodes["beta"]
    alpha.receive_device([packet("alpha", "beta")], mesh.now)  # asks beta for its key
    mesh.settle()
    peer = alpha.protocol.peers["beta"]
    assert peer.mtu_strategy is not None
    assert "tinca_peer_key_changed" in mesh.fired("alpha")
    assert alpha.datagrams_to_send() == []  # nothing probes outside the tick
    mesh.udp_lost = True
    alpha.handle_timer(mesh.now + PROBE_TICK)
    assert alpha.datagrams_to_send()  # the strategy's first probes
    mesh.udp_lost = False
    mesh.advance(5.0)
    assert peer.mtu_strategy.udp_confirmed
    assert beta.protocol.peers["alpha"].mtu_strategy is not None
    assert "tinca_peer_path_changed" in mesh.fired("alpha")


def test_learned_macs_expire_in_switch_mode(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    alpha = make_node(tmp_path, keys, "alpha",
                      "Mode = switch\nMACExpire = 30\nPingTimeout = 5\n", layer="tap")
    alpha.start(START)
    mac = bytes.fromhex("020000000001")
    frame = bytes(6) + mac + b"\x08\x00" + bytes(46)
    alpha.receive_device([frame], START)
    learned = Subnet.parse("02:00:00:00:00:01")

    def ours() -> list[Subnet]:
        return list(alpha.subnets.subnets_of("alpha"))

    assert learned in ours()
    alpha.handle_timer(START + 25)
    assert learned in ours()
    for t in range(26, 40):
        alpha.handle_timer(START + t)
    assert learned not in ours()


# ---------------------------------------------------------------------------
# SIGHUP


def test_reload_dials_new_peers_and_stops_re_establishing_removed_ones(
    tmp_path: Path, keys  # type: ignore[no-untyped-def]
) -> None:
    mesh = Mesh(make_node(tmp_path, keys, "alpha", "ConnectTo = beta\n"),
                make_node(tmp_path, keys, "beta"), make_node(tmp_path, keys, "gamma"))
    mesh.start()
    link_a, _ = mesh.connect("alpha", "beta")
    alpha = mesh.nodes["alpha"]
    conf = tmp_path / "alpha" / "tinc.conf"
    conf.write_text(conf.read_text().replace("ConnectTo = beta\n", "ConnectTo = gamma\n"))
    alpha.reconfigure(build_stack(tmp_path / "alpha"), mesh.now)
    mesh.settle()
    assert mesh.dials["alpha"][-1] == Dial("gamma", True)
    assert not link_a.closed  # unaffected connections stay up
    mesh.nodes["beta"].stop(mesh.now)
    mesh.settle()
    assert link_a.closed
    assert mesh.dials["alpha"][-1] == Dial("gamma", True)  # beta is not redialled
    mesh.advance(30.0)
    assert Dial("beta", True) not in mesh.dials["alpha"][1:]


def test_stop_closes_every_connection_and_disarms(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    mesh = Mesh(make_node(tmp_path, keys, "alpha", "ConnectTo = beta\n"),
                make_node(tmp_path, keys, "beta"))
    mesh.start()
    link_a, link_b = mesh.connect("alpha", "beta")
    mesh.nodes["alpha"].stop(mesh.now)
    mesh.settle()
    assert link_a.closed and link_b.closed
    assert mesh.nodes["alpha"].next_timer() is None
    assert mesh.dials["alpha"] == [Dial("beta", True)]  # nothing after stop
