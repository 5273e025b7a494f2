"""A third-party plugin package is found, used and blockable with no change to tinca.

``tests/sample_plugins/tinca-sample-plugin`` is packaged the way a plugin
author would package it. The shared installer (:mod:`tests.sample_packages`)
installs it into a temporary directory that only the subprocesses of these
tests see (through ``PYTHONPATH``), never into the interpreter running pytest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sample_packages import SampleInstaller, sample_installer

SAMPLE = "tinca-sample-plugin"
RUN_TIMEOUT = 60
READY_TIMEOUT = 15
STOP_TIMEOUT = 10

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101

# Overlay addresses from the test ranges (198.18.0.0/15, 2001:db8::/32).
IPV4_ICMP_ECHO = bytes.fromhex(
    "4500001c00010000400100000000c6120001c6120002"  # IPv4 198.18.0.1 -> 198.18.0.2, ICMP
    "08000000abcd0001"  # echo request, id 0xabcd, seq 1
)
IPV6_UDP = bytes.fromhex(
    "6000000000101140"  # IPv6, payload 16, next header UDP, hop limit 64
    "20010db8000000000000000000000001"  # 2001:db8::1
    "20010db8000000000000000000000002"  # 2001:db8::2
    "d431029b00100000"  # UDP 54321 -> 667, length 16
    "7069636b206d6521"  # "pick me!"
)
ETHERNET_HEADER = bytes.fromhex("0200000000020200000000010800")  # locally administered MACs


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


__all__ = ["sample_installer"]  # the shared fixture, used through sample_env


@pytest.fixture(scope="session")
def sample_env(sample_installer: SampleInstaller) -> dict[str, str]:
    """An environment whose Python sees tinca-sample-plugin installed."""
    return sample_installer.env(SAMPLE)


@pytest.fixture
def plain_env() -> dict[str, str]:
    """The environment pytest runs in, where the sample plugin is not installed."""
    return dict(os.environ)


def run_python(code: str, *args: str, env: dict[str, str], cwd: Path) -> str:
    """Run ``python -c code args`` and return its stdout; fail with its stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def command(name: str) -> str:
    """The installed console script ``name`` of the interpreter running the tests."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e .)")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_confdir(root: Path, server: list[str], port: int = 0) -> Path:
    """A network directory for node ``alpha``: tinc.conf with ``server`` lines
    (``Name = alpha`` first), and hosts/alpha with ``Port``."""
    confdir = root / "net"
    (confdir / "hosts").mkdir(parents=True)
    (confdir / "tinc.conf").write_text("\n".join(["Name = alpha", *server]) + "\n")
    (confdir / "hosts" / "alpha").write_text(f"Port = {port}\n")
    return confdir


KEYGEN = """
import sys
from pathlib import Path
from tinca.core.keys import KeygenRequest
from tinca.core.plugin_manager import PluginManager

generators = PluginManager().registry("tinca_register_key_generators")
for entry in generators.entries():
    entry.value(KeygenRequest(confbase=Path(sys.argv[1]), name="alpha"))
"""


def generate_keys(confdir: Path, env: dict[str, str]) -> None:
    """Give ``alpha`` every kind of key the installed plugins make, as
    ``tinca generate-keys`` would, so the daemon fails for no other reason."""
    run_python(KEYGEN, str(confdir), env=env, cwd=confdir)


class StderrLines:
    """Collects a process's stderr lines in a thread so tests can wait for some."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._done = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        with stream:
            for line in stream:
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def wait_for(self, needles: list[str], timeout: float) -> bool:
        """True once every needle appeared in some line; False at EOF or timeout."""

        def seen() -> bool:
            return all(any(needle in line for line in self.lines) for needle in needles)

        with self._changed:
            self._changed.wait_for(lambda: seen() or self._done, timeout)
            return seen()

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop the process we started, by its pid: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Record:
    seconds: int
    microseconds: int
    original_length: int
    data: bytes


