"""The ``tun`` and ``tap`` device types: the Linux kernel's TUN/TAP driver.

Like tincd on Linux (``src/linux/device.c`` in 1.0.36 and 1.1): open the clone
device (``Device``, default ``/dev/net/tun``), ask for a tun (IP) or tap
(Ethernet) interface named ``Interface`` (default: the netname, or the
kernel's ``tunN``/``tapN`` without one), optionally with ``IFF_ONE_QUEUE``,
and log ``"<device> is a Linux tun/tap device (tun mode)"``.

Packets are what :class:`~tinca.core.device.Device` promises: bare IP
packets for tun, Ethernet frames for tap; both are opened with ``IFF_NO_PI``.
That is one deliberate difference from tincd, which opens tun *with* the
kernel's 4-byte packet information header and keeps its protocol field as
the EtherType of the frame it builds; here the data path adds that frame
header, and the kernel tells IPv4 from IPv6 by the version nibble on write.

The interface is left down and unaddressed, as tincd leaves it to
``tinc-up``, unless the user sets the tinca variables of
:mod:`tinca.plugins.devices.netconfig` (``DeviceAddress``, ``DeviceRoute``,
``DeviceMTU``, ``DeviceUp``), which are applied right after creation.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct

from tinca.core.config.variables import Variable
from tinca.core.device import Device, DeviceRequest, Layer
from tinca.core.errors import TincaError
from tinca.core.hookspecs import Register
from tinca.core.logs import DEBUG_STATUS, DEBUG_TRAFFIC, level_for
from tinca.core.markers import hookimpl
from tinca.plugins.devices import netconfig

log = logging.getLogger(__name__)

# From <linux/if_tun.h> and <linux/sockios.h>; tincd uses the same requests.
TUNSETIFF = 0x400454CA
"""_IOW('T', 202, int): attach the descriptor to a new or existing interface."""
TUNGETIFF = 0x800454D2
"""_IOR('T', 210, unsigned int): read back the interface name and flags."""
SIOCGIFHWADDR = 0x8927
"""Read the interface's hardware (MAC) address; tincd does this for tap."""
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_ONE_QUEUE = 0x2000
IFNAMSIZ = 16
"""Interface names are at most IFNAMSIZ - 1 bytes; tincd truncates longer ones."""

DEFAULT_DEVICE = "/dev/net/tun"
"""tincd's DEFAULT_DEVICE on Linux."""

READ_SIZE = 65536 + 32
"""Bytes asked for per read: more than the largest frame (65535-byte MTU plus
headers) either interface type can hand out, so no packet is truncated
whatever MTU the interface is given."""

_IFREQ = struct.Struct("16sH22x")
"""struct ifreq as TUNSETIFF/TUNGETIFF use it: name, flags, padding to 40 bytes."""

DEVICE_INFO = {
    "tun": "Linux tun/tap device (tun mode)",
    "tap": "Linux tun/tap device (tap mode)",
}
"""tincd's device_info strings, shown in the start-up line and in errors."""


class DeviceError(TincaError):
    """The tun/tap device could not be set up or has stopped working."""


def pack_ifreq(name: str, flags: int) -> bytes:
    """A ``struct ifreq`` for TUNSETIFF: interface name (may be empty) and flags."""
    return _IFREQ.pack(os.fsencode(name), flags)


def unpack_ifreq(data: bytes) -> tuple[str, int]:
    """Name and flags from a ``struct ifreq`` the kernel filled in."""
    raw, flags = _IFREQ.unpack_from(data)
    return os.fsdecode(raw.split(b"\0", 1)[0]), flags


def interface_name(request: DeviceRequest) -> str:
    """The interface name to ask for: ``Interface``, else the netname, else
    empty (the kernel then picks ``tunN``/``tapN``). Truncated to 15 bytes, as
    tincd does, with a warning."""
    name = request.interface or request.netname or ""
    encoded = os.fsencode(name)
    if len(encoded) > IFNAMSIZ - 1:
        short = os.fsdecode(encoded[: IFNAMSIZ - 1])
        log.warning(
            "Interface name %r is longer than %d bytes; using %r", name, IFNAMSIZ - 1, short
        )
        return short
    return name


