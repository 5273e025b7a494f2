"""Network namespaces for integration and interop tests.

A :class:`Lab` makes namespaces named ``tinca-<pid>-<lab>-<short>``, joins them
with veth pairs or through a bridge ("switch") using documentation underlay
addresses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), runs commands and
long-running programs inside them, and always tears everything down: every
process it started is stopped by its pid (its process group), then every
namespace is deleted, also when the test failed. Namespaces left behind by a
test run that died are swept when the next lab starts (only those whose pid
is gone).

Use the ``netns_lab`` fixture by naming it in the test module::

    from tests import netns

    netns_lab = netns.netns_lab

    def test_ping(netns_lab):
        a, b = netns_lab.namespace("a"), netns_lab.namespace("b")
        netns_lab.switch([a, b])                      # a.address == "192.0.2.1"
        assert a.ping(b.address).ok
        server = b.iperf3_server()
        bits = a.iperf3_client(b.address, seconds=1)

The fixture skips (with the reason) when not root, and fails instead when the
``CI`` environment variable is set and ``ip`` or ``/dev/net/tun`` is missing;
``ping`` and ``iperf3`` are checked the same way when first used.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tinca.core.pidfile import pid_alive

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
"""setns(2) flag for network namespaces (<sched.h>)."""

UNDERLAYS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
"""The only underlay networks tests may use (RFC 5737 documentation ranges)."""

PREFIX = "tinca-"
COMMAND_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0

_serial = itertools.count()


class LabError(AssertionError):
    """A lab operation failed; the message carries the command and its output."""


# ---------------------------------------------------------------------------
# Requirements
# ---------------------------------------------------------------------------


def _unavailable(message: str) -> None:
    """Skip, or fail when CI is set (CI must run what it claims to run)."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}, but CI is set: namespace tests must run there")
    pytest.skip(message)


def need_tool(tool: str, package: str) -> str:
    """The path of ``tool``; skip (fail under CI) when it is not installed."""
    found = shutil.which(tool)
    if found is None:
        _unavailable(f"{tool} is not installed (apt-get install -y {package})")
    return str(found)


def require_lab() -> None:
    """Everything a lab needs: root, ``ip`` and the tun driver."""
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root")
    need_tool("ip", "iproute2")
    if not os.path.exists("/dev/net/tun"):
        _unavailable("/dev/net/tun is missing (modprobe tun)")


# ---------------------------------------------------------------------------
# Waiting for output
# ---------------------------------------------------------------------------


def wait_for_text(
    read: Callable[[], str],
    pattern: str | re.Pattern[str],
    timeout: float = 15.0,
    alive: Callable[[], bool] | None = None,
    what: str = "output",
) -> re.Match[str]:
    """Poll ``read()`` until ``pattern`` (plain text or a compiled regex) appears.

    Returns the match. Fails with the whole text when ``timeout`` passes or
    ``alive()`` says the writer has ended without printing it.
    """
    regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
    deadline = time.monotonic() + timeout
    while True:
        text = read()
        found = regex.search(text)
        if found:
            return found
        if alive is not None and not alive():
            text = read()  # it may have printed the line just before exiting
            found = regex.search(text)
            if found:
                return found
            raise LabError(f"{regex.pattern!r} not seen; {what} ended. Text:\n{text}")
        if time.monotonic() >= deadline:
            raise LabError(f"{regex.pattern!r} not seen within {timeout:g} s. Text:\n{text}")
        time.sleep(0.02)


def wait_for_line(
    path: Path, pattern: str | re.Pattern[str], timeout: float = 15.0
) -> re.Match[str]:
    """Wait until a line matching ``pattern`` is in the file at ``path``."""

    def read() -> str:
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    return wait_for_text(read, pattern, timeout, what=str(path))


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


