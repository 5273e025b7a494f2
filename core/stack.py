"""From a configuration location to a loaded, validated plugin stack.

Order matters: ``LoadPlugin`` and ``BlockPlugin`` decide which plugins exist,
those plugins declare the variables, and only then can the whole configuration
be validated and the plugins it names (``DeviceType``, ``Cipher``,
``MTUStrategy``, ``Discovery``, ...) be checked against what is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from tinca.core.config.entries import Entry, parse_line
from tinca.core.config.loader import load_configuration, raw_server_entries
from tinca.core.config.model import Configuration, ConfigWarning, Settings
from tinca.core.config.variables import Scope
from tinca.core.errors import ConfigError, PluginError
from tinca.core.plugin_manager import ENTRY_POINT_GROUP, PluginManager
from tinca.core.registry import Entry as RegistryEntry

COMMAND_LINE = "command line"

# Variables whose value names a registered plugin entry, and the registry that
# must hold it. Checked for tinc.conf and, where the variable may appear
# there, for every host file.
SELECTORS: dict[str, str] = {
    "DeviceType": "tinca_register_device_types",
    "Cipher": "tinca_register_legacy_ciphers",
    "Digest": "tinca_register_legacy_digests",
    "MTUStrategy": "tinca_register_mtu_strategies",
    "CipherSuite": "tinca_register_cipher_suites",
    "Mode": "tinca_register_routing_modes",
    "PacketPolicy": "tinca_register_packet_policies",
    "Compression": "tinca_register_compressions",
}

BUILT_IN: dict[str, frozenset[str]] = {"Compression": frozenset({"0"})}
"""Values a selector takes without any plugin: compression level 0 is none."""


@dataclass
class Stack:
    """The plugin manager and the configuration validated against it."""

    manager: PluginManager
    config: Configuration
    warnings: list[ConfigWarning]


def parse_options(options: list[str]) -> tuple[list[Entry], dict[str, list[Entry]]]:
    """Split ``-o [HOST.]KEY=VALUE`` options into server and per-host entries."""
    server: list[Entry] = []
    hosts: dict[str, list[Entry]] = {}
    for number, option in enumerate(options, start=1):
        entry = parse_line(option, COMMAND_LINE, number)
        host, dot, name = entry.name.partition(".")
        if dot:
            hosts.setdefault(host, []).append(Entry(name, entry.value, COMMAND_LINE, number))
        else:
            server.append(entry)
    return server, hosts


def plugin_manager_for(raw: list[Entry]) -> PluginManager:
    """The plugin manager that ``LoadPlugin``/``BlockPlugin`` in ``raw`` ask for.

    A plugin that cannot be loaded is a :class:`ConfigError` at the line
    that named it.
    """
    blocked = [e.value for e in raw if e.name.lower() == "blockplugin"]
    extra = [e.value for e in raw if e.name.lower() == "loadplugin"]
    try:
        return PluginManager(blocked=blocked, extra=extra)
    except PluginError as err:
        first = next((e for e in raw if e.name.lower() in {"loadplugin", "blockplugin"}), None)
        if first is not None:
            raise ConfigError(str(err), first.file, first.line) from None
        raise


def build_stack(
    location: str | Path,
    options: list[str] | None = None,
    *,
    require_name: bool = True,
) -> Stack:
    """Load plugins and configuration from ``location`` and validate both.

    ``options`` are tincd's ``-o`` settings; they win over the files, as in
    tincd. Raises :class:`ConfigError` or :class:`PluginError` with a message
    for the user.
    """
    cmd_server, cmd_hosts = parse_options(options or [])
    raw = cmd_server + raw_server_entries(location)
    manager = plugin_manager_for(raw)
    config = load_configuration(location, manager.variables)
    if cmd_server or cmd_hosts:
        config = _with_options(config, cmd_server, cmd_hosts)
    if require_name:
        from tinca.core.config.loader import require_own_host

        require_own_host(config)
    check_selections(manager, config)
    warnings = config.warnings()
    installed = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for entry in raw:
        if entry.name.lower() == "blockplugin" and entry.value not in installed:
            warnings.append(
                ConfigWarning(
                    f"BlockPlugin = {entry.value}: no plugin of that name is installed "
                    f"(installed: {', '.join(sorted(installed))})",
                    entry.file,
                    entry.line,
                )
            )
    return Stack(manager, config, warnings)


def _with_options(
    config: Configuration, server: list[Entry], hosts: dict[str, list[Entry]]
) -> Configuration:
    """A configuration whose entries start with the command-line options."""
    table = config.table
    load_host = config.load_host

    def load_with_options(name: str) -> list[Entry]:
        return hosts.get(name, []) + load_host(name)

    return Configuration(
        config.confbase,
        Settings(server + config.server.entries, table, Scope.SERVER),
        load_with_options,
        config.host_names,
        config.source,
    )


def check_selections(manager: PluginManager, config: Configuration) -> None:
    """Every plugin name the configuration selects must be installed."""
    groups: list[Settings] = [config.server]
    if config.name:
        groups.append(config.own_host())
    for settings in groups:
        for variable, hook_name in SELECTORS.items():
            entry = settings.entry(variable)
            if entry is None:
                continue
            registry = manager.registry(hook_name)
            value = settings.get(variable)
            # A word list (PacketPolicy) selects several entries;
            # compression levels are numbers, registered as their decimal text.
            for value_name in value if isinstance(value, tuple) else (value,):
                name = str(value_name)
                if name in registry or name in BUILT_IN.get(variable, ()):
                    continue
                raise ConfigError(
                    f"{variable} = {name}: no installed plugin provides {registry.slot} "
                    f"{name!r}; installed: {', '.join(registry.names()) or 'none'}",
                    entry.file,
                    entry.line,
                )
        entry = settings.entry("Discovery")
        if entry is not None:
            registry = manager.registry("tinca_register_discovery")
            for method in settings.get("Discovery"):
                if method not in registry:
                    raise ConfigError(
                        f"Discovery: no installed plugin provides discovery method {method!r}; "
                        f"installed: {', '.join(registry.names()) or 'none'}",
                        entry.file,
                        entry.line,
                    )


def cipher_suite(manager: PluginManager, config: Configuration) -> RegistryEntry:
    """The registry entry of the cipher suite the node runs.

    ``CipherSuite`` when set (:func:`check_selections` has checked the name);
    else the first name a ``tinca_default_cipher_suite`` implementation gives.
    Raises :class:`ConfigError` when nobody names one or the default names a
    suite nobody registered.
    """
    registry = manager.registry("tinca_register_cipher_suites")
    name = config.lookup("CipherSuite", None)
    if name is None:
        name = manager.hook.tinca_default_cipher_suite(config=config)
        if name is None:
            raise ConfigError(
                f"no plugin names a default cipher suite: set CipherSuite to one of "
                f"{', '.join(registry.names()) or 'none (no cipher suite is installed)'}",
                config.source,
            )
    try:
        return registry.get(str(name))
    except PluginError as err:
        raise ConfigError(f"default cipher suite: {err}", config.source) from None