def _hint(err: OSError, device: str, interface: str) -> str:
    if err.errno == errno.ENOENT:
        return " (is the tun driver loaded? try 'modprobe tun')"
    if err.errno in (errno.EPERM, errno.EACCES):
        return " (creating an interface needs root or CAP_NET_ADMIN)"
    if err.errno == errno.EBUSY:
        return f" (interface {interface or '?'} is in use, maybe by another daemon)"
    if err.errno == errno.EINVAL:
        return (
            f" (is {interface!r} a valid interface name that is not already "
            "a different kind of interface?)"
        )
    if err.errno == errno.ENOTTY:
        return f" ({device} is not a tun/tap clone device)"
    return ""


class TunTapDevice(Device):
    """A Linux tun or tap interface, read and written through one descriptor.

    :class:`TunDevice` and :class:`TapDevice` pick the interface type. After
    :meth:`open`, ``device`` is the clone device path, ``interface`` the
    name the kernel gave the interface, ``flags`` the TUNSETIFF flags used and,
    for tap, ``mac`` the interface's MAC address (tincd reads it to answer ARP
    in router mode). The descriptor is non-blocking and not inherited by
    scripts.
    """

    kind = "tap"

    def __init__(self, request: DeviceRequest) -> None:
        super().__init__(request)
        self.device = request.device or DEFAULT_DEVICE
        self.info = DEVICE_INFO[self.kind]
        self.flags = 0
        self.mac: bytes | None = None
        self._fd = -1
        self._write_errors: set[int] = set()

    # ------------------------------------------------------------------ set-up

    def _wanted_flags(self) -> int:
        flags = (IFF_TUN if self.kind == "tun" else IFF_TAP) | IFF_NO_PI
        if self.request.setting("IffOneQueue"):
            flags |= IFF_ONE_QUEUE
        return flags

    def open(self) -> None:
        """Create (or attach to) the interface; apply netconfig if asked.

        Raises :class:`DeviceError` with the kernel's reason and a hint when
        the clone device cannot be opened or the interface cannot be created,
        and :class:`~tinca.plugins.devices.netconfig.NetconfigError` when the
        requested addresses, routes or MTU are refused.
        """
        if self._fd >= 0:
            return
        if self.request.layer != self.kind:
            raise DeviceError(
                f"DeviceType = {self.kind} cannot carry the "
                f"{'Ethernet frames' if self.request.layer == 'tap' else 'IP packets'} "
                f"this Mode routes; use DeviceType = {self.request.layer}"
            )
        # Settings are read before anything is created so a bad combination
        # never leaves a half-configured interface behind.
        plan = netconfig.plan_from_settings(self.request.setting, self.request.setting_all)
        wanted = interface_name(self.request)
        path = self.device or DEFAULT_DEVICE
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            raise DeviceError(
                f"Could not open {path}: {err.strerror}{_hint(err, path, wanted)}"
            ) from None
        try:
            flags = self._wanted_flags()
            try:
                answer = fcntl.ioctl(fd, TUNSETIFF, pack_ifreq(wanted, flags))
            except OSError as err:
                raise DeviceError(
                    f"Could not create a tun/tap interface from {path}: "
                    f"{err.strerror}{_hint(err, path, wanted)}"
                ) from None
            self.interface, _ = unpack_ifreq(answer)
            self.flags = flags
            if self.kind == "tap":
                self.mac = self._read_mac(fd)
            log.info("%s is a %s", self.device, self.info)
            log.log(level_for(DEBUG_STATUS), "Interface %s created", self.interface)
            netconfig.apply_plan(self.interface, plan)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _read_mac(self, fd: int) -> bytes | None:
        try:
            answer = fcntl.ioctl(fd, SIOCGIFHWADDR, pack_ifreq(self.interface or "", 0))
        except OSError as err:
            log.warning("Could not get MAC address of %s: %s", self.device, err.strerror)
            return None
        # struct ifreq: name[16], then struct sockaddr: family (2 bytes), data.
        return bytes(answer[18:24])

    def close(self) -> None:
        """Close the descriptor; the kernel then removes the interface
        (unless it was made persistent elsewhere). Safe to call twice."""
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        log.log(
            level_for(DEBUG_STATUS),
            "Statistics for %s %s: %d packets (%d bytes) in, %d packets (%d bytes) out",
            self.info,
            self.device,
            self.packets_in,
            self.bytes_in,
            self.packets_out,
            self.bytes_out,
        )

    # ------------------------------------------------------------------ data path

    def fileno(self) -> int | None:
        """The non-blocking tun/tap descriptor, or ``None`` when closed."""
        return self._fd if self._fd >= 0 else None

    def _read_failed(self, err: OSError) -> None:
        """A read error other than "nothing ready": fatal when the interface is
        gone (EBADFD), else logged as tincd logs it."""
        if err.errno == errno.EBADFD:
            raise DeviceError(
                f"{self.info} {self.device} ({self.interface}) is gone: {err.strerror}"
            ) from None
        log.error("Error while reading from %s %s: %s", self.info, self.device, err.strerror)

    def _write_failed(self, err: OSError) -> None:
        """Count a failed write as a drop; the first failure of each kind is an
        error in the log, later ones only show at the traffic debug level."""
        code = err.errno or 0
        if code in self._write_errors:
            log.log(level_for(DEBUG_TRAFFIC), "Can't write to %s: %s", self.device, err)
        else:
            self._write_errors.add(code)
            log.error("Can't write to %s %s: %s", self.info, self.device, err.strerror)

    def read_batch(self, limit: int) -> list[bytes]:
        """Every packet ready now, up to ``limit``; empty when none is.

        A descriptor the kernel declares dead (EBADFD: the interface was
        deleted) raises :class:`DeviceError`; other read errors are logged, as
        tincd logs them, and end the batch.
        """
        packets: list[bytes] = []
        fd = self._fd
        if fd < 0:
            return packets
        read = os.read
        append = packets.append
        size = READ_SIZE
        try:
            for _ in range(limit):
                append(read(fd, size))
        except BlockingIOError:
            pass
        except OSError as err:
            self._read_failed(err)
        if packets:
            self.packets_in += len(packets)
            self.bytes_in += sum(map(len, packets))
        return packets

    def write(self, packet: bytes) -> None:
        """Hand one packet to the kernel; a failure drops it (see :meth:`_write_failed`)."""
        try:
            os.write(self._fd, packet)
        except OSError as err:
            self._write_failed(err)
            return
        self.packets_out += 1
        self.bytes_out += len(packet)


class TunDevice(TunTapDevice):
    """``DeviceType = tun``: bare IP packets (router mode)."""

    kind = "tun"
    layer = "tun"


class TapDevice(TunTapDevice):
    """``DeviceType = tap``: Ethernet frames as they are (switch and hub modes)."""

    kind = "tap"
    layer = "tap"


@hookimpl
def tinca_register_device_types(register: Register) -> None:
    """Offer ``DeviceType = tun`` and ``DeviceType = tap``."""
    register("tun", TunDevice, doc="Linux TUN interface: IP packets (router mode default)")
    register("tap", TapDevice, doc="Linux TAP interface: Ethernet frames (switch/hub default)")


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare tinca's interface set-up variables (DeviceAddress, DeviceRoute, ...)."""
    return list(netconfig.VARIABLES)


@hookimpl(trylast=True)
def tinca_default_device_type(layer: Layer) -> str | None:
    """Without ``DeviceType``: ``tun`` for IP packets, ``tap`` for Ethernet frames."""
    return layer
