"""The node's traffic counters: the live per-peer records the data path adds
to, and the frozen snapshot everyone reads (``dump nodes``, plugins)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from tests.unit.node.fakes import FakeDevice
from tests.unit.node.test_datapath import FakeOpener, FakeSealer, Net, frame, ipv4
from tinca.core.counters import (
    COPY_ATTEMPTS,
    NO_TRAFFIC,
    Counters,
    PeerCounters,
    Traffic,
    _copy,
)
from tinca.core.node.state import Peer


def peers(*names: str) -> dict[str, Peer]:
    return {name: Peer(name) for name in names}


def test_a_snapshot_copies_every_peer_the_device_and_the_drops() -> None:
    table = peers("beta", "gamma")
    device = FakeDevice()
    device.packets_in, device.bytes_in, device.packets_out, device.bytes_out = 3, 300, 4, 400
    counters = Counters("alpha", table, device, {"not IP": 2})
    beta = table["beta"].counters
    beta.in_packets, beta.in_bytes, beta.out_packets, beta.out_bytes = 1, 100, 2, 200
    snap = counters.snapshot()
    assert snap.myself == "alpha"
    assert snap.node == Traffic(3, 300, 4, 400)
    assert snap.peers == {"beta": Traffic(1, 100, 2, 200), "gamma": NO_TRAFFIC}
    assert snap.drops == {"not IP": 2} and snap.dropped == 2
    assert snap.peer("beta") == Traffic(1, 100, 2, 200)
    assert snap.peer("alpha") == snap.node  # our own node is the device's figures
    assert snap.peer("zeta") == NO_TRAFFIC
    assert snap.peer_totals == Traffic(1, 100, 2, 200)


def test_a_snapshot_is_frozen_while_the_live_counters_go_on() -> None:
    table = peers("beta")
    counters = Counters("alpha", table)
    snap = counters.snapshot()
    table["beta"].counters.in_packets += 5
    counters.drops["no route"] = 1
    table["gamma"] = Peer("gamma")
    assert snap.peers == {"beta": NO_TRAFFIC} and snap.drops == {}
    with pytest.raises(TypeError):
        snap.peers["beta"] = NO_TRAFFIC  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.myself = "x"  # type: ignore[misc]
    later = counters.snapshot()
    assert later.peers["beta"].in_packets == 5 and set(later.peers) == {"beta", "gamma"}
    assert later.drops == {"no route": 1}


def test_without_a_device_our_own_node_shows_nothing() -> None:
    assert Counters("alpha", {}).snapshot().node == NO_TRAFFIC


def test_live_counters_are_four_slots_and_nothing_else() -> None:
    live = PeerCounters()
    with pytest.raises(AttributeError):
        live.other = 1  # type: ignore[attr-defined]
    live.out_bytes += 7
    assert live.traffic() == Traffic(0, 0, 0, 7)


def test_the_older_stats_form_reads_and_sets_the_packet_counts() -> None:
    peer = Peer("beta")
    peer.counters.in_packets = 2
    assert peer.stats == {"in": 2, "out": 0}
    peer.stats = {"in": 12, "out": 34}
    assert peer.counters.traffic() == Traffic(12, 0, 34, 0)


def test_a_copy_that_races_an_insert_is_retried() -> None:
    calls = []

    def make() -> dict[str, int]:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("dictionary changed size during iteration")
        return {"ok": 1}

    assert _copy(make) == {"ok": 1} and len(calls) == 3

    def always() -> dict[str, int]:
        raise RuntimeError("dictionary changed size during iteration")

    with pytest.raises(RuntimeError):
        _copy(always)
    assert COPY_ATTEMPTS > 1


def test_snapshots_from_another_thread_while_peers_come_and_go() -> None:
    table: dict[str, Peer] = {}
    counters = Counters("alpha", table)
    stop = threading.Event()
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            while not stop.is_set():
                counters.snapshot()
        except BaseException as err:  # reported below, in the test thread
            errors.append(err)

    thread = threading.Thread(target=scrape)
    thread.start()
    try:
        for round_ in range(3000):
            table[f"n{round_}"] = Peer(f"n{round_}")
            if round_ % 3 == 0:
                table.pop(f"n{round_ // 2}", None)
    finally:
        stop.set()
        thread.join()
    assert errors == []


# -- what the data path counts: tinc 1.1's in/out packets and bytes, no probes


def test_a_packet_to_a_peer_counts_out_whichever_way_it_travels() -> None:
    net = Net()
    packet = ipv4("198.18.0.2")
    net.path.from_device([packet])  # no key yet: over the meta connection
    net.peer.sealer = FakeSealer()  # type: ignore[assignment]
    net.path.from_device([packet])  # by UDP
    assert net.beta.packets == [frame(packet)] and len(net.sent) == 1
    assert net.peer.counters.traffic() == Traffic(0, 0, 2, 2 * len(frame(packet)))


def test_a_packet_from_a_peer_counts_in_by_udp_and_over_tcp() -> None:
    net = Net()
    net.peer.opener = FakeOpener()  # type: ignore[assignment]
    packet = ipv4("198.18.0.1", src="198.18.0.2")
    net.path.receive_datagram(b"S" + frame(packet), ("192.0.2.2", 655))
    net.path.receive_tcp_packet(net.beta, frame(packet))
    assert net.device.written == [packet, packet]
    assert net.peer.counters.traffic() == Traffic(2, 2 * len(frame(packet)), 0, 0)


def test_probes_are_not_counted() -> None:
    net = Net()
    net.peer.opener = FakeOpener()  # type: ignore[assignment]
    net.peer.sealer = FakeSealer()  # type: ignore[assignment]
    probe = bytes(14) + b"\xaa" * 50
    net.path.receive_datagram(b"S" + probe, ("192.0.2.2", 655))
    assert len(net.sent) == 1  # echoed as a reply
    net.path.send_probes(net.peer, [100])
    assert len(net.sent) == 2
    assert net.peer.counters.traffic() == NO_TRAFFIC


def test_drops_are_counted_by_reason_in_the_snapshot() -> None:
    net = Net()
    counters = Counters("alpha", net.h.protocol.peers, net.device, net.path.dropped)
    before = counters.snapshot()
    net.path.from_device([b"\x60"])  # an IPv6 packet of one byte: dropped
    after = counters.snapshot()
    assert before.dropped == 0 and after.dropped == 1
    assert list(after.drops.values()) == [1]
