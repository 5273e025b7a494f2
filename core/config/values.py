"""Value types of configuration variables.

Each type turns the text of a ``tinc.conf`` line into a Python value, turns it
back into text tincd would accept, and maps it to and from TOML. Parsing errors
are :class:`ValueError` with a message that completes the sentence
"bad value for Port: ..."; the caller adds ``file:line``.
"""

from __future__ import annotations

import abc
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

TomlValue = str | int | bool


class ValueType(abc.ABC):
    """How one variable's values are read, written and shown in TOML."""

    #: how the value looks, for docs and error messages ("yes|no", "integer")
    shape: str = "text"

    @abc.abstractmethod
    def parse(self, text: str) -> Any:
        """Parse tinc.conf text; raise ValueError with a reason on bad input."""

    def format(self, value: Any) -> str:
        """Render a parsed value as tinc.conf text that :meth:`parse` accepts."""
        return str(value)

    def to_toml(self, value: Any) -> TomlValue:
        """Render a parsed value for the TOML form."""
        return self.format(value)

    def from_toml(self, obj: object) -> Any:
        """Read a TOML value; accepts the TOML-native type or tinc.conf text."""
        if isinstance(obj, bool) or not isinstance(obj, str | int):
            raise ValueError(f"expected {self.shape}, got {type(obj).__name__}")
        return self.parse(str(obj))


@dataclass(frozen=True)
class Text(ValueType):
    """Free text (names of files, commands, hosts...). Must not be empty."""

    shape: str = "text"

    def parse(self, text: str) -> str:
        if not text:
            raise ValueError("empty value")
        return text


@dataclass(frozen=True)
class NodeName(ValueType):
    """A node name: letters, digits and underscores, as tinc's check_id()."""

    shape: str = "node name"

    def parse(self, text: str) -> str:
        # tinc 1.1 also expands $HOST-style names; a literal name must pass check_id.
        if text.startswith("$") and len(text) > 1:
            return text
        if not re.fullmatch(r"[A-Za-z0-9_]+", text):
            raise ValueError(f"{text!r} is not a valid node name (letters, digits, underscores)")
        return text


@dataclass(frozen=True)
class Bool(ValueType):
    """``yes`` or ``no``, case-insensitive, as tincd's get_config_bool."""

    shape: str = "yes|no"

    def parse(self, text: str) -> bool:
        low = text.lower()
        if low == "yes":
            return True
        if low == "no":
            return False
        raise ValueError(f'"yes" or "no" expected, got {text!r}')

    def format(self, value: bool) -> str:
        return "yes" if value else "no"

    def to_toml(self, value: bool) -> bool:
        return bool(value)

    def from_toml(self, obj: object) -> bool:
        if isinstance(obj, bool):
            return obj
        if isinstance(obj, str):
            return self.parse(obj)
        raise ValueError(f"expected true or false, got {obj!r}")


@dataclass(frozen=True)
class Integer(ValueType):
    """A decimal integer, optionally bounded (inclusive)."""

    minimum: int | None = None
    maximum: int | None = None
    shape: str = "integer"

    def parse(self, text: str) -> int:
        if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
            raise ValueError(f"integer expected, got {text!r}")
        value = int(text)
        self._check(value)
        return value

    def _check(self, value: int) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{value} is below the minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{value} is above the maximum {self.maximum}")

    def to_toml(self, value: int) -> int:
        return value

    def from_toml(self, obj: object) -> int:
        if isinstance(obj, int) and not isinstance(obj, bool):
            self._check(obj)
            return obj
        if isinstance(obj, str):
            return self.parse(obj)
        raise ValueError(f"integer expected, got {obj!r}")


@dataclass(frozen=True)
class Port(Integer):
    """A TCP/UDP port number, 0 to 65535."""

    minimum: int | None = 0
    maximum: int | None = 65535
    shape: str = "port"


@dataclass(frozen=True)
class Choice(ValueType):
    """One of a fixed set of words, case-insensitive; stored in canonical case."""

    options: tuple[str, ...] = ()
    shape: str = field(default="choice")

    def parse(self, text: str) -> str:
        for option in self.options:
            if option.lower() == text.lower():
                return option
        raise ValueError(f"expected one of {', '.join(self.options)}, got {text!r}")


@dataclass(frozen=True)
class Words(ValueType):
    """A comma- or space-separated list of words (e.g. ``Discovery = static``)."""

    shape: str = "word list"

    def parse(self, text: str) -> tuple[str, ...]:
        words = tuple(w for w in re.split(r"[\s,]+", text) if w)
        if not words:
            raise ValueError("empty list")
        return words

    def format(self, value: tuple[str, ...]) -> str:
        return " ".join(value)


