"""Which cipher suite a node runs, and which MTU strategy its peers get.

``CipherSuite`` in tinc.conf names any registered suite (here a third-party
one loaded with ``LoadPlugin``); unset, the cipher plugins name the default
through ``tinca_default_cipher_suite`` (sptps, or legacy when sptps is
blocked). The suite says which MTU strategy a peer gets unless
``MTUStrategy`` in hosts/PEER or tinc.conf says otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_net
from tinca.core.device import DeviceRequest
from tinca.core.errors import ConfigError
from tinca.core.events import NodeEvent
from tinca.core.keys import KeygenRequest
from tinca.core.meta.requests import with_option_version
from tinca.core.node.node import Node
from tinca.core.node.state import Peer
from tinca.core.stack import Stack, build_stack, cipher_suite
from tinca.plugins.ciphers.legacy.suite import LegacySuite
from tinca.plugins.ciphers.sptps.ed25519_keys import generate_ed25519_keys
from tinca.plugins.ciphers.sptps.suite import SptpsSuite
from tinca.plugins.mtu.fixed import FixedMTU
from tinca.plugins.mtu.tinc10 import Tinc10Probing
from tinca.plugins.mtu.tinc11 import Tinc11Probing

TOY_PLUGIN = '''
"""A third-party cipher suite: records what the node asks of it."""
from tinca.core import hookimpl

BUILT = []


class ToySuite:
    name = "toy"

    def __init__(self, context):
        self.context = context
        self.reconfigured = []
        BUILT.append(self)

    def meta_session(self, params):
        raise NotImplementedError

    def answer_key_request(self, peer):
        raise NotImplementedError

    def accept_key_answer(self, peer, answer):
        raise NotImplementedError

    def peer_paths(self, services):
        from tinca.plugins.ciphers.legacy.path import LegacyPaths
        return LegacyPaths(services)

    def default_mtu_strategy(self, peer_options):
        return "fixed"

    def reconfigure(self, config):
        self.reconfigured.append(config)


@hookimpl
def tinca_register_cipher_suites(register):
    register("toy", ToySuite, doc="test suite")
'''

TOY_DEFAULT = """
from tinca.core import hookimpl


@hookimpl(tryfirst=True)
def tinca_default_cipher_suite(config):
    return "toy"
"""

MINOR_7 = with_option_version(0, 7)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path with the test plugins ``toy_suite`` and ``toy_default``."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "toy_suite.py").write_text(TOY_PLUGIN)
    (mods / "toy_default.py").write_text(TOY_DEFAULT)
    monkeypatch.syspath_prepend(str(mods))
    yield mods
    for name in ("toy_suite", "toy_default"):
        sys.modules.pop(name, None)


def net(base: Path, extra: str = "", *, ed25519: bool = False, host_extra: str = "") -> Path:
    """alpha's configuration with an RSA key (and an Ed25519 one if asked)."""
    make_net(base, "alpha", extra, host_extra)
    if ed25519:
        generate_ed25519_keys(KeygenRequest(confbase=base, name="alpha"))
    return base


def runtime(stack: Stack) -> Node:
    """The node for ``stack``, with a dummy device and no sockets."""
    factory = stack.manager.registry("tinca_register_device_types").get("dummy").value
    device = factory(DeviceRequest(None, "tun"))
    event = NodeEvent(None, "alpha", None, None, 0, str(stack.config.confbase))
    return Node(stack, event, device)


# ---------------------------------------------------------------------------
# CipherSuite


def test_cipher_suite_selects_a_third_party_suite(tmp_path: Path, plugins: Path) -> None:
    stack = build_stack(net(tmp_path / "net", "LoadPlugin = toy_suite\nCipherSuite = toy\n"))
    assert cipher_suite(stack.manager, stack.config).name == "toy"
    node = runtime(stack)
    toy = sys.modules["toy_suite"]
    assert node.suite is toy.BUILT[-1]
    # The context gives the suite the node's registries to resolve names in.
    assert "toy" in node.suite.context.registry("tinca_register_cipher_suites")
    assert "aes-256-cbc" in node.suite.context.registry("tinca_register_legacy_ciphers")


def test_cipher_suite_name_is_case_insensitive(tmp_path: Path) -> None:
    stack = build_stack(net(tmp_path, "CipherSuite = LEGACY\n", ed25519=True))
    assert isinstance(runtime(stack).suite, LegacySuite)


def test_an_unknown_cipher_suite_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        build_stack(net(tmp_path, "CipherSuite = bogus\n"))
    message = str(err.value)
    assert "tinc.conf:4: CipherSuite = bogus: no installed plugin provides cipher suite" in message
    assert message.endswith("installed: legacy, sptps")


def test_by_default_both_plugins_give_sptps(tmp_path: Path) -> None:
    stack = build_stack(net(tmp_path, ed25519=True))
    assert cipher_suite(stack.manager, stack.config).name == "sptps"
    suite = runtime(stack).suite
    assert isinstance(suite, SptpsSuite)
    assert isinstance(suite.legacy, LegacySuite)  # the fallback for tinc 1.0 peers


