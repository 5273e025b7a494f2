"""A real tincd 1.0 for interop tests: its config directory, its process, its log.

Typical use::

    tincd = require_tincd()                      # skips or fails as the rules say
    config = TincdConfig.create(tmp_path / "alpha", "alpha",
                                host_lines=["Subnet = 198.18.0.1/32"])
    config.add_host("tinca1", our_key.public_key())
    with TincdProcess(config, binary=tincd) as daemon:
        daemon.wait_for(r"\\bReady\\b")
        ...                                     # talk to 127.0.0.1:config.port
        daemon.wait_for(r"Connection with tinca1 .* activated")

Rules kept here so every interop test keeps them: tincd binds 127.0.0.1 only and
uses the dummy device; it is stopped by its pid (SIGTERM, then SIGKILL) when the
``with`` block ends, also on failure; every wait is bounded. Without root the
tests skip with a reason; with ``CI`` set, a missing tincd is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import free_port
from tinca.plugins.ciphers.legacy.rsa_keys import private_key_pem, public_key_pem

DEFAULT_TIMEOUT = 15.0
TINCD_PATH = "/usr/sbin/tincd"


# ---------------------------------------------------------------------------
# Finding tincd
# ---------------------------------------------------------------------------


def find_tincd() -> str | None:
    """The tincd to test against: ``$TINCD``, then ``tincd`` on PATH, then /usr/sbin/tincd."""
    override = os.environ.get("TINCD")
    if override:
        return override if os.access(override, os.X_OK) else None
    found = shutil.which("tincd")
    if found:
        return found
    return TINCD_PATH if os.access(TINCD_PATH, os.X_OK) else None


def require_tincd() -> str:
    """The path of a tincd 1.0, or skip (not root, not installed) or fail (CI without it)."""
    path = find_tincd()
    if path is None:
        message = "tincd is not installed (apt-get install -y tinc)"
        if os.environ.get("CI"):
            pytest.fail(message + ", but CI is set: interop tests must run there")
        pytest.skip(message)
    if os.geteuid() != 0:
        pytest.skip("interop tests with tincd need root")
    version = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    if not version.startswith("tinc version 1.0"):
        pytest.skip(f"{path} is not tincd 1.0: {version.splitlines()[:1]}")
    return path


def generate_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA key as tincd makes them (public exponent 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


# ---------------------------------------------------------------------------
# The configuration directory
# ---------------------------------------------------------------------------


@dataclass
class TincdConfig:
    """A tincd 1.0 configuration directory (``tincd -c ROOT``) on disk.

    Make one with :meth:`create`; add peers with :meth:`add_host`.
    """

    root: Path
    name: str
    port: int
    private_key: rsa.RSAPrivateKey
    hosts: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        root: Path,
        name: str,
        *,
        port: int | None = None,
        private_key: rsa.RSAPrivateKey | None = None,
        connect_to: Iterable[str] = (),
        conf_lines: Iterable[str] = (),
        host_lines: Iterable[str] = (),
    ) -> TincdConfig:
        """Write ``tinc.conf``, ``rsa_key.priv`` and ``hosts/NAME`` under ``root``.

        ``tinc.conf`` gets ``Name``, ``DeviceType = dummy``, ``AddressFamily =
        ipv4``, ``BindToAddress = 127.0.0.1``, ``Port``, one ``ConnectTo`` per
        entry of ``connect_to`` and then ``conf_lines``. ``hosts/NAME`` gets
        ``Port``, ``host_lines`` and the public key. A free port and a new
        2048-bit key are picked when not given.
        """
        port = free_port() if port is None else port
        key = generate_key() if private_key is None else private_key
        (root / "hosts").mkdir(parents=True, exist_ok=True)
        conf = [
            f"Name = {name}",
            "DeviceType = dummy",
            "AddressFamily = ipv4",
            "BindToAddress = 127.0.0.1",
            f"Port = {port}",
            *(f"ConnectTo = {peer}" for peer in connect_to),
            *conf_lines,
        ]
        (root / "tinc.conf").write_text("\n".join(conf) + "\n")
        private = root / "rsa_key.priv"
        private.write_text(private_key_pem(key))
        private.chmod(0o600)
        config = cls(root=root, name=name, port=port, private_key=key)
        config.add_host(name, key.public_key(), [f"Port = {port}", *host_lines])
        return config

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """This node's public key (what its peers must have in ``hosts/NAME``)."""
        return self.private_key.public_key()

    def add_host(
        self, name: str, public_key: rsa.RSAPublicKey | None, lines: Iterable[str] = ()
    ) -> Path:
        """Write ``hosts/NAME`` with ``lines`` and, unless None, the public key in PEM."""
        text = "".join(f"{line}\n" for line in lines)
        if public_key is not None:
            text += public_key_pem(public_key)
        path = self.root / "hosts" / name
        path.write_text(text)
        self.hosts[name] = path
        return path


