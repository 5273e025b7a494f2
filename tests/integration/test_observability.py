"""Counters, events and plugin commands on two running tinca nodes in namespaces.

alpha and beta (tun devices, one switch) both load a test plugin
(``tests/integration/observe_plugin``) that answers a control request with
the node's counters and adds ``tinca peer-counts``. After pings cross the
VPN, what the plugin command prints is exactly the pings (packets and the
bytes of their Ethernet-framed packets), and agrees with ``tinca dump
nodes`` and ``tinca info``, which print from the same view; a second
reading through the handle ``tinca_metrics_start`` gave the plugin, taken
in another thread, agrees too. The key of each node's peer arrived as a
``tinca_peer_key_changed`` event, and the path MTU discovered as a
``tinca_path_mtu_changed`` one. Run for both protocols: tinc 1.0's (RSA
keys) and tinc 1.1's (SPTPS).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests import netns
from tests.mesh import ED25519, RSA, Node, build, logs, make_nodes, ping_until
from tests.netns import Lab

netns_lab = netns.netns_lab

PLUGIN_DIR = Path(__file__).resolve().parent / "observe_plugin"
PLUGIN = "tinca_test_observe"
PINGS = 10
#: an echo request or reply of ping's default 56 data bytes: 84 bytes of IPv4,
#: counted as tinc counts a packet, with its 14-byte Ethernet header
FRAME_BYTES = 84 + 14


def env() -> dict[str, str]:
    """Where the daemon and ``tinca`` find the test plugin."""
    paths = [str(PLUGIN_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def tinca(node: Node, *args: str) -> str:
    """``tinca -c CONF --pidfile PID ARGS`` inside ``node``'s namespace."""
    assert node.pidfile is not None
    argv = ["env", *(f"{k}={v}" for k, v in env().items()), sys.executable, "-m",
            "tinca.core.cli.tinca", "-c", str(node.confdir), f"--pidfile={node.pidfile}", *args]
    return node.ns.run(argv).stdout


def peer_counts(node: Node, peer: str, source: str = "view") -> tuple[int, int, int, int]:
    """(in packets, in bytes, out packets, out bytes) of ``peer`` as the plugin tells."""
    name, *numbers = tinca(node, "peer-counts", source, peer).split()
    assert name == peer
    a, b, c, d = (int(n) for n in numbers)
    return a, b, c, d


@pytest.mark.parametrize("keys", [RSA, ED25519])
def test_plugin_counters_match_the_pings_and_the_dumps(netns_lab: Lab, keys: str) -> None:
    nodes = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tinca")])
    alpha, beta = nodes
    alpha.connect_to = ["beta"]
    build(netns_lab, nodes, keys=keys, common=f"LoadPlugin = {PLUGIN}")
    for node in nodes:
        # No IPv6 on the tun devices: the kernel's router solicitations would
        # cross the VPN as broadcasts and be counted with the pings.
        for scope in ("all", "default"):
            node.ns.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{scope}.disable_ipv6=1"])
    for node in (beta, alpha):
        node.env = env()
        node.start(netns_lab)
    assert alpha.process is not None and beta.process is not None
    alpha.process.wait_for("observe: metrics for alpha")
    assert ping_until(alpha.ns, beta.overlay, 30), logs(nodes)
    alpha.process.wait_for("observe: key from beta rekey=False", timeout=10)
    beta.process.wait_for("observe: key from alpha rekey=False", timeout=10)

    before = peer_counts(alpha, "beta")
    result = alpha.ns.ping(beta.overlay, count=PINGS)
    assert result.received == PINGS, result.output
    after = peer_counts(alpha, "beta")
    delta = tuple(b - a for a, b in zip(before, after, strict=True))
    assert delta == (PINGS, PINGS * FRAME_BYTES, PINGS, PINGS * FRAME_BYTES), (
        before, after, logs(nodes))
    # beta saw the same packets the other way round
    b_in, b_in_bytes, b_out, b_out_bytes = peer_counts(beta, "alpha")
    assert b_in >= PINGS and b_in_bytes >= PINGS * FRAME_BYTES
    assert b_out >= PINGS and b_out_bytes >= PINGS * FRAME_BYTES

    # One view: the dump, info and the metrics handle (read in another
    # thread) say what the plugin's control request says.
    line = next(x for x in tinca(alpha, "dump", "nodes").splitlines() if x.startswith("beta "))
    found = re.search(r" rx (\d+) (\d+) tx (\d+) (\d+)", line)
    assert found is not None, line
    assert tuple(int(n) for n in found.groups()) == after
    info = tinca(alpha, "info", "beta").splitlines()
    assert f"RX:           {after[0]} packets  {after[1]} bytes" in info
    assert f"TX:           {after[2]} packets  {after[3]} bytes" in info
    assert peer_counts(alpha, "beta", source="scrape") == after

    # the path MTU was discovered, and reported as an event
    alpha.process.wait_for(re.compile(r"observe: mtu of beta None -> \d+"), timeout=30)
    for node in nodes:
        assert node.process is not None
        assert f"plugin {PLUGIN} failed" not in node.process.output(), logs(nodes)
