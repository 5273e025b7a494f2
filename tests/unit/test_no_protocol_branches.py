"""Core holds no branch on, and no constant of, a particular packet protocol.

How a peer's packets travel is its path's business (:mod:`tinca.core.path`,
built by the cipher suite); core calls the path and never asks "is this an
SPTPS peer?" or "is this tinc 1.0?". The scan below fails on any identifier in
``core/`` (a name, an attribute, a function, class, argument or import name)
that names one of the default protocols (``sptps``, ``tinc10``, ``tinc11``,
``legacy``), so a ``peer.sptps`` flag, a ``SPTPS_DATAGRAM_OVERHEAD`` or a
``legacy_probe()`` cannot come back. Comments, docstrings and strings are not
looked at: they may say whose behaviour core follows.

The few names that stay are part of tinc's own vocabulary on the wire or in
its dumps, listed in :data:`ALLOWED` with their reasons.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import tinca.core

CORE = Path(tinca.core.__file__).resolve().parent

PROTOCOL_NAME = re.compile(r"sptps|tinc1[01]|legacy", re.IGNORECASE)
"""What an identifier of protocol-specific code looks like."""

#: ``(module glob under core/, identifier)`` -> why it may stay
ALLOWED: dict[tuple[str, str], str] = {
    ("control/records.py", "NODE_SPTPS"):
        "tinc's node status bit 0x40 as `dump nodes` carries it (a path sets it)",
    ("control/__init__.py", "NODE_SPTPS"): "re-export of the status bit",
    ("cli/control_client.py", "NODE_SPTPS"): "`tinca dump nodes` prints the status bit",
    ("meta/requests.py", "SPTPS_PACKET"): "a request type of the meta protocol's grammar",
    ("meta/requests.py", "SptpsPacket"): "the message class of that request type",
    ("meta/requests.py", "TINC11_REQUESTS"): "the request types tinc 1.1 added to the grammar",
    ("meta/past.py", "AGE_INTERVAL_TINC11"): "tinc 1.1's ageing interval of the flood cache",
    ("hookspecs.py", "tinca_register_legacy_ciphers"): "a public hook's name",
    ("hookspecs.py", "tinca_register_legacy_digests"): "a public hook's name",
}


@dataclass(frozen=True)
class Identifier:
    """One protocol-named identifier in a core module."""

    module: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"core/{self.module}:{self.line}: {self.name}"


def _names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword):
        return [node.arg] if node.arg else []
    if isinstance(node, ast.alias):
        return [node.name, *([node.asname] if node.asname else [])]
    if isinstance(node, ast.ImportFrom):
        return [node.module] if node.module else []
    return []


def protocol_identifiers(root: Path) -> Iterator[Identifier]:
    """Every identifier under ``root`` that names a default protocol."""
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for name in _names(node):
                if PROTOCOL_NAME.search(name):
                    yield Identifier(module, getattr(node, "lineno", 0), name)


def allowed(found: Identifier) -> bool:
    """Whether ``found`` is in :data:`ALLOWED`."""
    return any(fnmatch(found.module, glob) and found.name == name for glob, name in ALLOWED)


def test_core_names_no_packet_protocol() -> None:
    found = sorted({str(i) for i in protocol_identifiers(CORE) if not allowed(i)})
    assert not found, (
        "core names a packet protocol; move the code into the plugin's path "
        "(plugins/ciphers/*/path.py) behind tinca.core.path.PeerPath:\n" + "\n".join(found)
    )


def test_the_scan_sees_what_it_must_refuse(tmp_path: Path) -> None:
    # The shapes this change removed from core, in a fake core tree.
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "datapath.py").write_text(textwrap.dedent('''
        from tinca.core.node.channel_path import SPTPS_DATAGRAM_OVERHEAD
        if peer is not None and peer.sptps:  # a comment naming sptps is fine
            self.receive_channel_datagram(peer, datagram, address)
        def udp_buffer_sizes(config, sptps): ...
        strategy = registry.get("tinc10")
        from tinca.plugins.ciphers.legacy import probes
    '''))
    refused = sorted((i.line, i.name) for i in protocol_identifiers(tmp_path) if not allowed(i))
    assert refused == [
        (2, "SPTPS_DATAGRAM_OVERHEAD"), (3, "sptps"), (5, "sptps"),
        (7, "tinca.plugins.ciphers.legacy"),
    ]


def test_every_allowance_is_still_needed() -> None:
    used = {(glob, name) for glob, name in ALLOWED
            for found in protocol_identifiers(CORE)
            if fnmatch(found.module, glob) and found.name == name}
    assert used == set(ALLOWED)
