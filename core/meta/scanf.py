"""A small ``sscanf``: the conversions tincd's request handlers read lines with.

tincd parses every meta request with ``sscanf`` (the ``*_h`` handlers in
``src/protocol_*.c``), so what it accepts is what glibc's ``sscanf`` accepts
for a handful of formats. This module compiles those formats and runs them
over a line the way glibc does:

- a blank in the format skips any run of C white space (also none);
- ``%d`` and ``%x`` skip leading blanks, take a sign, and wrap at the width
  of their C type (``%hd`` 16 bits, ``%d`` 32, ``%lu`` 64); ``%x`` takes a
  ``0x`` prefix (the number conversion itself is
  :func:`tinca.core.subnet.scan_c_int`, shared with ``str2net``);
- ``%2048s`` reads one word of at most 2048 characters; a longer word spills
  into the next conversion, as it does in C;
- ``%*d`` and ``%*s`` read without assigning;
- scanning stops at the first conversion that does not match; what was
  assigned before it is the result (``sscanf``'s return value is its length).

It knows nothing about requests: :mod:`tinca.core.meta.requests` names the
fields of each format and turns a short scan into a
:class:`~tinca.core.meta.requests.RequestError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tinca.core.subnet import C_SPACE, scan_c_int

__all__ = ["Directive", "Format", "ScanError", "ScanResult", "compile_format", "sscanf"]

#: the C integer width of each length modifier tinc's formats use
_LENGTH_BITS = {"": 32, "h": 16, "l": 64}


@dataclass(frozen=True)
class Directive:
    """One directive of a compiled format: blanks, a literal or a conversion."""

    kind: Literal["space", "literal", "int", "word"]
    #: False for ``%*d`` / ``%*s``: read, but not assigned
    assign: bool = True
    #: the character a ``literal`` directive matches
    char: str = ""
    base: Literal[10, 16] = 10
    #: ``%d`` is signed; ``%x`` and ``%u`` are not
    signed: bool = True
    #: the width of the C integer the value wraps to
    bits: int = 32
    #: the maximum field width (``%2048s``), ``None`` when the format gives none
    width: int | None = None

    @property
    def assigns(self) -> bool:
        """Whether this directive stores a value (an assigning conversion)."""
        return self.assign and self.kind in ("int", "word")

    @property
    def expectation(self) -> str:
        """What this directive wanted, for an error message ("a decimal number")."""
        if self.kind == "literal":
            return repr(self.char)
        if self.kind == "word":
            return "a word"
        return "a hexadecimal number" if self.base == 16 else "a decimal number"


def compile_format(fmt: str) -> tuple[Directive, ...]:
    """Compile the subset of scanf formats that tinc's request handlers use.

    That is blanks, literal characters and ``%[*][width][h|l](d|u|x|s)``.
    """
    steps: list[Directive] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char in C_SPACE:
            while i < len(fmt) and fmt[i] in C_SPACE:
                i += 1
            steps.append(Directive("space"))
            continue
        if char != "%":
            steps.append(Directive("literal", char=char))
            i += 1
            continue
        i += 1
        assign = fmt[i] != "*"
        if not assign:
            i += 1
        digits = ""
        while fmt[i].isdigit():
            digits += fmt[i]
            i += 1
        length = ""
        if fmt[i] in "hl":
            length = fmt[i]
            i += 1
        conversion = fmt[i]
        i += 1
        width = int(digits) if digits else None
        if conversion == "s":
            steps.append(Directive("word", assign=assign, width=width))
        else:
            base: Literal[10, 16] = 16 if conversion == "x" else 10
            steps.append(
                Directive(
                    "int",
                    assign=assign,
                    base=base,
                    signed=conversion == "d",
                    bits=_LENGTH_BITS[length],
                    width=width,
                )
            )
    return tuple(steps)


@dataclass(frozen=True)
class ScanResult:
    """What one run of a format over a line assigned, and where it stopped."""

    #: the assigned values in order: ``int`` for numbers, ``str`` for words
    values: tuple[int | str, ...]
    #: the position in the line where scanning stopped
    stop: int
    #: the directive that did not match, ``None`` when the whole format matched
    failed: Directive | None

    def __len__(self) -> int:
        return len(self.values)

    def word(self, index: int) -> str:
        """Assigned value ``index``, which the format reads with ``%s``."""
        value = self.values[index]
        if not isinstance(value, str):
            raise TypeError(f"scanned value {index} is {value!r}, not a word")
        return value

    def number(self, index: int) -> int:
        """Assigned value ``index``, which the format reads with ``%d``/``%x``."""
        value = self.values[index]
        if not isinstance(value, int):
            raise TypeError(f"scanned value {index} is {value!r}, not a number")
        return value

    def optional_word(self, index: int) -> str | None:
        """Like :meth:`word`, or ``None`` when scanning stopped before it."""
        return self.word(index) if index < len(self.values) else None

    def optional_number(self, index: int) -> int | None:
        """Like :meth:`number`, or ``None`` when scanning stopped before it."""
        return self.number(index) if index < len(self.values) else None


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in C_SPACE:
        pos += 1
    return pos


def sscanf(text: str, directives: tuple[Directive, ...]) -> ScanResult:
    """Run compiled ``directives`` over ``text`` like glibc's ``sscanf``."""
    values: list[int | str] = []
    pos = 0
    end = len(text)
    for step in directives:
        if step.kind == "space":
            pos = _skip_space(text, pos)
            continue
        if step.kind == "literal":
            if pos < end and text[pos] == step.char:
                pos += 1
                continue
            return ScanResult(tuple(values), pos, step)
        pos = _skip_space(text, pos)
        if pos >= end:
            return ScanResult(tuple(values), pos, step)
        value: int | str
        if step.kind == "int":
            scanned = scan_c_int(
                text, pos, base=step.base, signed=step.signed, bits=step.bits, width=step.width
            )
            if scanned is None:
                return ScanResult(tuple(values), pos, step)
            value, pos = scanned
        else:
            stop = pos
            limit = end if step.width is None else min(end, pos + step.width)
            while stop < limit and text[stop] not in C_SPACE:
                stop += 1
            value, pos = text[pos:stop], stop
        if step.assign:
            values.append(value)
    return ScanResult(tuple(values), pos, None)


class ScanError(ValueError):
    """A line that assigns fewer fields than a caller requires.

    ``field`` names the first field that was not assigned, ``problem`` says
    why ("is missing", "'x1' is not a decimal number"); the message is both.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Format:
    """A compiled scanf format with a name for each assigned field."""

    fmt: str
    directives: tuple[Directive, ...]
    #: one name per assigning conversion, in order, for error messages
    names: tuple[str, ...]

    @classmethod
    def of(cls, fmt: str, *names: str) -> Format:
        """Compile ``fmt``; ``names`` must name every assigning conversion."""
        directives = compile_format(fmt)
        if sum(step.assigns for step in directives) != len(names):
            raise AssertionError(f"format {fmt!r} does not assign {names}")
        return cls(fmt, directives, names)

    def scan(self, text: str, required: int = 0) -> ScanResult:
        """Scan ``text``; raise :class:`ScanError` if fewer than ``required`` fields match."""
        result = sscanf(text, self.directives)
        if len(result.values) < required:
            assert result.failed is not None
            name = self.names[len(result.values)]
            stop = result.stop
            while stop < len(text) and text[stop] not in C_SPACE:
                stop += 1
            token = text[result.stop : stop]
            if not token:
                raise ScanError(name, "is missing")
            raise ScanError(name, f"{token!r} is not {result.failed.expectation}")
        return result
