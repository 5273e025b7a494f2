"""Re-keying under load with a real tincd (acceptance f).

Both daemons run with a short ``KeyExpire``, so each replaces its packet keys
several times (KEY_CHANGED, fresh ANS_KEY) while iperf3 pushes a TCP stream
through the VPN. The stream must survive every re-key and the meta
connection must never drop.
"""

from __future__ import annotations

from tests import netns
from tests.mesh import build, make_nodes
from tests.netns import Lab

netns_lab = netns.netns_lab

KEY_EXPIRE = 6
SECONDS = 20


def test_rekeying_under_iperf3_loses_no_connection(netns_lab: Lab) -> None:
    alpha, beta = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tincd")])
    alpha.connect_to = ["beta"]
    build(netns_lab, [alpha, beta], common=f"KeyExpire = {KEY_EXPIRE}\nPingTimeout = 2")
    beta.start(netns_lab)
    alpha.start(netns_lab)
    assert alpha.process is not None and beta.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)
    assert alpha.ns.ping(beta.overlay, count=3, wait=2).received >= 1

    server = beta.ns.iperf3_server()
    bits = alpha.ns.iperf3_client(beta.overlay, seconds=SECONDS)  # raises if the stream broke
    server.stop()
    assert bits > 1e6, bits

    ours = alpha.process.output()
    theirs = beta.process.output()
    # Both sides re-keyed more than once while the stream ran ...
    assert ours.count("Expiring symmetric keys") >= 2, ours
    assert theirs.count("Expiring symmetric keys") >= 2, theirs
    assert theirs.count("Got KEY_CHANGED from alpha") >= 2, theirs
    # tinca handed tincd a fresh key after each of its expiries (and at start).
    assert theirs.count("Got ANS_KEY from alpha") >= 3, theirs
    assert ours.count("Got ANS_KEY from beta") >= 3, ours
    # ... and the meta connection never dropped.
    assert "Closing connection with beta" not in ours, ours
    assert ours.count("Connection with beta") == 1, ours
    assert alpha.ns.ping(beta.overlay, count=3).ok
