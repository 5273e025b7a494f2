"""Configuration picks the plugin stack: LoadPlugin, BlockPlugin, selections."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import write_files
from tinca.core.errors import ConfigError
from tinca.core.stack import build_stack, parse_options

EXTRA_PLUGIN = '''
from tinca.core import hookimpl

@hookimpl
def tinca_register_mtu_strategies(register):
    register("steady", object, doc="test strategy")
'''


def net(tmp_path: Path, conf: str, host: str = "Port = 655\n") -> Path:
    return write_files(tmp_path, {"tinc.conf": "Name = alpha\n" + conf, "hosts/alpha": host})


def test_default_stack_validates(tmp_path: Path) -> None:
    stack = build_stack(net(tmp_path, "DeviceType = dummy\n"))
    assert "dummy" in stack.manager.plugin_names()
    assert stack.config.lookup("Port") == 655


def test_block_plugin_removes_it_and_its_offers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        build_stack(net(tmp_path, "BlockPlugin = dummy\nDeviceType = dummy\n"))
    assert "tinc.conf:3: DeviceType = dummy: no installed plugin provides device type" in str(
        err.value
    )
    installed = str(err.value).rsplit("installed: ", 1)[1]
    assert "dummy" not in installed.split(", ")


def test_core_cannot_be_blocked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tinc\.conf:2: the core plugin cannot be blocked"):
        build_stack(net(tmp_path, "BlockPlugin = core\n"))


def test_load_plugin_imports_a_module_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "steady_mtu.py").write_text(EXTRA_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    base = net(tmp_path / "net", "LoadPlugin = steady_mtu\nMTUStrategy = steady\n")
    stack = build_stack(base)
    assert "steady_mtu" in stack.manager.plugin_names()
    assert stack.config.server.get("MTUStrategy") == "steady"
    sys.modules.pop("steady_mtu", None)


def test_load_plugin_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        build_stack(net(tmp_path, "LoadPlugin = no.such.module\n"))
    assert str(err.value).startswith(f"{tmp_path}/tinc.conf:2: cannot load plugin module")


def test_mtu_strategy_per_host_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        build_stack(net(tmp_path, "DeviceType = dummy\n", "Port = 655\nMTUStrategy = bogus\n"))
    assert "hosts/alpha:2: MTUStrategy = bogus" in str(err.value)
    assert "installed: fixed" in str(err.value)


def test_discovery_list_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tinc\.conf:2: Discovery: .* 'mdns'; installed: static"):
        build_stack(net(tmp_path, "Discovery = static mdns\n"))


def test_cipher_names_come_from_the_legacy_plugin(tmp_path: Path) -> None:
    build_stack(net(tmp_path, "Cipher = aes-128-cbc\nDigest = sha1\n"))
    with pytest.raises(ConfigError, match=r"Cipher = rot13: no installed plugin"):
        build_stack(net(tmp_path, "Cipher = rot13\n"))


def test_command_line_options_win_and_reach_hosts() -> None:
    server, hosts = parse_options(["Port=1", "alpha.Subnet = 198.18.0.1/32", "Mode switch"])
    assert [(e.name, e.value, e.file, e.line) for e in server] == [
        ("Port", "1", "command line", 1),
        ("Mode", "switch", "command line", 3),
    ]
    assert [(e.name, e.value) for e in hosts["alpha"]] == [("Subnet", "198.18.0.1/32")]


def test_blocking_a_plugin_that_is_not_installed_warns(tmp_path: Path) -> None:
    stack = build_stack(net(tmp_path, "DeviceType = dummy\nBlockPlugin = nosuch\n"))
    assert any(
        "tinc.conf:3: BlockPlugin = nosuch: no plugin of that name is installed" in str(w)
        for w in stack.warnings
    )


LEVEL_PLUGIN = '''
from tinca.core import hookimpl

@hookimpl
def tinca_register_compressions(register):
    register("13", object(), doc="test codec")
'''


def test_a_compression_level_a_plugin_registers_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tinc's own levels end at 12; a plugin's level 13 parses once registered.
    (tmp_path / "level_plugin.py").write_text(LEVEL_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    confdir = net(tmp_path / "net", "LoadPlugin = level_plugin\nCompression = 13\n")
    stack = build_stack(confdir)
    assert stack.config.lookup("Compression") == 13
    with pytest.raises(
        ConfigError, match=r"tinc\.conf:2: bad value for Compression: 13 is above the maximum 12"
    ):
        build_stack(net(tmp_path / "bare", "Compression = 13\n"))


def test_a_compression_level_nobody_provides_is_refused_at_start_up(tmp_path: Path) -> None:
    # With the built-in codecs blocked nobody provides tinc's level 10 (LZO).
    with pytest.raises(ConfigError, match=r"tinc\.conf:3: Compression = 10: no installed plugin "
                                          r"provides compression level '10'; installed: none"):
        build_stack(net(tmp_path, "BlockPlugin = compression\nCompression = 10\n"))