def read_pcap(path: Path) -> tuple[tuple[int, ...], list[Record]]:
    """Parse a classic libpcap file (either byte order): global header and records."""
    data = path.read_bytes()
    orders = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}
    assert data[:4] in orders, f"not a microsecond pcap file: {data[:4].hex()}"
    order = orders[data[:4]]
    header = struct.unpack_from(order + "IHHiIII", data)
    records = []
    offset = 24
    while offset < len(data):
        seconds, microseconds, included, original = struct.unpack_from(order + "IIII", data, offset)
        offset += 16
        records.append(Record(seconds, microseconds, original, data[offset : offset + included]))
        offset += included
    assert offset == len(data), "truncated pcap record"
    return header, records


# ---------------------------------------------------------------------------
# Discovery through the entry point
# ---------------------------------------------------------------------------

PROBE = """
import json, sys
from tinca.core.plugin_manager import PluginManager

manager = PluginManager(blocked=json.loads(sys.argv[1]))
devices = manager.registry("tinca_register_device_types")
declared = manager.variables.lookup("PcapSnapLength")
variable = None
if declared is not None:
    v = declared.variable
    parses = {}
    for text in ("63", "64", "1500", "65535", "65536", "many"):
        try:
            parses[text] = v.type.parse(text)
        except ValueError:
            parses[text] = None
    variable = {
        "plugin": declared.plugin, "default": v.default, "scope": str(v.scope),
        "implemented": v.implemented, "doc": v.doc, "parses": parses,
    }
print(json.dumps({
    "plugins": manager.plugin_names(),
    "described": {i.name: [i.distribution, i.version, i.slots] for i in manager.describe()},
    "devices": {e.name: e.plugin for e in devices.entries()},
    "variable": variable,
}))
"""


def probe(env: dict[str, str], cwd: Path, blocked: list[str] | None = None) -> dict:
    return json.loads(run_python(PROBE, json.dumps(blocked or []), env=env, cwd=cwd))


def test_sample_plugin_is_loaded_from_its_entry_point(
    sample_env: dict[str, str], tmp_path: Path
) -> None:
    found = probe(sample_env, tmp_path)
    assert "sample" in found["plugins"]
    distribution, version, slots = found["described"]["sample"]
    assert (distribution, version) == ("tinca-sample-plugin", "1.2.3")
    assert "device type pcap" in slots
    assert any("node_up" in slot for slot in slots)
    assert found["devices"]["pcap"] == "sample"
    assert found["devices"]["dummy"] == "dummy"  # built-ins are still there


def test_sample_plugin_owns_its_config_variable(sample_env: dict[str, str], tmp_path: Path) -> None:
    variable = probe(sample_env, tmp_path)["variable"]
    assert variable is not None
    assert variable["plugin"] == "sample"
    assert variable["default"] == 65535
    assert variable["scope"] == "Scope.SERVER"
    assert variable["implemented"] is True
    assert variable["doc"] and "\n" not in variable["doc"]
    # Integer 64..65535; out-of-range and non-numbers are rejected (None).
    expected = {"63": None, "64": 64, "1500": 1500, "65535": 65535, "65536": None, "many": None}
    assert variable["parses"] == expected


def test_blocked_sample_plugin_contributes_nothing(
    sample_env: dict[str, str], tmp_path: Path
) -> None:
    found = probe(sample_env, tmp_path, blocked=["sample"])
    assert "sample" not in found["described"]
    assert "pcap" not in found["devices"]
    assert found["variable"] is None
    assert "sample" not in found["plugins"]


def test_without_the_package_there_is_no_sample_plugin(
    plain_env: dict[str, str], tmp_path: Path
) -> None:
    found = probe(plain_env, tmp_path)
    assert "sample" not in found["plugins"]
    assert "sample" not in found["described"]
    assert "pcap" not in found["devices"]
    assert found["variable"] is None
    assert "dummy" in found["devices"]  # the probe itself works here


CONFIG_CHECK = """
import json, sys
from tinca.core.config.loader import load_configuration
from tinca.core.plugin_manager import PluginManager

config = load_configuration(sys.argv[1], PluginManager().variables)
print(json.dumps({
    "value": config.server.get("PcapSnapLength"),
    "warnings": [str(w) for w in config.warnings()],
}))
"""


