"""Each sample package, selected only through config, works end to end in namespaces.

Two tinca nodes on one switch, each started from a fresh environment in
which exactly one sample package is installed; the sample is selected by its
name in the configuration, once in ``tinc.conf`` and once in the TOML form
(``tinca config convert``). Traffic crosses, and the plugin's effect is
visible where a user would look: the ladder strategy's path MTU in ``tinca
dump nodes``, the LZ4 codec's log lines, the pcap device's capture file. The
legacy cipher sample meshes with a real tincd in
``tests/interop/test_plugin_cipher_tincd10.py``; the discovery, cipher
suite, packet policy, metrics and CLI samples run in
``test_samples_netns_slots.py``.
"""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path

import pytest

from tests import netns
from tests.mesh import ED25519, RSA, Node, build, logs, make_nodes, ping_both_ways, udp_counters
from tests.sample_packages import FORMS, SampleInstaller, sample_installer, use_form

__all__ = ["netns_lab", "sample_installer"]

netns_lab = netns.netns_lab


def start(
    lab: netns.Lab, nodes: list[Node], installer: SampleInstaller, name: str, form: str
) -> None:
    """Give every tinca node ``name``'s environment, write ``form``, start all in order."""
    env = installer.env(name)
    for node in nodes:
        node.env = {"PYTHONPATH": env["PYTHONPATH"]}
        use_form(node.confdir, form, env)
    for node in nodes:
        node.start(lab)


@pytest.mark.parametrize("form", FORMS)
def test_ladder_mtu_strategy_sets_the_path_mtu(
    netns_lab: netns.Lab, sample_installer: SampleInstaller, form: str
) -> None:
    alpha, beta = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tinca")])
    alpha.connect_to = ["beta"]
    nodes = [alpha, beta]
    build(netns_lab, nodes, common="MTUStrategy = ladder")
    start(netns_lab, [beta, alpha], sample_installer, "tinca-sample-ladder", form)
    assert alpha.process is not None and beta.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)

    ping_both_ways(alpha, beta, nodes, count=3)
    # With tinc 1.0's packets (aes-256-cbc, 4-byte MAC) on a 1500-byte
    # underlay, 1459-byte frames do not fit in a datagram and 1400 do: the
    # ladder lands on 1400, where tinc's own probing finds about 1451.
    for node, peer in ((alpha, beta), (beta, alpha)):
        assert node.process is not None
        node.process.wait_for(f"ladder: path MTU of {peer.name} is 1400", timeout=30)
    dump = alpha.control("dump", "nodes").splitlines()
    line = next(row for row in dump if row.startswith("beta "))
    assert re.search(r"pmtu 1400 \(min 1400 max 1400\)", line), line

    # Packets up to the rung go by UDP, both ways.
    for source, target in ((alpha, beta), (beta, alpha)):
        before = udp_counters(source.ns)
        result = source.ns.ping(target.overlay, count=10, interval=0.05, size=1300)
        after = udp_counters(source.ns)
        assert result.received == 10, f"{result.output}\n{logs(nodes)}"
        assert after[0] - before[0] >= 10 and after[1] - before[1] >= 10, logs(nodes)


@pytest.mark.parametrize("keys", [ED25519, RSA])
@pytest.mark.parametrize("form", FORMS)
def test_lz4_compression_level_compresses_both_ways(
    netns_lab: netns.Lab, sample_installer: SampleInstaller, form: str, keys: str
) -> None:
    alpha, beta = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tinca")])
    alpha.connect_to = ["beta"]
    nodes = [alpha, beta]
    # Level 12 is LZ4 in tinc 1.1's protocol (SPTPS, Ed25519 keys); between
    # tinca nodes the legacy protocol (RSA keys) takes a registered level too.
    build(netns_lab, nodes, common="Compression = 12", keys=keys)
    start(netns_lab, [beta, alpha], sample_installer, "tinca-sample-lz4", form)
    assert alpha.process is not None and beta.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)

    ping_both_ways(alpha, beta, nodes, count=5)
    for node in nodes:
        assert node.process is not None
        node.process.wait_for("lz4: first packet compressed", timeout=10)
        node.process.wait_for("lz4: first packet decompressed", timeout=10)
    # Large, compressible pings: padding of zeros shrinks under LZ4.
    for source, target in ((alpha, beta), (beta, alpha)):
        result = source.ns.ping(target.overlay, count=5, interval=0.05, size=1200)
        assert result.received == 5, f"{result.output}\n{logs(nodes)}"


LINKTYPE_RAW = 101
ICMP = 1


def pcap_icmp(path: Path) -> list[tuple[str, str, int]]:
    """(source, destination, ICMP type) of every IPv4 ICMP packet in a raw-IP capture."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, linktype) == (0xA1B2C3D4, LINKTYPE_RAW)
    found = []
    offset = 24
    while offset + 16 <= len(data):
        _, _, included, _ = struct.unpack_from("<IIII", data, offset)
        packet = data[offset + 16 : offset + 16 + included]
        offset += 16 + included
        if len(packet) >= 21 and packet[0] >> 4 == 4 and packet[9] == ICMP:
            header = (packet[0] & 15) * 4
            source = ".".join(map(str, packet[12:16]))
            destination = ".".join(map(str, packet[16:20]))
            found.append((source, destination, packet[header]))
    return found


@pytest.mark.parametrize("form", FORMS)
def test_pcap_device_captures_what_crosses(
    netns_lab: netns.Lab, sample_installer: SampleInstaller, form: str
) -> None:
    alpha, beta = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tinca")])
    alpha.connect_to = ["beta"]
    nodes = [alpha, beta]
    capture = netns_lab.workdir / "beta.pcap"
    build(netns_lab, nodes)
    # beta has no kernel interface: its device is the sample's capture file.
    conf = beta.confdir / "tinc.conf"
    text = conf.read_text().replace("DeviceType = tun", "DeviceType = pcap")
    conf.write_text(text + f"Device = {capture}\nPcapSnapLength = 128\n")
    (beta.confdir / "tinc-up").unlink()
    start(netns_lab, [beta, alpha], sample_installer, "tinca-sample-plugin", form)
    assert alpha.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)

    deadline = time.monotonic() + 30
    seen: list[tuple[str, str, int]] = []
    while time.monotonic() < deadline:
        alpha.ns.ping(beta.overlay, count=3, interval=0.2, wait=1)  # no replies: a capture
        seen = pcap_icmp(capture)
        if len([s for s in seen if s == (alpha.overlay, beta.overlay, 8)]) >= 3:
            break
    echo_requests = [s for s in seen if s == (alpha.overlay, beta.overlay, 8)]
    assert len(echo_requests) >= 3, f"{seen}\n{logs(nodes)}"
    assert capture.stat().st_size > 24