@dataclass(frozen=True)
class HostPort(ValueType):
    """``host [port]`` as in ``Address`` and ``BindToAddress``."""

    shape: str = "address [port]"

    def parse(self, text: str) -> tuple[str, str | None]:
        parts = text.split()
        if not parts or len(parts) > 2:
            raise ValueError(f"expected 'address [port]', got {text!r}")
        port = parts[1] if len(parts) == 2 else None
        if port is not None and port.isdigit() and not 0 <= int(port) <= 65535:
            raise ValueError(f"port {port} out of range")
        return parts[0], port

    def format(self, value: tuple[str, str | None]) -> str:
        host, port = value
        return host if port is None else f"{host} {port}"


@dataclass(frozen=True)
class SubnetValue(ValueType):
    """A tinc subnet: ``ADDR[/PREFIX][#WEIGHT]`` for IPv4, IPv6 or MAC."""

    shape: str = "subnet"

    def parse(self, text: str) -> str:
        body, _, weight = text.partition("#")
        if weight and not re.fullmatch(r"-?[0-9]+", weight):
            raise ValueError(f"bad weight {weight!r} in subnet {text!r}")
        if re.fullmatch(r"([0-9A-Fa-f]{1,2}:){5}[0-9A-Fa-f]{1,2}", body):
            return text
        try:
            net = ipaddress.ip_network(body, strict=False)
        except ValueError as err:
            raise ValueError(f"{text!r} is not a subnet ({err})") from None
        if "/" in body and net.network_address != ipaddress.ip_interface(body).ip:
            raise ValueError(f"subnet {text!r} has host bits set (did you mean {net}?)")
        return text


@dataclass(frozen=True)
class AliasedChoice(Choice):
    """A :class:`Choice` that also accepts alternative spellings of some options.

    ``aliases`` maps an accepted word to the canonical option it stands for, as
    tincd takes ``Broadcast = yes`` to mean ``mst``.
    """

    aliases: tuple[tuple[str, str], ...] = ()

    def parse(self, text: str) -> str:
        for alias, option in self.aliases:
            if alias.lower() == text.lower():
                return option
        return super().parse(text)


#: proxy kinds tincd understands, in canonical spelling
PROXY_KINDS: tuple[str, ...] = ("none", "socks4", "socks4a", "socks5", "http", "exec")


class ProxySpec(NamedTuple):
    """A parsed ``Proxy`` value; unused fields are ``None``."""

    kind: str
    host: str | None = None
    port: str | None = None
    user: str | None = None
    password: str | None = None
    command: str | None = None


@dataclass(frozen=True)
class Proxy(ValueType):
    """tincd's ``Proxy``: ``none``, ``exec COMMAND`` or ``KIND HOST PORT [USER [PASSWORD]]``.

    ``KIND`` is ``socks4``, ``socks4a``, ``socks5`` or ``http``. As in tincd the
    kind ends at the first blank; for ``exec`` the rest of the line is the
    command, kept whole.
    """

    shape: str = "none | exec command | socks4|socks4a|socks5|http host port [user [password]]"

    def parse(self, text: str) -> ProxySpec:
        head, *tail = re.split(r"\s+", text.strip(), maxsplit=1)
        rest = tail[0] if tail else ""
        kind = next((k for k in PROXY_KINDS if k == head.lower()), None)
        if kind is None:
            raise ValueError(
                f"unknown proxy type {head!r} (expected one of {', '.join(PROXY_KINDS)})"
            )
        if kind == "none":
            return ProxySpec("none")
        if kind == "exec":
            if not rest:
                raise ValueError("proxy type exec needs a command")
            return ProxySpec("exec", command=rest)
        parts = rest.split(None, 3)
        if len(parts) < 2:
            raise ValueError(f"proxy type {kind} needs a host and a port")
        user = parts[2] if len(parts) > 2 else None
        password = parts[3] if len(parts) > 3 else None
        return ProxySpec(kind, host=parts[0], port=parts[1], user=user, password=password)

    def format(self, value: ProxySpec) -> str:
        if value.kind == "exec":
            return f"exec {value.command}"
        fields = (value.host, value.port, value.user, value.password)
        return " ".join([value.kind, *(f for f in fields if f is not None)])


@dataclass(frozen=True)
class Registered(Choice):
    """The name of an entry that plugins register through registry hook
    ``hook`` (``Mode``: a routing mode), case-insensitive.

    The plugin manager fills ``options`` with the registered names when it
    builds its variable table, so an unregistered name is a bad value like
    any bad choice. Unfilled, any non-empty word passes, lower-cased, and
    :func:`tinca.core.stack.check_selections` checks it.
    """

    hook: str = ""

    def parse(self, text: str) -> str:
        if self.options:
            return super().parse(text)
        if not text:
            raise ValueError("empty value")
        return text.lower()


@dataclass(frozen=True)
class RegisteredLevel(Integer):
    """A number that names an entry registered through registry hook ``hook``
    (``Compression``: a compression level).

    ``maximum`` is the highest level tinc itself knows; the plugin manager
    raises it to the highest level registered when it builds its variable
    table, so a plugin's new level parses, and
    :func:`tinca.core.stack.check_selections` checks that a plugin provides it.
    """

    hook: str = ""
