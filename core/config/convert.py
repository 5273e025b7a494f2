"""``tinca config convert``: between a tinc configuration directory and TOML.

The direction follows the source: a directory becomes a ``.toml`` file, a
``.toml`` file becomes a directory (``tinc.conf`` plus ``hosts/NAME``). Files
that are not configuration (keys, scripts) are not touched or copied.
"""

from __future__ import annotations

from pathlib import Path

from tinca.core.config.entries import Entry, format_entries
from tinca.core.config.loader import (
    check_node_name,
    list_host_files,
    read_file_entries,
    read_server_entries,
)
from tinca.core.config.toml_form import format_toml, read_toml
from tinca.core.config.variables import VariableTable
from tinca.core.errors import ConfigError


def read_tinc_dir(confbase: Path) -> tuple[list[Entry], dict[str, list[Entry]]]:
    """Raw server and host entries of a tinc configuration directory."""
    server = read_server_entries(confbase)
    hosts_dir = confbase / "hosts"
    hosts = {name: read_file_entries(hosts_dir / name) for name in list_host_files(hosts_dir)}
    return server, hosts


def tinc_dir_to_toml(confbase: Path, table: VariableTable) -> str:
    """The TOML text equivalent to the directory ``confbase``."""
    server, hosts = read_tinc_dir(confbase)
    return format_toml(server, hosts, table)


def toml_to_tinc_dir(source: Path, target: Path, *, force: bool = False) -> list[Path]:
    """Write ``tinc.conf`` and ``hosts/NAME`` under ``target`` from a TOML file.

    Refuses to overwrite existing files unless ``force``; returns the files
    written.
    """
    server, hosts = read_toml(source)
    files: dict[Path, list[Entry]] = {target / "tinc.conf": server}
    for name, entries in hosts.items():
        files[target / "hosts" / check_node_name(name)] = entries
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise ConfigError(
            f"{existing[0]} already exists; use --force to overwrite "
            f"({len(existing)} file(s) would be replaced)"
        )
    (target / "hosts").mkdir(parents=True, exist_ok=True)
    for path, entries in files.items():
        path.write_text(format_entries(entries), encoding="utf-8")
    return list(files)
