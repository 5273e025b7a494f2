"""The written contracts between the core and plugin-built objects hold.

The core may use on an object a plugin built only what that object's public
type declares (the ABCs and Protocols in ``core/mtu.py``, ``core/device.py``,
``core/suite.py``, ``core/discovery.py`` and ``core/node/state.py``). Two
checks keep it so:

* no ``getattr``/``hasattr`` in the core, the way an undeclared member slips
  in ("use it if the plugin happens to have it"), but for the few listed in
  :data:`ALLOWED` with their reasons;
* every in-tree plugin object has every member its contract declares, and
  the contract documents each, so a member the core relies on cannot be
  missing from a default plugin or a mystery to a plugin author.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import os
import textwrap
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest

import tinca.core
from tinca.core.config.loader import load_configuration
from tinca.core.device import Device, DeviceRequest
from tinca.core.errors import ConfigError
from tinca.core.graph import Graph
from tinca.core.keys import KeygenRequest
from tinca.core.meta.requests import PROT_MINOR_11, AnsKey
from tinca.core.mtu import MTUSettings, MTUStrategy
from tinca.core.node.link import MetaConnection
from tinca.core.node.protocol import MetaProtocol, ProtocolSettings
from tinca.core.node.state import Link, Peer
from tinca.core.path import PeerPath
from tinca.core.peer_paths import PathServices, PeerPaths
from tinca.core.plugin_manager import PluginManager
from tinca.core.route.subnet_table import SubnetTable
from tinca.core.suite import (
    CipherSuite,
    MetaParams,
    MetaSession,
    PacketOpener,
    PacketSealer,
    SuiteContext,
    SuiteError,
)
from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys
from tinca.plugins.ciphers.sptps.ed25519_keys import generate_ed25519_keys

CORE = Path(tinca.core.__file__).resolve().parent

# ---------------------------------------------------------------------------
# (a) no attribute look-ups by name in the core

#: ``(module glob under core/, call as written)`` -> why it is not a read of
#: an undeclared member of a plugin object
ALLOWED: dict[tuple[str, str], str] = {
    ("meta/*.py", "getattr(self, name)"):
        "formats the fields of core's own request dataclasses by their names",
}


def _hook_relay(call: ast.Call) -> bool:
    """``getattr(<manager>.hook, NAME)``: pluggy's hook relay, looked up by a
    hook name the core holds (the relay declares every hook spec)."""
    return bool(call.args) and isinstance(call.args[0], ast.Attribute) \
        and call.args[0].attr == "hook"


@dataclass(frozen=True)
class Lookup:
    """One ``getattr``/``hasattr`` call in a core module."""

    module: str
    line: int
    source: str

    def __str__(self) -> str:
        return f"core/{self.module}:{self.line}: {self.source}"


def attribute_lookups(root: Path) -> Iterator[Lookup]:
    """Every call of ``getattr`` or ``hasattr`` in the modules under ``root``."""
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        calls = [node for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                 and node.func.id in ("getattr", "hasattr")]
        for call in sorted(calls, key=lambda call: (call.lineno, call.col_offset)):
            yield Lookup(module, call.lineno, ast.unparse(call))


def allowed(lookup: Lookup) -> bool:
    """Whether ``lookup`` is in :data:`ALLOWED` or a pluggy hook relay."""
    if any(fnmatch(lookup.module, glob) and lookup.source == source
           for glob, source in ALLOWED):
        return True
    parsed = ast.parse(lookup.source, mode="eval").body
    return isinstance(parsed, ast.Call) and _hook_relay(parsed)


def test_core_reads_no_member_by_name() -> None:
    found = [str(lookup) for lookup in attribute_lookups(CORE) if not allowed(lookup)]
    assert not found, (
        "core reads attributes by name; declare them on the contract type "
        "(core/mtu.py, device.py, suite.py, discovery.py, node/state.py) and "
        "read them directly:\n" + "\n".join(found)
    )


def test_the_scan_sees_what_it_must_refuse(tmp_path: Path) -> None:
    # The shapes of the look-ups this change removed, in a fake core tree.
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "channel_path.py").write_text(textwrap.dedent("""
        confirmed = bool(getattr(peer.mtu_strategy, "udp_confirmed", True))
        if hasattr(strategy, "key_lost"):
            strategy.key_lost()
        caller = getattr(self.pm.hook, hook_name)
    """))
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "requests.py").write_text("value = getattr(self, name)\n")
    refused = [lookup.line for lookup in attribute_lookups(tmp_path) if not allowed(lookup)]
    assert refused == [2, 3]


def test_every_allowance_is_still_needed() -> None:
    # An allowance whose call is gone is dead weight: drop it.
    used = {(glob, source) for glob, source in ALLOWED
            for lookup in attribute_lookups(CORE)
            if fnmatch(lookup.module, glob) and lookup.source == source}
    assert used == set(ALLOWED)


# ---------------------------------------------------------------------------
# (b) the in-tree plugin objects fulfil their contracts

_NOT_MEMBERS = {"__init__"}


def declared_members(contract: type) -> dict[str, str]:
    """The public members ``contract`` declares (its own and its bases'),
    each with how it is declared: ``"data"`` or ``"callable"``."""
    members: dict[str, str] = {}
    for klass in reversed(contract.__mro__):
        if klass.__module__ in ("builtins", "typing", "abc"):
            continue
        for name in inspect.get_annotations(klass):
            if not name.startswith("_"):
                members[name] = "data"
        for name, value in vars(klass).items():
            if name.startswith("_") or name in _NOT_MEMBERS:
                continue
            members[name] = "callable" if callable(value) or isinstance(value, property) \
                else "data"
    return members


def missing_members(contract: type, obj: object) -> list[str]:
    """The members of ``contract`` that ``obj`` does not have."""
    return sorted(name for name in declared_members(contract) if not hasattr(obj, name))


CONTRACTS: tuple[type, ...] = (
    MTUStrategy, Device, MetaSession, PacketSealer, PacketOpener, CipherSuite, Link,
    PeerPath, PeerPaths, PathServices,
)


def _documented(contract: type, name: str) -> bool:
    """A member has a docstring, a ``#:`` comment above it, or a mention as
    ``name`` in the class docstring (for data members)."""
    value = contract.__dict__.get(name)
    if value is not None and (callable(value) or isinstance(value, property)):
        return bool(inspect.getdoc(value))
    if f"``{name}``" in (contract.__doc__ or ""):
        return True
    lines, _ = inspect.getsourcelines(contract)
    for before, line in itertools.pairwise(lines):
        stripped = line.strip()
        if stripped.startswith((f"{name}:", f"{name} =")):
            return before.strip().startswith("#:")
    return False


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
def test_every_contract_member_is_documented(contract: type) -> None:
    own = [name for name in declared_members(contract) if name in contract.__dict__
           or name in inspect.get_annotations(contract)]
    undocumented = [name for name in own if not _documented(contract, name)]
    assert not undocumented, f"{contract.__name__} leaves undocumented: {undocumented}"


def test_suite_errors_declare_their_reason() -> None:
    # The node keys its rate-limited log lines on it.
    assert "reason" in declared_members(SuiteError)
    assert SuiteError("x").reason is None


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    return PluginManager()


def _entries(manager: PluginManager, hook: str) -> list[tuple[str, object]]:
    return [(entry.name, entry.value) for entry in manager.registry(hook).entries()]


def test_every_in_tree_mtu_strategy_is_a_complete_mtu_strategy(manager: PluginManager) -> None:
    strategies = _entries(manager, "tinca_register_mtu_strategies")
    assert strategies
    for name, factory in strategies:
        strategy = factory(MTUSettings(peer=name))  # type: ignore[operator]
        assert isinstance(strategy, MTUStrategy), name
        assert missing_members(MTUStrategy, strategy) == [], name


def test_every_in_tree_device_is_a_complete_device(manager: PluginManager) -> None:
    devices = _entries(manager, "tinca_register_device_types")
    assert devices
    for name, factory in devices:
        device = factory(DeviceRequest(None, "tun"))  # type: ignore[operator]
        assert isinstance(device, Device), name
        assert missing_members(Device, device) == [], name


def _keys(base: Path, name: str) -> None:
    (base / "hosts").mkdir(parents=True)
    generate_ed25519_keys(KeygenRequest(confbase=base, name=name))
    generate_rsa_keys(KeygenRequest(confbase=base, name=name, bits=1024))


@pytest.fixture(scope="module")
def confbase(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alpha's configuration: both kinds of keys, and beta's host file with
    both of beta's public keys."""
    base = tmp_path_factory.mktemp("contracts")
    alpha, beta = base / "alpha", base / "beta"
    _keys(alpha, "alpha")
    _keys(beta, "beta")
    (alpha / "hosts" / "beta").write_text((beta / "hosts" / "beta").read_text())
    (alpha / "tinc.conf").write_text("Name = alpha\nDeviceType = dummy\n")
    return alpha


def _no_compression(level: int) -> object | None:
    if level:
        raise ConfigError(f"Compression = {level}: no codec here")
    return None


def _suites(manager: PluginManager, confbase: Path) -> list[tuple[str, object]]:
    config = load_configuration(confbase, manager.variables)
    context = SuiteContext(config, "alpha", os.urandom, lambda: 0.0, _no_compression,
                           manager.registry)
    return [(name, factory(context))  # type: ignore[operator]
            for name, factory in _entries(manager, "tinca_register_cipher_suites")]


def _params(outgoing: bool) -> MetaParams:
    return MetaParams("alpha", outgoing, "beta" if outgoing else None, "655", 0xC, lambda: 0.0)


def in_tree_objects(manager: PluginManager, confbase: Path) -> Iterator[tuple[type, str, object]]:
    """``(contract, what, object)`` for every object the in-tree suites build."""
    from tinca.plugins.ciphers.sptps.suite import SptpsSuite

    for name, suite in _suites(manager, confbase):
        yield CipherSuite, name, suite
        cipher_suite = typing.cast(CipherSuite, suite)
        for outgoing in (True, False):
            yield MetaSession, f"{name} meta session", cipher_suite.meta_session(_params(outgoing))
        offer, opener = cipher_suite.answer_key_request("beta")
        yield PacketOpener, f"{name} opener", opener
        answer = AnsKey("beta", "alpha", offer.key, offer.cipher, offer.digest,
                        offer.mac_length, offer.compression)
        yield PacketSealer, f"{name} sealer", cipher_suite.accept_key_answer("beta", answer)
        protocol = _protocol(cipher_suite)
        yield PathServices, f"{name} node services", protocol.services
        yield PeerPaths, f"{name} paths", protocol.paths
        for minor in (0, PROT_MINOR_11):
            # A tinc 1.0 peer and, for suites that have them, a tinc 1.1 one.
            peer = Peer(f"minor{minor}", reachable=True, options=minor << 24)
            yield PeerPath, f"{name} path (minor {minor})", protocol.paths.path_for(peer)
        if isinstance(suite, SptpsSuite):
            # The sessions a negotiating session hands the connection to.
            yield MetaSession, "sptps inner session", suite.sptps_meta_session(_params(True))
            assert suite.legacy is not None
            yield MetaSession, "legacy inner session", suite.legacy.meta_session(_params(True))


def _protocol(suite: CipherSuite) -> MetaProtocol:
    """A node's meta protocol over ``suite``: it builds the suite's paths."""
    graph = Graph("alpha")
    return MetaProtocol(
        myself="alpha", my_options=0xC, settings=ProtocolSettings(), graph=graph,
        subnets=SubnetTable(graph.reachable), suite=suite, clock=lambda: 0.0,
        random=os.urandom, on_lifecycle=lambda event: None, on_graph=lambda update: None,
        on_key=lambda peer: None,
    )


def test_in_tree_suites_build_every_kind_of_object(
    manager: PluginManager, confbase: Path
) -> None:
    kinds = {contract for contract, _, _ in in_tree_objects(manager, confbase)}
    assert kinds == {CipherSuite, MetaSession, PacketOpener, PacketSealer, PathServices,
                     PeerPaths, PeerPath}


def test_every_in_tree_suite_object_has_every_contract_member(
    manager: PluginManager, confbase: Path
) -> None:
    incomplete = {
        f"{what} ({type(obj).__name__})": missing
        for contract, what, obj in in_tree_objects(manager, confbase)
        if (missing := missing_members(contract, obj))
    }
    assert not incomplete, f"in-tree objects lack contract members: {incomplete}"


class _Owner:
    """Just enough of a node for a :class:`MetaConnection` that never connects."""

    clock = staticmethod(lambda: 0.0)
    protocol = datapath = None

    def link_output(self, link: MetaConnection) -> None: ...

    def link_closed(self, link: MetaConnection) -> None: ...


def test_the_shells_meta_link_is_a_complete_link(manager: PluginManager, confbase: Path) -> None:
    suite = typing.cast(CipherSuite, _suites(manager, confbase)[0][1])
    link = MetaConnection(_Owner(), suite.meta_session(_params(True)),  # type: ignore[arg-type]
                          ("192.0.2.2", "655"))
    assert missing_members(Link, link) == []
    assert link.local_address is None and link.fileno() == -1


def test_a_member_missing_from_a_plugin_object_is_found() -> None:
    class HalfOpener:
        last_inner_length = 0

        def open(self, datagram: bytes) -> bytes:
            return datagram

    assert missing_members(PacketOpener, HalfOpener()) == ["authenticates", "compression"]
