"""The environment tinca's scripts plugin gives scripts, as tincd 1.0.36 does.

Facts pinned here: tincd 1.0.36 sets NETNAME/DEVICE/INTERFACE even when empty
(src/net_setup.c, graph.c, subnet.c), leaves REMOTEADDRESS/REMOTEPORT out for
our own subnets (src/subnet.c subnet_update), and writes SUBNET/WEIGHT from
net2str, which always prints the prefix and the weight; tinc 1.1 adds DEBUG.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tinca.core.events import HostEvent, NodeEvent, SubnetEvent
from tinca.plugins.scripts import plugin as scripts
from tinca.plugins.scripts.plugin import (
    ScriptSettings,
    host_environment,
    node_environment,
    script_command,
    script_environment,
    settings_for,
    settings_from_files,
    subnet_environment,
    subnet_variables,
)

NODE = NodeEvent(
    netname="vpn",
    name="alpha",
    device="/dev/net/tun",
    interface="vpn",
    debug_level=3,
    confbase="/etc/tinc/vpn",
)


def test_node_environment_has_tincd_variables_and_debug() -> None:
    assert node_environment(NODE) == {
        "NETNAME": "vpn",
        "DEVICE": "/dev/net/tun",
        "INTERFACE": "vpn",
        "NAME": "alpha",
        "DEBUG": "3",
    }


def test_unknown_netname_device_interface_are_present_but_empty() -> None:
    bare = NodeEvent(None, "alpha", None, None, 0, "/tmp/x")
    env = node_environment(bare)
    assert (env["NETNAME"], env["DEVICE"], env["INTERFACE"]) == ("", "", "")
    assert env["DEBUG"] == "0"


def test_host_environment_names_the_node_and_its_address() -> None:
    env = host_environment(HostEvent(NODE, "bravo", "192.0.2.7", 655))
    assert env["NODE"] == "bravo"
    assert env["REMOTEADDRESS"] == "192.0.2.7"
    assert env["REMOTEPORT"] == "655"
    assert env["NAME"] == "alpha"  # NAME stays our own name
    assert "SUBNET" not in env


def test_host_environment_leaves_out_an_unknown_address() -> None:
    env = host_environment(HostEvent(NODE, "bravo", None, None))
    assert "REMOTEADDRESS" not in env and "REMOTEPORT" not in env


def test_own_subnet_has_no_remote_address() -> None:
    env = subnet_environment(SubnetEvent(NODE, "alpha", "198.18.0.0/24", 10, "192.0.2.1", 655))
    assert env["NODE"] == "alpha"
    assert "REMOTEADDRESS" not in env and "REMOTEPORT" not in env
    assert (env["SUBNET"], env["WEIGHT"]) == ("198.18.0.0/24", "10")


def test_peer_subnet_has_owner_address_and_port() -> None:
    event = SubnetEvent(NODE, "bravo", "198.18.1.0/24#5", 5, "198.51.100.2", 7000)
    env = subnet_environment(event)
    assert env["NODE"] == "bravo"
    assert (env["REMOTEADDRESS"], env["REMOTEPORT"]) == ("198.51.100.2", "7000")
    assert (env["SUBNET"], env["WEIGHT"]) == ("198.18.1.0/24", "5")


def test_script_environment_dispatches_on_the_event_type() -> None:
    host = HostEvent(NODE, "bravo", "192.0.2.7", 655)
    subnet = SubnetEvent(NODE, "bravo", "198.18.1.1", 10, "192.0.2.7", 655)
    assert script_environment(NODE) == node_environment(NODE)
    assert script_environment(host) == host_environment(host)
    assert script_environment(subnet)["SUBNET"] == "198.18.1.1/32"


def test_subnet_variables_follow_tinc_1_0_net2str() -> None:
    assert subnet_variables("198.18.0.1", 10) == ("198.18.0.1/32", "10")
    assert subnet_variables("198.18.0.0/16#20", 20) == ("198.18.0.0/16", "20")
    # IPv6: eight unpadded groups, no "::" compression
    assert subnet_variables("2001:db8::1", 10) == ("2001:db8:0:0:0:0:0:1/128", "10")
    assert subnet_variables("2001:db8:0:ab00::/56", 3) == ("2001:db8:0:ab00:0:0:0:0/56", "3")
    # MAC: six unpadded hex bytes, lower case
    assert subnet_variables("02:00:0A:0b:00:ff", 10) == ("2:0:a:b:0:ff", "10")


def test_event_weight_wins_over_a_weight_in_the_text() -> None:
    assert subnet_variables("198.18.0.0/24#5", 7) == ("198.18.0.0/24", "7")


def test_unparseable_subnet_text_is_passed_through() -> None:
    assert subnet_variables("not-a-subnet#3", 3) == ("not-a-subnet", "3")


@given(st.ip_addresses(), st.data())
def test_subnet_text_parses_back_to_the_same_network(address: Any, data: Any) -> None:
    bits = 32 if address.version == 4 else 128
    prefix = data.draw(st.integers(min_value=0, max_value=bits))
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    weight = data.draw(st.integers(min_value=-(2**31), max_value=2**31 - 1))
    text, weight_text = subnet_variables(f"{network}#{weight}", weight)
    assert ipaddress.ip_network(text) == network
    assert "/" in text and "::" not in text
    assert int(weight_text) == weight


def test_script_command_without_and_with_interpreter() -> None:
    assert script_command("/c/tinc-up", ScriptSettings()) == ["/c/tinc-up"]
    with_interp = ScriptSettings(interpreter="/usr/bin/env 'python3' -u")
    expected = ["/usr/bin/env", "python3", "-u", "/c/tinc-up"]
    assert script_command("/c/tinc-up", with_interp) == expected


def test_settings_from_files_reads_first_values_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "tinc.conf").write_text(
        "Name = alpha\nScriptsInterpreter = /bin/sh -e\nScriptsInterpreter = /bin/bash\n"
    )
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "s.conf").write_text("ScriptsExtension = .sh\nScriptsTimeout = 5\n")
    assert settings_from_files(str(tmp_path)) == ScriptSettings("/bin/sh -e", ".sh", 5.0)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "tinc.conf").write_text("Name = alpha\n")
    assert settings_from_files(str(empty)) == ScriptSettings(None, "", scripts.DEFAULT_TIMEOUT)


def test_settings_from_files_notices_a_changed_file(tmp_path: Path) -> None:
    conf = tmp_path / "tinc.conf"
    conf.write_text("Name = alpha\n")
    assert settings_from_files(str(tmp_path)).extension == ""
    conf.write_text("Name = alpha\nScriptsExtension = .py\n")
    # make sure the modification time differs even on coarse clocks
    stat = conf.stat()
    os.utime(conf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert settings_from_files(str(tmp_path)).extension == ".py"


def test_settings_from_toml_configuration(tmp_path: Path) -> None:
    (tmp_path / "tinca.toml").write_text(
        'Name = "alpha"\nScriptsExtension = ".sh"\nScriptsTimeout = 9\n'
        "\n[hosts.alpha]\nPort = 655\n"
    )
    settings = settings_from_files(str(tmp_path))
    assert (settings.extension, settings.timeout) == (".sh", 9.0)


@dataclass(frozen=True)
class NodeWithSettings(NodeEvent):
    """A node event that carries a configuration look-up (what the daemon may pass)."""

    setting: Any = field(default=None, compare=False)


def test_a_setting_lookup_on_the_event_wins_over_the_files(tmp_path: Path) -> None:
    (tmp_path / "tinc.conf").write_text("Name = alpha\nScriptsExtension = .from-file\n")
    values = {"ScriptsExtension": ".from-event", "ScriptsTimeout": 3}
    node = NodeWithSettings(None, "alpha", None, None, 0, str(tmp_path), setting=values.get)
    assert settings_for(node) == ScriptSettings(None, ".from-event", 3.0)
    plain = NodeEvent(None, "alpha", None, None, 0, str(tmp_path))
    assert settings_for(plain).extension == ".from-file"
