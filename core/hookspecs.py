"""The plugin contract: every slot a tinca plugin can fill.

This module is the one place a plugin author needs to read. A plugin is a module
(or object) with functions named like the specifications below, each marked with
``@tinca.core.hookimpl``. It is found through the ``tinca`` entry point group,
exactly like tinca's own default plugins.

Most slots follow the *registry* shape: the hook receives a ``register`` callable
and the plugin calls it once per named thing it provides (a device type, a cipher
suite, an MTU strategy, ...). Configuration then picks one by name, and the core
never imports a plugin module itself.

Hooks are grouped by phase. Unless a docstring says ``firstresult``, every
implementation is called and return values (if any) are collected into a list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tinca.core.markers import hookspec

if TYPE_CHECKING:
    from tinca.core.config.variables import Variable
    from tinca.core.events import HostEvent, NodeEvent, SubnetEvent
    from tinca.core.registry import Entry

Register = Callable[..., "Entry"]
"""The callable a registry hook receives: ``register(name, factory, doc="")``."""


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


@hookspec
def tinca_config_variables() -> list[Variable]:
    """Declare the configuration variables this plugin owns.

    Called once at start-up, after all plugins are registered and before any
    configuration file is validated. Not ``firstresult``: every plugin's list is
    collected. Each :class:`~tinca.core.config.variables.Variable` carries its
    name, value type, default, scope (server, host or both), a one-line doc and
    whether it is implemented yet. The core uses the declarations to validate
    ``tinc.conf``, ``hosts/NAME`` and the TOML form, to convert between them, and
    to suggest a name for a misspelt variable. Two plugins declaring the same
    name is a start-up error.

    :return: the variables this plugin owns (may be empty).
    """


# ---------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_device_types(register: Register) -> None:
    """Offer virtual network device types (``DeviceType`` in config).

    Called once at start-up. Call ``register(name, factory, doc="...")`` for
    each type; ``factory(request: DeviceRequest) -> Device`` builds an unopened
    :class:`~tinca.core.device.Device`. The daemon picks the factory whose name
    equals ``DeviceType`` (case-insensitively); a name nobody registered stops
    start-up with the list of registered types.
    """


# ---------------------------------------------------------------------------
# Cryptography
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_cipher_suites(register: Register) -> None:
    """Offer meta-connection and data-channel protocols ("cipher suites").

    Called once at start-up. ``register(name, factory, doc="...")`` names a
    suite such as ``legacy`` (tinc 1.0: RSA, EVP cipher and digest) or
    ``sptps`` (tinc 1.1: Ed25519, ChaCha20-Poly1305). ``factory(context)``
    gets a :class:`~tinca.core.suite.SuiteContext` (configuration, node name,
    random source, clock, compression codecs) and returns a
    :class:`~tinca.core.suite.CipherSuite`: sans-IO meta sessions, packet
    keys for REQ_KEY/ANS_KEY, and sealers/openers built once per key.
    """


@hookspec
def tinca_register_legacy_ciphers(register: Register) -> None:
    """Offer tinc 1.0 symmetric cipher names (``Cipher`` in config).

    Called once at start-up. ``register(name, info, doc="...")`` where ``name``
    is OpenSSL's name as tincd accepts it (``aes-256-cbc``, ``blowfish``, ...)
    and ``info`` describes key length, IV length, block size and how to build
    an encryptor. ``Cipher`` values are validated against these names.
    """


@hookspec
def tinca_register_legacy_digests(register: Register) -> None:
    """Offer tinc 1.0 message digest names (``Digest`` in config).

    Called once at start-up. ``register(name, info, doc="...")`` where ``name``
    is OpenSSL's digest name (``sha256``, ``sha1``, ...) and ``info`` gives the
    digest length and how to build an HMAC. ``Digest`` values are validated
    against these names.
    """


@hookspec
def tinca_register_key_generators(register: Register) -> None:
    """Offer key pair generators (``tincad -K``, ``tinca generate-*-keys``).

    Called when a key command runs. ``register(kind, generator, doc="...")``
    with ``kind`` ``"rsa"`` or ``"ed25519"`` (or a new kind) and ``generator``
    a :class:`~tinca.core.keys.KeyGenerator`. ``tincad -K`` runs ``rsa``;
    ``tinca generate-keys`` runs every registered kind.
    """


# ---------------------------------------------------------------------------
# Compression
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_compressions(register: Register) -> None:
    """Offer packet compression codecs (``Compression`` levels in config).

    Called once at start-up. ``register(level, codec, doc="...")`` where
    ``level`` is tinc's numeric level as a string (``"1"`` .. ``"9"`` zlib,
    ``"10"``/``"11"`` LZO, ...) and ``codec`` is a ready object offering
    ``compress(bytes)`` and ``decompress(bytes)`` (raising on bad input).
    Level 0 (none) is built in.
    """


# ---------------------------------------------------------------------------
# Path MTU
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_mtu_strategies(register: Register) -> None:
    """Offer path MTU strategies (``MTUStrategy`` in config, per host too).

    Called once at start-up. ``register(name, factory, doc="...")``;
    ``factory(settings: MTUSettings)`` builds a sans-IO
    :class:`~tinca.core.mtu.MTUStrategy` for one peer that decides which
    probe sizes to send and when, and what path MTU the replies imply. The
    strategy for a peer is ``MTUStrategy`` from ``hosts/PEER`` if set, else
    the server-wide value (default ``tinc10``).
    """


# ---------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_discovery(register: Register) -> None:
    """Offer peer discovery methods (the ``Discovery`` list in config).

    Called once at start-up. ``register(name, factory, doc="...")``; the
    factory builds a source that, given a peer name, yields candidate
    addresses to connect to (``static``: ``Address`` lines in host files).
    Sources listed in ``Discovery`` are asked in that order.
    """


# ---------------------------------------------------------------------------
# Lifecycle events (scripts and metrics hang here)
# ---------------------------------------------------------------------------


@hookspec
def tinca_node_up(event: NodeEvent) -> None:
    """This daemon's own node is up: the device is open (tincd's ``tinc-up``).

    Called once after the device is opened and before any peer connects.
    ``event`` carries the network name, node name, device and interface and
    the debug level, the same facts tincd puts in ``tinc-up``'s environment.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_node_down(event: NodeEvent) -> None:
    """This daemon's own node goes down (tincd's ``tinc-down``).

    Called once during shutdown, before the device is closed.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_host_up(event: HostEvent) -> None:
    """A remote node became reachable (tincd's ``host-up`` and ``hosts/NAME-up``).

    ``event`` names the node and the address and port it is reached at.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_host_down(event: HostEvent) -> None:
    """A remote node became unreachable (``host-down``, ``hosts/NAME-down``).

    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_subnet_up(event: SubnetEvent) -> None:
    """A subnet became reachable: one of ours at start-up or a peer's when it
    is learned or its owner becomes reachable (tincd's ``subnet-up``).

    ``event`` names the owner node, the subnet and its weight.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_subnet_down(event: SubnetEvent) -> None:
    """A subnet stopped being reachable (tincd's ``subnet-down``).

    Every implementation is called; exceptions are logged, not fatal.
    """