# ---------------------------------------------------------------------------
# The process
# ---------------------------------------------------------------------------


class TincdProcess:
    """``tincd -c DIR -D -dLEVEL --pidfile=... --logfile=...``, stopped by its pid.

    A context manager: entering starts it, leaving stops it. :meth:`wait_for`
    polls the log file (and the process' own output) for a regular expression.
    """

    def __init__(
        self,
        config: TincdConfig | Path,
        *,
        binary: str | None = None,
        debug: int = 5,
        extra_args: Iterable[str] = (),
    ) -> None:
        self.confbase = config.root if isinstance(config, TincdConfig) else Path(config)
        self.binary = binary or find_tincd() or TINCD_PATH
        self.debug = debug
        self.extra_args = list(extra_args)
        self.logfile = self.confbase / "tincd.log"
        self.outfile = self.confbase / "tincd.out"
        self.pidfile = self.confbase / "tincd.pid"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id (only after :meth:`start`)."""
        assert self.process is not None, "tincd was not started"
        return self.process.pid

    def start(self) -> TincdProcess:
        """Start tincd in the foreground, its output going to ``tincd.out``."""
        if self.process is not None:
            raise RuntimeError("tincd was started already")
        with self.outfile.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "-c",
                    str(self.confbase),
                    "-D",
                    f"-d{self.debug}",
                    f"--pidfile={self.pidfile}",
                    f"--logfile={self.logfile}",
                    *self.extra_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        """The log so far (the log file, then anything tincd printed itself)."""
        parts = [p.read_text(errors="replace") for p in (self.logfile, self.outfile) if p.exists()]
        return "\n".join(parts)

    def log_size(self) -> int:
        """The log file's length now: pass it as ``since`` to wait only for newer lines."""
        try:
            return self.logfile.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for(
        self, pattern: str, timeout: float = DEFAULT_TIMEOUT, since: int = 0
    ) -> re.Match[str]:
        """Wait until the log (from byte ``since`` on) matches ``pattern``; fail if it never does.

        Fails at once when tincd exits first, showing the log either way.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self._log_from(since)
            match = regex.search(text)
            if match:
                return match
            exited = self.process is not None and self.process.poll() is not None
            if exited or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        status = None if self.process is None else self.process.poll()
        pytest.fail(
            f"tincd in {self.confbase} did not log {pattern!r} within {timeout} s "
            f"(exit status {status}):\n{self.log()}"
        )

    def _log_from(self, since: int) -> str:
        try:
            with self.logfile.open("rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_quiet(self, quiet: float = 0.1, timeout: float = 1.0) -> None:
        """Wait (at most ``timeout``) until the log has not grown for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        size, since = self.log_size(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now_size = self.log_size()
            if now_size != size:
                size, since = now_size, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM by pid, then SIGKILL if it lingers; returns the exit status.

        tincd 1.0.36 writes a log line from its SIGTERM handler (src/process.c
        ``sigterm_handler``): a SIGTERM that lands while tincd is writing a log
        line can deadlock it on the stdio lock. So the log is first given a
        moment to go quiet, and a tincd that still hangs is killed after
        ``timeout`` seconds (exit status -9).
        """
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            self.wait_quiet()
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        return process.returncode

    def __enter__(self) -> TincdProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
