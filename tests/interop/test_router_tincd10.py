"""tinca meshes with Debian's real tincd 1.0.36 in router mode (acceptance a).

Two namespaces on one switch: alpha runs tinca, beta runs tincd. Pings both
ways, iperf3 TCP both ways with the data carried by UDP (the namespace's UDP
counters show it), then tincd is killed and restarted while tinca is left
alone, and traffic recovers.
"""

from __future__ import annotations

import time

from tests import netns
from tests.mesh import build, make_nodes
from tests.netns import Namespace

netns_lab = netns.netns_lab


def udp_in(ns: Namespace) -> int:
    """UDP datagrams received in ``ns`` so far (/proc/net/snmp is per namespace)."""
    lines = ns.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
    names, values = [line.split() for line in lines if line.startswith("Udp:")][:2]
    return int(values[names.index("InDatagrams")])


def ping_until(ns: Namespace, address: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ns.ping(address, count=1, wait=1).ok:
            return True
    return False


def test_tinca_and_tincd_route_both_ways_over_udp(netns_lab: netns.Lab) -> None:
    alpha, beta = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tincd")])
    alpha.connect_to = ["beta"]
    build(netns_lab, [alpha, beta])
    beta.start(netns_lab)
    alpha.start(netns_lab)
    assert alpha.process is not None and beta.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)

    assert ping_until(alpha.ns, beta.overlay, 20), alpha.process.output()
    result = beta.ns.ping(alpha.overlay, count=5)
    assert result.ok and result.received == 5, result.output

    before = udp_in(alpha.ns)
    server = beta.ns.iperf3_server()
    up = alpha.ns.iperf3_client(beta.overlay, seconds=5)
    server.stop()
    server = alpha.ns.iperf3_server()
    down = beta.ns.iperf3_client(alpha.overlay, seconds=5)
    server.stop()
    received = udp_in(alpha.ns) - before
    assert up > 1e6 and down > 1e6, (up, down)
    # 10 s of TCP at > 1 Mbit/s both ways is thousands of packets each way:
    # they came as UDP datagrams, not inside the meta connection.
    assert received > 2000, received

    beta.stop()
    beta.start(netns_lab)
    assert ping_until(alpha.ns, beta.overlay, 60), alpha.process.output()
    assert alpha.process.running
