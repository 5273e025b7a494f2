"""tincd's scripts run by tinca's scripts plugin: which, when, in what order,
with what environment, and what happens when they fail.

The hooks are driven directly with events (as the daemon will for hosts and
subnets), and a real ``tincad -D`` with the dummy device runs tinc-up and
tinc-down. Scripts are shell scripts in a temporary configuration directory;
nothing here needs root or the network.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.helpers import TINCA, make_net, run, running
from tinca.core.events import HostEvent, NodeEvent, SubnetEvent
from tinca.core.plugin_manager import ENTRY_POINT_GROUP, PluginManager

SCRIPTS_MODULE = "tinca.plugins.scripts.plugin"
LOGGER = SCRIPTS_MODULE

# Each script appends its name to order.log and saves its environment.
RECORDER = """#!/bin/sh
name=$(basename "$0")
echo "$name" >> "$TINCA_TEST_OUT/order.log"
env > "$TINCA_TEST_OUT/$name.env"
"""


def scripts_installed() -> bool:
    return any(ep.name == "scripts" for ep in entry_points(group=ENTRY_POINT_GROUP))


def manager() -> PluginManager:
    """A plugin manager with the scripts plugin, installed or not."""
    return PluginManager(extra=[] if scripts_installed() else [SCRIPTS_MODULE])


def load_plugin_line() -> str:
    return "" if scripts_installed() else f"LoadPlugin = {SCRIPTS_MODULE}\n"


def daemon_net(confbase: Path) -> None:
    """A dummy-device network tincad starts with: keys made if it has none."""
    make_net(confbase, extra=load_plugin_line())
    if not (confbase / "rsa_key.priv").exists():
        result = run([*TINCA, "-c", str(confbase), "--batch", "generate-keys"])
        assert result.returncode == 0, result.stderr


def write_script(confbase: Path, name: str, body: str, mode: int = 0o755) -> Path:
    path = confbase / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(mode)
    return path


def read_env(out: Path, name: str) -> dict[str, str]:
    lines = (out / f"{name}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def order(out: Path) -> list[str]:
    log = out / "order.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A configuration directory and an output directory scripts write into."""
    confbase = tmp_path / "net"
    confbase.mkdir()
    (confbase / "tinc.conf").write_text("Name = alpha\n")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("TINCA_TEST_OUT", str(out))
    return confbase, out


def node(confbase: Path, netname: str | None = "vpn") -> NodeEvent:
    return NodeEvent(netname, "alpha", "/dev/net/tun", "vpn0", 2, str(confbase))


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# ---------------------------------------------------------------------------
# Driven through the hooks
# ---------------------------------------------------------------------------


def test_scripts_run_in_tincd_order_with_their_environment(net: tuple[Path, Path]) -> None:
    confbase, out = net
    for name in ("tinc-up", "tinc-down", "host-up", "host-down", "subnet-up", "subnet-down"):
        write_script(confbase, name, RECORDER)
    write_script(confbase, "hosts/bravo-up", RECORDER)
    write_script(confbase, "hosts/bravo-down", RECORDER)
    me = node(confbase)
    hook = manager().hook

    hook.tinca_node_up(event=me)
    assert order(out) == ["tinc-up"]
    assert {k: read_env(out, "tinc-up")[k] for k in ("NETNAME", "DEVICE", "INTERFACE")} == {
        "NETNAME": "vpn",
        "DEVICE": "/dev/net/tun",
        "INTERFACE": "vpn0",
    }
    assert read_env(out, "tinc-up")["NAME"] == "alpha"
    assert read_env(out, "tinc-up")["DEBUG"] == "2"
    assert "NODE" not in read_env(out, "tinc-up")

    hook.tinca_subnet_up(event=SubnetEvent(me, "alpha", "198.18.0.0/24", 10))
    own = read_env(out, "subnet-up")
    assert (own["NODE"], own["SUBNET"], own["WEIGHT"]) == ("alpha", "198.18.0.0/24", "10")
    assert "REMOTEADDRESS" not in own

    hook.tinca_host_up(event=HostEvent(me, "bravo", "192.0.2.2", 655))
    hook.tinca_subnet_up(event=SubnetEvent(me, "bravo", "198.18.1.1", 7, "192.0.2.2", 655))
    assert order(out)[2:] == ["host-up", "bravo-up", "subnet-up"]
    for name in ("host-up", "bravo-up"):
        env = read_env(out, name)
        assert (env["NODE"], env["REMOTEADDRESS"], env["REMOTEPORT"]) == (
            "bravo",
            "192.0.2.2",
            "655",
        )
    peer = read_env(out, "subnet-up")
    assert (peer["NODE"], peer["SUBNET"], peer["WEIGHT"]) == ("bravo", "198.18.1.1/32", "7")
    assert (peer["REMOTEADDRESS"], peer["REMOTEPORT"]) == ("192.0.2.2", "655")

    hook.tinca_host_down(event=HostEvent(me, "bravo", "192.0.2.2", 655))
    hook.tinca_subnet_down(event=SubnetEvent(me, "bravo", "198.18.1.1", 7, "192.0.2.2", 655))
    hook.tinca_node_down(event=me)
    assert order(out)[5:] == ["host-down", "bravo-down", "subnet-down", "tinc-down"]
    # the daemon's own environment is passed on underneath
    assert read_env(out, "tinc-down")["TINCA_TEST_OUT"] == str(out)


