"""The configuration model: validated, typed views over raw entries.

A :class:`Settings` is one group of entries — the server's (``tinc.conf`` plus
``conf.d/*.conf``) or one host's (``hosts/NAME``) — checked against the
declared variables. :class:`Configuration` holds the server settings and gives
access to host settings by name, whichever file form they came from.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tinca.core.config.entries import PEM, Entry
from tinca.core.config.variables import Scope, VariableTable
from tinca.core.errors import ConfigError

_MISSING: Any = object()


@dataclass(frozen=True)
class ConfigWarning:
    """Something worth telling the user that does not stop the daemon."""

    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        return f"{self.file}:{self.line}: {self.message}"


class Settings:
    """Typed access to one group of entries, validated on construction.

    Bad values raise :class:`ConfigError` at ``file:line``. Unknown variables,
    variables in the wrong file and variables tinca does not act on yet are
    collected in :attr:`warnings`, once each.
    """

    def __init__(self, entries: Iterable[Entry], table: VariableTable, scope: Scope) -> None:
        self.entries: list[Entry] = list(entries)
        self.table = table
        self.scope = scope
        self.warnings: list[ConfigWarning] = []
        self._values: dict[str, list[Any]] = {}
        for entry in self.entries:
            self._absorb(entry)

    def _absorb(self, entry: Entry) -> None:
        if entry.name == PEM:
            self._values.setdefault(PEM.lower(), []).append(entry.value)
            return
        declared = self.table.lookup(entry.name)
        if declared is None:
            hint = self.table.suggest(entry.name)
            message = f"unknown variable {entry.name}"
            if hint:
                message += f"; did you mean {hint}?"
            self.warnings.append(ConfigWarning(message, entry.file, entry.line))
            self._values.setdefault(entry.name.lower(), []).append(entry.value)
            return
        variable = declared.variable
        try:
            value = variable.type.parse(entry.value)
        except ValueError as err:
            raise ConfigError(
                f"bad value for {variable.name}: {err}", entry.file, entry.line
            ) from None
        # tincd merges hosts/MYNAME into the server configuration, so host
        # variables in tinc.conf (Port, Subnet, ...) take effect for our own
        # node. Server variables in a host file are never read for peers.
        if self.scope is Scope.HOST and not variable.scope & Scope.HOST:
            self.warnings.append(
                ConfigWarning(
                    f"{variable.name} is a server variable and belongs in tinc.conf; ignored here",
                    entry.file,
                    entry.line,
                )
            )
            return
        if not variable.implemented:
            self.warnings.append(
                ConfigWarning(
                    f"{variable.name} is not implemented yet in tinca; ignored",
                    entry.file,
                    entry.line,
                )
            )
        self._values.setdefault(variable.name.lower(), []).append(value)

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The first value of ``name``, else ``default``, else the declared default."""
        values = self._values.get(name.lower())
        if values:
            return values[0]
        if default is not _MISSING:
            return default
        declared = self.table.lookup(name)
        return declared.variable.default if declared else None

    def get_all(self, name: str) -> list[Any]:
        """Every value of ``name`` in file order (empty when unset)."""
        return list(self._values.get(name.lower(), []))

    def entry(self, name: str) -> Entry | None:
        """The first raw entry for ``name``, to point error messages at it."""
        low = name.lower()
        return next((e for e in self.entries if e.name.lower() == low), None)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._values.get(name.lower()))


def expand_name(name: str) -> str:
    """Resolve ``Name = $VAR`` as tincd does: the environment variable's value,
    or the host name for ``$HOST``, with every non-alphanumeric turned into ``_``."""
    if not name.startswith("$"):
        return name
    value = os.environ.get(name[1:])
    if value is None:
        if name[1:] != "HOST":
            raise ConfigError(f"Invalid Name: environment variable {name[1:]} does not exist")
        value = socket.gethostname()[:31]
    return re.sub(r"[^A-Za-z0-9]", "_", value)


@dataclass
class Configuration:
    """A whole network's configuration: server settings plus hosts by name.

    ``load_host`` reads one host's entries on demand (tincd reads host files
    lazily too); ``host_names`` lists the hosts that exist.
    """

    confbase: str
    server: Settings
    load_host: Callable[[str], list[Entry]]
    host_names: Callable[[], list[str]]
    source: str = "tinc.conf"
    _hosts: dict[str, Settings] = field(default_factory=dict)

    @property
    def table(self) -> VariableTable:
        """The declared variables this configuration was validated against."""
        return self.server.table

    @property
    def name(self) -> str | None:
        """This node's ``Name``, with ``$HOST``/``$VAR`` expanded as tincd does."""
        name = self.server.get("Name")
        return expand_name(name) if name else None

    def host(self, name: str) -> Settings:
        """Validated settings of ``hosts/NAME``; raises ConfigError if missing."""
        settings = self._hosts.get(name)
        if settings is None:
            settings = Settings(self.load_host(name), self.table, Scope.HOST)
            self._hosts[name] = settings
        return settings

    def hosts(self) -> Iterator[tuple[str, Settings]]:
        """Every host's settings, by name."""
        for name in self.host_names():
            yield name, self.host(name)

    def own_host(self) -> Settings:
        """Our own ``hosts/NAME``; tincd reads Port, Subnet and keys from it."""
        if not self.name:
            raise ConfigError("Name is not set", self.source)
        return self.host(self.name)

    def lookup(self, name: str, default: Any = _MISSING) -> Any:
        """A server-side value as tincd looks it up: tinc.conf first, then our
        own host file for variables that may live in both."""
        if name in self.server:
            return self.server.get(name)
        declared = self.table.lookup(name)
        if declared and declared.variable.scope & Scope.HOST and self.name:
            own = self.own_host()
            if name in own:
                return own.get(name)
        return self.server.get(name, default)

    def warnings(self) -> list[ConfigWarning]:
        """Warnings from the server settings and every host read so far."""
        found = list(self.server.warnings)
        for settings in self._hosts.values():
            found.extend(settings.warnings)
        return found
