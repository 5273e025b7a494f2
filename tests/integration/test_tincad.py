"""tincad end to end with the dummy device on loopback: start-up, signals,
pidfile, -k, detaching, SIGHUP, and one-line errors for bad configuration."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.helpers import TINCAD, free_port, make_net, run, running, write_files
from tinca.core.keys import KeygenRequest
from tinca.plugins.ciphers.legacy.rsa_keys import generate_rsa_keys


def pidfile_args(tmp_path: Path) -> list[str]:
    return ["--pidfile", str(tmp_path / "tinc.pid")]


def test_starts_binds_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    net = tmp_path / "net"
    port = make_net(net)
    with running(["-c", str(net), "-D", "-d1", *pidfile_args(tmp_path)], tmp_path) as d:
        out = d.wait_for("Ready")
        assert f"Listening on 127.0.0.1 port {port}" in out
        assert (tmp_path / "tinc.pid").read_text().split()[0] == str(d.proc.pid)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError):
            udp.bind(("127.0.0.1", port))  # the daemon holds the UDP port too
        assert d.stop() == 0
        out = d.output()
    assert out.rstrip().endswith("Terminating")
    assert not (tmp_path / "tinc.pid").exists()


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net)
    with running(["-c", str(net), "-D", *pidfile_args(tmp_path)], tmp_path) as d:
        d.wait_for("Ready")
        d.proc.send_signal(signal.SIGINT)
        assert d.proc.wait(10) == 0


def test_kill_option_stops_the_running_daemon(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net)
    with running(["-c", str(net), "-D", *pidfile_args(tmp_path)], tmp_path) as d:
        d.wait_for("Ready")
        result = run([*TINCAD, "-c", str(net), *pidfile_args(tmp_path), "-k"])
        assert result.returncode == 0, result.stderr
        assert d.proc.wait(10) == 0
    again = run([*TINCAD, "-c", str(net), *pidfile_args(tmp_path), "-k"])
    assert again.returncode == 1
    assert "No other tincad is running" in again.stderr


def test_second_daemon_for_same_pidfile_is_refused(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net)
    with running(["-c", str(net), "-D", *pidfile_args(tmp_path)], tmp_path) as d:
        d.wait_for("Ready")
        second = run([*TINCAD, "-c", str(net), "-D", *pidfile_args(tmp_path)])
        assert second.returncode == 1
        assert f"already running with pid {d.proc.pid}" in second.stderr


def test_detaches_into_background_with_logfile(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net)
    logfile = tmp_path / "tinc.log"
    pidfile = tmp_path / "tinc.pid"
    result = run([*TINCAD, "-c", str(net), "--pidfile", str(pidfile), f"--logfile={logfile}"])
    assert result.returncode == 0, result.stderr
    pid = None
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if logfile.exists() and "Ready" in logfile.read_text():
                break
            time.sleep(0.05)
        text = logfile.read_text()
        pid = int(pidfile.read_text().split()[0])
        # tincd's logfile format: date time tinc[pid]: message
        assert f"tinc[{pid}]: Ready" in text
        os.kill(pid, 0)
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and pidfile.exists():
                time.sleep(0.05)
    assert not pidfile.exists()
    assert logfile.read_text().rstrip().endswith("Terminating")


def test_sighup_rereads_config_and_keeps_old_one_when_broken(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net)
    with running(["-c", str(net), "-D", *pidfile_args(tmp_path)], tmp_path) as d:
        d.wait_for("Ready")
        conf = net / "tinc.conf"
        good = conf.read_text()
        conf.write_text(good + "PingInterval = soon\n")
        d.proc.send_signal(signal.SIGHUP)
        out = d.wait_for("Unable to reread configuration")
        assert "tinc.conf:4: bad value for PingInterval" in out
        conf.write_text(good + "Prot = 1\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for("unknown variable Prot; did you mean Port?")
        assert d.proc.poll() is None
        assert d.stop() == 0


def test_option_flag_overrides_files(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net)
    port = free_port()
    with running(["-c", str(net), "-D", "-d1", "-o", f"alpha.Port={port}"], tmp_path) as d:
        out = d.wait_for("Ready")
        assert f"port {port}" in out


def test_toml_configuration_runs_the_same(tmp_path: Path) -> None:
    port = free_port()
    toml = write_files(
        tmp_path,
        {
            "net.toml": (
                'Name = "alpha"\nDeviceType = "dummy"\nBindToAddress = "127.0.0.1"\n'
                f"[hosts.alpha]\nPort = {port}\n"
            )
        },
    )
    generate_rsa_keys(KeygenRequest(confbase=tmp_path, name=None, bits=1024))
    with running(["-c", str(toml / "net.toml"), "-D", "-d1"], tmp_path) as d:
        assert f"Listening on 127.0.0.1 port {port}" in d.wait_for("Ready")


# --------------------------------------------------------------------- bad config


def start_error(tmp_path: Path, net: Path) -> str:
    """Run tincad on ``net``; it must fail fast with exactly one error line."""
    result = run([*TINCAD, "-c", str(net), "-D", *pidfile_args(tmp_path)], timeout=30)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_port_abc_is_a_one_line_error_with_file_and_line(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net, extra="Port = abc\n")
    assert start_error(tmp_path, net) == (
        f"{net}/tinc.conf:4: bad value for Port: integer expected, got 'abc'"
    )


def test_broken_pem_block_is_a_one_line_error(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net, host_extra="-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBAO+l4GkrS\n")
    begin = (net / "hosts" / "alpha").read_text().splitlines().index(
        "-----BEGIN RSA PUBLIC KEY-----", 3
    )
    line = start_error(tmp_path, net)
    assert line.startswith(
        f"{net}/hosts/alpha:{begin + 1}: PEM block 'RSA PUBLIC KEY' is not terminated"
    )


def test_missing_host_file_for_name(tmp_path: Path) -> None:
    net = write_files(tmp_path / "net", {"tinc.conf": "Name = alpha\nDeviceType = dummy\n"})
    line = start_error(tmp_path, net)
    assert line == (
        f"{net}/tinc.conf:1: Name = alpha, but no host file for alpha ({net}/hosts/alpha)"
    )


def test_unknown_device_type_lists_installed_ones(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net)
    (net / "tinc.conf").write_text("Name = alpha\nDeviceType = warp\nBindToAddress = 127.0.0.1\n")
    line = start_error(tmp_path, net)
    assert line.startswith(f"{net}/tinc.conf:2: DeviceType = warp: no installed plugin")
    assert "installed: dummy" in line


def test_unknown_variable_warns_once_and_still_starts(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net, extra="ConectTo = beta\n")
    with running(["-c", str(net), "-D", *pidfile_args(tmp_path)], tmp_path) as d:
        out = d.wait_for("Ready")
    assert out.count("unknown variable ConectTo; did you mean ConnectTo?") == 1
    assert f"{net}/tinc.conf:4:" in out


def test_bad_command_line_reads_like_tincd() -> None:
    result = run([*TINCAD, "--frobnicate"])
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "tincad: unrecognized option '--frobnicate'",
        "Try `tincad --help' for more information.",
    ]
    small = run([*TINCAD, "-K", "100"])
    assert "BITS must be a number equal to or greater than 512" in small.stderr


def test_help_and_version() -> None:
    help_text = run([*TINCAD, "--help"]).stdout
    for option in ("--config", "--no-detach", "--debug", "--kill", "--net", "--generate-keys",
                   "--mlock", "--logfile", "--pidfile", "--option", "--chroot", "--user"):
        assert option in help_text
    assert run([*TINCAD, "--version"]).stdout.startswith("tincad (tinca) version ")
