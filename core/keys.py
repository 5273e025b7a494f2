"""The contract between the key commands and the plugins that make keys.

``tincad -K`` and ``tinca generate-*-keys`` build a :class:`KeygenRequest` and
hand it to a generator registered through ``tinca_register_key_generators``.
The core knows no key algorithm; cipher plugins do.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tinca.core.errors import KeyFileError


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


# ---------------------------------------------------------------------------
# Reading key files: shared by every cipher plugin
# ---------------------------------------------------------------------------


def read_key_file(path: Path, what: str) -> str:
    """The text of a key file; ``what`` names it in the error ("RSA private key")."""
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise KeyFileError(f"Error reading {what} file `{path}': {exc.strerror or exc}") from None


def key_text(
    text_or_path: str | os.PathLike[str], source: str | None, what: str
) -> tuple[str, str]:
    """``(text, source)`` for a key given as file text or as a path.

    A ``str`` holding a newline or a PEM line is the text itself; anything
    else is a path to read. ``source`` names the text in error messages.
    """
    if isinstance(text_or_path, str) and ("\n" in text_or_path or "-----" in text_or_path):
        return text_or_path, source or "<text>"
    path = Path(text_or_path)
    return read_key_file(path, what), source or str(path)


def insecure_key_warning(path: str | os.PathLike[str], what: str) -> str | None:
    """tinc's warning when a private key file is open to group or others, else ``None``."""
    mode = os.stat(path).st_mode
    if mode & ~(stat.S_IFREG | stat.S_IRWXU):
        return f"Warning: insecure file permissions for {what} file `{path}'!"
    return None
