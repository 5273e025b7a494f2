"""Which device the daemon opens: DeviceType, or the plugins' default for the
layer the routing mode needs (tinc: tun in router mode, tap in switch and hub
modes, and a tap device in router mode carries Ethernet frames)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import write_files
from tinca.core.daemon import Daemon
from tinca.core.errors import ConfigError
from tinca.core.paths import Names
from tinca.core.stack import build_stack
from tinca.plugins.devices.dummy import DummyDevice
from tinca.plugins.devices.tuntap import TapDevice, TunDevice

MODES_PLUGIN = '''
from tinca.core import hookimpl
from tinca.core.route.decisions import DROP_TOO_SHORT
from tinca.core.route.mode import RoutingMode


class IPOnly(RoutingMode):
    uses_mac_addresses = False

    def __init__(self, router):
        self.router = router

    def route(self, source, packet):
        return DROP_TOO_SHORT


def by_function(router):
    return IPOnly(router)


@hookimpl
def tinca_register_routing_modes(register):
    register("iponly", IPOnly, doc="a RoutingMode class that routes on IP headers")
    register("byfunction", by_function, doc="a factory that is not a class")
'''


@pytest.fixture
def modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test plugin ``select_modes`` on sys.path."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "select_modes.py").write_text(MODES_PLUGIN)
    monkeypatch.syspath_prepend(str(mods))
    yield "select_modes"
    sys.modules.pop("select_modes", None)


def selected(base: Path, conf: str) -> tuple[type, str]:
    """The device class and layer the daemon would open for ``conf``."""
    write_files(base, {"tinc.conf": "Name = alpha\n" + conf, "hosts/alpha": "Port = 655\n"})
    names = Names(None, base, base / "pid", base / "log")
    device = Daemon(build_stack(base), names)._select_device()
    return type(device), device.request.layer


@pytest.mark.parametrize(("conf", "expected"), [
    ("", (TunDevice, "tun")),
    ("Mode = switch\n", (TapDevice, "tap")),
    ("Mode = hub\n", (TapDevice, "tap")),
    ("DeviceType = tap\n", (TapDevice, "tap")),
    ("DeviceType = dummy\n", (DummyDevice, "tun")),
    ("Mode = switch\nDeviceType = dummy\n", (DummyDevice, "tap")),
    ("Mode = switch\nDeviceType = tun\n", (TunDevice, "tap")),  # refused when opened
])
def test_tincs_defaults(tmp_path: Path, conf: str, expected: tuple[type, str]) -> None:
    assert selected(tmp_path, conf) == expected


def test_a_plugin_mode_says_which_layer_it_needs(tmp_path: Path, modes: str) -> None:
    load = f"LoadPlugin = {modes}\n"
    assert selected(tmp_path / "a", load + "Mode = iponly\n") == (TunDevice, "tun")
    # A factory that is not a RoutingMode class says nothing: Ethernet frames
    # carry whatever it routes.
    assert selected(tmp_path / "b", load + "Mode = byfunction\n") == (TapDevice, "tap")


def test_without_a_default_device_start_up_asks_for_device_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"DeviceType is not set and no installed plugin "
                                          r"offers a default device for IP packets; "
                                          r"installed: dummy"):
        selected(tmp_path, "BlockPlugin = tuntap\n")