class Process:
    """A program started inside a namespace; stdout and stderr go to ``log``.

    It runs in a session of its own, so :meth:`stop` takes down everything it
    started, by its process group id (which is its pid).
    """

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, argv: Sequence[str]) -> None:
        self.proc = proc
        self.log = log
        self.argv = list(argv)

    @property
    def pid(self) -> int:
        """The program's pid (``ip netns exec`` execs it, so the pid is its own)."""
        return self.proc.pid

    @property
    def running(self) -> bool:
        """True until the program has exited."""
        return self.proc.poll() is None

    def output(self) -> str:
        """Everything it printed so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 15.0) -> re.Match[str]:
        """Wait for ``pattern`` in its output; fail early if it exits first."""
        return wait_for_text(
            self.output, pattern, timeout, alive=lambda: self.running, what=f"{self.argv[0]}"
        )

    def wait(self, timeout: float = COMMAND_TIMEOUT) -> int:
        """Wait for it to exit by itself; returns its status."""
        return self.proc.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM to its process group, SIGKILL if it lingers; returns its status."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        # Children the program left in its group outlive it; end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(timeout)


# ---------------------------------------------------------------------------
# Namespaces
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PingResult:
    """What ``ping`` reported: ``ok`` is its exit status 0 (at least one reply)."""

    ok: bool
    transmitted: int
    received: int
    loss: float
    """Packet loss in percent, as ping prints it."""
    output: str


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns: {os.strerror(code)}")


class Namespace:
    """One network namespace of a lab (``lo`` is up)."""

    def __init__(self, lab: Lab, short: str, name: str) -> None:
        self.lab = lab
        self.short = short
        self.name = name
        self.address: str | None = None
        """Its underlay address once :meth:`Lab.switch` or :meth:`Lab.link` gave it one."""

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    @property
    def prefix(self) -> list[str]:
        """The command prefix that runs a program inside: ``ip netns exec NAME``."""
        return ["ip", "netns", "exec", self.name]

    def run(
        self,
        argv: Sequence[str],
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside to completion (text output captured)."""
        return self.lab.run([*self.prefix, *argv], check=check, timeout=timeout)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``ip -n NAME ARGS``."""
        return self.lab.run(["ip", "-n", self.name, *args], check=check)

    def start(
        self, argv: Sequence[str], label: str | None = None, env: dict[str, str] | None = None
    ) -> Process:
        """Start a long-running program inside; the lab stops it at the end."""
        return self.lab.start([*self.prefix, *argv], label or Path(argv[0]).name, env)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Move the calling thread into this namespace for the ``with`` block.

        Sockets, tun/tap devices and netlink handles opened inside stay in the
        namespace after the block; threads started inside start there too.
        """
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(NETNS_DIR / self.name, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                yield
            finally:
                _setns(original)
        finally:
            os.close(original)

    def ping(
        self,
        address: str,
        count: int = 3,
        interval: float = 0.2,
        wait: float = 1.0,
        size: int | None = None,
        timeout: float | None = None,
    ) -> PingResult:
        """``ping -c COUNT`` from inside; waits ``wait`` s for each reply."""
        need_tool("ping", "iputils-ping")
        argv = ["ping", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", str(wait)]
        if ipaddress.ip_address(address.split("%")[0]).version == 6:
            argv.append("-6")
        if size is not None:
            argv += ["-s", str(size)]
        limit = timeout or (count * interval + wait + 10)
        result = self.run([*argv, address], check=False, timeout=limit)
        text = result.stdout + result.stderr
        counts = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", text)
        loss = re.search(r"([\d.]+)% packet loss", text)
        return PingResult(
            ok=result.returncode == 0,
            transmitted=int(counts.group(1)) if counts else 0,
            received=int(counts.group(2)) if counts else 0,
            loss=float(loss.group(1)) if loss else 100.0,
            output=text,
        )

    def iperf3_server(self, port: int = 5201, bind: str | None = None) -> Process:
        """Start ``iperf3 -s`` for one test; returns once it listens."""
        need_tool("iperf3", "iperf3")
        argv = ["iperf3", "-s", "-1", "-p", str(port), "--forceflush"]
        if bind:
            argv += ["-B", bind]
        server = self.start(argv, label=f"iperf3-server-{port}")
        server.wait_for("Server listening", timeout=10)
        return server

    def iperf3_client(
        self,
        server: str,
        seconds: float = 2,
        port: int = 5201,
        udp: bool = False,
        bitrate: str | None = None,
        reverse: bool = False,
    ) -> float:
        """Run ``iperf3 -c SERVER -J`` for ``seconds``; returns the received bits/s.

        TCP reports the receiver's rate (``end.sum_received``); UDP reports
        ``end.sum``. iperf3's own errors fail the test with its message.
        """
        need_tool("iperf3", "iperf3")
        argv = ["iperf3", "-c", server, "-p", str(port), "-t", f"{seconds:g}", "-J"]
        if udp:
            argv += ["-u", "-b", bitrate or "100M"]
        elif bitrate:
            argv += ["-b", bitrate]
        if reverse:
            argv.append("-R")
        report = iperf3_report(self.run(argv, check=False, timeout=seconds + 20))
        end = report["end"]
        summary = end["sum"] if udp else end["sum_received"]
        return float(summary["bits_per_second"])


# ---------------------------------------------------------------------------
# The lab
# ---------------------------------------------------------------------------


def iperf3_report(result: subprocess.CompletedProcess[str]) -> dict:
    """The JSON report of an ``iperf3 -J`` run; :class:`LabError` when it
    printed none or reported an error."""
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise LabError(
            f"iperf3 gave no JSON (status {result.returncode}):\n{result.stdout}{result.stderr}"
        ) from None
    if "error" in report:
        raise LabError(f"iperf3: {report['error']}")
    return report


def sweep_stale_namespaces() -> list[str]:
    """Delete ``tinca-<pid>-*`` namespaces whose test process is gone."""
    removed = []
    if not NETNS_DIR.is_dir():
        return removed
    for entry in NETNS_DIR.iterdir():
        found = re.fullmatch(rf"{PREFIX}(\d+)-.+", entry.name)
        if found and not pid_alive(int(found.group(1))):
            result = subprocess.run(
                ["ip", "netns", "del", entry.name],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
            if result.returncode == 0:
                removed.append(entry.name)
    return removed


class Lab:
    """Namespaces, links and processes of one test, torn down by :meth:`close`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.prefix = f"{PREFIX}{os.getpid()}-{next(_serial)}-"
        self.namespaces: list[Namespace] = []
        self.processes: list[Process] = []
        self._switch: Namespace | None = None
        self._ports = 0
        self._closed = False
        sweep_stale_namespaces()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands

    def run(
        self, argv: Sequence[str], check: bool = True, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion; ``check`` fails with its output."""
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise LabError(
                f"{' '.join(argv)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def start(self, argv: Sequence[str], label: str, env: dict[str, str] | None = None) -> Process:
        """Start a program whose output goes to a file in the work directory."""
        log = self.workdir / f"{label}-{len(self.processes)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        process = Process(proc, log, argv)
        self.processes.append(process)
        return process

    # -- topology

    def namespace(self, short: str) -> Namespace:
        """A new namespace ``<prefix><short>`` with ``lo`` up."""
        if not re.fullmatch(r"[a-z0-9]{1,12}", short):
            raise ValueError(f"namespace short name {short!r}: 1-12 of [a-z0-9]")
        name = self.prefix + short
        self.run(["ip", "netns", "add", name])
        ns = Namespace(self, short, name)
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    def link(
        self, a: Namespace, b: Namespace, subnet: str = UNDERLAYS[1], mtu: int | None = None
    ) -> tuple[str, str]:
        """A veth pair between ``a`` and ``b`` (interfaces ``to-B``/``to-A``),
        addressed .1 and .2 from ``subnet``; returns the two addresses."""
        network = _underlay(subnet)
        hosts = network.hosts()
        addr_a, addr_b = str(next(hosts)), str(next(hosts))
        if_a, if_b = f"to-{b.short}", f"to-{a.short}"
        self.run(
            [
                *("ip", "link", "add", if_a, "netns", a.name, "type", "veth"),
                *("peer", "name", if_b, "netns", b.name),
            ]
        )
        for ns, ifname, address in ((a, if_a, addr_a), (b, if_b, addr_b)):
            if mtu is not None:
                ns.ip("link", "set", ifname, "mtu", str(mtu))
            ns.ip("addr", "add", f"{address}/{network.prefixlen}", "dev", ifname)
            ns.ip("link", "set", ifname, "up")
            ns.address = ns.address or address
        return addr_a, addr_b

    def switch(self, members: Sequence[Namespace], subnet: str = UNDERLAYS[0]) -> list[str]:
        """Join ``members`` through a bridge (in a namespace of its own), each
        with interface ``ul0`` and the next address of ``subnet`` (from .1).
        Returns the addresses in order and sets each member's ``address``."""
        network = _underlay(subnet)
        if self._switch is None:
            self._switch = self.namespace("sw")
            self._switch.ip("link", "add", "br0", "type", "bridge")
            self._switch.ip("link", "set", "br0", "up")
        hosts = network.hosts()
        addresses = []
        for ns in members:
            address = str(next(hosts))
            port = f"p{self._ports}"
            self._ports += 1
            self.run(
                [
                    *("ip", "link", "add", "ul0", "netns", ns.name, "type", "veth"),
                    *("peer", "name", port, "netns", self._switch.name),
                ]
            )
            self._switch.ip("link", "set", port, "master", "br0")
            self._switch.ip("link", "set", port, "up")
            ns.ip("addr", "add", f"{address}/{network.prefixlen}", "dev", "ul0")
            ns.ip("link", "set", "ul0", "up")
            ns.address = address
            addresses.append(address)
        return addresses

    # -- teardown

    def close(self) -> None:
        """Stop every process (by pid), then delete every namespace.

        Runs every step even when one fails, then raises :class:`LabError`
        naming what could not be cleaned up.
        """
        if self._closed:
            return
        self._closed = True
        problems = []
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as err:  # keep tearing down; report below
                problems.append(f"stopping pid {process.pid}: {err}")
        for ns in reversed(self.namespaces):
            result = self.run(["ip", "netns", "del", ns.name], check=False)
            if result.returncode != 0 and (NETNS_DIR / ns.name).exists():
                problems.append(f"deleting {ns.name}: {result.stderr.strip()}")
        if problems:
            raise LabError("lab teardown incomplete: " + "; ".join(problems))


def _underlay(subnet: str) -> ipaddress.IPv4Network:
    network = ipaddress.ip_network(subnet)
    if not any(network.subnet_of(ipaddress.ip_network(u)) for u in UNDERLAYS):  # type: ignore[arg-type]
        raise ValueError(f"{subnet} is not inside the allowed underlays {', '.join(UNDERLAYS)}")
    assert isinstance(network, ipaddress.IPv4Network)
    return network


@pytest.fixture
def netns_lab(tmp_path: Path) -> Iterator[Lab]:
    """A :class:`Lab` for one test; everything in it is removed afterwards."""
    require_lab()
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()
