"""Three nodes in a line with real tincd 1.0.36 (acceptance b).

The two ends have no underlay path to each other: the first end and the
middle share 198.51.100.0/24, the middle and the last end 203.0.113.0/24, and
both ends ConnectTo the middle. Every packet between the ends must therefore
be relayed by the middle node. Two variants: tincd — tinca — tincd (tinca
relays) and tinca — tincd — tinca (tincd relays). The ends ping each other
both ways, and the middle namespace's UDP counters show that a burst of pings
crossed it as UDP datagrams, in and out: the middle node relayed them on the
data path, not inside the meta connections. (In tinc 1.0 an end whose probes
to the other end go unanswered sends its packets by UDP to its next hop, the
middle, which routes them on; that holds for tinca as an end, too.)
"""

from __future__ import annotations

import pytest

from tests import netns
from tests.mesh import build, logs, make_line, start_line_and_ping, udp_counters

netns_lab = netns.netns_lab

RELAYED_PINGS = 100
"""Echo requests sent through the middle to measure what it relays."""


@pytest.mark.parametrize(
    "kinds",
    [("tincd", "tinca", "tincd"), ("tinca", "tincd", "tinca")],
    ids=["tinca-relays", "tincd-relays"],
)
def test_ends_without_a_path_talk_through_the_middle(
    netns_lab: netns.Lab, kinds: tuple[str, str, str]
) -> None:
    nodes = make_line(netns_lab, list(zip(("left", "middle", "right"), kinds, strict=True)))
    left, middle, right = nodes
    build(netns_lab, nodes)
    # The ends really cannot reach each other below the VPN.
    assert not left.ns.ping(right.underlay, count=1, wait=1).ok
    # Ends ping each other both ways and reach the middle.
    start_line_and_ping(netns_lab, nodes)

    before = udp_counters(middle.ns)
    flood = left.ns.ping(right.overlay, count=RELAYED_PINGS, interval=0.01)
    after = udp_counters(middle.ns)
    received, sent = after[0] - before[0], after[1] - before[1]
    assert flood.received >= RELAYED_PINGS * 0.95, flood.output + logs(nodes)
    # Each echo request and each reply came in from one end and went out to
    # the other: at least 2 datagrams in and 2 out per answered ping.
    assert received >= 2 * flood.received and sent >= 2 * flood.received, (
        f"{middle.kind} in the middle: UDP in {received}, out {sent} for "
        f"{flood.received} answered pings\n{logs(nodes)}")
