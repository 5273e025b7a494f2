"""tinc 1.1's protocol across a tincd 1.0.36 relay (issue 4 c).

A line tinca — tincd — tinca whose ends have no underlay path to each other
(:func:`tests.mesh.make_line`). The tinca ends have both key types;
tincd has RSA only and speaks tinc 1.0's protocol with both. The ends know
each other's Ed25519 keys, so between themselves they run an SPTPS session,
as two tinc 1.1 nodes would:

- the SPTPS handshake rides in REQ_KEY/ANS_KEY, which tincd 1.0 forwards
  verbatim to the destination's next hop (1.0.36 src/protocol_key.c
  ``req_key_h`` and ``ans_key_h`` only parse the two names and the fields
  they need);
- tincd cannot relay SPTPS datagrams (its options carry protocol minor 0),
  so each packet goes over the meta connection as ``REQ_KEY FROM TO 21
  BASE64`` (tinc 1.1 src/net_packet.c ``send_sptps_data``: a relay without
  minor >= 4 cannot relay UDP, a next hop without minor >= 7 gets no binary
  ``SPTPS_PACKET``). tincd at ``-d5`` logs every request it gets with its
  text, which shows those packets crossing it.

Each end's host file carries an ``Ed25519PublicKey`` line that tincd 1.0
reads along with the rest and ignores: 1.0.36 src/conf.c
``parse_config_line`` accepts any variable name, and tincd only looks up
the ones it knows.
"""

from __future__ import annotations

import re

from tests import netns
from tests.mesh import ED25519, RSA, build, logs, make_line, start_line_and_ping

netns_lab = netns.netns_lab

PROTOCOL_MINOR = 7
"""tinc 1.1's protocol minor (src/protocol.h PROT_MINOR), in a peer's option top byte."""
REQ_KEY = 15
SPTPS_PACKET = 21
"""Request numbers (src/protocol.h ``request_t``); 21 also names the REQ_KEY
extension that carries one SPTPS datagram in base64."""


def test_tinca_ends_run_sptps_through_a_tincd_relay(netns_lab: netns.Lab) -> None:
    nodes = make_line(netns_lab, [("left", "tinca"), ("middle", "tincd"), ("right", "tinca")])
    left, middle, right = nodes
    left.keys = right.keys = (RSA, ED25519)
    build(netns_lab, nodes)  # the middle keeps the default: RSA only
    assert not (middle.confdir / "ed25519_key.priv").exists()
    assert "Ed25519PublicKey" not in (middle.confdir / "hosts" / "middle").read_text()
    for end in (left, right):
        assert "Ed25519PublicKey = " in (middle.confdir / "hosts" / end.name).read_text()
    # The ends really cannot reach each other below the VPN.
    assert not left.ns.ping(right.underlay, count=1, wait=1).ok

    # End to end both ways; tinc 1.0's packets between each end and tincd
    # work alongside.
    start_line_and_ping(netns_lab, nodes)
    assert left.process is not None and right.process is not None

    for end, other in ((left, right), (right, left)):
        text = end.process.output() if end.process else ""
        assert "Meta connection with middle uses the legacy protocol" in text, text
        assert f"SPTPS key exchange with {other.name} successful" in text, text
        states = end.dump_nodes()
        far, near = states[other.name], states["middle"]
        assert far.sptps and far.validkey, far.line
        assert far.minor == PROTOCOL_MINOR, far.line
        assert far.nexthop == "middle", far.line
        assert not near.sptps and near.minor == 0, near.line

    # tincd carried the ends' SPTPS datagrams as REQ_KEY requests.
    theirs = middle.process.output()
    for source, target in (("left", "right"), ("right", "left")):
        carried = re.findall(
            rf"Got REQ_KEY from {source} \([^)]*\): {REQ_KEY} {source} {target} {SPTPS_PACKET} ",
            theirs,
        )
        assert len(carried) >= 5, f"{source} -> {target}: {len(carried)}\n{logs(nodes)}"
