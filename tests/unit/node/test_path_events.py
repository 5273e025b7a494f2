"""Observability events: a key arriving, the path MTU moving, UDP coming and going.

:class:`~tinca.core.events.PathWatch` decides what is news; the node
queues each as a hook call for its shell to fire, once per change.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import make_net
from tests.unit.node.fakes import FakeDevice
from tests.unit.node.sptps_fakes import UdpState
from tinca.core.events import NodeEvent, PathMTUEvent, PathWatch, PeerKeyEvent, PeerPathEvent
from tinca.core.node.node import Node
from tinca.core.stack import build_stack

NODE = NodeEvent(None, "alpha", None, None, 0, "/etc/tinc")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def runtime(tmp_path: Path) -> tuple[Node, list[tuple[str, object]]]:
    """A real node on a dummy configuration, recording the hooks it fires."""
    confdir = tmp_path / "alpha"
    make_net(confdir, "alpha")
    fired: list[tuple[str, object]] = []

    node = Node(build_stack(confdir), NODE, FakeDevice(), now=Clock()())

    def drain() -> None:
        fired.extend((call.hook, call.kwargs.get("event", call.kwargs))
                     for call in node.hook_calls())

    node.on_output = drain
    return node, fired


def test_the_first_key_and_every_later_one_are_events(tmp_path: Path) -> None:
    node, fired = runtime(tmp_path)
    beta = node.protocol.peer("beta")
    beta.mtu_strategy = UdpState()
    node._key_arrived(beta)
    node._key_arrived(beta)
    keys = [event for hook, event in fired if hook == "tinca_peer_key_changed"]
    assert keys == [PeerKeyEvent(NODE, "beta", rekey=False, channel=False),
                    PeerKeyEvent(NODE, "beta", rekey=True, channel=False)]


def test_mtu_and_udp_changes_fire_once_each_on_the_probe_tick(tmp_path: Path) -> None:
    node, fired = runtime(tmp_path)
    beta = node.protocol.peer("beta")
    beta.reachable = True
    beta.udp_address = ("192.0.2.2", 655)
    strategy = beta.mtu_strategy = UdpState()
    node._run_probes(100.0)
    assert fired == []  # nothing known yet, nothing to tell
    strategy.limit, strategy.confirmed = 1400, True  # a probe reply came in between ticks
    node._run_probes(100.1)
    node._run_probes(100.2)
    assert fired == [
        ("tinca_path_mtu_changed", PathMTUEvent(NODE, "beta", None, 1400, 1400, 1518)),
        ("tinca_peer_path_changed", PeerPathEvent(NODE, "beta", True, ("192.0.2.2", 655))),
    ]
    fired.clear()
    strategy.limit = 1200
    node._run_probes(100.3)
    assert fired == [
        ("tinca_path_mtu_changed", PathMTUEvent(NODE, "beta", 1400, 1200, 1200, 1518)),
    ]
    fired.clear()
    beta.reachable = False  # unreachable: UDP is no longer confirmed
    node._run_probes(100.4)
    assert fired == [
        ("tinca_peer_path_changed", PeerPathEvent(NODE, "beta", False, ("192.0.2.2", 655))),
    ]


def test_the_node_offers_its_counters_when_it_starts(tmp_path: Path) -> None:
    node, fired = runtime(tmp_path)

    node.start(100.0)
    started = [event for hook, event in fired if hook == "tinca_metrics_start"]
    assert started == [{"counters": node.counters, "node": NODE}]
    assert node.counters.snapshot().myself == "alpha"


def test_a_strategy_without_a_udp_flag_counts_as_udp_once_minmtu_is_known() -> None:
    watch = PathWatch(NODE)

    class Peer:
        name = "beta"
        reachable = True
        udp_address = None

        def __init__(self, strategy: UdpState) -> None:
            self.mtu_strategy = strategy

    class NoFlag(UdpState):
        @property
        def udp_confirmed(self) -> bool | None:  # type: ignore[override]
            return None

    strategy = NoFlag()
    assert watch.observe_peers([Peer(strategy)]) == []
    strategy.limit = 1000
    hooks = [hook for hook, _ in watch.observe_peers([Peer(strategy)])]
    assert hooks == ["tinca_path_mtu_changed", "tinca_peer_path_changed"]
