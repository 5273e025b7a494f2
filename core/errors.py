"""Errors a user can cause. Each carries a message the user can act on.

They are caught at the edge (the command lines, the daemon's loop), logged once
and turned into an exit status; programming errors stay tracebacks.
"""

from __future__ import annotations


class TincaError(Exception):
    """Base class for errors caused by input, configuration or environment."""


class ConfigError(TincaError):
    """A configuration problem, located at ``file:line`` when it has a place."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class PluginError(TincaError):
    """A plugin is missing, broken or conflicts with another."""


class KeyFileError(TincaError):
    """A key file is missing, unreadable or malformed."""
