"""The server settings the meta protocol's request handlers consult."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProtocolSettings:
    """The server settings the request handlers consult."""

    tunnelserver: bool = False
    strictsubnets: bool = False
    pmtu: int | None = None


__all__ = ["ProtocolSettings"]
