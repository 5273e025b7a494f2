"""Bad input against a running tinca while it serves a real tincd (acceptance e).

alpha (tinca) and beta (tincd 1.0.36) form a VPN; a third namespace,
mallory, sits on the same underlay switch. While a ping runs from alpha to
beta across the VPN, mallory (and a forger in beta's namespace) throws bad
input at alpha: a peer with no host file, a peer with the wrong key, a
garbage meta line, random UDP bytes, and replayed UDP packets. Each must be
refused and logged once, and the ping must not notice.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time

from cryptography.hazmat.primitives.asymmetric import rsa

from tests import netns
from tests.mesh import build, make_nodes
from tests.netns import Lab, Namespace
from tinca.core.suite import MetaError
from tinca.plugins.ciphers.legacy.meta import LegacyMetaConnection
from tinca.plugins.ciphers.legacy.rsa_keys import load_rsa_public_key

netns_lab = netns.netns_lab


def fresh_key() -> rsa.RSAPrivateKey:
    """An RSA key nobody in the VPN knows."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)

PORT = 655


def handshake(ns: Namespace, target: str, name: str, key, alpha_key) -> str:  # type: ignore[no-untyped-def]
    """Run a legacy handshake as ``name`` against ``target``; how it ended."""
    with ns.entered():
        sock = socket.create_connection((target, PORT), timeout=10)
    conn = LegacyMetaConnection(
        my_name=name,
        my_key=key,
        outgoing=True,
        lookup_public_key=lambda peer: alpha_key,
        my_port=PORT,
        my_options=0,
        clock=time.monotonic,
        random=os.urandom,
        expected_peer="alpha",
    )
    try:
        sock.sendall(conn.initiate())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            data = sock.recv(4096)
            if not data:
                return "closed"
            try:
                events = conn.receive_data(data)
            except MetaError as err:
                return f"our side failed: {err}"
            sock.sendall(conn.data_to_send())
            if events:
                return "authenticated"
        return "timeout"
    except OSError as err:
        return f"socket: {err}"
    finally:
        sock.close()


def forge_udp(ns: Namespace, src: str, dst: str, sport: int, dport: int, payload: bytes) -> None:
    """Send a UDP datagram with any source port, through a raw socket in ``ns``."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )
    with ns.entered():
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        raw.sendto(header + udp, (dst, 0))
    finally:
        raw.close()


def capture_udp(ns: Namespace, src: str, timeout: float = 10) -> bytes:
    """One UDP payload from ``src``:655 seen on ``ns``'s underlay (AF_PACKET)."""
    with ns.entered():
        sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sniffer.bind(("ul0", 0))
    sniffer.settimeout(1)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                packet = sniffer.recv(65535)
            except TimeoutError:
                continue
            if packet[9] != socket.IPPROTO_UDP or socket.inet_ntoa(packet[12:16]) != src:
                continue
            ihl = (packet[0] & 15) * 4
            sport = struct.unpack("!H", packet[ihl : ihl + 2])[0]
            payload = packet[ihl + 8 :]
            if sport == PORT and len(payload) > 80:  # a data packet, not a tiny probe
                return payload
        raise AssertionError(f"no UDP packet from {src} seen")
    finally:
        sniffer.close()


def test_bad_input_is_refused_logged_once_and_the_good_peer_keeps_working(
    netns_lab: Lab,
) -> None:
    alpha, beta, mallory = make_nodes(
        netns_lab, [("alpha", "tinca"), ("beta", "tincd"), ("mallory", "tinca")]
    )
    alpha.connect_to = ["beta"]
    build(netns_lab, [alpha, beta, mallory])
    # gamma is known to alpha, but mallory will use another key for it.
    gamma_host = alpha.confdir / "hosts" / "gamma"
    gamma_host.write_text((mallory.confdir / "hosts" / "mallory").read_text())
    (alpha.confdir / "hosts" / "mallory").unlink()  # mallory itself is unknown to alpha
    beta.start(netns_lab)
    alpha.start(netns_lab)
    assert alpha.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)
    assert alpha.ns.ping(beta.overlay, count=3, wait=2).received >= 1

    pinger = alpha.ns.start(
        ["ping", "-n", "-i", "0.2", "-c", "75", "-W", "1", beta.overlay], label="ping"
    )
    alpha_key = load_rsa_public_key(alpha.confdir / "hosts" / "alpha")

    # A peer with no host file, and a peer with the wrong key.
    assert handshake(mallory.ns, alpha.underlay, "mallory", fresh_key(), alpha_key) != (
        "authenticated"
    )
    assert handshake(mallory.ns, alpha.underlay, "gamma", fresh_key(), alpha_key) != (
        "authenticated"
    )
    # A garbage meta line.
    with mallory.ns.entered():
        garbage = socket.create_connection((alpha.underlay, PORT), timeout=10)
    garbage.sendall(b"GET / HTTP/1.0\r\n\r\n")
    garbage.settimeout(10)
    try:
        while garbage.recv(4096):
            pass
    except OSError:
        pass
    garbage.close()
    # Random bytes on the UDP port, many times.
    with mallory.ns.entered():
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(200):
        udp.sendto(os.urandom(100), (alpha.underlay, PORT))
    udp.close()
    # Replayed UDP packets: a real datagram from beta, sent again many times
    # from beta's own address and port.
    datagram = capture_udp(alpha.ns, beta.underlay)
    for _ in range(50):
        forge_udp(beta.ns, beta.underlay, alpha.underlay, PORT, PORT, datagram)

    assert pinger.wait(timeout=40) == 0, pinger.output()
    received = int(re.search(r"(\d+) received", pinger.output()).group(1))  # type: ignore[union-attr]
    assert received >= 70, pinger.output()
    assert alpha.process.running

    log = alpha.process.output()
    assert log.count("Peer had unknown identity (mallory)") == 1, log
    # A peer with the wrong key cannot read alpha's stream: it gives up, or
    # both wait until alpha's PingTimeout ends the handshake (tincd peers
    # behave the same). Either way alpha says so once, naming the peer, and
    # never activates it.
    gamma = re.findall(r"(Connection closed by|Timeout from) gamma .*during authentication", log)
    assert len(gamma) == 1, log
    assert "Connection with gamma" not in log
    assert len(re.findall(r"Got bad ID from|Bogus data|Unknown request", log)) == 1, log
    assert log.count("from unknown source") == 1, log
    assert log.count("replayed packet") == 1, log
    assert alpha.ns.ping(beta.overlay, count=3).ok
