"""Validation of a configuration against the declared variables, both file forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinca.core.config.entries import parse_text
from tinca.core.config.loader import load_configuration, require_own_host
from tinca.core.config.model import Settings
from tinca.core.config.variables import Scope, VariableTable
from tinca.core.errors import ConfigError
from tinca.core.plugin_manager import PluginManager


@pytest.fixture(scope="module")
def table() -> VariableTable:
    return PluginManager().variables


def settings(text: str, table: VariableTable, scope: Scope = Scope.SERVER) -> Settings:
    return Settings(parse_text(text, "tinc.conf"), table, scope)


def test_typed_values_defaults_and_case_insensitive_names(table: VariableTable) -> None:
    s = settings("name = alpha\nPORT = 1655\nconnectto beta\nConnectTo = gamma\n", table)
    assert s.get("Name") == "alpha"
    assert s.get("port") == 1655
    assert s.get_all("ConnectTo") == ["beta", "gamma"]
    assert s.get("PingInterval") == 60  # declared default
    assert s.get("Mode") == "router"


def test_bad_value_is_an_error_at_file_line(table: VariableTable) -> None:
    with pytest.raises(ConfigError) as err:
        settings("Name = alpha\nPort = abc\n", table)
    assert str(err.value) == "tinc.conf:2: bad value for Port: integer expected, got 'abc'"


def test_bad_bool_and_choice(table: VariableTable) -> None:
    with pytest.raises(ConfigError, match=r"^tinc.conf:1: bad value for TCPOnly: \"yes\" or"):
        settings("TCPOnly = maybe\n", table)
    with pytest.raises(ConfigError, match=r"^tinc.conf:1: bad value for Mode: expected one of"):
        settings("Mode = bridge\n", table)


def test_subnet_with_host_bits_is_refused(table: VariableTable) -> None:
    with pytest.raises(ConfigError, match="host bits set"):
        settings("Subnet = 198.18.0.1/16\n", table, Scope.HOST)


def test_unknown_variable_warns_with_suggestion(table: VariableTable) -> None:
    s = settings("Name = alpha\nConectTo = beta\n", table)
    assert [str(w) for w in s.warnings] == [
        "tinc.conf:2: unknown variable ConectTo; did you mean ConnectTo?"
    ]


def test_not_implemented_variable_warns(table: VariableTable) -> None:
    s = settings("GraphDumpFile = /tmp/graph\n", table)
    assert len(s.warnings) == 1
    assert "GraphDumpFile is not implemented yet" in str(s.warnings[0])


def test_server_variable_in_host_file_is_ignored_with_warning(table: VariableTable) -> None:
    s = settings("Mode = switch\n", table, Scope.HOST)
    assert s.get("Mode") == "router"
    assert "server variable" in str(s.warnings[0])


def test_host_variable_in_tinc_conf_counts_like_tincd(table: VariableTable) -> None:
    # tincd merges hosts/MYNAME into its server config, so Port works here.
    s = settings("Port = 1234\n", table)
    assert s.get("Port") == 1234
    assert s.warnings == []


def write(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def test_directory_with_conf_d_and_own_host(tmp_path: Path, table: VariableTable) -> None:
    write(
        tmp_path,
        {
            "tinc.conf": "Name = alpha\nConnectTo = beta\n",
            "conf.d/20-more.conf": "ConnectTo = delta\n",
            "conf.d/10-extra.conf": "ConnectTo = gamma\n",
            "conf.d/ignored.txt": "ConnectTo = nobody\n",
            "hosts/alpha": "Port = 1655\n",
            "hosts/beta": "Address = 192.0.2.2\n",
        },
    )
    config = load_configuration(tmp_path, table)
    assert config.server.get_all("ConnectTo") == ["beta", "gamma", "delta"]
    assert config.lookup("Port") == 1655  # from hosts/alpha, as tincd
    assert config.host("beta").get_all("Address") == [("192.0.2.2", None)]
    assert list(config.host_names()) == ["alpha", "beta"]


def test_missing_own_host_file_names_the_name_line(tmp_path: Path, table: VariableTable) -> None:
    write(tmp_path, {"tinc.conf": "# net\nName = alpha\n"})
    config = load_configuration(tmp_path, table)
    with pytest.raises(ConfigError) as err:
        require_own_host(config)
    assert str(err.value).startswith(f"{tmp_path}/tinc.conf:2: Name = alpha, but no host file")


def test_missing_tinc_conf(tmp_path: Path, table: VariableTable) -> None:
    with pytest.raises(ConfigError, match=r"tinc.conf: cannot open config file: No such file"):
        load_configuration(tmp_path, table)


def test_host_names_cannot_escape_hosts_dir(tmp_path: Path, table: VariableTable) -> None:
    write(tmp_path, {"tinc.conf": "Name = alpha\n", "hosts/alpha": "Port = 1\n"})
    config = load_configuration(tmp_path, table)
    with pytest.raises(ConfigError, match="invalid node name"):
        config.host("../tinc.conf")


def test_toml_form_is_the_same_model(tmp_path: Path, table: VariableTable) -> None:
    write(
        tmp_path,
        {
            "tinca.toml": (
                'Name = "alpha"\nConnectTo = ["beta", "gamma"]\nTCPOnly = true\n'
                '[hosts.alpha]\nPort = 1655\nSubnet = ["198.18.0.1/32"]\n'
            )
        },
    )
    config = load_configuration(tmp_path, table)
    assert config.name == "alpha"
    assert config.server.get_all("ConnectTo") == ["beta", "gamma"]
    assert config.server.get("TCPOnly") is True
    assert config.lookup("Port") == 1655


def test_toml_bad_value_names_file_and_line(tmp_path: Path, table: VariableTable) -> None:
    write(tmp_path, {"tinca.toml": 'Name = "alpha"\n\n[hosts.alpha]\nPort = "abc"\n'})
    config = load_configuration(tmp_path, table)
    with pytest.raises(ConfigError) as err:
        config.host("alpha")
    assert str(err.value) == (
        f"{tmp_path}/tinca.toml:4: bad value for Port: integer expected, got 'abc'"
    )


def test_toml_syntax_error_names_line(tmp_path: Path, table: VariableTable) -> None:
    write(tmp_path, {"tinca.toml": 'Name = "alpha"\nPort = = 3\n'})
    with pytest.raises(ConfigError, match=r"tinca.toml:2: invalid TOML"):
        load_configuration(tmp_path, table)


def test_both_forms_in_one_directory_is_refused(tmp_path: Path, table: VariableTable) -> None:
    write(tmp_path, {"tinc.conf": "Name = a\n", "tinca.toml": 'Name = "a"\n'})
    with pytest.raises(ConfigError, match=r"both tinc\.conf and tinca\.toml"):
        load_configuration(tmp_path, table)
