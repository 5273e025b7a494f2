"""Finding and reading a network's configuration in either form.

The tinc form is a directory (``tinc.conf``, ``conf.d/*.conf``, ``hosts/*``),
read as tincd reads it. The TOML form is one ``tinca.toml`` file holding the
same model (see :mod:`tinca.core.config.toml_form`). A directory holding both
is ambiguous and refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tinca.core.config.entries import Entry, parse_text
from tinca.core.config.model import Configuration, Settings
from tinca.core.config.variables import Scope, VariableTable
from tinca.core.errors import ConfigError

TOML_NAME = "tinca.toml"
CONFDIR_ENV = "TINCA_CONFDIR"
"""Environment variable that moves tinc's ``/etc/tinc`` (for tests and packaging)."""

_VALID_NODE = re.compile(r"[A-Za-z0-9_]+")


class MissingHostFile(ConfigError):
    """A host has no ``hosts/NAME`` file (or TOML table)."""


def config_root() -> Path:
    """Where ``-n NET`` networks live: ``$TINCA_CONFDIR`` or ``/etc/tinc``."""
    return Path(os.environ.get(CONFDIR_ENV) or "/etc/tinc")


def confbase_for(netname: str | None, confbase: str | None = None) -> Path:
    """The configuration directory from ``-c DIR`` or ``-n NET``, as tincd picks it."""
    if confbase:
        return Path(confbase)
    if netname:
        if netname in {".", ".."} or "/" in netname:
            raise ConfigError(f"invalid character in netname {netname!r}")
        return config_root() / netname
    return config_root()


def check_node_name(name: str) -> str:
    """Refuse names that are not tinc node names (and could escape hosts/)."""
    if not _VALID_NODE.fullmatch(name):
        raise ConfigError(f"invalid node name {name!r}")
    return name


def read_file_entries(path: Path) -> list[Entry]:
    """Entries of one tinc.conf-style file; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as err:
        raise ConfigError(f"cannot open config file: {err.strerror}", str(path)) from None
    return parse_text(text, str(path))


def load_configuration(location: str | Path, table: VariableTable) -> Configuration:
    """Load a network's configuration from a directory or a ``.toml`` file."""
    path = Path(location)
    if path.suffix == ".toml" and not path.is_dir():
        return _load_toml(path, table)
    has_conf = (path / "tinc.conf").exists()
    has_toml = (path / TOML_NAME).exists()
    if has_conf and has_toml:
        raise ConfigError(
            f"both tinc.conf and {TOML_NAME} exist in {path}; keep one of them "
            "(tinca config convert turns one into the other)"
        )
    if has_toml:
        return _load_toml(path / TOML_NAME, table)
    return _load_tinc_dir(path, table)


def read_server_entries(confbase: Path) -> list[Entry]:
    """Entries of ``tinc.conf`` followed by ``conf.d/*.conf`` in name order."""
    entries = read_file_entries(confbase / "tinc.conf")
    conf_d = confbase / "conf.d"
    if conf_d.is_dir():
        for extra in sorted(conf_d.glob("*.conf")):
            entries.extend(read_file_entries(extra))
    return entries


def raw_server_entries(location: str | Path) -> list[Entry]:
    """Unvalidated server entries from either form: a directory with
    tinc.conf (plus conf.d), a directory with tinca.toml, or a .toml file.

    For what must be known before plugins are loaded (LoadPlugin,
    BlockPlugin, Name for key generation).
    """
    path = Path(location)
    if path.suffix == ".toml" and not path.is_dir():
        toml_path = path
    elif (path / TOML_NAME).exists() and not (path / "tinc.conf").exists():
        toml_path = path / TOML_NAME
    else:
        return read_server_entries(path)
    from tinca.core.config.toml_form import read_toml

    return read_toml(toml_path)[0]


def list_host_files(hosts_dir: Path) -> list[str]:
    """Names of the host files in ``hosts_dir`` (files named like nodes)."""
    if not hosts_dir.is_dir():
        return []
    return sorted(
        p.name for p in hosts_dir.iterdir() if p.is_file() and _VALID_NODE.fullmatch(p.name)
    )


def _load_tinc_dir(confbase: Path, table: VariableTable) -> Configuration:
    server = Settings(read_server_entries(confbase), table, Scope.SERVER)
    hosts_dir = confbase / "hosts"

    def load_host(name: str) -> list[Entry]:
        host_path = hosts_dir / check_node_name(name)
        if not host_path.is_file():
            raise MissingHostFile(f"no host file for {name}", str(host_path))
        return read_file_entries(host_path)

    return Configuration(
        str(confbase),
        server,
        load_host,
        lambda: list_host_files(hosts_dir),
        str(confbase / "tinc.conf"),
    )


def _load_toml(path: Path, table: VariableTable) -> Configuration:
    # Imported here so the tinc form needs no TOML support at all.
    from tinca.core.config.toml_form import read_toml

    server_entries, host_entries = read_toml(path)
    server = Settings(server_entries, table, Scope.SERVER)

    def load_host(name: str) -> list[Entry]:
        check_node_name(name)
        if name not in host_entries:
            raise MissingHostFile(f"no [hosts.{name}] table", str(path))
        return host_entries[name]

    return Configuration(
        str(path.parent), server, load_host, lambda: sorted(host_entries), str(path)
    )


def require_own_host(config: Configuration) -> None:
    """Fail like tincd when ``Name`` is missing or has no host file."""
    name_entry = config.server.entry("Name")
    if name_entry is None or not config.name:
        raise ConfigError("Name is not set; tinca needs to know this node's name", config.source)
    try:
        config.own_host()
    except MissingHostFile as err:
        raise ConfigError(
            f"Name = {config.name}, but {err.message} ({err.file})",
            name_entry.file,
            name_entry.line,
        ) from None
