"""The ``tinca`` control command line: config conversion, queries, daemon control."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import TINCA, make_net, run, running, write_files

CONF = {
    "tinc.conf": "Name = alpha\nDeviceType = dummy\nConnectTo = beta\nConnectTo = gamma\n"
    "TCPOnly = Yes\nMode = Switch\n",
    "hosts/alpha": "Port = 1655\nSubnet = 198.18.0.1/32\n",
    "hosts/beta": "Address = 192.0.2.2 655\nAddress = 198.51.100.2\n"
    "-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBAO+l4GkrS/8qng4u\nAQAB\n"
    "-----END RSA PUBLIC KEY-----\n",
}


def test_convert_to_toml_and_back(tmp_path: Path) -> None:
    src = write_files(tmp_path / "src", CONF)
    toml_file = tmp_path / "net.toml"
    result = run([*TINCA, "config", "convert", str(src), str(toml_file)])
    assert result.returncode == 0, result.stderr
    text = toml_file.read_text()
    assert 'ConnectTo = ["beta", "gamma"]' in text
    assert "TCPOnly = true" in text
    assert 'Mode = "switch"' in text
    assert "[hosts.beta]" in text and "-----BEGIN RSA PUBLIC KEY-----" in text
    assert "Port = 1655" in text

    refused = run([*TINCA, "config", "convert", str(src), str(toml_file)])
    assert refused.returncode == 1 and "--force" in refused.stderr

    back = tmp_path / "back"
    result = run([*TINCA, "config", "convert", str(toml_file), str(back)])
    assert result.returncode == 0, result.stderr
    assert (back / "tinc.conf").read_text() == (
        "Name = alpha\nDeviceType = dummy\nConnectTo = beta\nConnectTo = gamma\n"
        "TCPOnly = yes\nMode = switch\n"
    )
    assert (back / "hosts" / "beta").read_text() == CONF["hosts/beta"]
    assert (back / "hosts" / "alpha").read_text() == CONF["hosts/alpha"]


def test_convert_to_stdout(tmp_path: Path) -> None:
    src = write_files(tmp_path / "src", CONF)
    result = run([*TINCA, "config", "convert", str(src), "-"])
    assert result.returncode == 0
    assert result.stdout.startswith("# tinca configuration (TOML form)")


def test_config_get_and_check(tmp_path: Path) -> None:
    src = write_files(tmp_path / "src", {**CONF, "conf.d/x.conf": "PingIntervall = 3\n"})
    got = run([*TINCA, "-c", str(src), "config", "get", "ConnectTo"])
    assert got.stdout.splitlines() == ["beta", "gamma"]
    assert run([*TINCA, "-c", str(src), "config", "get", "beta.Address"]).stdout.splitlines() == [
        "192.0.2.2 655",
        "198.51.100.2",
    ]
    assert run([*TINCA, "-c", str(src), "config", "get", "PingInterval"]).stdout == "60\n"
    check = run([*TINCA, "-c", str(src), "config", "check"])
    assert check.returncode == 0
    assert "x.conf:1: unknown variable PingIntervall; did you mean PingInterval?" in check.stderr

    (src / "hosts" / "alpha").write_text("Port = abc\n")
    bad = run([*TINCA, "-c", str(src), "config", "check"])
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        f"{src}/hosts/alpha:1: bad value for Port: integer expected, got 'abc'"
    )


def test_config_variables_lists_every_declared_variable() -> None:
    out = run([*TINCA, "config", "variables"]).stdout
    assert out.count("\n") >= 80  # tinc 1.0.36 + 1.1 variables and tinca's own
    assert "PMTUDiscovery" in out and "not implemented yet" in out


def test_pid_reload_and_stop_a_running_daemon(tmp_path: Path) -> None:
    net = tmp_path / "net"
    make_net(net)
    pidfile = ["--pidfile", str(tmp_path / "tinc.pid")]
    with running(["-c", str(net), "-D", *pidfile], tmp_path) as d:
        d.wait_for("Ready")
        pid = run([*TINCA, "-c", str(net), *pidfile, "pid"])
        assert pid.stdout.strip() == str(d.proc.pid)
        assert run([*TINCA, "-c", str(net), *pidfile, "reload"]).returncode == 0
        d.wait_for("rereading configuration")
        assert run([*TINCA, "-c", str(net), *pidfile, "stop"]).returncode == 0
        assert d.proc.wait(10) == 0


def test_control_commands_without_a_running_daemon_say_so() -> None:
    result = run([*TINCA, "-n", "nonet", "dump", "nodes"])
    assert result.returncode == 1
    assert "Could not open pid file" in result.stderr
    unknown = run([*TINCA, "frobnicate"])
    assert unknown.returncode == 1 and "Unknown command `frobnicate'." in unknown.stderr
