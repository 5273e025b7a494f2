"""Loading plugins and building the registries configuration chooses from.

Every plugin, tinca's own included, is found through the ``tinca`` entry point
group. Config may load extra plugin modules (``LoadPlugin``) and block
installed ones (``BlockPlugin``). The core registers only its own variable
declarations, under the name ``core``, which cannot be blocked.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property

import pluggy

from tinca.core import hookspecs
from tinca.core.config.variables import VariableTable
from tinca.core.errors import PluginError
from tinca.core.markers import PROJECT_NAME
from tinca.core.registry import Registry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tinca"
CORE_PLUGIN = "core"
TRACE_ENV = "TINCA_TRACE_HOOKS"
"""Set to 1 to log every hook call and its result (pluggy's hook monitoring)."""

# Registry hooks and the word for what they register, used in messages and
# in `tinca plugins`.
REGISTRY_HOOKS: dict[str, str] = {
    "tinca_register_device_types": "device type",
    "tinca_register_cipher_suites": "cipher suite",
    "tinca_register_legacy_ciphers": "legacy cipher",
    "tinca_register_legacy_digests": "legacy digest",
    "tinca_register_key_generators": "key generator",
    "tinca_register_compressions": "compression level",
    "tinca_register_mtu_strategies": "MTU strategy",
    "tinca_register_discovery": "discovery method",
}

EVENT_HOOKS = (
    "tinca_node_up",
    "tinca_node_down",
    "tinca_host_up",
    "tinca_host_down",
    "tinca_subnet_up",
    "tinca_subnet_down",
)


@dataclass(frozen=True)
class PluginInfo:
    """What ``tinca plugins`` shows about one loaded plugin."""

    name: str
    distribution: str
    version: str
    slots: list[str] = field(default_factory=list)


class PluginManager:
    """tinca's pluggy manager plus the registries built from its plugins.

    ``blocked`` names plugins not to load (entry point names, as listed by
    ``tinca plugins``); ``extra`` names modules to import and register in
    addition to the installed entry points.
    """

    def __init__(
        self,
        *,
        blocked: list[str] | tuple[str, ...] = (),
        extra: list[str] | tuple[str, ...] = (),
        entry_points: bool = True,
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        from tinca.core import core_plugin  # the core's own declarations

        self.pm.register(core_plugin, name=CORE_PLUGIN)
        for name in blocked:
            if name == CORE_PLUGIN:
                raise PluginError("the core plugin cannot be blocked")
            self.pm.set_blocked(name)
        if entry_points:
            self._load_entry_points()
        for module_name in extra:
            self.load_module(module_name)
        self.pm.check_pending()
        if os.environ.get(TRACE_ENV):
            self.pm.trace.root.setwriter(log.debug)
            self.pm.enable_tracing()
        self._registries: dict[str, Registry] = {}

    def _load_entry_points(self) -> None:
        try:
            self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as err:  # a broken third-party package must not be a traceback
            raise PluginError(
                f"cannot load a plugin from entry point group 'tinca': {err}"
            ) from err

    def load_module(self, module_name: str) -> None:
        """Import ``module_name`` and register it as a plugin (``LoadPlugin``)."""
        if self.pm.has_plugin(module_name) or self.pm.is_blocked(module_name):
            return
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise PluginError(f"cannot load plugin module {module_name!r}: {err}") from None
        if self.pm.is_registered(module):
            return  # already loaded through its entry point
        self.pm.register(module, name=module_name)

    @property
    def hook(self) -> pluggy.HookRelay:
        """Call hooks: ``manager.hook.tinca_node_up(event=...)``."""
        return self.pm.hook

    @cached_property
    def variables(self) -> VariableTable:
        """Every variable declared by the core and the loaded plugins."""
        table = VariableTable()
        for impl in self.pm.hook.tinca_config_variables.get_hookimpls():
            for variable in impl.function() or []:
                table.declare(variable, impl.plugin_name)
        return table

    def registry(self, hook_name: str) -> Registry:
        """The registry filled by ``hook_name`` (one of :data:`REGISTRY_HOOKS`)."""
        registry = self._registries.get(hook_name)
        if registry is None:
            registry = Registry(REGISTRY_HOOKS[hook_name])
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():

                def register(name: str, value: object, doc: str = "", _plugin=impl.plugin_name):
                    return registry.add(str(name), value, doc, plugin=_plugin)

                impl.function(register=register)
            self._registries[hook_name] = registry
        return registry

    def plugin_names(self) -> list[str]:
        """Names of all loaded plugins, sorted."""
        return sorted(
            name for name, plugin in self.pm.list_name_plugin() if name and plugin is not None
        )

    def describe(self) -> list[PluginInfo]:
        """Every loaded plugin with its distribution, version and the slots it fills."""
        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        slots: dict[str, list[str]] = {}
        for hook_name, word in REGISTRY_HOOKS.items():
            by_plugin: dict[str, list[str]] = {}
            for entry in self.registry(hook_name).entries():
                by_plugin.setdefault(entry.plugin, []).append(entry.name)
            for plugin_name, names in by_plugin.items():
                # Long lists (the legacy cipher names) would drown the table.
                shown = f"{word} {', '.join(names)}" if len(names) <= 3 else f"{len(names)} {word}s"
                slots.setdefault(plugin_name, []).append(shown)
        for declared in self.variables:
            slots.setdefault(declared.plugin, [])
        counts: dict[str, int] = {}
        for declared in self.variables:
            counts[declared.plugin] = counts.get(declared.plugin, 0) + 1
        events: dict[str, list[str]] = {}
        for hook_name in EVENT_HOOKS:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                events.setdefault(impl.plugin_name, []).append(hook_name.removeprefix("tinca_"))
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            if plugin is None:
                continue
            dist = dists.get(id(plugin))
            if dist is not None:
                dist_name, version = dist.project_name, dist.version
            elif name == CORE_PLUGIN:
                from tinca.core import __version__

                dist_name, version = "tinca", __version__
            else:
                dist_name, version = "(LoadPlugin module)", "-"
            filled = list(slots.get(name, []))
            if counts.get(name):
                count = counts[name]
                filled.append(f"{count} config variable{'s' if count != 1 else ''}")
            if events.get(name):
                filled.append("events " + ",".join(events[name]))
            infos.append(PluginInfo(name, dist_name, version, filled))
        return infos
