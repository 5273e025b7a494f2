"""Key generation for ``tincad -K`` and ``tinca generate-*-keys``.

The core only finds the node's name and asks the user for file names; the
cipher plugins (through ``tinca_register_key_generators``) make the keys.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tinca.core.config.loader import raw_server_entries
from tinca.core.config.model import expand_name
from tinca.core.errors import ConfigError, TincaError
from tinca.core.keys import KeygenRequest
from tinca.core.paths import Names
from tinca.core.plugin_manager import PluginManager


def node_name(confbase: Path) -> str | None:
    """``Name`` from the configuration, or None; a broken file is no obstacle
    to making keys (tincd reads it the same forgiving way)."""
    try:
        entries = raw_server_entries(confbase)
    except ConfigError:
        return None
    for entry in entries:
        if entry.name.lower() == "name":
            try:
                name = expand_name(entry.value)
            except ConfigError:
                return None
            # tincd says "Invalid name for myself!" and falls back to rsa_key.pub.
            return name if re.fullmatch(r"[A-Za-z0-9_]+", name) else None
    return None


def _ask(question: str, default: str) -> str:
    """Ask on the terminal; without one, take the default as tincd does."""
    # tincd only asks when both ends are a terminal.
    if not (sys.stdin and sys.stdin.isatty() and sys.stdout and sys.stdout.isatty()):
        return default
    try:
        answer = input(f"{question} [{default}]: ").strip()
    except EOFError:
        return default
    return answer or default


def _say(message: str) -> None:
    sys.stderr.write(message if message.endswith("\n") else message + "\n")
    sys.stderr.flush()


def generate_keys(names: Names, kinds: list[str], bits: int | None = None) -> int:
    """Run the generators for ``kinds`` ("rsa", "ed25519"); 0 on success."""
    manager = PluginManager()
    registry = manager.registry("tinca_register_key_generators")
    kinds = kinds or registry.names()
    request = KeygenRequest(
        confbase=names.confbase, name=node_name(names.confbase), bits=bits, ask=_ask, say=_say
    )
    for kind in kinds:
        generator = registry.get(kind).value
        try:
            generator(request)
        except OSError as err:
            raise TincaError(f"cannot write {kind} keys: {err}") from None
    return 0
