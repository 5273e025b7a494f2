"""Named registries that plugins fill through the ``tinca_register_*`` hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinca.core.errors import PluginError


@dataclass(frozen=True)
class Entry:
    """One named thing a plugin registered: a device type, a cipher, ..."""

    name: str
    value: Any
    plugin: str
    doc: str = ""


class Registry:
    """Names to factories for one slot; names compare case-insensitively.

    ``slot`` is a human word for error messages ("device type", "cipher").
    """

    def __init__(self, slot: str) -> None:
        self.slot = slot
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, value: Any, doc: str = "", *, plugin: str) -> Entry:
        """Record ``name``; a second plugin claiming the same name is an error."""
        key = name.lower()
        old = self._entries.get(key)
        if old is not None and old.plugin != plugin:
            raise PluginError(
                f"{self.slot} {name!r} is registered by both {old.plugin!r} and {plugin!r}"
            )
        entry = Entry(name, value, plugin, doc)
        self._entries[key] = entry
        return entry

    def get(self, name: str) -> Entry:
        """Return the entry for ``name`` or raise an error listing what exists."""
        entry = self._entries.get(name.lower())
        if entry is None:
            raise PluginError(
                f"unknown {self.slot} {name!r}; installed: {', '.join(self.names()) or 'none'}"
            )
        return entry

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(e.name for e in self._entries.values())

    def entries(self) -> list[Entry]:
        """Registered entries, sorted by name."""
        return sorted(self._entries.values(), key=lambda e: e.name)
