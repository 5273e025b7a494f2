"""SPTPS re-keying under load between tinca nodes (issue 4 d).

Two SPTPS-only tinca nodes run with a short ``KeyExpire``. In tinc 1.1 each
expiry logs "Expiring symmetric keys" and forces a new key exchange on every
reachable node's SPTPS session that has a key (src/net_setup.c
``regenerate_key``, src/protocol_key.c ``send_key_changed``:
``sptps_force_kex``): the session gets fresh keys in place, and packets keep
flowing. While iperf3 pushes a TCP stream through the VPN for longer than
three key lifetimes:

- each node expires its keys at least twice and finishes re-keys with its
  peer;
- the meta connection never drops;
- the stream carries data in every one-second interval, so no re-key
  stalled it (a stall as long as one reconnect would leave empty intervals).

A re-key's handshake records travel in ANS_KEY over TCP while data goes by
UDP, so a datagram sealed with the new key can overtake the record that
switches the receiver to it, and one sealed with the old key can come after
it. tinc 1.1 then fails to decrypt it and starts the whole session over (at
most once per 10 s, src/net_packet.c ``receive_udppacket``). tinca opens
such datagrams with the pending or the previous key where it has one (a
datagram that comes before the peer's SIG cannot be opened yet and is
dropped) and never restarts a session during a re-key, so no "restarting
SPTPS" may appear here.
"""

from __future__ import annotations

import json

from tests import netns
from tests.mesh import ED25519, Node, build, logs, make_nodes
from tests.netns import Lab

netns_lab = netns.netns_lab

KEY_EXPIRE = 6
SECONDS = 20
MIN_BITS = 1e6
"""A stream that carries less than 1 Mbit/s through the VPN is broken, not slow."""


def output(node: Node) -> str:
    assert node.process is not None
    return node.process.output()


def iperf3_intervals(client: Node, server: Node, seconds: int) -> tuple[float, list[float]]:
    """A TCP iperf3 run from ``client`` to ``server``: the receiver's overall
    bits/s and the sender's bits/s in each one-second interval."""
    listener = server.ns.iperf3_server()
    try:
        argv = ["iperf3", "-c", server.overlay, "-t", str(seconds), "-i", "1", "-J"]
        result = client.ns.run(argv, check=False, timeout=seconds + 20)
    finally:
        listener.stop()
    report = json.loads(result.stdout)
    assert "error" not in report, report["error"]
    total = float(report["end"]["sum_received"]["bits_per_second"])
    return total, [float(i["sum"]["bits_per_second"]) for i in report["intervals"]]


def test_sptps_rekeying_under_iperf3_loses_no_connection(netns_lab: Lab) -> None:
    alpha, beta = nodes = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tinca")])
    alpha.connect_to = ["beta"]
    build(netns_lab, nodes, keys=ED25519, common=f"KeyExpire = {KEY_EXPIRE}\nPingTimeout = 2")
    beta.start(netns_lab)
    alpha.start(netns_lab)
    assert alpha.process is not None and beta.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)
    assert alpha.ns.ping(beta.overlay, count=3, wait=2).received >= 1, logs(nodes)
    for node, peer in ((alpha, "beta"), (beta, "alpha")):
        node.process.wait_for(f"SPTPS key exchange with {peer} successful", timeout=10)
    assert "Meta connection with beta uses SPTPS" in output(alpha), output(alpha)
    # Only what the nodes log while the stream runs counts below.
    start = {node.name: len(output(node)) for node in nodes}

    total, intervals = iperf3_intervals(alpha, beta, SECONDS)
    assert total > MIN_BITS, total
    assert len(intervals) >= SECONDS - 1 and min(intervals) > 0, (
        f"an interval without traffic: {[round(bits / 1e6, 1) for bits in intervals]} Mbit/s\n"
        f"{logs(nodes)}")

    for node, peer in ((alpha, "beta"), (beta, "alpha")):
        text = output(node)[start[node.name]:]
        assert text.count("Expiring symmetric keys") >= 2, text
        assert text.count(f"SPTPS re-key with {peer} finished") >= 2, text
        assert "restarting SPTPS" not in text, text
        assert f"Closing connection with {peer}" not in text, text
    whole = output(alpha)
    assert whole.count("Connection with beta") == 1, whole
    assert alpha.ns.ping(beta.overlay, count=3).ok, logs(nodes)
