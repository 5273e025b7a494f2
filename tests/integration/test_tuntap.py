"""The tun and tap device plugins, interface set-up through netlink, and the
network-namespace harness they are tested with.

The first part needs nothing special. The rest runs as root in namespaces the
tests make (``netns_lab``): a device opened inside a namespace is handed real
kernel traffic (ping) and must produce the exact packets; replies the test
crafts and writes to the device must reach ping.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import json
import logging
import os
import re
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import NetlinkError

from tests import netns
from tests.helpers import TINCA, TINCAD, free_port, run, write_files
from tests.netns import Lab, LabError, Namespace
from tinca.core.device import Device, DeviceRequest
from tinca.core.plugin_manager import ENTRY_POINT_GROUP, PluginManager
from tinca.plugins.devices import netconfig, tuntap
from tinca.plugins.devices.netconfig import (
    InterfaceAddresses,
    InterfacePlan,
    NetconfigError,
    Route,
    RouteSpec,
)
from tinca.plugins.devices.tuntap import DeviceError, TapDevice, TunDevice

netns_lab = netns.netns_lab  # the fixture, visible to this module's tests

TUNTAP_MODULE = "tinca.plugins.devices.tuntap"
SCRIPTS_MODULE = "tinca.plugins.scripts.plugin"

TUN_ADDRESS = "198.18.0.1"
PEER_ADDRESS = "198.18.0.2"
TUN6_ADDRESS = "2001:db8::1"
PEER6_ADDRESS = "2001:db8::2"
FAKE_MAC = bytes.fromhex("020000000002")


def installed(name: str) -> bool:
    return any(ep.name == name for ep in entry_points(group=ENTRY_POINT_GROUP))


@dataclass(frozen=True)
class FullRequest(DeviceRequest):
    """A device request that also offers every value of repeatable variables
    (``setting_all``), as the daemon is asked to provide."""

    setting_all: Callable[[str], list[Any]] = field(default=lambda name: [])


def request(
    layer: str = "tun", netname: str | None = "vpn", interface: str | None = None, **values: Any
) -> FullRequest:
    """A request whose settings are ``values``; lists stand for repeated lines."""

    def first(name: str) -> Any:
        value = values.get(name)
        return value[0] if isinstance(value, list) else value

    def every(name: str) -> list[Any]:
        value = values.get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    return FullRequest(
        netname=netname,
        layer=layer,  # type: ignore[arg-type]
        interface=interface,
        setting=first,
        setting_all=every,
    )


# ---------------------------------------------------------------------------
# Packets, built and checked by hand
# ---------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_header(src: bytes, dst: bytes, proto: int, payload_len: int) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0, 64, proto, 0, src, dst)
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


def is_echo_request_v4(packet: bytes, dst: str) -> bool:
    return (
        len(packet) >= 28
        and packet[0] >> 4 == 4
        and packet[9] == 1  # ICMP
        and packet[16:20] == socket.inet_aton(dst)
        and packet[(packet[0] & 0xF) * 4] == 8  # echo request
    )


def echo_reply_v4(request_packet: bytes) -> bytes:
    """The reply a host at the request's destination would send."""
    ihl = (request_packet[0] & 0xF) * 4
    icmp = bytearray(request_packet[ihl:])
    icmp[0] = 0  # echo reply, same identifier, sequence and payload
    icmp[2:4] = b"\0\0"
    icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
    src, dst = request_packet[16:20], request_packet[12:16]
    return ipv4_header(src, dst, 1, len(icmp)) + bytes(icmp)


def is_echo_request_v6(packet: bytes, dst: str) -> bool:
    return (
        len(packet) >= 48
        and packet[0] >> 4 == 6
        and packet[6] == 58  # ICMPv6 directly after the fixed header
        and packet[24:40] == socket.inet_pton(socket.AF_INET6, dst)
        and packet[40] == 128
    )


