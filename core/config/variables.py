"""Declarations of configuration variables and the table that holds them.

Every variable tinca understands is declared once, by the core or by the plugin
that owns it (hook ``tinca_config_variables``), with its type, default, scope
and a one-line doc. The table validates entries, suggests names for typos and
feeds ``tinca config`` and the documentation.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tinca.core.config.values import ValueType
from tinca.core.errors import PluginError


class Scope(enum.Flag):
    """Where a variable may appear: ``tinc.conf`` (server), ``hosts/NAME`` (host), or both."""

    SERVER = enum.auto()
    HOST = enum.auto()
    BOTH = SERVER | HOST


@dataclass(frozen=True)
class Variable:
    """One configuration variable.

    ``default`` is the parsed default value, or ``None`` when tinc computes it
    (say, from the platform) or there is none. ``multiple`` marks variables
    that may be repeated and whose values all count (``ConnectTo``,
    ``Subnet``, ``Address``); for the others the first value wins, as in tincd.
    ``implemented`` is false for variables a later version of tinca will act
    on: using one warns "not implemented yet". ``since`` is the tinc version
    that introduced it.
    """

    name: str
    type: ValueType
    doc: str
    default: Any = None
    scope: Scope = Scope.SERVER
    multiple: bool = False
    implemented: bool = True
    since: str = "1.0"


@dataclass(frozen=True)
class Declared:
    """A variable and the plugin that declared it."""

    variable: Variable
    plugin: str


class VariableTable:
    """All declared variables, looked up case-insensitively."""

    def __init__(self) -> None:
        self._by_key: dict[str, Declared] = {}

    def declare(self, variable: Variable, plugin: str) -> None:
        """Add a declaration; the same name from two plugins is an error."""
        key = variable.name.lower()
        old = self._by_key.get(key)
        if old is not None:
            raise PluginError(
                f"configuration variable {variable.name} is declared by both "
                f"{old.plugin!r} and {plugin!r}"
            )
        self._by_key[key] = Declared(variable, plugin)

    def lookup(self, name: str) -> Declared | None:
        """The declaration for ``name`` (any case), or ``None``."""
        return self._by_key.get(name.lower())

    def __getitem__(self, name: str) -> Variable:
        declared = self.lookup(name)
        if declared is None:
            raise KeyError(name)
        return declared.variable

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_key

    def __iter__(self) -> Iterator[Declared]:
        """Every declaration, sorted by variable name."""
        return iter(sorted(self._by_key.values(), key=lambda d: d.variable.name.lower()))

    def __len__(self) -> int:
        return len(self._by_key)

    def suggest(self, name: str) -> str | None:
        """The declared name closest to a misspelt ``name``, if any is close."""
        names = {d.variable.name.lower(): d.variable.name for d in self._by_key.values()}
        close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
        return names[close[0]] if close else None