def test_config_validates_the_plugins_variable(
    sample_env: dict[str, str], plain_env: dict[str, str], tmp_path: Path
) -> None:
    confdir = make_confdir(tmp_path, ["PcapSnapLength = 1500"])
    with_plugin = json.loads(run_python(CONFIG_CHECK, str(confdir), env=sample_env, cwd=tmp_path))
    assert with_plugin == {"value": 1500, "warnings": []}
    without = json.loads(run_python(CONFIG_CHECK, str(confdir), env=plain_env, cwd=tmp_path))
    assert any("unknown variable PcapSnapLength" in w for w in without["warnings"])


# ---------------------------------------------------------------------------
# The pcap device
# ---------------------------------------------------------------------------

WRITE_THROUGH_REGISTRY = """
import json, sys
from tinca.core.device import DeviceRequest
from tinca.core.plugin_manager import PluginManager

layer, path, *packets = sys.argv[1:]
factory = PluginManager().registry("tinca_register_device_types").get("pcap").value
device = factory(DeviceRequest(netname=None, layer=layer, device=path))
device.open()
for packet in packets:
    device.write(bytes.fromhex(packet))
print(json.dumps([device.kind, device.device, device.read_batch(8), device.fileno(),
                  device.packets_out, device.bytes_out]))
device.close()
device.close()
"""