def test_with_sptps_blocked_the_default_is_legacy(tmp_path: Path) -> None:
    stack = build_stack(net(tmp_path, "BlockPlugin = sptps\n", ed25519=True))
    assert cipher_suite(stack.manager, stack.config).name == "legacy"
    assert isinstance(runtime(stack).suite, LegacySuite)


def test_a_plugin_can_take_over_the_default(tmp_path: Path, plugins: Path) -> None:
    stack = build_stack(net(tmp_path / "net", "LoadPlugin = toy_suite\nLoadPlugin = toy_default\n"))
    assert cipher_suite(stack.manager, stack.config).name == "toy"


def test_without_any_default_the_node_asks_for_cipher_suite(tmp_path: Path, plugins: Path) -> None:
    conf = "BlockPlugin = sptps\nBlockPlugin = legacy\nLoadPlugin = toy_suite\n"
    stack = build_stack(net(tmp_path / "net", conf))
    with pytest.raises(ConfigError, match="set CipherSuite to one of toy"):
        cipher_suite(stack.manager, stack.config)


# ---------------------------------------------------------------------------
# the suite's default MTU strategy


def test_sptps_gives_tinc11_to_peers_it_runs_channels_with(tmp_path: Path) -> None:
    suite = runtime(build_stack(net(tmp_path, ed25519=True))).suite
    assert suite.default_mtu_strategy(MINOR_7) == "tinc11"
    assert suite.default_mtu_strategy(with_option_version(0, 2)) == "tinc11"
    assert suite.default_mtu_strategy(with_option_version(0, 1)) == "tinc10"
    assert suite.default_mtu_strategy(0) == "tinc10"


def test_legacy_gives_every_peer_tinc10(tmp_path: Path) -> None:
    suite = runtime(build_stack(net(tmp_path, "CipherSuite = legacy\n"))).suite
    assert suite.default_mtu_strategy(MINOR_7) == "tinc10"
    assert suite.default_mtu_strategy(0) == "tinc10"


def _peer(node: Node, name: str, options: int) -> Peer:
    peer = node.protocol.peer(name)
    peer.options = options
    return peer


def test_unconfigured_peers_get_the_suites_strategy(tmp_path: Path, plugins: Path) -> None:
    conf = "LoadPlugin = toy_suite\nCipherSuite = toy\n"
    node = runtime(build_stack(net(tmp_path / "net", conf)))
    assert isinstance(node._mtu_strategy(_peer(node, "beta", MINOR_7)), FixedMTU)


def test_sptps_node_probes_each_peer_as_its_tinc_does(tmp_path: Path) -> None:
    node = runtime(build_stack(net(tmp_path, ed25519=True)))
    new = node._mtu_strategy(_peer(node, "beta", MINOR_7))
    assert isinstance(new, Tinc11Probing)
    assert new.peer_minor == 7  # from MTUSettings.peer_minor
    old = node._mtu_strategy(_peer(node, "gamma", 0))
    assert isinstance(old, Tinc10Probing)


def test_tinc_conf_mtu_strategy_wins_over_the_suite(tmp_path: Path, plugins: Path) -> None:
    conf = "LoadPlugin = toy_suite\nCipherSuite = toy\nMTUStrategy = tinc11\n"
    node = runtime(build_stack(net(tmp_path / "net", conf)))
    strategy = node._mtu_strategy(_peer(node, "beta", with_option_version(0, 3)))
    assert isinstance(strategy, Tinc11Probing)
    assert strategy.peer_minor == 3


def test_host_file_mtu_strategy_wins_over_tinc_conf(tmp_path: Path, plugins: Path) -> None:
    conf = "LoadPlugin = toy_suite\nCipherSuite = toy\nMTUStrategy = tinc11\n"
    base = net(tmp_path / "net", conf)
    (base / "hosts" / "beta").write_text("MTUStrategy = tinc10\n")
    node = runtime(build_stack(base))
    assert isinstance(node._mtu_strategy(_peer(node, "beta", MINOR_7)), Tinc10Probing)
    assert isinstance(node._mtu_strategy(_peer(node, "gamma", MINOR_7)), Tinc11Probing)


# ---------------------------------------------------------------------------
# reconfigure


def test_sighup_hands_the_new_configuration_to_the_suite(tmp_path: Path, plugins: Path) -> None:
    base = net(tmp_path / "net", "LoadPlugin = toy_suite\nCipherSuite = toy\n")
    node = runtime(build_stack(base))
    again = build_stack(base)
    node.reconfigure(again, 0.0)
    assert node.suite.reconfigured == [again.config]


def test_sptps_passes_a_new_configuration_to_its_legacy_fallback(tmp_path: Path) -> None:
    base = net(tmp_path, ed25519=True)
    node = runtime(build_stack(base))
    suite = node.suite
    assert isinstance(suite, SptpsSuite) and suite.legacy is not None
    again = build_stack(base)
    node.reconfigure(again, 0.0)
    assert suite.context.config is again.config
    assert suite.legacy.context.config is again.config
