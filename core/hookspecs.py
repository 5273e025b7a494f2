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

The core calls every hook through pluggy, so pluggy's rules hold: order
implementations with ``tryfirst``/``trylast``, take only the arguments you
need (an implementation may name fewer than the specification), and wrap
other plugins' implementations with ``@hookimpl(wrapper=True)``. An
implementation of an event hook (node, host and subnet up/down, the
observability events) that raises is logged once as ``plugin NAME failed in
HOOK: ERROR``; the other implementations still run and the node goes on. One
of a registry hook or of :func:`tinca_config_variables` that raises stops
start-up with an error naming the plugin and the hook.

Threads: start-up hooks, :func:`tinca_node_up` and :func:`tinca_node_down`
run on the daemon's main thread. The events a running node reports (host and
subnet up/down, the observability events) are delivered by one worker thread,
in the order the node produced them, off the protocol path: an implementation
may block (the scripts plugin waits for each script) without stalling
packets or keepalives, but it delays the events queued behind it. Their
event objects are immutable; an implementation must not reach into the
node's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tinca.core.markers import hookspec

if TYPE_CHECKING:
    from tinca.core.config.model import Configuration
    from tinca.core.config.variables import Variable
    from tinca.core.device import Layer
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
    raise NotImplementedError  # a specification: pluggy calls the implementations


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
    start-up with the list of registered types. Register a
    :class:`~tinca.core.device.Device` subclass (or any factory); a subclass
    whose :attr:`~tinca.core.device.Device.layer` is set always gets that
    layer when the routing mode routes on IP headers.
    """


@hookspec(firstresult=True)
def tinca_default_device_type(layer: Layer) -> str | None:
    """The device type to run when ``DeviceType`` is not set.

    ``layer`` is what the routing mode needs: ``tun`` (IP packets) or ``tap``
    (Ethernet frames). ``firstresult``: the first implementation that returns
    a registered device type's name wins (tinca's tun/tap plugin answers
    ``tun`` or ``tap``, ``trylast``); when none does, start-up stops and asks
    for ``DeviceType``.
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
    random source, clock, compression codecs, the plugin registries) and
    returns a :class:`~tinca.core.suite.CipherSuite`: sans-IO meta sessions,
    packet keys for REQ_KEY/ANS_KEY, and sealers/openers built once per key.
    The node runs the one suite named by ``CipherSuite`` in tinc.conf, or,
    when that is unset, the one :func:`tinca_default_cipher_suite` names.
    """


@hookspec(firstresult=True)
def tinca_default_cipher_suite(config: Configuration) -> str | None:
    """Name the cipher suite a node runs when ``CipherSuite`` is unset.

    Called once when a node starts, after the configuration is validated, only
    if ``CipherSuite`` is not set. ``firstresult``: the first implementation
    that returns a name (not ``None``) decides, so order them with
    ``tryfirst``/``trylast``: tinc's own plugins answer ``sptps`` (tryfirst;
    tinc 1.1, which falls back to tinc 1.0's protocol per peer) and
    ``legacy`` (trylast), so blocking the sptps plugin leaves a tinc 1.0
    node. The name must be registered through
    :func:`tinca_register_cipher_suites`; when nobody answers, start-up
    stops and asks for ``CipherSuite``.

    :param config: the node's validated configuration.
    :return: a registered suite name, or ``None`` to let the next plugin answer.
    """


@hookspec
def tinca_register_legacy_ciphers(register: Register) -> None:
    """Offer tinc 1.0 symmetric cipher names (``Cipher`` in config).

    Called once at start-up. ``register(name, info, doc="...")`` where ``name``
    is OpenSSL's name as tincd accepts it (``aes-256-cbc``, ``blowfish``, ...;
    register each alias as its own name with the same ``info``). ``Cipher``
    values are validated against these names, and the legacy suite resolves
    ``Cipher`` and the cipher NIDs peers announce in ANS_KEY only through this
    registry, so a registered cipher works end to end.

    ``info`` satisfies the legacy plugin's ``LegacyCipher`` protocol
    (``tinca.plugins.ciphers.legacy.evp``): read-only ``name`` (canonical),
    ``nid`` (OpenSSL's, the number ANS_KEY carries), ``key_length``,
    ``iv_length`` and ``block_size`` (OpenSSL's sizes), ``is_null`` (true only
    for ``none``), and ``encrypter(key, iv)`` / ``decrypter(key, iv)``, each
    returning a ``bytes -> bytes`` function for one key that turns each packet
    into what tincd's EVP context would (the decrypter raises ``PacketError``
    on bad input). Two infos may not claim one NID.
    """


@hookspec
def tinca_register_legacy_digests(register: Register) -> None:
    """Offer tinc 1.0 message digest names (``Digest`` in config).

    Called once at start-up. ``register(name, info, doc="...")`` where ``name``
    is OpenSSL's digest name (``sha256``, ``sha1``, ...). ``Digest`` values are
    validated against these names, and the legacy suite resolves ``Digest``
    and the digest NIDs peers announce only through this registry.

    ``info`` satisfies the legacy plugin's ``LegacyDigest`` protocol
    (``tinca.plugins.ciphers.legacy.evp``): read-only ``name``, ``nid``
    (OpenSSL's), ``digest_length`` and ``is_null``, and ``hmac(key)``
    returning a context with ``update``, ``copy`` and ``finalize`` (as
    ``cryptography``'s ``HMAC``).
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
    Level 0 (none) is built in. Suites find codecs only here (through
    ``SuiteContext.compression``): our ``Compression`` level, and the level a
    peer announces, work when some plugin registered them. Peers must know
    the level too: tincd 1.0 takes 0-11, tinc 1.1 also 12 (LZ4).
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
    the server-wide value, else the one the cipher suite names for that peer
    (:meth:`~tinca.core.suite.CipherSuite.default_mtu_strategy`).
    """


# ---------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_discovery(register: Register) -> None:
    """Offer peer discovery methods (the ``Discovery`` list in config).

    Called once at start-up. ``register(name, factory, doc="...")``;
    ``factory(context: DiscoveryContext)`` builds a
    :class:`~tinca.core.discovery.DiscoverySource` once per configuration
    (again after a SIGHUP re-read, never per dial). Before each round of
    connection attempts to a peer the node awaits every listed source's
    ``candidates(peer)`` in ``Discovery`` order (``static``: ``Address``
    lines in host files); a source that learns addresses by itself (mDNS,
    DNS-SD) reports them whenever it likes with ``context.push(peer,
    candidates)``, which the node remembers for the next dial and which ends
    a waiting connection's back-off. ``start()``/``stop()`` bracket a
    source's background work.
    """


# ---------------------------------------------------------------------------
# Lifecycle events (scripts and metrics hang here)
# ---------------------------------------------------------------------------


@hookspec
def tinca_node_up(event: NodeEvent) -> None:
    """This daemon's own node is up: the device is open (tincd's ``tinc-up``).

    Called once after the device is opened and before the ports are bound and
    any peer connects, on the daemon's main thread: the daemon waits for it,
    so tinc-up can configure what the sockets bind to. ``event`` carries the
    network name, node name, device and interface and the debug level, the
    same facts tincd puts in ``tinc-up``'s environment.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_node_down(event: NodeEvent) -> None:
    """This daemon's own node goes down (tincd's ``tinc-down``).

    Called once during shutdown, on the daemon's main thread, before the
    device is closed and after the host-down and subnet-down events of
    shutdown were delivered (the daemon waits a few seconds for them, see
    :data:`~tinca.core.lifecycle.DRAIN_TIMEOUT`; an implementation still busy
    with an earlier event after that should end it here, as the scripts
    plugin ends a script that still runs).
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_host_up(event: HostEvent) -> None:
    """A remote node became reachable (tincd's ``host-up`` and ``hosts/NAME-up``).

    ``event`` names the node and the address and port it is reached at.
    Called on the lifecycle worker thread, in the order of the node's events
    and after the node has already moved on (:mod:`tinca.core.lifecycle`):
    ``event`` is immutable; do not touch the node's state. Blocking here
    delays only the events queued behind this one.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_host_down(event: HostEvent) -> None:
    """A remote node became unreachable (``host-down``, ``hosts/NAME-down``).

    Also fired at shutdown for the nodes that become unreachable then.
    Called on the lifecycle worker thread, in the order of the node's events
    and after the node has already moved on (:mod:`tinca.core.lifecycle`):
    ``event`` is immutable; do not touch the node's state. Blocking here
    delays only the events queued behind this one.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_subnet_up(event: SubnetEvent) -> None:
    """A subnet became reachable: one of ours at start-up or a peer's when it
    is learned or its owner becomes reachable (tincd's ``subnet-up``).

    ``event`` names the owner node, the subnet and its weight. Our own
    subnets' events follow tinc-up; a peer's follow its host-up.
    Called on the lifecycle worker thread, in the order of the node's events
    and after the node has already moved on (:mod:`tinca.core.lifecycle`):
    ``event`` is immutable; do not touch the node's state. Blocking here
    delays only the events queued behind this one.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_subnet_down(event: SubnetEvent) -> None:
    """A subnet stopped being reachable (tincd's ``subnet-down``).

    At shutdown our own subnets' events come before tinc-down.
    Called on the lifecycle worker thread, in the order of the node's events
    and after the node has already moved on (:mod:`tinca.core.lifecycle`):
    ``event`` is immutable; do not touch the node's state. Blocking here
    delays only the events queued behind this one.
    Every implementation is called; exceptions are logged, not fatal.
    """


# ---------------------------------------------------------------------------
# Observability: counters and path events (metrics plugins hang here)
# ---------------------------------------------------------------------------

if TYPE_CHECKING:
    from tinca.core.counters import Counters
    from tinca.core.events import PathMTUEvent, PeerKeyEvent, PeerPathEvent


@hookspec
def tinca_metrics_start(counters: Counters, node: NodeEvent) -> None:
    """The node is serving: here is the handle to read its counters from.

    Called once per daemon run, when the node starts accepting and
    connecting (after ``tinca_node_up``). ``counters`` is the node's
    :class:`~tinca.core.counters.Counters`; keep it and call
    ``counters.snapshot()`` whenever you need figures, from any thread (an
    exporter's HTTP server thread, say): it returns a frozen
    :class:`~tinca.core.counters.CountersSnapshot` with every peer's packets
    and bytes in and out, our own node's (the device's) figures, and the
    drops by reason. This is the same view ``tinca dump nodes``, ``tinca
    info`` and plugin control requests print from. Counting stays on the
    data path and costs nothing extra; copying happens only in
    ``snapshot()``. Stop serving in ``tinca_node_down``. ``node`` carries
    the facts ``tinc-up`` gets. Every implementation is called; exceptions
    are logged, not fatal.
    """


@hookspec
def tinca_peer_key_changed(event: PeerKeyEvent) -> None:
    """A packet key from a peer arrived: the first one, or a re-key.

    ``event`` (:class:`~tinca.core.events.PeerKeyEvent`) names the peer,
    says whether it is a re-key and whether the peer uses a per-peer
    channel (tinc 1.1's SPTPS; such a channel re-keys in place without a
    new event). Called when the key is installed, before packets use it.
    Every implementation is called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_path_mtu_changed(event: PathMTUEvent) -> None:
    """The path MTU to a peer changed (discovered, lowered, or lost).

    ``event`` (:class:`~tinca.core.events.PathMTUEvent`) carries the old and
    new MTU the peer's MTU strategy settled on (``None``: unknown) and its
    current bounds. Checked on every probe tick (0.1 s), so an MTU that
    moves twice within one tick is reported once. Every implementation is
    called; exceptions are logged, not fatal.
    """


@hookspec
def tinca_peer_path_changed(event: PeerPathEvent) -> None:
    """Packets to a peer switched between a confirmed UDP path and TCP.

    Called when UDP with the peer becomes confirmed, and when it stops
    being (the peer became unreachable, or probes went unanswered).
    ``event`` (:class:`~tinca.core.events.PeerPathEvent`) says whether UDP
    is now confirmed (``dump nodes``' ``udp_confirmed``) and the peer's UDP
    address. Checked on every probe tick, as :func:`tinca_path_mtu_changed`.
    Every implementation is called; exceptions are logged, not fatal.
    """


# ---------------------------------------------------------------------------
# Commands: ``tinca NAME ...`` and control requests a plugin adds
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_cli_commands(register: Register) -> None:
    """Offer ``tinca`` subcommands (``tinca NAME [ARGS...]``).

    Called when ``tinca`` is given a command it has no built-in for, and by
    ``tinca help`` (which lists them). Plugins are those installed plus the
    ``LoadPlugin`` lines of the selected network's ``tinc.conf``.
    ``register(name, handler, doc="...")``; ``handler(context, argv) -> int``
    gets a :class:`~tinca.core.cli.tinca.Context` (network name, config
    directory, pidfile, :meth:`~tinca.core.cli.tinca.Context.connect` for the
    control socket and :meth:`~tinca.core.cli.tinca.Context.plugin_request`
    for a plugin control request) and the words after ``NAME``; it prints
    what it likes and returns the exit status. Raise
    :class:`~tinca.core.errors.TincaError` for an error the user can act on
    (printed, status 1). Built-in commands win: a plugin command named like
    one is never run, and ``tinca help`` says so.
    """


@hookspec
def tinca_register_control_requests(register: Register) -> None:
    """Offer requests on the daemon's control socket.

    Called when the first plugin request arrives (again after a reload).
    ``register(name, handler, doc="...")``; the client sends ``18 1000 NAME
    ARGS...`` (:data:`~tinca.core.control.records.PLUGIN_REQUEST`; tinc 1.1's
    own request types are 0 to 15, so the number cannot collide with them,
    and a real tincd answers it with ``18 -1``), and ``handler(view, args)``
    runs on the daemon's loop with a read-only
    :class:`~tinca.core.control.handler.NodeView` (counters snapshot,
    ``dump nodes/edges/subnets/connections`` records) and the argument
    words. It returns the reply lines (an iterable of ``str``, one line
    each, sent as ``18 1000 :TEXT``), then ``18 1000 0`` ends the reply.
    Raise :class:`~tinca.core.control.handler.PluginRequestError` to end
    with its status and message instead; any other exception is logged and
    answered with status -2, an unknown name with -1. Keep handlers quick:
    the node waits while one runs.
    """


# ---------------------------------------------------------------------------
# Routing modes
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_routing_modes(register: Register) -> None:
    """Offer routing modes (``Mode`` in config: where each packet goes).

    Called once at start-up. ``register(name, factory, doc="...")``;
    ``factory(router)`` gets the node's
    :class:`~tinca.core.route.router.Router` (settings, routes, subnet table,
    path MTUs and tincd's decision helpers: ICMP errors, TTL, MSS clamping,
    fragments, broadcasts) and returns a sans-IO
    :class:`~tinca.core.route.mode.RoutingMode` whose ``route(source,
    packet)`` returns a decision for every packet from our device or a peer.
    Register a :class:`~tinca.core.route.mode.RoutingMode` subclass: its
    ``uses_mac_addresses`` tells the node, before the device opens, whether
    the device must carry Ethernet frames (any other factory gets them).
    tinc's own modes are ``router``, ``switch`` and ``hub``. The node runs the
    mode whose name equals ``Mode`` (case-insensitively; default ``router``);
    a name nobody registered stops start-up with the list of registered modes.
    """


# ---------------------------------------------------------------------------
# Packet policy
# ---------------------------------------------------------------------------


@hookspec
def tinca_register_packet_policies(register: Register) -> None:
    """Offer packet policies (the ``PacketPolicy`` list in config): filters
    that may drop packets on the forwarding path.

    Called once at start-up. ``register(name, factory, doc="...")``;
    ``factory(context)`` gets a :class:`~tinca.core.policy.PolicyContext`
    (configuration, our node's name) and returns a
    :class:`~tinca.core.policy.PacketPolicy`. The node builds the policies
    ``PacketPolicy`` names, once, and asks them in that order about every
    packet it routes, after the routing mode decided where it goes:
    ``decide(source, destination, frame, inbound)``, ``False`` drops it
    (counted as ``"packet policy NAME"``). Packets read from our device and
    packets from peers (for our device or to forward) are both asked. With
    ``PacketPolicy`` unset nothing is called per packet.
    """