def echo_reply_v6(request_packet: bytes) -> bytes:
    src, dst = request_packet[24:40], request_packet[8:24]
    icmp = bytearray(request_packet[40:])
    icmp[0] = 129
    icmp[2:4] = b"\0\0"
    pseudo = src + dst + struct.pack("!I3xB", len(icmp), 58)
    icmp[2:4] = struct.pack("!H", checksum(pseudo + bytes(icmp)))
    header = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 64) + src + dst
    return header + bytes(icmp)


def arp_frame(op: int, sha: bytes, spa: str, tha: bytes, tpa: str, dst: bytes) -> bytes:
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
    arp += sha + socket.inet_aton(spa) + tha + socket.inet_aton(tpa)
    return dst + sha + b"\x08\x06" + arp


def read_until(device: Device, match: Callable[[bytes], bool], timeout: float = 10) -> bytes:
    """Read batches from ``device`` until a packet matches; others are ignored
    (IPv6 link-local chatter, MLD, ...)."""
    fd = device.fileno()
    assert fd is not None
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 0.2)
        if not readable:
            continue
        for packet in device.read_batch(64):
            seen += 1
            if match(packet):
                return packet
    raise AssertionError(f"no matching packet within {timeout} s ({seen} others read)")


# ---------------------------------------------------------------------------
# Without root: registration, settings, errors
# ---------------------------------------------------------------------------


def test_plugin_registers_tun_and_tap_and_declares_its_variables() -> None:
    manager = PluginManager(extra=[] if installed("tuntap") else [TUNTAP_MODULE])
    devices = manager.registry("tinca_register_device_types")
    assert devices.get("tun").value is TunDevice
    assert devices.get("TAP").value is TapDevice  # DeviceType is case-insensitive
    for name in ("DeviceAddress", "DeviceRoute", "DeviceMTU", "DeviceUp"):
        declared = manager.variables.lookup(name)
        assert declared is not None and declared.variable.doc
    assert manager.variables["DeviceAddress"].multiple
    assert manager.variables["DeviceRoute"].multiple


def test_ifreq_round_trip() -> None:
    packed = tuntap.pack_ifreq("vpn0", tuntap.IFF_TAP | tuntap.IFF_NO_PI)
    assert len(packed) == 40  # sizeof(struct ifreq) on Linux
    assert tuntap.unpack_ifreq(packed) == ("vpn0", 0x1002)


def test_interface_name_is_interface_else_netname_else_kernel_choice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert tuntap.interface_name(request(interface="tinca0")) == "tinca0"
    assert tuntap.interface_name(request(netname="office")) == "office"
    assert tuntap.interface_name(request(netname=None)) == ""
    with caplog.at_level(logging.WARNING):
        assert tuntap.interface_name(request(netname="a" * 20)) == "a" * 15
    assert "longer than 15 bytes" in caplog.text


def test_missing_clone_device_is_a_clear_error() -> None:
    device = TunDevice(DeviceRequest("vpn", "tun", device="/nonexistent/tun"))
    with pytest.raises(DeviceError, match=r"Could not open /nonexistent/tun: No such file") as err:
        device.open()
    assert "modprobe tun" in str(err.value)
    assert device.fileno() is None


