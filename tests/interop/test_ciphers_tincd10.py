"""Packet ciphers, digests and compression against real tincd 1.0.36 (acceptance d).

A tinca node and a tincd node on one switch, with the same packet settings
in both tinc.conf files (in tinc 1.0 the *receiver* picks how packets to it
are protected, and announces it in ANS_KEY, so this covers both directions),
plus one mixed case where each side receives in a different format. Each
case pings both ways, then sends full-size packets: 1400-byte pings both
ways, which must cross as UDP datagrams (the namespace's UDP counters), and
a short iperf3 run.
"""

from __future__ import annotations

import time

import pytest

from tests import netns
from tests.interop.mesh import Node, build, logs, make_nodes, ping_until, udp_counters

netns_lab = netns.netns_lab

BIG = 1400
"""ICMP payload of the full-size pings: a 1442-byte frame inside the VPN."""
BIG_PINGS = 20

CASES = {
    # id -> (settings for tinca, settings for tincd)
    "default": ("", ""),
    "aes128-sha1-mac10": (
        "Cipher = aes-128-cbc\nDigest = sha1\nMACLength = 10",
        "Cipher = aes-128-cbc\nDigest = sha1\nMACLength = 10",
    ),
    "zlib9": ("Compression = 9", "Compression = 9"),
    "lzo11": ("Compression = 11", "Compression = 11"),
    "mixed": (
        "Cipher = aes-128-cbc\nDigest = sha1\nMACLength = 10\nCompression = 9",
        "Cipher = blowfish\nDigest = sha256\nMACLength = 16\nCompression = 11",
    ),
}


def big_pings_over_udp(source: Node, target: Node, timeout: float) -> tuple[int, int, str]:
    """Send bursts of full-size pings until a whole burst crosses by UDP.

    Until tinc's path MTU discovery has seen a probe as large as these
    packets, they travel inside the meta connection; then they must go by
    UDP. Returns the UDP datagrams received and sent in ``source``'s
    namespace during the last burst, and that burst's ping output.
    """
    deadline = time.monotonic() + timeout
    while True:
        before = udp_counters(source.ns)
        result = source.ns.ping(target.overlay, count=BIG_PINGS, interval=0.02, size=BIG)
        after = udp_counters(source.ns)
        received, sent = after[0] - before[0], after[1] - before[1]
        if result.received == BIG_PINGS and received >= BIG_PINGS and sent >= BIG_PINGS:
            return received, sent, result.output
        if time.monotonic() > deadline:
            return received, sent, result.output
        time.sleep(0.5)


@pytest.mark.parametrize("case", list(CASES))
def test_packets_cross_in_every_format(netns_lab: netns.Lab, case: str) -> None:
    pytest.importorskip("lzo") if "11" in CASES[case][1] else None
    alpha, beta = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tincd")])
    alpha.connect_to = ["beta"]
    alpha.conf, beta.conf = CASES[case]
    nodes = [alpha, beta]
    build(netns_lab, nodes)
    beta.start(netns_lab)
    alpha.start(netns_lab)
    assert alpha.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)

    assert ping_until(alpha.ns, beta.overlay, 20), logs(nodes)
    there = alpha.ns.ping(beta.overlay, count=3)
    back = beta.ns.ping(alpha.overlay, count=3)
    assert there.received == 3 and back.received == 3, (
        f"{there.output}\n{back.output}\n{logs(nodes)}")

    for source, target in ((alpha, beta), (beta, alpha)):
        received, sent, output = big_pings_over_udp(source, target, 30)
        assert received >= BIG_PINGS and sent >= BIG_PINGS, (
            f"{source.name} -> {target.name}: {BIG_PINGS} pings of {BIG} bytes, "
            f"UDP in {received}, out {sent}\n{output}\n{logs(nodes)}")

    server = beta.ns.iperf3_server()
    up = alpha.ns.iperf3_client(beta.overlay, seconds=2)
    server.stop()
    assert up > 1e6, f"{up} bit/s\n{logs(nodes)}"
