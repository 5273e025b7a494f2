"""How the node's shell sets up what it hands the sans-IO parts.

UDP sockets refuse to fragment when PMTU discovery is on; the router learns
whether to overwrite MAC addresses (a tap device in router mode) and ours.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tinca.core.config.loader import load_configuration
from tinca.core.device import Device, DeviceRequest
from tinca.core.meta.requests import OPTION_CLAMP_MSS, OPTION_PMTU_DISCOVERY
from tinca.core.node.node import device_mac_settings
from tinca.core.node.shell import (
    IP_MTU_DISCOVER,
    IPV6_MTU_DISCOVER,
    PMTUDISC_DO,
    configure_udp,
    set_udp_buffers,
    udp_buffer_sizes,
)
from tinca.core.plugin_manager import PluginManager
from tinca.core.route.mode import mode_layer
from tinca.core.route.router import DEFAULT_MAC, installed_modes
from tinca.plugins.ciphers.sptps.path import UDP_BUFFER_SIZE as TINC11_UDP_BUFFER


def test_ipv4_socket_with_pmtu_discovery_never_fragments() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        before = udp.getsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER)
        assert before != PMTUDISC_DO  # Linux's default lets the kernel fragment
        configure_udp(udp, OPTION_PMTU_DISCOVERY | OPTION_CLAMP_MSS)
        assert udp.getsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER) == PMTUDISC_DO


def test_ipv6_socket_with_pmtu_discovery_never_fragments() -> None:
    try:
        udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError:
        pytest.skip("no IPv6 on this machine")
    with udp:
        configure_udp(udp, OPTION_PMTU_DISCOVERY)
        assert udp.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER) == PMTUDISC_DO


def test_without_pmtu_discovery_the_socket_is_left_alone() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        before = udp.getsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER)
        configure_udp(udp, OPTION_CLAMP_MSS)
        assert udp.getsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER) == before


class StubDevice(Device):
    """A device of a given layer that may know its MAC address."""

    def __init__(self, layer: str, mac: bytes | None = None) -> None:
        super().__init__(DeviceRequest(None, layer))  # type: ignore[arg-type]
        if mac is not None:
            self.mac = mac

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read_batch(self, limit: int) -> list[bytes]:
        return []

    def write(self, packet: bytes) -> None:
        pass


TAP_MAC = bytes.fromhex("02005e100001")


def uses_mac(mode: str) -> bool:
    """Whether the installed routing mode ``mode`` routes on MAC addresses."""
    return mode_layer(installed_modes().get(mode).value) == "tap"


def test_tap_in_router_mode_overwrites_with_the_interface_mac() -> None:
    assert device_mac_settings(uses_mac("router"), StubDevice("tap", TAP_MAC)) == (True, TAP_MAC)


def test_tap_in_router_mode_without_a_known_mac_keeps_tincds_default() -> None:
    assert device_mac_settings(uses_mac("router"), StubDevice("tap")) == (True, DEFAULT_MAC)


@pytest.mark.parametrize(("mode", "layer"), [("router", "tun"), ("switch", "tap"),
                                             ("hub", "tap")])
def test_no_overwriting_elsewhere(mode: str, layer: str) -> None:
    assert device_mac_settings(uses_mac(mode), StubDevice(layer, TAP_MAC)) == (False, DEFAULT_MAC)


def test_udp_buffer_sizes_are_applied_and_zero_keeps_the_default() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        default = udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        set_udp_buffers(udp, 0, None)
        assert udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == default
        set_udp_buffers(udp, 262144, 131072)
        # Linux reports twice the requested size (its bookkeeping overhead)
        assert udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 262144
        assert udp.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 131072


@pytest.mark.parametrize(
    ("text", "sptps", "expected"),
    [
        ("", False, (None, None)),  # tinc 1.0: the OS default
        ("", True, (TINC11_UDP_BUFFER, TINC11_UDP_BUFFER)),  # tinc 1.1: 1 MiB
        ("UDPRcvBuf = 0\n", True, (0, TINC11_UDP_BUFFER)),  # set: as set, 0 included
        ("UDPSndBuf = 65536\n", False, (None, 65536)),
    ],
)
def test_udp_buffers_default_to_the_tinc_whose_protocol_the_node_speaks(
    tmp_path: Path, text: str, sptps: bool, expected: tuple[int | None, int | None]
) -> None:
    (tmp_path / "hosts").mkdir()
    (tmp_path / "tinc.conf").write_text("Name = alpha\n" + text)
    (tmp_path / "hosts" / "alpha").write_text("Port = 655\n")
    table = PluginManager().variables
    config = load_configuration(tmp_path, table)
    default = TINC11_UDP_BUFFER if sptps else None  # what each suite's paths say
    assert udp_buffer_sizes(config, default) == expected
