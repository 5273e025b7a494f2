"""The discovery, cipher suite, packet policy, metrics and CLI samples, end to end.

As in ``test_samples_netns.py``: two tinca nodes on one switch, each started
from a fresh environment with the samples under test installed and nothing
else, the sample selected only through configuration, once in ``tinc.conf``
and once in the TOML form (``tinca config convert``). Traffic crosses, and
the plugin's effect shows where a user would look: the dialling node finds
its peer through the ``addrfile`` source alone; the ``audit`` suite's log
while the peer runs the default suite; ``portfilter`` dropping pings while
TCP crosses, and the node's drop count; the Prometheus exporter's counters
and the ``tinca peers`` table of a running node.
"""

from __future__ import annotations

import re
import sys

import pytest

from tests import netns
from tests.mesh import ED25519, RSA, Node, build, logs, make_nodes, ping_both_ways
from tests.sample_packages import FORMS, SampleInstaller, sample_installer, use_form

__all__ = ["netns_lab", "sample_installer"]

netns_lab = netns.netns_lab


def start(lab: netns.Lab, nodes: list[Node], installer: SampleInstaller, names: tuple[str, ...],
          form: str) -> dict[str, str]:
    """Give every node an environment with exactly the samples ``names``, write
    ``form``, start all in order; returns that environment."""
    env = installer.env(*names)
    for node in nodes:
        node.env = {"PYTHONPATH": env["PYTHONPATH"]}
        use_form(node.confdir, form, env)
    for node in nodes:
        node.start(lab)
    return env


def pair(lab: netns.Lab) -> tuple[Node, Node, list[Node]]:
    """alpha and beta on one switch; alpha dials beta."""
    alpha, beta = make_nodes(lab, [("alpha", "tinca"), ("beta", "tinca")])
    alpha.connect_to = ["beta"]
    return alpha, beta, [alpha, beta]


def running(node: Node) -> netns.Process:
    assert node.process is not None, f"{node.name} is not running"
    return node.process


# ---------------------------------------------------------------------------
# Discovery: tinca-sample-addrfile
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_addrfile_discovery_finds_the_peer_without_address_lines(
    netns_lab: netns.Lab, sample_installer: SampleInstaller, form: str
) -> None:
    alpha, beta, nodes = pair(netns_lab)
    alpha.conf = "Discovery = addrfile\nAddressFile = peers.txt"
    build(netns_lab, nodes)
    # alpha's copy of beta's host file says nothing about where beta is.
    host = alpha.confdir / "hosts" / "beta"
    host.write_text("".join(line for line in host.read_text().splitlines(keepends=True)
                            if not line.startswith("Address")))
    start(netns_lab, [beta, alpha], sample_installer, ("tinca-sample-addrfile",), form)
    running(alpha).wait_for("No address specified for beta", timeout=20)

    # The file appears after the first dial found nothing: the source's push
    # ends the back-off at once (tincd's first retry would be 5 s later).
    (alpha.confdir / "peers.txt").write_text(f"# written by provisioning\nbeta {beta.underlay}\n")
    running(alpha).wait_for(f"addrfile: beta at {beta.underlay} port 655", timeout=10)
    running(alpha).wait_for("New addresses for beta, retrying now", timeout=5)
    running(alpha).wait_for("Connection with beta", timeout=10)
    ping_both_ways(alpha, beta, nodes, count=3)


# ---------------------------------------------------------------------------
# Cipher suite: tinca-sample-audit
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("inner", "form"), [("sptps", "tinc.conf"), ("sptps", "toml"),
                                             ("legacy", "tinc.conf")])
def test_audit_suite_wraps_a_builtin_suite_against_a_default_node(
    netns_lab: netns.Lab, sample_installer: SampleInstaller, inner: str, form: str
) -> None:
    alpha, beta, nodes = pair(netns_lab)
    alpha.conf = f"CipherSuite = audit\nAuditedSuite = {inner}"  # beta runs the default suite
    build(netns_lab, nodes, keys=ED25519 if inner == "sptps" else RSA)
    start(netns_lab, [beta, alpha], sample_installer, ("tinca-sample-audit",), form)
    process = running(alpha)
    process.wait_for(f"audit: running cipher suite {inner}", timeout=5)
    process.wait_for("audit: meta session 1 (outgoing to beta)", timeout=20)
    process.wait_for("audit: beta authenticated", timeout=20)
    process.wait_for("Connection with beta", timeout=20)

    ping_both_ways(alpha, beta, nodes, count=3)
    # The wrapped suite protects the packets: tinc 1.1's channels, or tinc
    # 1.0's packet keys, which pass through the audit suite.
    for node, peer in ((alpha, beta), (beta, alpha)):
        state = node.dump_nodes()[peer.name]
        assert state.sptps == (inner == "sptps") and state.validkey, state.line
    if inner == "legacy":
        process.wait_for("audit: packet key for beta", timeout=5)
        process.wait_for("audit: packet key from beta", timeout=5)
    assert "audit:" not in running(beta).output()


# ---------------------------------------------------------------------------
# Packet policy: tinca-sample-portfilter
# ---------------------------------------------------------------------------

TCP_PORT = 7000
ECHO_SERVER = """
import socket, sys
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
while True:
    conn, _ = server.accept()
    with conn:
        conn.sendall(conn.recv(100).upper())
"""
ECHO_CLIENT = """
import socket, sys, time
deadline = time.monotonic() + 20
while True:
    try:
        with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as conn:
            conn.sendall(b"across the vpn")
            print(conn.recv(100).decode())
            break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.3)
"""


