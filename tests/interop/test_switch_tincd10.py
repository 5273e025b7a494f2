"""Tap devices with real tincd 1.0.36: switch mode (acceptance c), router mode.

One tinca and two tincd nodes on one underlay switch, in ``Mode = switch``
with tap interfaces addressed from 198.18.0.0/24. Each node's kernel must
resolve the others' addresses with ARP over the VPN (broadcasts flooded
along the spanning tree, replies routed by learned MAC addresses), and every
pair pings, in all six directions.

Two meta topologies: a star with tinca at its centre (the tincd nodes only
know tinca, so tinca forwards every broadcast between them and learns and
announces MAC addresses for everyone), and a triangle (each node connects to
the next; the spanning tree leaves one connection out of broadcasts).
tinca's interface changes its MAC address once connected, so the new address
must be learned from traffic and announced live; each tincd's log must show
it was told every other node's MAC address.

Router mode also runs on a tap device, as in tincd: tinca must answer its
kernel's ARP requests and put its interface's MAC address into the frames
it delivers.
"""

from __future__ import annotations

import itertools
import re

import pytest

from tests import netns
from tests.mesh import (
    Node,
    build,
    logs,
    make_nodes,
    ping_both_ways,
    ping_until,
    start_all,
)

netns_lab = netns.netns_lab

TOPOLOGIES = {
    # name -> who connects to whom (alpha is tinca)
    "tinca-centre": {"beta": ["alpha"], "gamma": ["alpha"]},
    "triangle": {"alpha": ["beta"], "beta": ["gamma"], "gamma": ["alpha"]},
}

TINCA_MAC = "02:00:5e:10:00:01"
"""A locally administered MAC address for tinca's tap interface."""


def neighbour_mac(ns: netns.Namespace, address: str) -> str | None:
    """The MAC address ``ns`` resolved for ``address`` on tap0, if any."""
    text = ns.ip("neigh", "show", address, "dev", "tap0").stdout
    found = re.search(r"lladdr ([0-9a-f:]{17})", text)
    return found.group(1) if found else None


def learned_macs(text: str) -> set[tuple[str, str]]:
    """(owner, MAC) of every MAC subnet a tincd log shows it was told about.

    tincd prints MAC addresses without leading zeros; they are normalised to
    the ``ip`` command's two-digit form.
    """
    found = set()
    for owner, mac in re.findall(r"Got ADD_SUBNET from .*: \d+ \S+ (\S+) ([0-9a-fA-F:]+)#", text):
        octets = mac.split(":")
        if len(octets) == 6:
            found.add((owner, ":".join(f"{int(o, 16):02x}" for o in octets)))
    return found


def own_mac(ns: netns.Namespace) -> str:
    """The MAC address of tap0 in ``ns``."""
    text = ns.ip("link", "show", "tap0").stdout
    found = re.search(r"link/ether ([0-9a-f:]{17})", text)
    assert found, text
    return found.group(1)


@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_arp_resolves_and_every_pair_pings(netns_lab: netns.Lab, topology: str) -> None:
    nodes = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tincd"), ("gamma", "tincd")])
    for node in nodes:
        node.connect_to = TOPOLOGIES[topology].get(node.name, [])
    build(netns_lab, nodes, mode="switch")
    start_all(netns_lab, nodes)
    alpha = nodes[0]
    assert alpha.process is not None
    for name in ("beta", "gamma"):
        alpha.process.wait_for(f"Connection with {name} ", timeout=30)
    # tinca's interface gets a new MAC address now that its connections are up,
    # so it must learn it from traffic and announce it to its peers right away
    # (not only in the subnets it sends to a new connection).
    alpha.ns.ip("link", "set", "tap0", "address", TINCA_MAC)

    # The first ping of each pair also waits for the graph to settle.
    pairs: list[tuple[Node, Node]] = list(itertools.permutations(nodes, 2))
    for source, target in pairs:
        assert ping_until(source.ns, target.overlay, 20), (
            f"{source.name} -> {target.name}\n{logs(nodes)}")
    for source, target in pairs:
        result = source.ns.ping(target.overlay, count=3)
        assert result.received == 3, (
            f"{source.name} -> {target.name}\n{result.output}\n{logs(nodes)}")
        # ARP over the VPN found the target's real tap address.
        assert neighbour_mac(source.ns, target.overlay) == own_mac(target.ns), (
            f"{source.name} -> {target.name}\n{logs(nodes)}")
    # Each tincd was told the MAC address of every other node's interface:
    # tinca's new one (learned from its device's traffic and announced at
    # once) and, passed on by whoever is in between, the other tincd's.
    macs = {node.name: own_mac(node.ns) for node in nodes}
    assert macs["alpha"] == TINCA_MAC
    for node in nodes[1:]:
        assert node.process is not None
        told = learned_macs(node.process.output())
        for other in nodes:
            if other is not node:
                assert (other.name, macs[other.name]) in told, (
                    f"{node.name} never got {other.name}'s MAC {macs[other.name]}: {told}\n"
                    f"{logs(nodes)}")


@pytest.mark.parametrize("tincd_layer", ["tun", "tap"])
def test_router_mode_on_a_tap_device(netns_lab: netns.Lab, tincd_layer: str) -> None:
    """``Mode = router`` with ``DeviceType = tap`` on tinca, as tincd allows.

    The peer's packets carry no MAC addresses tinca's kernel would accept, so
    tinca must put its interface's MAC in as destination, and answer its
    kernel's ARP requests for VPN addresses itself (tincd's overwrite_mac).
    """
    alpha, beta = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tincd")])
    alpha.connect_to = ["beta"]
    alpha.layer = "tap"
    beta.layer = tincd_layer
    nodes = [alpha, beta]
    build(netns_lab, nodes)
    start_all(netns_lab, [beta, alpha])
    assert alpha.process is not None
    alpha.process.wait_for("Connection with beta ", timeout=30)

    ping_both_ways(alpha, beta, nodes, count=3, wait=20)
    # The kernel's neighbour entry is the made-up MAC tinca answered with.
    made_up = neighbour_mac(alpha.ns, beta.overlay)
    assert made_up not in (None, own_mac(alpha.ns)), f"{made_up}\n{logs(nodes)}"
