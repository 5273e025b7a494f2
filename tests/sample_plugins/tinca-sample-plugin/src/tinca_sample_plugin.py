"""tinca-sample-plugin: a small, complete third-party tinca plugin.

It is found through the ``tinca`` entry point group (``sample =
"tinca_sample_plugin"`` in its ``pyproject.toml``) and uses only tinca's public
plugin API: :data:`tinca.core.hookimpl`, :class:`tinca.core.device.Device`,
:mod:`tinca.core.config.variables` and :mod:`tinca.core.config.values`. It
fills three kinds of slot:

Device type ``pcap`` (hook ``tinca_register_device_types``)
    ``DeviceType = pcap`` makes the node write every packet it would deliver
    to the host into a classic libpcap file instead of a kernel interface, so
    you can open what the VPN carries in Wireshark or ``tcpdump -r``. The file
    is ``Device`` if set, else ``<Interface or "tinca">.pcap`` in the current
    directory. Its link type is raw IP (101) in router mode (tun layer) and
    Ethernet (1) in switch and hub modes (tap layer). Nothing is ever read.

Configuration variable ``PcapSnapLength`` (hook ``tinca_config_variables``)
    Declared by this plugin, so tinca validates it (an integer from 64 to
    65535, default 65535), documents it and does not warn that it is unknown.
    It is the pcap snapshot length: bytes of each packet kept in the file. The
    device reads it through ``DeviceRequest.setting``.

Lifecycle event (hook ``tinca_node_up``)
    Logs ``sample plugin: node NAME is up`` at INFO on the
    ``tinca_sample_plugin`` logger once the node's device is open.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from tinca.core import hookimpl
from tinca.core.config.values import Integer
from tinca.core.config.variables import Scope, Variable
from tinca.core.device import Device, DeviceRequest
from tinca.core.errors import TincaError

if TYPE_CHECKING:
    from tinca.core.events import NodeEvent

log = logging.getLogger("tinca_sample_plugin")

# libpcap's classic file format (pcap-savefile(5)): a 24-byte global header,
# then per packet a 16-byte record header and the captured bytes. Written
# little-endian; readers detect the byte order from the magic number.
PCAP_MAGIC = 0xA1B2C3D4  # microsecond timestamps
PCAP_VERSION = (2, 4)
PCAP_HEADER = struct.Struct("<IHHiIII")
PCAP_RECORD = struct.Struct("<IIII")
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # bare IPv4/IPv6 packets, which is what a tun device carries
LINKTYPES = {"tun": LINKTYPE_RAW, "tap": LINKTYPE_ETHERNET}

SNAPLEN_VARIABLE = "PcapSnapLength"
DEFAULT_SNAPLEN = 65535


class PcapDevice(Device):
    """A write-only device that appends every packet to a pcap file.

    ``snaplen`` caps the bytes stored per packet (the record keeps the original
    length). ``clock`` returns the capture time in seconds since the epoch.
    Each packet is flushed as it is written, like ``tcpdump -U``, so the file
    can be read while the node runs.
    """

    kind = "pcap"

    def __init__(
        self,
        request: DeviceRequest,
        *,
        snaplen: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(request)
        self.path = Path(request.device or f"{request.interface or 'tinca'}.pcap")
        self.device = str(self.path)
        self.linktype = LINKTYPES[request.layer]
        self.snaplen = snaplen or request.setting(SNAPLEN_VARIABLE) or DEFAULT_SNAPLEN
        self._clock = clock
        self._file: BinaryIO | None = None

    def open(self) -> None:
        """Create (or truncate) the capture file and write its header."""
        try:
            self._file = self.path.open("wb")
            self._file.write(
                PCAP_HEADER.pack(PCAP_MAGIC, *PCAP_VERSION, 0, 0, self.snaplen, self.linktype)
            )
            self._file.flush()
        except OSError as err:
            self.close()
            raise TincaError(f"cannot open pcap capture file {self.path}: {err.strerror}") from None
        log.info("%s is a pcap capture file (link type %d)", self.path, self.linktype)

    def close(self) -> None:
        """Close the capture file; safe to call twice."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def read_batch(self, limit: int) -> list[bytes]:
        """Always empty: a capture file produces no packets."""
        return []

    def write(self, packet: bytes) -> None:
        """Append ``packet`` to the capture, cut to the snapshot length."""
        if self._file is None:
            raise RuntimeError("write() on a pcap device that is not open")
        now = self._clock()
        seconds = int(now)
        captured = packet[: self.snaplen]
        self._file.write(
            PCAP_RECORD.pack(seconds, int((now - seconds) * 1_000_000), len(captured), len(packet))
        )
        self._file.write(captured)
        self._file.flush()
        self.packets_out += 1
        self.bytes_out += len(packet)


@hookimpl
def tinca_register_device_types(register: Callable[..., Any]) -> None:
    """Offer ``DeviceType = pcap``."""
    register("pcap", PcapDevice, doc="write delivered packets to a pcap file (Device = path)")


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare ``PcapSnapLength``, which this plugin owns."""
    return [
        Variable(
            SNAPLEN_VARIABLE,
            Integer(minimum=64, maximum=65535),
            "Bytes of each packet the pcap device keeps in its capture file.",
            default=DEFAULT_SNAPLEN,
            scope=Scope.SERVER,
            implemented=True,
        )
    ]


@hookimpl
def tinca_node_up(event: NodeEvent) -> None:
    """Say that the node is up, to show a lifecycle hook at work."""
    log.info("sample plugin: node %s is up", event.name)
