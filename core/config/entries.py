"""Raw configuration entries and the tinc.conf file format.

A tinc configuration file is a sequence of ``Variable = Value`` (or
``Variable Value``) lines, full-line ``#`` comments, blank lines and PEM blocks
(``-----BEGIN ...-----`` to ``-----END ...-----``) holding keys. This module
reads and writes that format losslessly as far as meaning goes: every entry
keeps its file and line for error messages, and PEM blocks become entries named
:data:`PEM` so they survive conversion to TOML and back.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tinca.core.errors import ConfigError

PEM = "PEM"
"""Pseudo-variable name under which PEM blocks in host files are kept."""

_PEM_BEGIN = re.compile(r"^-----BEGIN ([A-Z0-9 ]+)-----$")
_PEM_END = re.compile(r"^-----END ([A-Z0-9 ]+)-----$")
_NAME_END = re.compile(r"[\t =]")


@dataclass(frozen=True)
class Entry:
    """One ``Variable = Value`` line (or one PEM block) and where it came from."""

    name: str
    value: str
    file: str
    line: int

    @property
    def where(self) -> str:
        """``file:line`` for messages."""
        return f"{self.file}:{self.line}"


def parse_line(text: str, file: str, line: int) -> Entry:
    """Split one non-comment line into an entry, the way tincd does.

    The name ends at the first space, tab or ``=``; an optional ``=`` and
    surrounding blanks separate it from the value; trailing blanks are dropped.
    """
    text = text.strip(" \t")
    match = _NAME_END.search(text)
    if match is None:
        name, rest = text, ""
    else:
        name, rest = text[: match.start()], text[match.start() :]
    rest = rest.lstrip(" \t")
    if rest.startswith("="):
        rest = rest[1:].lstrip(" \t")
    if not name:
        raise ConfigError("line starts with '=' but names no variable", file, line)
    if not rest:
        raise ConfigError(f"no value for variable {name}", file, line)
    return Entry(name, rest, file, line)


def parse_text(text: str, file: str) -> list[Entry]:
    """Parse the whole text of a tinc.conf-style file into entries.

    ``file`` is the name used in error messages (a path as the user knows it).
    Raises :class:`ConfigError` naming ``file:line`` for malformed lines and
    broken PEM blocks.
    """
    entries: list[Entry] = []
    pem_lines: list[str] = []
    pem_label = ""
    pem_start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip(" \t\r")
        if pem_lines:
            pem_lines.append(stripped)
            if stripped.startswith("-----END"):
                end = _PEM_END.match(stripped)
                if end is None or end.group(1) != pem_label:
                    raise ConfigError(
                        f"PEM block '{pem_label}' started on line {pem_start} "
                        f"ends with mismatched line {stripped!r}",
                        file,
                        lineno,
                    )
                block = "\n".join(pem_lines) + "\n"
                _check_pem_body(pem_lines[1:-1], file, pem_start)
                entries.append(Entry(PEM, block, file, pem_start))
                pem_lines = []
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("-----BEGIN"):
            begin = _PEM_BEGIN.match(stripped)
            if begin is None:
                raise ConfigError(f"malformed PEM header {stripped!r}", file, lineno)
            pem_label, pem_start, pem_lines = begin.group(1), lineno, [stripped]
            continue
        entries.append(parse_line(stripped, file, lineno))
    if pem_lines:
        raise ConfigError(
            f"PEM block '{pem_label}' is not terminated (no '-----END {pem_label}-----')",
            file,
            pem_start,
        )
    return entries


def _check_pem_body(lines: list[str], file: str, start: int) -> None:
    """Reject PEM bodies that are not base64, pointing at the bad line."""
    body_lines = [ln for ln in lines if ln and ":" not in ln]  # skip RFC 1421 headers
    if not body_lines:
        raise ConfigError("PEM block has no content", file, start)
    for offset, ln in enumerate(lines, start=1):
        if ln and ":" not in ln and not re.fullmatch(r"[A-Za-z0-9+/=_-]+", ln):
            raise ConfigError(f"PEM block has a non-base64 line {ln!r}", file, start + offset)
    joined = "".join(body_lines)
    # tinc 1.1 writes Ed25519 PEM bodies in its own unpadded alphabet, so only
    # insist on standard base64 for blocks that look standard (padded lengths).
    if len(joined) % 4 == 0:
        try:
            base64.b64decode(joined, validate=True)
        except binascii.Error as err:
            raise ConfigError(f"PEM block is not valid base64 ({err})", file, start) from None


def format_entries(entries: Iterable[Entry]) -> str:
    """Render entries as tinc.conf text (``Name = Value``, PEM blocks verbatim)."""
    out: list[str] = []
    for entry in entries:
        if entry.name == PEM:
            out.append(entry.value if entry.value.endswith("\n") else entry.value + "\n")
        else:
            out.append(f"{entry.name} = {entry.value}\n")
    return "".join(out)
