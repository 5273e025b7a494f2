"""The README's demo: a small tinc VPN of tinca nodes and one real tincd.

Run as root from the repository root (``bash demo/run`` installs what it
needs, then runs ``python3 -m demo.mesh``). It builds, in network namespaces
it makes itself, four nodes on one switch (underlay 192.0.2.0/24), router
mode, overlay 198.18.0.0/16::

    alpha (tinca) ---- beta (tinca) ---- gamma (tinca)
      |
    delta (tincd 1.0.36)

Lines are meta connections (ConnectTo). Every node has an RSA key; the tinca
nodes also have Ed25519 keys, so among themselves they speak tinc 1.1's
protocol (SPTPS), and with delta tinc 1.0's, choosing per peer as tinc 1.1
does. gamma and delta never talk to each other over TCP: they learn of each
other through the graph that the meta connections spread, exchange keys
through it, and then send packets to each other directly by UDP, as any tinc
mesh does. The demo pings across the mesh
(tinca→tinca, tinca→tincd, tincd→tinca), runs iperf3 for a few seconds
between two tinca nodes, shows what the nodes logged about each other, and
removes every namespace and process at the end, also on errors, Ctrl-C and
SIGTERM. Without an installed tincd, delta is left out.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.interop.tincd_harness import find_tincd
from tests.mesh import Node, build, make_nodes
from tests.netns import Lab, LabError

NODES = [("alpha", "tinca"), ("beta", "tinca"), ("gamma", "tinca"), ("delta", "tincd")]
CONNECT_TO = {"alpha": ["beta"], "gamma": ["beta"], "delta": ["alpha"]}
PINGS = [("alpha", "beta"), ("gamma", "delta"), ("delta", "gamma"), ("gamma", "alpha")]
START_ORDER = ("beta", "alpha", "gamma", "delta")
"""Nodes that others connect to start first, so first attempts succeed."""
IPERF = ("alpha", "gamma")
VIEW = re.compile(
    r"Connection with .* activated|became (?:un)?reachable|Ready|Meta connection with .* uses"
    r"|SPTPS key exchange with .* successful"
)
"""Log lines of a tinca node worth showing: its meta connections, their
protocols, its per-node SPTPS sessions and its graph."""


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say(f"\n==> {text}")


def ping_until(source: Node, target: Node, timeout: float) -> bool:
    """One ping at a time until a reply comes back (the first packets may
    wait for keys to be exchanged)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if source.ns.ping(target.overlay, count=1, wait=1).ok:
            return True
    return False


def topology(nodes: list[Node]) -> None:
    heading("topology: one switch, router mode")
    say(f"    {'node':<7}{'daemon':<22}{'underlay':<13}{'Subnet':<14}ConnectTo")
    for node in nodes:
        daemon = "tinca (tincad)" if node.kind == "tinca" else "tincd 1.0.36 (Debian)"
        say(
            f"    {node.name:<7}{daemon:<22}{node.underlay:<13}{node.overlay + '/32':<14}"
            f"{', '.join(node.connect_to) or '-'}"
        )