@pytest.mark.parametrize(
    ("layer", "linktype", "packets"),
    [
        ("tun", LINKTYPE_RAW, [IPV4_ICMP_ECHO, IPV6_UDP]),
        ("tap", LINKTYPE_ETHERNET, [ETHERNET_HEADER + IPV4_ICMP_ECHO, ETHERNET_HEADER + bytes(46)]),
    ],
)
def test_pcap_device_writes_what_it_is_given(
    sample_env: dict[str, str], tmp_path: Path, layer: str, linktype: int, packets: list[bytes]
) -> None:
    path = tmp_path / "x.pcap"
    before = time.time()
    hexed = [packet.hex() for packet in packets]
    output = run_python(
        WRITE_THROUGH_REGISTRY, layer, str(path), *hexed, env=sample_env, cwd=tmp_path
    )
    after = time.time()
    kind, device, read, fileno, packets_out, bytes_out = json.loads(output)
    assert (kind, device, read, fileno) == ("pcap", str(path), [], None)
    assert (packets_out, bytes_out) == (2, sum(map(len, packets)))

    header, records = read_pcap(path)
    assert header == (0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    assert [r.data for r in records] == packets
    assert [r.original_length for r in records] == [len(p) for p in packets]
    for record in records:
        assert int(before) <= record.seconds <= after
        assert 0 <= record.microseconds < 1_000_000
    assert (records[0].seconds, records[0].microseconds) <= (
        records[1].seconds,
        records[1].microseconds,
    )


SNAPLEN_AND_DEFAULT_PATHS = """
import sys
from tinca.core.device import DeviceRequest
from tinca_sample_plugin import PcapDevice

short = PcapDevice(DeviceRequest(None, "tun", device=sys.argv[1]), snaplen=64, clock=lambda: 1.5)
short.open()
short.write(bytes(range(100)))
short.close()
for interface in ("vpn0", None):
    device = PcapDevice(DeviceRequest(None, "tap", interface=interface))
    device.open()
    device.close()
"""


def test_pcap_device_cuts_packets_to_the_snap_length_and_picks_a_default_file(
    sample_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "short.pcap"
    run_python(SNAPLEN_AND_DEFAULT_PATHS, str(path), env=sample_env, cwd=tmp_path)
    header, records = read_pcap(path)
    assert header[5] == 64
    assert records == [Record(1, 500_000, 100, bytes(range(64)))]
    for name in ("vpn0.pcap", "tinca.pcap"):
        assert read_pcap(tmp_path / name) == ((0xA1B2C3D4, 2, 4, 0, 0, 65535, 1), [])


def test_pcap_device_open_error_is_a_tinca_error(
    sample_env: dict[str, str], tmp_path: Path
) -> None:
    code = (
        "import sys\n"
        "from tinca.core.device import DeviceRequest\n"
        "from tinca.core.errors import TincaError\n"
        "from tinca_sample_plugin import PcapDevice\n"
        "try:\n"
        "    PcapDevice(DeviceRequest(None, 'tun', device=sys.argv[1])).open()\n"
        "except TincaError as err:\n"
        "    print(err)\n"
    )
    missing = tmp_path / "no" / "such" / "dir" / "x.pcap"
    assert str(missing) in run_python(code, str(missing), env=sample_env, cwd=tmp_path)


# ---------------------------------------------------------------------------
# End to end through the command lines
# ---------------------------------------------------------------------------


def plugin_rows(stdout: str) -> dict[str, str]:
    """``tinca plugins`` output as {plugin name: its line}, header checked."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines and re.match(r"\s*NAME\s+DISTRIBUTION\s+VERSION\s+SLOTS\b", lines[0]), stdout
    return {line.split()[0]: line for line in lines[1:]}


def test_tinca_plugins_lists_the_sample_plugin(
    sample_env: dict[str, str], plain_env: dict[str, str], tmp_path: Path
) -> None:
    confdir = make_confdir(tmp_path, [])
    argv = [command("tinca"), "-c", str(confdir), "plugins"]

    proc = subprocess.run(argv, env=sample_env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    rows = plugin_rows(proc.stdout)
    assert "sample" in rows, proc.stdout
    assert rows["sample"].split()[1:3] == ["tinca-sample-plugin", "1.2.3"]
    assert "device type pcap" in rows["sample"]
    assert "device type dummy" in rows["dummy"]

    proc = subprocess.run(argv, env=plain_env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    rows = plugin_rows(proc.stdout)
    assert "sample" not in rows
    assert "dummy" in rows


@pytest.fixture
def daemon() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; each is stopped by pid when the test ends."""
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for proc in started:
            stop(proc)


def test_tincad_runs_with_the_sample_device(
    sample_env: dict[str, str],
    tmp_path: Path,
    daemon: list[subprocess.Popen[str]],
) -> None:
    capture = tmp_path / "cap.pcap"
    confdir = make_confdir(
        tmp_path,
        [
            "BindToAddress = 127.0.0.1",
            "DeviceType = pcap",
            f"Device = {capture}",
            "PcapSnapLength = 200",
        ],
        port=free_port(),
    )
    generate_keys(confdir, sample_env)
    proc = subprocess.Popen(
        [command("tincad"), "-c", str(confdir), "-D", "-d3"],
        env=sample_env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    daemon.append(proc)
    log = StderrLines(proc.stderr)

    ready = log.wait_for(["Ready", "sample plugin: node alpha is up"], timeout=READY_TIMEOUT)
    assert ready, f"tincad did not get ready in {READY_TIMEOUT} s:\n{log.text()}"
    assert proc.poll() is None, log.text()
    header, _ = read_pcap(capture)  # the sample device was opened at Device
    assert header[6] == LINKTYPE_RAW  # Mode = router (the default) is the tun layer
    assert header[5] == 200  # the plugin's own variable reached its device

    proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tincad did not stop within {STOP_TIMEOUT} s of SIGTERM:\n{log.text()}")
    assert status == 0, log.text()


def test_tincad_names_an_unknown_device_type(plain_env: dict[str, str], tmp_path: Path) -> None:
    server = ["BindToAddress = 127.0.0.1", "DeviceType = pcap"]
    device_type_line = 1 + server.index("DeviceType = pcap") + 1  # after "Name = alpha"
    confdir = make_confdir(tmp_path, server, port=free_port())
    generate_keys(confdir, plain_env)
    # run() kills the daemon (by pid) if it outlives the timeout.
    proc = subprocess.run(
        [command("tincad"), "-c", str(confdir), "-D"],
        env=plain_env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    where = f"tinc.conf:{device_type_line}"
    naming = [
        line
        for line in proc.stderr.splitlines()
        if "pcap" in line and where in line and "dummy" in line
    ]
    assert naming, f"no line names pcap, {where} and the installed types:\n{proc.stderr}"
