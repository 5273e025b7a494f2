"""RSA key files against Debian's real tincd 1.0.36.

* keys tinca makes are loaded by tincd (it starts, and it authenticates a peer with them);
* keys ``tincd -K`` makes are loaded by tinca;
* both write the same file layout, modes and messages, also when old keys exist.

Everything stays on 127.0.0.1. Every tincd started here is stopped by its pid.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.interop.tincd_harness import require_tincd
from tinca.core.keys import KeygenRequest
from tinca.plugins.ciphers.legacy import rsa_keys as rk

pytestmark = pytest.mark.root

READY_TIMEOUT = 15.0
CONNECT_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def tincd() -> str:
    return require_tincd()


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


class Tincd:
    """One ``tincd -D`` process in the foreground, logging to a file."""

    def __init__(self, binary: str, confbase: Path) -> None:
        self.confbase = confbase
        self.log = confbase / "tincd.log"
        self.output = confbase / "tincd.out"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    "-c",
                    str(confbase),
                    "-D",
                    "-d1",
                    f"--pidfile={confbase / 'tincd.pid'}",
                    f"--logfile={self.log}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.log, self.output) if p.exists()]
        return "\n".join(parts)

    def wait_for(self, pattern: str, timeout: float) -> str:
        """Wait until the log matches ``pattern``; fail with the log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if re.search(pattern, text):
                return text
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(
            f"tincd in {self.confbase} did not log {pattern!r} "
            f"(exit status {self.process.poll()}):\n{self.text()}"
        )

    def stop(self) -> int | None:
        """SIGTERM by pid, then SIGKILL if it lingers; return the exit status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


@contextmanager
def running(binary: str, confbase: Path) -> Iterator[Tincd]:
    daemon = Tincd(binary, confbase)
    try:
        yield daemon
    finally:
        daemon.stop()


def make_node(root: Path, name: str | None, conf: str = "", host: str = "") -> Path:
    (root / "hosts").mkdir(parents=True)
    (root / "tinc.conf").write_text((f"Name = {name}\n" if name else "") + conf)
    if name and host:
        (root / "hosts" / name).write_text(host)
    return root


def tinca_keygen(confbase: Path, name: str | None, bits: int = 2048) -> list[str]:
    said: list[str] = []
    rk.generate_rsa_keys(KeygenRequest(confbase=confbase, name=name, bits=bits, say=said.append))
    return said


def tincd_keygen(binary: str, confbase: Path, bits: int = 2048) -> list[str]:
    """Run ``tincd -c DIR -K BITS`` without a terminal; return its message lines."""
    result = subprocess.run(
        [binary, "-c", str(confbase), "-K", str(bits)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # no prompts without a terminal
    # Drop OpenSSL's progress marks: runs of ".+-*" that end in " p" or " q".
    lines = (re.sub(r"^[.+\-*]+( [pq]$)?", "", line) for line in result.stderr.splitlines())
    return [line for line in lines if line]


def shape(text: str) -> list[str]:
    """A key file's lines, each run of base64 lines collapsed to one marker.

    The marker says whether all lines but the last are 64 characters, as OpenSSL
    writes them. DER lengths vary a little between RSA keys, so the line count
    of a private key is not compared.
    """
    out: list[str] = []
    run: list[str] = []
    for line in [*text.split("\n"), None]:
        if line is not None and re.fullmatch(r"[A-Za-z0-9+/=]{4,}", line):
            run.append(line)
            continue
        if run:
            full = all(len(r) == 64 for r in run[:-1]) and 0 < len(run[-1]) <= 64
            out.append(f"<base64, 64 per line: {full}>")
            run = []
        if line is not None:
            out.append(line)
    return out


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------


def test_tincd_starts_with_tinca_keys(tincd: str, tmp_path: Path, umask_022: None) -> None:
    port = free_port()
    alpha = make_node(
        tmp_path / "alpha",
        "alpha",
        conf=f"DeviceType = dummy\nPort = {port}\nBindToAddress = 127.0.0.1\n",
        host="Subnet = 198.18.0.1/32\n",
    )
    tinca_keygen(alpha, "alpha")
    with running(tincd, alpha) as daemon:
        log = daemon.wait_for(r"\bReady\b", READY_TIMEOUT)
        assert "insecure file permissions" not in log
        assert f"Listening on 127.0.0.1 port {port}" in log
        status = daemon.stop()
    assert status == 0, daemon.text()


def test_tincd_authenticates_with_tinca_keys(tincd: str, tmp_path: Path, umask_022: None) -> None:
    # alpha's keys come from tinca, beta's from tincd -K; each checks the other.
    ports = {"alpha": free_port(), "beta": free_port()}
    nodes = {}
    for name, connect in (("alpha", ""), ("beta", "ConnectTo = alpha\n")):
        nodes[name] = make_node(
            tmp_path / name,
            name,
            conf="DeviceType = dummy\nAddressFamily = ipv4\nBindToAddress = 127.0.0.1\n" + connect,
            host=f"Address = 127.0.0.1 {ports[name]}\nPort = {ports[name]}\n",
        )
    tinca_keygen(nodes["alpha"], "alpha")
    tincd_keygen(tincd, nodes["beta"])
    for here, there in (("alpha", "beta"), ("beta", "alpha")):
        shutil.copy(nodes[there] / "hosts" / there, nodes[here] / "hosts" / there)

    with running(tincd, nodes["alpha"]) as alpha, running(tincd, nodes["beta"]) as beta:
        alpha.wait_for(r"\bReady\b", READY_TIMEOUT)
        beta.wait_for(r"Connection with alpha \(127\.0\.0\.1 port \d+\) activated", CONNECT_TIMEOUT)
        alpha.wait_for(r"Connection with beta \(127\.0\.0\.1 port \d+\) activated", CONNECT_TIMEOUT)


@pytest.mark.parametrize("name", ["beta", None])
def test_tinca_loads_tincd_keys_and_writes_the_same_files(
    tincd: str, tmp_path: Path, umask_022: None, name: str | None
) -> None:
    host = "Address = 127.0.0.1\nSubnet = 198.18.0.2/32\n"
    theirs = make_node(tmp_path / "tincd", name, host=host)
    ours = make_node(tmp_path / "tinca", name, host=host)
    public_name = f"hosts/{name}" if name else "rsa_key.pub"

    for round_ in (1, 2):  # the second round finds and disables the first keys
        their_messages = tincd_keygen(tincd, theirs)
        our_messages = tinca_keygen(ours, name)
        assert our_messages == their_messages, f"round {round_}"

        private = rk.load_rsa_private_key(theirs / "rsa_key.priv")
        public = rk.load_rsa_public_key(theirs / public_name)
        assert private.key_size == 2048
        assert private.public_key().public_numbers() == public.public_numbers()
        assert public.public_numbers().e == rk.PUBLIC_EXPONENT

        for relative in ("rsa_key.priv", public_name):
            their_text = (theirs / relative).read_text()
            our_text = (ours / relative).read_text()
            assert shape(our_text) == shape(their_text), f"{relative}, round {round_}"
            assert mode(ours / relative) == mode(theirs / relative), f"{relative}, round {round_}"
        assert not list(theirs.rglob("*.tmp")) and not list(ours.rglob("*.tmp"))

    # After two rounds: one disabled (OLD) block, then the live one, in both.
    assert (theirs / public_name).read_text().count("-----BEGIN OLD PUBLIC KEY-----") == 1


def test_tincad_dash_K_makes_keys_tincd_starts_with(
    tincd: str, tmp_path: Path, umask_022: None
) -> None:
    """The whole user path: `tincad -c DIR -K` (our command line), then real tincd."""
    port = free_port()
    alpha = make_node(
        tmp_path / "alpha",
        "alpha",
        conf=f"DeviceType = dummy\nPort = {port}\nBindToAddress = 127.0.0.1\n",
        host="Subnet = 198.18.0.1/32\n",
    )
    result = subprocess.run(
        [sys.executable, "-m", "tinca.core.cli.tincad", "-c", str(alpha), "-K"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # no prompts without a terminal, as tincd
    assert result.stderr.splitlines() == ["Generating 2048 bits keys:", "Done."]
    assert mode(alpha / "rsa_key.priv") == 0o600
    assert "-----BEGIN RSA PUBLIC KEY-----" in (alpha / "hosts" / "alpha").read_text()
    with running(tincd, alpha) as daemon:
        daemon.wait_for(r"\bReady\b", READY_TIMEOUT)
        assert daemon.stop() == 0, daemon.text()