@pytest.mark.parametrize("form", FORMS)
def test_portfilter_policy_drops_pings_and_lets_tcp_cross(
    netns_lab: netns.Lab, sample_installer: SampleInstaller, form: str
) -> None:
    alpha, beta, nodes = pair(netns_lab)
    # two rules, so both forms carry a list of the policy's own typed values
    beta.conf = "PacketPolicy = portfilter\nFilterDrop = icmp\nFilterDrop = udp 9"
    build(netns_lab, nodes)
    start(netns_lab, [beta, alpha], sample_installer, ("tinca-sample-portfilter",), form)
    running(alpha).wait_for("Connection with beta", timeout=20)

    server = beta.ns.start([sys.executable, "-c", ECHO_SERVER, beta.overlay, str(TCP_PORT)],
                           label="echo-server")
    server.wait_for("listening", timeout=10)
    reply = alpha.ns.run([sys.executable, "-c", ECHO_CLIENT, beta.overlay, str(TCP_PORT)])
    assert reply.stdout.strip() == "ACROSS THE VPN", f"{reply.stdout}\n{logs(nodes)}"

    # Pings die at beta both ways: from the VPN, and from beta's own device.
    result = alpha.ns.ping(beta.overlay, count=3, interval=0.2, wait=1)
    assert result.received == 0, f"{result.output}\n{logs(nodes)}"
    result = beta.ns.ping(alpha.overlay, count=2, interval=0.2, wait=1)
    assert result.received == 0, f"{result.output}\n{logs(nodes)}"
    running(beta).wait_for("portfilter: dropping icmp from alpha to beta", timeout=5)
    running(beta).wait_for("portfilter: dropping icmp from beta to alpha", timeout=5)
    beta.stop()
    text = beta.logfiles[-1].read_text()
    found = re.search(r"Dropped packets: .*?(\d+) packet policy portfilter", text)
    assert found and int(found[1]) >= 5, text[-3000:]


# ---------------------------------------------------------------------------
# Metrics and CLI: tinca-sample-prometheus and tinca-sample-peers, one lab
# ---------------------------------------------------------------------------

METRICS_PORT = 9655
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5)" \
        ".read().decode())"


def metric(text: str, name: str, **labels: str) -> int:
    """The value of the sample ``name{labels}`` in Prometheus text ``text``."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\d+)$", text, re.M)
    assert found, f"no {name}{{{wanted}}} in:\n{text}"
    return int(found[1])


def tinca_cli(node: Node, env: dict[str, str], *args: str) -> tuple[int, str]:
    """``tinca -c CONFDIR --pidfile PIDFILE ARGS`` inside ``node``'s namespace,
    with the samples' environment; exit status and everything it printed."""
    argv = ["env", f"PYTHONPATH={env['PYTHONPATH']}", sys.executable, "-m",
            "tinca.core.cli.tinca", "-c", str(node.confdir), f"--pidfile={node.pidfile}", *args]
    result = node.ns.run(argv, check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("form", FORMS)
def test_prometheus_exporter_and_peers_command_show_the_traffic(
    netns_lab: netns.Lab, sample_installer: SampleInstaller, form: str
) -> None:
    alpha, beta, nodes = pair(netns_lab)
    alpha.conf = f"PrometheusListen = 127.0.0.1 {METRICS_PORT}"
    build(netns_lab, nodes)
    names = ("tinca-sample-prometheus", "tinca-sample-peers")
    env = start(netns_lab, [beta, alpha], sample_installer, names, form)
    running(alpha).wait_for(
        f"prometheus: serving metrics of alpha on http://127.0.0.1:{METRICS_PORT}/metrics",
        timeout=20)
    running(alpha).wait_for("Connection with beta", timeout=20)
    count = 5
    ping_both_ways(alpha, beta, nodes, count=count)

    url = f"http://127.0.0.1:{METRICS_PORT}/metrics"
    text = alpha.ns.run([sys.executable, "-c", FETCH, url]).stdout
    for direction in ("in", "out"):
        packets = metric(text, "tinca_peer_packets_total", node="alpha", peer="beta",
                         direction=direction)
        assert packets >= 2 * count, text  # requests one way, replies the other, both ways
        assert metric(text, "tinca_peer_bytes_total", node="alpha", peer="beta",
                      direction=direction) >= packets * 84, text
    assert metric(text, "tinca_peer_packets_total", node="alpha", peer="alpha",
                  direction="in") >= 2 * count, text  # the device's own figures
    # beta has the exporter installed but no PrometheusListen: it serves nothing
    assert beta.ns.run([sys.executable, "-c", FETCH, url], check=False).returncode != 0

    status, out = tinca_cli(alpha, env, "peers")
    assert status == 0, out
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["PEER", "STATE", "ADDRESS"], out
    (row,) = rows
    peer, state, address, path, _pmtu, packets_in, packets_out = row.split()
    assert (peer, state, address) == ("beta", "reachable", f"{beta.underlay}:655"), out
    assert path in ("udp", "tcp") and int(packets_in) >= 2 * count <= int(packets_out), out

    status, out = tinca_cli(alpha, env, "peers", "gamma")
    assert status == 1 and "unknown peer gamma" in out, out

    # tinca_node_down stops the exporter before the daemon exits
    alpha.stop()
    text = alpha.logfiles[-1].read_text()
    assert "prometheus: stopped serving" in text and "Traceback" not in text, text[-3000:]