def test_not_a_tun_clone_device_is_a_clear_error(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-device"
    plain.write_bytes(b"")
    device = TapDevice(DeviceRequest("vpn", "tap", device=str(plain)))
    with pytest.raises(DeviceError, match="Could not create a tun/tap interface"):
        device.open()
    assert device.fileno() is None


def test_tun_refuses_to_carry_ethernet_frames() -> None:
    with pytest.raises(DeviceError, match="use DeviceType = tap"):
        TunDevice(DeviceRequest("vpn", "tap")).open()


def test_address_and_route_values_parse_and_refuse_bad_input() -> None:
    addresses = InterfaceAddresses().parse("198.18.0.1/24 2001:db8::1/64 198.18.5.5")
    assert [str(a) for a in addresses] == ["198.18.0.1/24", "2001:db8::1/64", "198.18.5.5/32"]
    assert InterfaceAddresses().format(addresses) == "198.18.0.1/24 2001:db8::1/64 198.18.5.5/32"
    with pytest.raises(ValueError, match="not an address/prefix"):
        InterfaceAddresses().parse("198.18.0.300/24")
    spec = RouteSpec()
    assert spec.parse("198.19.0.0/16") == Route(ipaddress.ip_network("198.19.0.0/16"))
    via = spec.parse("2001:db8:1::/48 via 2001:db8::ff")
    assert str(via) == "2001:db8:1::/48 via 2001:db8::ff"
    with pytest.raises(ValueError, match="same family"):
        spec.parse("198.19.0.0/16 via 2001:db8::1")
    with pytest.raises(ValueError, match="not a network"):
        spec.parse("198.19.0.1/16")  # host bits set
    with pytest.raises(ValueError, match="expected"):
        spec.parse("198.19.0.0/16 through 198.18.0.1")


def test_plan_defaults_to_doing_nothing_as_tincd() -> None:
    assert netconfig.plan_from_settings(lambda name: None).empty


def test_plan_brings_the_link_up_when_addresses_or_routes_are_set() -> None:
    values = {"DeviceAddress": InterfaceAddresses().parse("198.18.0.1/24")}
    plan = netconfig.plan_from_settings(values.get)
    assert plan.up and not plan.routes
    values = {**values, "DeviceUp": False}
    assert not netconfig.plan_from_settings(values.get).up


def test_plan_collects_every_repeated_line() -> None:
    req = request(
        DeviceAddress=[
            InterfaceAddresses().parse("198.18.0.1/24 2001:db8::1/64"),
            InterfaceAddresses().parse("198.18.9.1/24"),
        ],
        DeviceRoute=[RouteSpec().parse("198.19.0.0/16"), RouteSpec().parse("2001:db8:5::/48")],
        DeviceMTU=1400,
    )
    plan = netconfig.plan_from_settings(req.setting, req.setting_all)
    assert [str(a) for a in plan.addresses] == ["198.18.0.1/24", "2001:db8::1/64", "198.18.9.1/24"]
    assert [str(r) for r in plan.routes] == ["198.19.0.0/16", "2001:db8:5::/48"]
    assert (plan.mtu, plan.up) == (1400, True)


def test_routes_with_the_link_kept_down_are_refused() -> None:
    values = {"DeviceRoute": RouteSpec().parse("198.19.0.0/16"), "DeviceUp": False}
    with pytest.raises(NetconfigError, match="DeviceRoute needs the interface up"):
        netconfig.plan_from_settings(values.get)


class FakeIPRoute:
    """Records netlink requests; ``refuse`` maps a request kind to an errno."""

    def __init__(self, refuse: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse or {}
        self.closed = False

    def link_lookup(self, ifname: str) -> list[int]:
        return [7] if ifname == "vpn" else []

    def _do(self, kind: str, **kwargs: Any) -> None:
        self.calls.append((kind, kwargs))
        if kind in self.refuse:
            raise NetlinkError(self.refuse[kind], os.strerror(self.refuse[kind]))

    def link(self, command: str, **kwargs: Any) -> None:
        self._do("link", **kwargs)

    def addr(self, command: str, **kwargs: Any) -> None:
        self._do("addr", **kwargs)

    def route(self, command: str, **kwargs: Any) -> None:
        self._do("route", **kwargs)

    def close(self) -> None:
        self.closed = True


PLAN = InterfacePlan(
    addresses=(ipaddress.ip_interface("198.18.0.1/24"),),
    routes=(Route(ipaddress.ip_network("198.19.0.0/16"), ipaddress.ip_address("198.18.0.254")),),
    mtu=1400,
    up=True,
)


def test_apply_plan_sets_mtu_then_link_then_addresses_then_routes() -> None:
    fake = FakeIPRoute()
    netconfig.apply_plan("vpn", PLAN, lambda: fake)
    assert fake.calls == [
        ("link", {"index": 7, "mtu": 1400}),
        ("link", {"index": 7, "state": "up"}),
        ("addr", {"index": 7, "address": "198.18.0.1", "prefixlen": 24}),
        (
            "route",
            {
                "dst": "198.19.0.0",
                "dst_len": 16,
                "oif": 7,
                "family": socket.AF_INET,
                "gateway": "198.18.0.254",
            },
        ),
    ]
    assert fake.closed


def test_apply_plan_accepts_existing_addresses_and_routes() -> None:
    fake = FakeIPRoute(refuse={"addr": errno.EEXIST, "route": errno.EEXIST})
    netconfig.apply_plan("vpn", PLAN, lambda: fake)
    assert [kind for kind, _ in fake.calls] == ["link", "link", "addr", "route"]


def test_apply_plan_names_the_refused_step() -> None:
    fake = FakeIPRoute(refuse={"route": errno.ENETUNREACH})
    with pytest.raises(NetconfigError) as err:
        netconfig.apply_plan("vpn", PLAN, lambda: fake)
    assert str(err.value) == (
        "Could not add route 198.19.0.0/16 via 198.18.0.254 on vpn: Network is unreachable"
    )
    assert fake.closed
    with pytest.raises(NetconfigError, match="Could not configure nope: no such interface"):
        netconfig.apply_plan("nope", PLAN, FakeIPRoute)


# ---------------------------------------------------------------------------
# The harness itself (root)
# ---------------------------------------------------------------------------


@pytest.mark.root
def test_lab_switch_link_ping_and_iperf3(netns_lab: Lab) -> None:
    a, b, c = (netns_lab.namespace(n) for n in ("a", "b", "c"))
    assert netns_lab.switch([a, b, c]) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert netns_lab.link(a, b, subnet="203.0.113.0/30") == ("203.0.113.1", "203.0.113.2")
    result = c.ping("192.0.2.1", count=2)
    assert result.ok and (result.transmitted, result.received, result.loss) == (2, 2, 0.0)
    assert a.ping("203.0.113.2", count=1).ok
    # c has no link to 203.0.113.0/30: no route, nothing received
    lost = c.ping("203.0.113.2", count=1, wait=0.5)
    assert not lost.ok and lost.received == 0 and lost.loss == 100.0
    server = b.iperf3_server(port=5201)
    bits = a.iperf3_client("192.0.2.2", seconds=1, port=5201)
    assert bits > 1e6, bits
    assert server.wait(10) == 0  # -1: one test, then it exits by itself


@pytest.mark.root
def test_lab_refuses_addresses_outside_the_documentation_underlays(netns_lab: Lab) -> None:
    a, b = netns_lab.namespace("a"), netns_lab.namespace("b")
    with pytest.raises(ValueError, match="allowed underlays"):
        netns_lab.link(a, b, subnet="198.18.0.0/24")  # an overlay range: not an underlay


def process_gone(pid: int, timeout: float = 5.0) -> bool:
    """True once ``pid`` no longer exists or is a zombie waiting for init."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


@pytest.mark.root
def test_lab_teardown_stops_processes_and_removes_namespaces(tmp_path: Path) -> None:
    from tests.netns import require_lab

    require_lab()
    lab = Lab(tmp_path)
    try:
        ns = lab.namespace("t")
        sleeper = ns.start(["sh", "-c", "sleep 300 & echo child $!; sleep 300"])
        child = int(sleeper.wait_for(re.compile(r"child (\d+)")).group(1))
        assert os.path.exists(f"/run/netns/{ns.name}")
        assert ns.name.startswith(f"tinca-{os.getpid()}-")
    finally:
        lab.close()
    assert not sleeper.running
    assert not os.path.exists(f"/run/netns/{ns.name}")
    assert process_gone(child)
    lab.close()  # twice is harmless


@pytest.mark.root
def test_entered_namespace_sees_only_its_own_interfaces(netns_lab: Lab) -> None:
    ns = netns_lab.namespace("e")
    outside = {name for _, name in socket.if_nameindex()}
    with ns.entered():
        inside = {name for _, name in socket.if_nameindex()}
    assert inside == {"lo"}
    assert {name for _, name in socket.if_nameindex()} == outside


@pytest.mark.root
def test_wait_for_fails_with_the_output_when_the_process_exits(netns_lab: Lab) -> None:
    ns = netns_lab.namespace("w")
    proc = ns.start(["sh", "-c", "echo hello; exit 4"])
    with pytest.raises(LabError, match="hello"):
        proc.wait_for("never printed", timeout=5)
    assert proc.wait() == 4


# ---------------------------------------------------------------------------
# Real devices in a namespace (root)
# ---------------------------------------------------------------------------


@pytest.fixture
def vpn_ns(netns_lab: Lab) -> Iterator[tuple[Namespace, list[Device]]]:
    """A namespace and a list of devices to close before it is removed."""
    ns = netns_lab.namespace("vpn")
    devices: list[Device] = []
    try:
        yield ns, devices
    finally:
        for device in devices:
            device.close()


def open_in(ns: Namespace, devices: list[Device], device: Device) -> Device:
    devices.append(device)
    with ns.entered():
        device.open()
    return device


def link_info(ns: Namespace, interface: str) -> dict[str, Any]:
    [info] = json.loads(ns.ip("-j", "-d", "addr", "show", "dev", interface).stdout)
    return info


@pytest.mark.root
def test_tun_with_netconfig_reads_echo_requests_and_delivers_replies(
    vpn_ns: tuple[Namespace, list[Device]], caplog: pytest.LogCaptureFixture
) -> None:
    ns, devices = vpn_ns
    req = request(
        "tun",
        netname="vpn",
        DeviceAddress=InterfaceAddresses().parse(f"{TUN_ADDRESS}/24"),
        DeviceMTU=1400,
    )
    with caplog.at_level(logging.INFO):
        device = open_in(ns, devices, TunDevice(req))
    assert "/dev/net/tun is a Linux tun/tap device (tun mode)" in caplog.messages
    assert "Configured vpn: mtu 1400, up, address 198.18.0.1/24" in caplog.messages
    info = link_info(ns, "vpn")
    assert info["mtu"] == 1400 and "UP" in info["flags"]
    assert {(a["local"], a["prefixlen"]) for a in info["addr_info"]} >= {(TUN_ADDRESS, 24)}
    assert info["linkinfo"]["info_data"]["type"] == "tun"
    assert info["linkinfo"]["info_data"]["pi"] is False  # IFF_NO_PI: bare IP packets

    ping = ns.start(["ping", "-n", "-c", "1", "-W", "5", PEER_ADDRESS])
    echo = read_until(device, lambda p: is_echo_request_v4(p, PEER_ADDRESS))
    assert echo[12:16] == socket.inet_aton(TUN_ADDRESS)  # from the tun's address
    assert checksum(echo[:20]) == 0  # a valid IPv4 header, no PI header in front
    reply = echo_reply_v4(echo)
    device.write(reply)
    assert ping.wait(10) == 0, ping.output()
    assert "1 received" in ping.output()
    assert device.packets_out == 1 and device.bytes_out == len(reply)
    assert device.packets_in >= 1 and device.bytes_in >= len(echo)


@pytest.mark.root
def test_tun_carries_ipv6_without_packet_information(
    vpn_ns: tuple[Namespace, list[Device]],
) -> None:
    ns, devices = vpn_ns
    req = request("tun", DeviceAddress=InterfaceAddresses().parse(f"{TUN6_ADDRESS}/64"))
    device = open_in(ns, devices, TunDevice(req))
    ping = ns.start(["ping", "-6", "-n", "-c", "1", "-W", "5", PEER6_ADDRESS])
    echo = read_until(device, lambda p: is_echo_request_v6(p, PEER6_ADDRESS))
    assert echo[8:24] == socket.inet_pton(socket.AF_INET6, TUN6_ADDRESS)
    device.write(echo_reply_v6(echo))  # the kernel must tell IPv6 by its version nibble
    assert ping.wait(10) == 0, ping.output()


@pytest.mark.root
def test_tap_reads_arp_and_answers_a_ping(vpn_ns: tuple[Namespace, list[Device]]) -> None:
    ns, devices = vpn_ns
    req = request(
        "tap", netname=None, DeviceAddress=InterfaceAddresses().parse(f"{TUN_ADDRESS}/24")
    )
    device = open_in(ns, devices, TapDevice(req))
    assert isinstance(device, TapDevice)
    assert re.fullmatch(r"tap\d+", device.interface or "")
    info = link_info(ns, device.interface or "")
    assert device.mac is not None and device.mac.hex(":") == info["address"]

    ping = ns.start(["ping", "-n", "-c", "1", "-W", "8", PEER_ADDRESS])

    def is_arp_request(frame: bytes) -> bool:
        return frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x01"

    arp = read_until(device, is_arp_request)
    assert arp[:6] == b"\xff" * 6 and arp[6:12] == device.mac
    assert arp[28:32] == socket.inet_aton(TUN_ADDRESS)  # sender protocol address
    assert arp[38:42] == socket.inet_aton(PEER_ADDRESS)  # who has PEER_ADDRESS?

    device.write(arp_frame(2, FAKE_MAC, PEER_ADDRESS, device.mac, TUN_ADDRESS, dst=device.mac))
    frame = read_until(
        device, lambda f: f[12:14] == b"\x08\x00" and is_echo_request_v4(f[14:], PEER_ADDRESS)
    )
    assert frame[:6] == FAKE_MAC  # the kernel learned our answer
    device.write(device.mac + FAKE_MAC + b"\x08\x00" + echo_reply_v4(frame[14:]))
    assert ping.wait(10) == 0, ping.output()


@pytest.mark.root
def test_read_batch_returns_what_is_ready_up_to_the_limit(
    vpn_ns: tuple[Namespace, list[Device]],
) -> None:
    ns, devices = vpn_ns
    req = request("tun", DeviceAddress=InterfaceAddresses().parse(f"{TUN_ADDRESS}/24"))
    device = open_in(ns, devices, TunDevice(req))
    time.sleep(0.3)
    device.read_batch(1000)  # drop link-local chatter sent at link up
    with ns.entered():
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sender:
        for n in range(10):
            sender.sendto(b"datagram %d" % n, (PEER_ADDRESS, 9))
    first = device.read_batch(4)
    rest = device.read_batch(64)
    udp = [p for p in first + rest if p[0] >> 4 == 4 and p[9] == 17]
    assert len(first) == 4
    assert [p[28:] for p in udp] == [b"datagram %d" % n for n in range(10)]
    assert device.read_batch(64) == []  # nothing more ready: no blocking


@pytest.mark.root
def test_interface_naming_and_iff_one_queue(vpn_ns: tuple[Namespace, list[Device]]) -> None:
    ns, devices = vpn_ns
    named = open_in(ns, devices, TunDevice(request(interface="tinca7", IffOneQueue=True)))
    by_netname = open_in(ns, devices, TunDevice(request(netname="office")))
    kernel = open_in(ns, devices, TunDevice(request(netname=None)))
    assert (named.interface, by_netname.interface) == ("tinca7", "office")
    assert re.fullmatch(r"tun\d+", kernel.interface or "")

    def flags(device: Device) -> int:
        fd = device.fileno()
        assert fd is not None
        return tuntap.unpack_ifreq(fcntl.ioctl(fd, tuntap.TUNGETIFF, bytes(40)))[1]

    assert flags(named) & tuntap.IFF_ONE_QUEUE
    assert not flags(by_netname) & tuntap.IFF_ONE_QUEUE
    assert flags(named) & tuntap.IFF_TUN
    # (this kernel's TUNGETIFF reports IFF_NO_PI either way; netlink tells the truth)
    assert link_info(ns, "tinca7")["linkinfo"]["info_data"]["pi"] is False
    # tincd leaves the interface alone when nothing is asked: down, no address
    info = link_info(ns, "office")
    assert "UP" not in info["flags"]
    assert [a for a in info["addr_info"] if a["family"] == "inet"] == []


@pytest.mark.root
def test_interface_in_use_is_a_clear_error(vpn_ns: tuple[Namespace, list[Device]]) -> None:
    ns, devices = vpn_ns
    open_in(ns, devices, TunDevice(request(interface="busy0")))
    with pytest.raises(DeviceError, match="Could not create a tun/tap interface") as err:
        open_in(ns, devices, TapDevice(request("tap", interface="busy0")))
    assert "busy0" in str(err.value)


@pytest.mark.root
def test_refused_netconfig_closes_the_new_interface(
    vpn_ns: tuple[Namespace, list[Device]],
) -> None:
    ns, devices = vpn_ns
    req = request(
        interface="bad0",
        DeviceAddress=InterfaceAddresses().parse(f"{TUN_ADDRESS}/24"),
        DeviceRoute=RouteSpec().parse("198.19.0.0/16 via 198.51.100.1"),  # not on the link
    )
    device = TunDevice(req)
    with pytest.raises(NetconfigError, match=r"Could not add route 198.19.0.0/16 via 198.51.100.1"):
        open_in(ns, devices, device)
    assert device.fileno() is None
    assert ns.ip("link", "show", "bad0", check=False).returncode != 0  # gone with its fd


@pytest.mark.root
def test_tincad_opens_tun_configures_it_and_runs_tinc_up(netns_lab: Lab, tmp_path: Path) -> None:
    ns = netns_lab.namespace("d")
    confbase = tmp_path / "net"
    loads = "".join(
        f"LoadPlugin = {module}\n"
        for name, module in (("tuntap", TUNTAP_MODULE), ("scripts", SCRIPTS_MODULE))
        if not installed(name)
    )
    write_files(
        confbase,
        {
            "tinc.conf": (
                "Name = alpha\nDeviceType = tun\nInterface = tinca0\n"
                f"DeviceAddress = {TUN_ADDRESS}/24\nDeviceAddress = {TUN6_ADDRESS}/64\n"
                "BindToAddress = 127.0.0.1\n" + loads
            ),
            "hosts/alpha": f"Port = {free_port()}\n",
            "tinc-up": f'#!/bin/sh\nenv > "{tmp_path}/tinc-up.env"\n',
        },
    )
    (confbase / "tinc-up").chmod(0o755)
    keys = run([*TINCA, "-c", str(confbase), "--batch", "generate-keys"])
    assert keys.returncode == 0, keys.stderr
    daemon = ns.start([*TINCAD, "-c", str(confbase), "-D", "-d1", "--pidfile", str(tmp_path / "p")])
    daemon.wait_for("Ready")
    output = daemon.output()
    assert "/dev/net/tun is a Linux tun/tap device (tun mode)" in output
    info = link_info(ns, "tinca0")
    assert "UP" in info["flags"]
    assert (TUN_ADDRESS, 24) in {(a["local"], a["prefixlen"]) for a in info["addr_info"]}
    env = dict(
        line.split("=", 1)
        for line in (tmp_path / "tinc-up.env").read_text().splitlines()
        if "=" in line
    )
    assert (env["DEVICE"], env["INTERFACE"], env["NAME"]) == ("/dev/net/tun", "tinca0", "alpha")
    # Traffic into the interface is read by the daemon's data path (whatever it
    # decides about it) without upsetting it.
    ns.ping(PEER_ADDRESS, count=3, interval=0.05, wait=0.3)
    assert daemon.running
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.output()
    assert ns.ip("link", "show", "tinca0", check=False).returncode != 0  # removed at exit
