"""The contract between the key commands and the plugins that make keys.

``tincad -K`` and ``tinca generate-*-keys`` build a :class:`KeygenRequest` and
hand it to a generator registered through ``tinca_register_key_generators``.
The core knows no key algorithm; cipher plugins do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


def _default_ask(question: str, default: str) -> str:
    return default


@dataclass(frozen=True)
class KeygenRequest:
    """Everything a key generator needs, with I/O and randomness injected.

    ``name`` is ``Name`` from tinc.conf, or ``None`` when it is not set (tincd
    then writes the public key to a ``*.pub`` file instead of ``hosts/NAME``).
    ``ask(question, default)`` asks the user for a file name and returns the
    default when nobody is there to answer; ``say`` prints progress to the
    user (tincd prints to stderr); ``random(n)`` returns ``n`` random bytes.
    """

    confbase: Path
    name: str | None
    bits: int | None = None
    ask: Callable[[str, str], str] = _default_ask
    say: Callable[[str], None] = field(default=lambda message: None)
    random: Callable[[int], bytes] = os.urandom


class KeyGenerator(Protocol):
    """Makes one kind of key pair and writes it where tinc expects it."""

    def __call__(self, request: KeygenRequest) -> list[Path]:
        """Generate and store a key pair; return the files written or appended to.

        Raises :class:`~tinca.core.errors.KeyFileError` when a file cannot be
        written.
        """
        ...
