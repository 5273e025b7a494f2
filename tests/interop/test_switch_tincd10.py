"""Switch mode on tap devices with real tincd 1.0.36 (acceptance c).

One tinca and two tincd nodes on one underlay switch, in ``Mode = switch``
with tap interfaces addressed from 198.18.0.0/24. Each node's kernel must
resolve the others' addresses with ARP over the VPN (broadcasts flooded
along the spanning tree, replies routed by learned MAC addresses), and every
pair pings, in all six directions.

Two meta topologies: a star with tinca at its centre (the tincd nodes only
know tinca, so tinca forwards every broadcast between them and learns and
announces MAC addresses for everyone), and a triangle (each node connects to
the next; the spanning tree leaves one connection out of broadcasts).
"""

from __future__ import annotations

import itertools
import re

import pytest

from tests import netns
from tests.interop.mesh import Node, build, logs, make_nodes, ping_until, start_all

netns_lab = netns.netns_lab

TOPOLOGIES = {
    # name -> who connects to whom (alpha is tinca)
    "tinca-centre": {"beta": ["alpha"], "gamma": ["alpha"]},
    "triangle": {"alpha": ["beta"], "beta": ["gamma"], "gamma": ["alpha"]},
}


def neighbour_mac(ns: netns.Namespace, address: str) -> str | None:
    """The MAC address ``ns`` resolved for ``address`` on tap0, if any."""
    text = ns.ip("neigh", "show", address, "dev", "tap0").stdout
    found = re.search(r"lladdr ([0-9a-f:]{17})", text)
    return found.group(1) if found else None


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
    wanted = {n.name for n in nodes[1:]} if topology == "tinca-centre" else {"beta", "gamma"}
    for name in wanted:
        alpha.process.wait_for(f"Connection with {name} ", timeout=30)

    # The first ping of each pair also waits for the graph to settle.
    pairs: list[tuple[Node, Node]] = list(itertools.permutations(nodes, 2))
    for source, target in pairs:
        assert ping_until(source.ns, target.overlay, 20), (
            f"{source.name} -> {target.name}\n{logs(nodes)}")
    for source, target in pairs:
        result = source.ns.ping(target.overlay, count=3)
        assert result.received == 3, f"{source.name} -> {target.name}\n{result.output}"
        # ARP over the VPN found the target's real tap address.
        assert neighbour_mac(source.ns, target.overlay) == own_mac(target.ns), (
            f"{source.name} -> {target.name}")