def missing_requirement() -> str | None:
    """Why the demo cannot run here, or ``None`` (``demo/run`` installs it all)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and tun devices)"
    for tool, package in (("ip", "iproute2"), ("ping", "iputils-ping"), ("iperf3", "iperf3")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y {package})"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (modprobe tun)"
    return None


def run(seconds: float) -> int:
    """Build the mesh, show it working, tear it down; returns the exit status."""
    specs = NODES if find_tincd() else [spec for spec in NODES if spec[1] != "tincd"]
    if len(specs) < len(NODES):
        say("tincd is not installed (apt-get install -y tinc): the mesh is tinca only")
    workdir = Path(tempfile.mkdtemp(prefix="tinca-demo-"))
    try:
        with Lab(workdir) as lab:
            nodes = make_nodes(lab, specs)
            by_name = {node.name: node for node in nodes}
            for node in nodes:
                node.connect_to = [p for p in CONNECT_TO.get(node.name, []) if p in by_name]
            heading(
                "writing tinc.conf, hosts/ and keys: RSA for all, Ed25519 too for the tinca "
                "nodes (tinca and tincd read the same files)"
            )
            for node in nodes:
                if node.kind == "tinca":
                    node.keys = "both"
            build(lab, nodes)
            topology(nodes)

            heading("starting the daemons, each in its own namespace (-D -d5)")
            for name in START_ORDER:
                if name in by_name:
                    node = by_name[name]
                    process = node.start(lab)
                    program = "tincad (tinca)" if node.kind == "tinca" else find_tincd()
                    say(f"    {name:<7}pid {process.pid:<8}{program}")
            started = time.monotonic()

            heading("ping across the mesh (overlay addresses, 5 pings each)")
            failed = 0
            for source_name, target_name in PINGS:
                if source_name not in by_name or target_name not in by_name:
                    continue
                source, target = by_name[source_name], by_name[target_name]
                if not ping_until(source, target, 30):
                    say(f"    {source.name} -> {target.name}: no reply within 30 s")
                    failed += 1
                    continue
                result = source.ns.ping(target.overlay, count=5, interval=0.2)
                rtt = re.search(r"= [\d.]+/([\d.]+)/", result.output)
                say(
                    f"    {source.name} ({source.kind}) -> {target.name} ({target.kind}) "
                    f"{target.overlay}: {result.received}/{result.transmitted} replies"
                    + (f", avg {rtt.group(1)} ms" if rtt else "")
                )
                failed += not result.ok

            client, server = by_name[IPERF[0]], by_name[IPERF[1]]
            heading(
                f"iperf3 TCP, {seconds:g} s: {client.name} -> {server.name} "
                f"(both tinca, SPTPS, no meta connection between them)"
            )
            # Until a path MTU is known, large packets go through the meta
            # connections; give the probes a moment to settle.
            time.sleep(max(0.0, 4.0 - (time.monotonic() - started)))
            listener = server.ns.iperf3_server()
            rate = client.ns.iperf3_client(server.overlay, seconds=seconds)
            listener.stop()
            say(f"    {rate / 1e6:.0f} Mbit/s")

            gamma = by_name["gamma"]
            assert gamma.process is not None
            heading("what gamma (tinca) logged about its peers")
            for line in gamma.process.output().splitlines():
                if VIEW.search(line):
                    say(f"    {line}")
            delta = by_name.get("delta")
            if delta is not None and delta.process is not None:
                # tincd names the node a packet came from: the UDP sender, or
                # for a packet relayed inside a meta connection, the neighbour.
                received = re.findall(r"Received packet of \d+ bytes from gamma \(.*?\)",
                                      delta.process.output())
                heading("what delta (tincd) logged about gamma's packets")
                if received:
                    say(f"    {len(received)} x \"{received[-1]}\"")
                    say("    (straight from gamma by UDP: the two have no meta connection)")
                else:
                    say("    no packets from gamma")
            heading("tinca plugins (gamma's plugin stack)")
            plugins = subprocess.run(
                [sys.executable, "-m", "tinca.core.cli.tinca", "-c", str(gamma.confdir), "plugins"],
                capture_output=True, text=True, timeout=30, check=False,
            )
            for line in (plugins.stdout or plugins.stderr).splitlines():
                say(f"    {line}")

            heading("stopping every daemon and removing the namespaces")
        say("==> done" if not failed else f"==> done, {failed} ping check(s) failed")
        return 1 if failed else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python3 -m demo.mesh [--seconds N]``."""
    parser = argparse.ArgumentParser(prog="python3 -m demo.mesh", description="tinca mesh demo")
    parser.add_argument("--seconds", type=float, default=3, help="iperf3 duration")
    args = parser.parse_args(argv)
    problem = missing_requirement()
    if problem:
        say(f"demo: {problem}")
        return 2

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        return run(args.seconds)
    except KeyboardInterrupt:
        say("\n==> interrupted: namespaces and processes removed")
        return 130
    except LabError as err:
        say(f"\n==> the demo failed: {err}\n    namespaces and processes removed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