def test_missing_scripts_are_skipped_silently(
    net: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    confbase, out = net
    me = node(confbase)
    hook = manager().hook
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        hook.tinca_node_up(event=me)
        hook.tinca_host_up(event=HostEvent(me, "bravo", "192.0.2.2", 655))
        hook.tinca_subnet_up(event=SubnetEvent(me, "alpha", "198.18.0.0/24", 10))
    assert caplog.records == []
    assert order(out) == []


def test_a_failing_script_is_logged_once_and_later_scripts_still_run(
    net: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    confbase, out = net
    write_script(confbase, "tinc-up", RECORDER + "exit 3\n")
    write_script(confbase, "host-up", RECORDER)
    me = node(confbase)
    hook = manager().hook
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        hook.tinca_node_up(event=me)
        hook.tinca_host_up(event=HostEvent(me, "bravo", "192.0.2.2", 655))
    assert errors(caplog) == ["Script tinc-up exited with non-zero status 3"]
    assert order(out) == ["tinc-up", "host-up"]


def test_a_script_killed_by_a_signal_is_reported(
    net: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    confbase, _ = net
    write_script(confbase, "tinc-up", "#!/bin/sh\nkill -KILL $$\n")
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        manager().hook.tinca_node_up(event=node(confbase))
    assert errors(caplog) == [f"Script tinc-up was killed by signal 9 ({signal.strsignal(9)})"]


def test_a_non_executable_script_is_an_error_not_a_crash(
    net: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    confbase, out = net
    write_script(confbase, "tinc-up", RECORDER, mode=0o644)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        manager().hook.tinca_node_up(event=node(confbase))
    [message] = errors(caplog)
    assert message.startswith("Script tinc-up cannot be run:")
    assert "not executable" in message and "chmod +x" in message
    assert order(out) == []


def test_a_script_without_a_hash_bang_line_runs_through_the_shell(
    net: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    confbase, out = net
    write_script(confbase, "tinc-up", RECORDER.split("\n", 1)[1])
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        manager().hook.tinca_node_up(event=node(confbase))
    assert errors(caplog) == []
    assert order(out) == ["tinc-up"]


def test_a_script_that_hangs_is_killed_with_its_children_after_the_timeout(
    net: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    confbase, out = net
    (confbase / "tinc.conf").write_text("Name = alpha\nScriptsTimeout = 1\n")
    write_script(
        confbase,
        "tinc-up",
        f'#!/bin/sh\nsleep 60 &\necho $! > "{out}/child.pid"\nsleep 60\n',
    )
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        manager().hook.tinca_node_up(event=node(confbase))
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 10
    assert errors(caplog) == ["Script tinc-up did not finish within 1 seconds and was killed"]
    child = int((out / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the script's background child survived the timeout")


def test_scripts_interpreter_runs_scripts_with_its_arguments(
    net: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    confbase, out = net
    (confbase / "tinc.conf").write_text("Name = alpha\nScriptsInterpreter = /bin/sh -e\n")
    # Not executable (tincd's use case: scripts on a noexec file system), and
    # "-e" must stop it at "false", so "after" is never recorded.
    write_script(
        confbase,
        "tinc-up",
        RECORDER + 'false\necho after >> "$TINCA_TEST_OUT/order.log"\n',
        mode=0o644,
    )
    write_script(confbase, "tinc-down", RECORDER, mode=0o644)
    me = node(confbase)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        manager().hook.tinca_node_up(event=me)
        manager().hook.tinca_node_down(event=me)
    assert order(out) == ["tinc-up", "tinc-down"]
    assert errors(caplog) == ["Script tinc-up exited with non-zero status 1"]


def test_scripts_extension_is_appended_to_every_script_name(net: tuple[Path, Path]) -> None:
    confbase, out = net
    (confbase / "tinc.conf").write_text("Name = alpha\nScriptsExtension = .sh\n")
    write_script(confbase, "tinc-up", RECORDER)  # without the extension: not run
    write_script(confbase, "tinc-up.sh", RECORDER)
    write_script(confbase, "hosts/bravo-up.sh", RECORDER)
    me = node(confbase)
    hook = manager().hook
    hook.tinca_node_up(event=me)
    hook.tinca_host_up(event=HostEvent(me, "bravo", "192.0.2.2", 655))
    assert order(out) == ["tinc-up.sh", "bravo-up.sh"]


def test_executing_script_is_logged_at_debug_level_status(
    net: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    confbase, _ = net
    write_script(confbase, "tinc-up", RECORDER)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        manager().hook.tinca_node_up(event=node(confbase))
    [record] = caplog.records
    assert record.getMessage() == "Executing script tinc-up"
    assert record.levelname == "STATUS"


# ---------------------------------------------------------------------------
# With a real daemon
# ---------------------------------------------------------------------------


def test_daemon_runs_tinc_up_before_ready_and_tinc_down_at_stop(
    tmp_path: Path, net: tuple[Path, Path]
) -> None:
    _, out = net
    confbase = tmp_path / "daemon"
    daemon_net(confbase)
    write_script(confbase, "tinc-up", RECORDER)
    write_script(confbase, "tinc-down", RECORDER)
    pidfile = tmp_path / "tinc.pid"
    with running(["-c", str(confbase), "-D", "-d2", "--pidfile", str(pidfile)], tmp_path) as d:
        d.wait_for("Ready")
        assert order(out) == ["tinc-up"]
        up = read_env(out, "tinc-up")
        assert d.stop() == 0
    assert (up["NAME"], up["DEVICE"], up["INTERFACE"]) == ("alpha", "dummy", "dummy")
    assert (up["NETNAME"], up["DEBUG"]) == ("", "2")
    assert order(out) == ["tinc-up", "tinc-down"]
    output = d.output()
    assert output.index("Executing script tinc-up") < output.index("Ready")
    assert output.index("Executing script tinc-down") < output.index("Terminating")


def test_daemon_passes_the_netname(tmp_path: Path, net: tuple[Path, Path]) -> None:
    _, out = net
    confdir = tmp_path / "etc"
    daemon_net(confdir / "office")
    write_script(confdir / "office", "tinc-up", RECORDER)
    args = ["-n", "office", "-D", "--pidfile", str(tmp_path / "tinc.pid")]
    with running(args, tmp_path, env={"TINCA_CONFDIR": str(confdir)}) as d:
        d.wait_for("Ready")
        assert d.stop() == 0
    assert read_env(out, "tinc-up")["NETNAME"] == "office"


def test_daemon_survives_a_failing_tinc_up_and_logs_it_once(
    tmp_path: Path, net: tuple[Path, Path]
) -> None:
    _, out = net
    confbase = tmp_path / "daemon"
    daemon_net(confbase)
    write_script(confbase, "tinc-up", RECORDER + "exit 7\n")
    write_script(confbase, "tinc-down", RECORDER)
    with running(["-c", str(confbase), "-D", "--pidfile", str(tmp_path / "p")], tmp_path) as d:
        d.wait_for("Ready")
        assert d.stop() == 0
    output = d.output()
    assert output.count("Script tinc-up exited with non-zero status 7") == 1
    assert "Traceback" not in output
    assert order(out) == ["tinc-up", "tinc-down"]
