"""The TOML form of a network's configuration, and conversion both ways.

The TOML form holds exactly what a tinc configuration directory holds::

    Name = "alpha"              # server variables (tinc.conf, conf.d/*.conf)
    ConnectTo = ["beta", "gamma"]

    [hosts.beta]                # one table per hosts/NAME file
    Address = "192.0.2.2 655"
    Subnet = ["198.18.0.2/32"]
    PEM = ['''
    -----BEGIN RSA PUBLIC KEY-----
    ...
    -----END RSA PUBLIC KEY-----
    ''']

A variable given once is a scalar, a repeated one an array (in file order).
Known variables get TOML types (``Port = 655``, ``TCPOnly = true``); unknown
ones stay strings. PEM blocks from host files are kept under ``PEM``.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tinca.core.config.entries import PEM, Entry
from tinca.core.config.variables import VariableTable
from tinca.core.errors import ConfigError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# --------------------------------------------------------------------------- reading


def read_toml(path: Path) -> tuple[list[Entry], dict[str, list[Entry]]]:
    """Read ``path`` into server entries and host entries by name.

    Values become tinc.conf text (``true`` → ``yes``, ``655`` → ``"655"``), so
    the same validation applies to both forms. Errors name ``file:line``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot open config file: {err.strerror}", str(path)) from None
    return parse_toml(text, str(path))


def parse_toml(text: str, file: str) -> tuple[list[Entry], dict[str, list[Entry]]]:
    """Parse TOML text; see :func:`read_toml`."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # Python 3.11's tomllib only puts the position into the message text.
        where = re.search(r"\(at line (\d+), column \d+\)", str(err))
        line = int(where.group(1)) if where else None
        reason = str(err)[: where.start()].strip() if where else str(err)
        raise ConfigError(f"invalid TOML: {reason}", file, line) from None
    locate = _Locator(text)
    hosts_table = document.pop("hosts", {})
    if not isinstance(hosts_table, dict):
        raise ConfigError("'hosts' must be a table of host tables", file, locate(None, "hosts"))
    server = _entries_of(document, None, file, locate)
    hosts: dict[str, list[Entry]] = {}
    for host, table in hosts_table.items():
        if not isinstance(table, dict):
            raise ConfigError(f"hosts.{host} must be a table", file, locate("hosts", host))
        hosts[host] = _entries_of(table, host, file, locate)
    return server, hosts


def _entries_of(
    table: dict[str, Any], host: str | None, file: str, locate: _Locator
) -> list[Entry]:
    entries: list[Entry] = []
    section = None if host is None else f"hosts.{host}"
    for name, value in table.items():
        line = locate(section, name) or 0
        values = value if isinstance(value, list) else [value]
        for item in values:
            entries.append(Entry(name, _to_text(item, name, file, line), file, line))
    return entries


def _to_text(item: object, name: str, file: str, line: int) -> str:
    if isinstance(item, bool):
        return "yes" if item else "no"
    if isinstance(item, int | str):
        return str(item)
    raise ConfigError(
        f"{name} must be a string, integer or boolean (or an array of them), "
        f"not {type(item).__name__}",
        file,
        line,
    )


class _Locator:
    """Finds the line of ``key`` inside ``[section]`` for error messages.

    tomllib reports no positions for values, so scan the text the way a
    reader would: track the current table header, find ``key =``.
    """

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()

    def __call__(self, section: str | None, key: str) -> int | None:
        current: str | None = None
        for number, raw in enumerate(self._lines, start=1):
            line = raw.strip()
            header = re.fullmatch(r"\[\s*([^\[\]]+?)\s*\]", line)
            if header:
                current = re.sub(r"\s*\.\s*", ".", header.group(1)).replace('"', "")
                continue
            if current == section and re.match(rf'"?{re.escape(key)}"?\s*=', line):
                return number
        return None


# --------------------------------------------------------------------------- writing


def format_toml(
    server: Iterable[Entry], hosts: dict[str, list[Entry]], table: VariableTable
) -> str:
    """Render a configuration as TOML text, typed by the declared variables.

    Values that do not parse under their declared type are kept as strings
    rather than dropped, so conversion never loses a line.
    """
    out = ["# tinca configuration (TOML form); see `tinca config convert`\n"]
    out.extend(_format_table(list(server), table))
    for host in sorted(hosts):
        out.append(f"\n[hosts.{_key(host)}]\n")
        out.extend(_format_table(hosts[host], table))
    return "".join(out)


def _format_table(entries: list[Entry], table: VariableTable) -> list[str]:
    grouped: dict[str, tuple[str, list[str]]] = {}
    for entry in entries:
        key = entry.name.lower()
        name = grouped[key][0] if key in grouped else _canonical(entry.name, table)
        grouped.setdefault(key, (name, []))[1].append(_value(entry, table))
    lines = []
    for name, values in grouped.values():
        rendered = values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"
        lines.append(f"{_key(name)} = {rendered}\n")
    return lines


def _canonical(name: str, table: VariableTable) -> str:
    declared = table.lookup(name)
    return declared.variable.name if declared else name


def _value(entry: Entry, table: VariableTable) -> str:
    if entry.name == PEM:
        return "'''\n" + entry.value + "'''"
    declared = table.lookup(entry.name)
    if declared is not None:
        vtype = declared.variable.type
        try:
            native = vtype.to_toml(vtype.parse(entry.value))
        except ValueError:
            native = entry.value
        if isinstance(native, bool):
            return "true" if native else "false"
        if isinstance(native, int):
            return str(native)
        return _string(native)
    return _string(entry.value)


def _string(text: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes, except
    # that TOML also forbids a raw DEL character.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _string(name)
