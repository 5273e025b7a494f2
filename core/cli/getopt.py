"""A GNU getopt_long work-alike, because tincd's options need its quirks.

tincd declares several options with *optional* arguments (``-d``, ``-k``,
``-K``, ``--logfile``) and, like tincd, also takes the next word as that
argument when it does not start with ``-`` (``tincd -d 5``). argparse cannot
express this, so options are described in a small table instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Arg(Enum):
    """Whether an option takes an argument."""

    NONE = 0
    REQUIRED = 1
    OPTIONAL = 2  # attached (-d5, --debug=5) or, tincd-style, the next non-option word


@dataclass(frozen=True)
class Option:
    """One option: its key, short letter, long name and argument kind."""

    key: str
    short: str | None
    long: str | None
    arg: Arg = Arg.NONE


class UsageError(Exception):
    """Bad command line; the message reads like getopt's."""


def parse(
    argv: list[str], options: list[Option], program: str
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Parse ``argv`` (without the program name) into ``(key, value)`` pairs
    in order, and the remaining operands."""
    by_short = {o.short: o for o in options if o.short}
    by_long = {o.long: o for o in options if o.long}
    found: list[tuple[str, str | None]] = []
    operands: list[str] = []
    i = 0

    def take_optional(value: str | None) -> str | None:
        nonlocal i
        if value is None and i < len(argv) and not argv[i].startswith("-"):
            value = argv[i]
            i += 1
        return value

    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            operands.extend(argv[i:])
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            matches = [n for n in by_long if n.startswith(name)]
            if name in by_long:
                matches = [name]
            if not matches:
                raise UsageError(f"{program}: unrecognized option '--{name}'")
            if len(matches) > 1:
                raise UsageError(f"{program}: option '--{name}' is ambiguous")
            opt = by_long[matches[0]]
            if opt.arg is Arg.NONE:
                if eq:
                    raise UsageError(f"{program}: option '--{opt.long}' doesn't allow an argument")
                found.append((opt.key, None))
            elif opt.arg is Arg.REQUIRED:
                if not eq:
                    if i >= len(argv):
                        raise UsageError(f"{program}: option '--{opt.long}' requires an argument")
                    value = argv[i]
                    i += 1
                found.append((opt.key, value))
            else:
                found.append((opt.key, take_optional(value if eq else None)))
            continue
        if word.startswith("-") and word != "-":
            pos = 1
            while pos < len(word):
                letter = word[pos]
                pos += 1
                short_opt = by_short.get(letter)
                if short_opt is None:
                    raise UsageError(f"{program}: invalid option -- '{letter}'")
                rest = word[pos:]
                if short_opt.arg is Arg.NONE:
                    found.append((short_opt.key, None))
                    continue
                if short_opt.arg is Arg.REQUIRED:
                    if rest:
                        value = rest
                    elif i < len(argv):
                        value = argv[i]
                        i += 1
                    else:
                        raise UsageError(f"{program}: option requires an argument -- '{letter}'")
                    found.append((short_opt.key, value))
                else:
                    found.append((short_opt.key, take_optional(rest or None)))
                break
            continue
        operands.append(word)
    return found, operands
