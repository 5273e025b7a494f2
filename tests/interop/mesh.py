"""Build VPNs of tinca and real tincd 1.0.36 nodes inside a netns lab.

Each node gets a namespace, an underlay address, a configuration directory
with keys made by tinca (tincd 1.0.36 loads them, see test_keys_tincd10), a
tun (or tap) device whose tinc-up script gives it its overlay address, and a
host file for every other node. The same files serve both daemons, which is
the point: a tinca node is configured exactly like a tincd one.
"""

from __future__ import annotations

import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.interop.tincd_harness import require_tincd
from tests.netns import Lab, Namespace, Process
from tinca.core.keys import KeygenRequest
from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys

OVERLAY_PREFIX = "198.18.0"


@dataclass
class Node:
    """One VPN node: its kind, namespace, addresses and files."""

    name: str
    kind: str  # "tinca" or "tincd"
    ns: Namespace
    index: int
    connect_to: list[str] = field(default_factory=list)
    conf: str = ""
    host_conf: str = ""
    confdir: Path = Path()
    process: Process | None = None

    @property
    def overlay(self) -> str:
        """Its address inside the VPN."""
        return f"{OVERLAY_PREFIX}.{self.index}"

    @property
    def underlay(self) -> str:
        assert self.ns.address is not None
        return self.ns.address

    def command(self, pidfile: Path) -> list[str]:
        """How to start this node in the foreground at debug level 5."""
        if self.kind == "tincd":
            return [require_tincd(), "-c", str(self.confdir), "-D", "-d5", f"--pidfile={pidfile}"]
        return [
            sys.executable, "-m", "tinca.core.cli.tincad",
            "-c", str(self.confdir), "-D", "-d5", f"--pidfile={pidfile}",
        ]

    def start(self, lab: Lab) -> Process:
        """Start the daemon in its namespace and wait until it is ready."""
        pidfile = lab.workdir / f"{self.name}.pid"
        self.process = self.ns.start(self.command(pidfile), label=f"{self.kind}-{self.name}")
        self.process.wait_for(r"Ready", timeout=20)
        return self.process

    def stop(self) -> None:
        """Stop the daemon (by its pid)."""
        if self.process is not None:
            self.process.stop()
            self.process = None


def write_script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def build(
    lab: Lab,
    nodes: list[Node],
    *,
    mode: str = "router",
    common: str = "",
) -> None:
    """Write every node's configuration directory (keys included)."""
    for node in nodes:
        node.confdir = lab.workdir / f"conf-{node.name}"
        (node.confdir / "hosts").mkdir(parents=True, exist_ok=True)
        layer = "tap" if mode in ("switch", "hub") else "tun"
        lines = [
            f"Name = {node.name}",
            f"Mode = {mode}",
            f"DeviceType = {layer}",
            f"Interface = {layer}0",
            "AddressFamily = ipv4",
            *(f"ConnectTo = {peer}" for peer in node.connect_to),
            common,
            node.conf,
        ]
        (node.confdir / "tinc.conf").write_text("\n".join(x for x in lines if x) + "\n")
        subnet = f"{node.overlay}/32" if mode == "router" else ""
        host_lines = [f"Address = {node.underlay}", "Port = 655"]
        if subnet:
            host_lines.append(f"Subnet = {subnet}")
        if node.host_conf:
            host_lines.append(node.host_conf)
        (node.confdir / "hosts" / node.name).write_text("\n".join(host_lines) + "\n")
        generate_rsa_keys(KeygenRequest(confbase=node.confdir, name=node.name, bits=2048))
        prefix = "16" if mode == "router" else "24"
        write_script(
            node.confdir / "tinc-up",
            f"ip addr add {node.overlay}/{prefix} dev $INTERFACE\nip link set $INTERFACE up\n",
        )
    for node in nodes:
        for other in nodes:
            if other is not node:
                host = other.confdir / "hosts" / other.name
                shutil.copy(host, node.confdir / "hosts" / other.name)


def make_nodes(lab: Lab, specs: list[tuple[str, str]]) -> list[Node]:
    """Namespaces on one switch, one per (name, kind)."""
    spaces = [lab.namespace(name[:12]) for name, _ in specs]
    lab.switch(spaces)
    pairs = zip(specs, spaces, strict=True)
    return [Node(name, kind, ns, i + 1) for i, ((name, kind), ns) in enumerate(pairs)]
