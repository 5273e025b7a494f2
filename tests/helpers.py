"""Shared test helpers: free ports, config directories, daemons stopped by pid,
a settable clock and a deterministic random source."""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tinca.core.keys import KeygenRequest
from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys

TINCAD = [sys.executable, "-m", "tinca.core.cli.tincad"]
TINCA = [sys.executable, "-m", "tinca.core.cli.tinca"]


def free_port() -> int:
    """A TCP and UDP port on 127.0.0.1 that is free right now."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def write_files(base: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative name → text) under ``base``."""
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def make_net(base: Path, name: str = "alpha", extra: str = "", host_extra: str = "") -> int:
    """A minimal dummy-device network in ``base`` on a free loopback port."""
    port = free_port()
    write_files(
        base,
        {
            "tinc.conf": f"Name = {name}\nDeviceType = dummy\nBindToAddress = 127.0.0.1\n{extra}",
            f"hosts/{name}": f"Port = {port}\n",
        },
    )
    # A node needs its key pair, as tincd does (tincad -K makes the same files).
    generate_rsa_keys(KeygenRequest(confbase=base, name=name, bits=1024))
    if host_extra:
        with (base / "hosts" / name).open("a") as host:
            host.write(host_extra)
    return port


class Daemon:
    """A started tincad whose output is collected in a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        """Wait until ``text`` appears in the output; fail with the output if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen; exit={self.proc.poll()} output:\n{self.output()}")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM by pid, then SIGKILL if it lingers; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def running(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Daemon]:
    """Run ``tincad ARGS`` in the foreground; always stopped (by pid) afterwards."""
    log = tmp_path / f"tincad-{len(list(tmp_path.glob('tincad-*')))}.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*TINCAD, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    daemon = Daemon(proc, log)
    try:
        yield daemon
    finally:
        daemon.stop()


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command line to completion with text output (bounded in time)."""
    kwargs.setdefault("timeout", 60)
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)


class Clock:
    """A settable clock (seconds) for sans-IO code that takes ``clock()``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def counter_random(seed: bytes) -> Callable[[int], bytes]:
    """A deterministic random source: SHA-256 of ``seed`` and a counter."""
    counter = itertools.count()

    def draw(size: int) -> bytes:
        out = b""
        while len(out) < size:
            out += hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return out[:size]

    return draw
