"""Routing modes are plugins: ``Mode = NAME`` picks a registered one.

tinc's router, switch and hub modes come from the built-in routing plugin,
registered like any other; a third-party mode (here a module loaded with
``LoadPlugin`` that sends every packet to one node named in its own config
variable) is selected the same way and decides for the node's router.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_net
from tinca.core.device import DeviceRequest
from tinca.core.errors import ConfigError, PluginError
from tinca.core.events import NodeEvent
from tinca.core.node.node import Node
from tinca.core.plugin_manager import PluginManager
from tinca.core.route.decisions import DROP_TOO_SHORT, Decision, ToNode
from tinca.core.route.mode import MODES_HOOK, RoutingMode
from tinca.core.route.router import Router, installed_modes
from tinca.core.stack import Stack, build_stack
from tinca.core.subnet import Subnet
from tinca.plugins.routing.hub import HubMode
from tinca.plugins.routing.router_mode import RouterMode
from tinca.plugins.routing.switch import SwitchMode

ONE_NODE_PLUGIN = '''
"""A third-party routing mode: every packet goes to the node OneNodeTarget names."""
from tinca.core import hookimpl
from tinca.core.config.values import NodeName
from tinca.core.config.variables import Scope, Variable
from tinca.core.route.decisions import DROP_TOO_SHORT
from tinca.core.route.mode import RoutingMode

TARGET = {"name": "beta"}


class OneNodeMode(RoutingMode):
    def __init__(self, router):
        self.router = router
        self.target = TARGET["name"]

    def route(self, source, packet):
        if len(packet) < 14:
            return DROP_TOO_SHORT
        if source == self.target:
            return self.router.to_device(packet)
        return self.router.deliver(self.target, packet)


@hookimpl
def tinca_config_variables():
    return [Variable("OneNodeTarget", NodeName(), "Where the one-node mode sends packets.",
                     scope=Scope.SERVER, since="tinca")]


@hookimpl
def tinca_register_routing_modes(register):
    register("OneNode", OneNodeMode, doc="every packet to one node")
'''

FRAME = bytearray(bytes(12) + b"\x08\x00" + bytes(40))


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test plugin ``one_node_mode`` on sys.path."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "one_node_mode.py").write_text(ONE_NODE_PLUGIN)
    monkeypatch.syspath_prepend(str(mods))
    yield "one_node_mode"
    sys.modules.pop("one_node_mode", None)


def runtime(stack: Stack) -> Node:
    """The node for ``stack``, with a dummy device and no sockets."""
    factory = stack.manager.registry("tinca_register_device_types").get("dummy").value
    device = factory(DeviceRequest(None, "tun"))
    event = NodeEvent(None, "alpha", None, None, 0, str(stack.config.confbase))
    return Node(stack, event, device)


def test_tincs_modes_are_registered_by_the_routing_plugin() -> None:
    registry = PluginManager().registry(MODES_HOOK)
    assert registry.names() == ["hub", "router", "switch"]
    assert {e.plugin for e in registry.entries()} == {"routing"}
    assert registry.get("router").value is RouterMode
    assert registry.get("switch").value is SwitchMode
    assert registry.get("hub").value is HubMode


def test_what_each_built_in_mode_declares() -> None:
    assert SwitchMode.learns_addresses
    assert not RouterMode.learns_addresses and not HubMode.learns_addresses
    assert not RouterMode.uses_mac_addresses
    assert SwitchMode.uses_mac_addresses and HubMode.uses_mac_addresses


def test_the_router_calls_the_mode_directly() -> None:
    # No wrapper between the data path and the mode unless one is configured.
    router = Router("alpha", "switch")
    assert isinstance(router.mode, SwitchMode)
    assert router.route == router.mode.route
    kernel = Router("alpha", "switch", forwarding="kernel")
    assert kernel.route != kernel.mode.route


def test_a_router_takes_a_mode_factory_or_a_name_in_any_case() -> None:
    assert isinstance(Router("alpha", "HUB").mode, HubMode)
    assert isinstance(Router("alpha", RouterMode).mode, RouterMode)
    with pytest.raises(ValueError, match=r"unknown routing mode 'bridge'; installed: hub, "):
        Router("alpha", "bridge")
    assert "router" in installed_modes()


def test_a_mode_without_learning_learns_nothing() -> None:
    class Silent(RoutingMode):
        def route(self, source: str, packet: bytearray) -> Decision:
            return DROP_TOO_SHORT

    router = Router("alpha", lambda r: Silent())
    assert router.route("alpha", bytearray(FRAME)) is DROP_TOO_SHORT
    assert router.take_learned() == [] and router.expire(10**9) == []
    router.roamed(Subnet.parse("02:00:00:00:00:01"))  # no-op


def test_third_party_mode_is_selected_by_mode_and_routes(tmp_path: Path, plugin: str) -> None:
    make_net(tmp_path, "alpha", f"LoadPlugin = {plugin}\nMode = onenode\nOneNodeTarget = gamma\n")
    stack = build_stack(tmp_path)
    module = sys.modules[plugin]
    module.TARGET["name"] = stack.config.lookup("OneNodeTarget")
    node = runtime(stack)
    assert type(node.router.mode).__name__ == "OneNodeMode"
    assert not node.router.mode.learns_addresses
    # Whatever the packet, it goes to gamma; gamma's packets go to our device.
    assert node.router.route("alpha", bytearray(FRAME)) == ToNode("gamma")
    assert node.router.route("beta", bytearray(FRAME)) == ToNode("gamma")
    assert node.router.route("gamma", bytearray(FRAME)).__class__.__name__ == "ToDevice"
    assert node.router.route("alpha", bytearray(4)) is DROP_TOO_SHORT


def test_mode_names_are_checked_against_the_registry(tmp_path: Path) -> None:
    make_net(tmp_path, "alpha", "Mode = bridge\n")
    with pytest.raises(ConfigError) as err:
        build_stack(tmp_path)
    assert "bad value for Mode: expected one of hub, router, switch, got 'bridge'" in str(
        err.value)


def test_a_blocked_routing_plugin_takes_its_modes_along(tmp_path: Path) -> None:
    make_net(tmp_path, "alpha", "BlockPlugin = routing\nMode = switch\n")
    with pytest.raises(ConfigError, match="Mode = switch: no installed plugin provides routing "
                       "mode 'switch'; installed: none"):
        build_stack(tmp_path)
    # Unset, Mode is tinc's default, router: a user error too, not a traceback.
    make_net(tmp_path, "alpha", "BlockPlugin = routing\n")
    with pytest.raises(PluginError, match="unknown routing mode 'router'; installed: none"):
        runtime(build_stack(tmp_path))


@pytest.mark.parametrize("text,mode", [("Switch", SwitchMode), ("HUB", HubMode),
                                       ("router", RouterMode)])
def test_mode_is_case_insensitive_and_reaches_the_router(tmp_path: Path, text: str,
                                                         mode: type) -> None:
    make_net(tmp_path, "alpha", f"Mode = {text}\n")
    node = runtime(build_stack(tmp_path))
    assert isinstance(node.router.mode, mode)
    assert node.router.route == node.router.mode.route
