"""Loading plugins and building the registries configuration chooses from.

Every plugin, tinca's own included, is found through the ``tinca`` entry point
group. Config may load extra plugin modules (``LoadPlugin``) and block
installed ones (``BlockPlugin``). The core registers only its own variable
declarations, under the name ``core``, which cannot be blocked.

Every hook is called through pluggy (``manager.hook.NAME(...)``), so
``tryfirst``/``trylast``, implementations taking fewer arguments than the
specification, wrappers and call tracing behave as pluggy documents. As a
plugin is registered, each of its implementations (wrappers excepted) is
wrapped in a guard that knows the plugin's name: a registry hook's
``register`` callback records who registered what, a failing implementation
of an event hook is logged once and the others still run, and a failing
registry or variables hook becomes a :class:`PluginError` naming the plugin.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import pluggy

from tinca.core import hookspecs
from tinca.core.config.values import Registered, RegisteredLevel
from tinca.core.config.variables import Variable, VariableTable
from tinca.core.errors import PluginError
from tinca.core.logs import NOTICE
from tinca.core.markers import PROJECT_NAME
from tinca.core.registry import Entry, Registry

log = logging.getLogger(__name__)
trace_log = logging.getLogger("tinca.hooks")
"""Where ``TINCA_TRACE_HOOKS=1`` writes hook calls (at NOTICE: ``tincad -D`` shows it)."""

ENTRY_POINT_GROUP = "tinca"
CORE_PLUGIN = "core"
TRACE_ENV = "TINCA_TRACE_HOOKS"
"""Set to 1 to log every hook call with its arguments and results (pluggy's
``add_hookcall_monitoring``), through logger ``tinca.hooks`` at NOTICE, or on
stderr while logging is not set up yet."""
CONFIG_HOOK = "tinca_config_variables"
"""The hook that declares variables: a start-up hook like the registry hooks."""

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
    "tinca_register_routing_modes": "routing mode",
    "tinca_register_packet_policies": "packet policy",
    "tinca_register_cli_commands": "CLI command",
    "tinca_register_control_requests": "control request",
}

EVENT_HOOKS = (
    "tinca_node_up",
    "tinca_node_down",
    "tinca_host_up",
    "tinca_host_down",
    "tinca_subnet_up",
    "tinca_subnet_down",
    "tinca_metrics_start",
    "tinca_peer_key_changed",
    "tinca_path_mtu_changed",
    "tinca_peer_path_changed",
)


_running: ContextVar[str | None] = ContextVar("tinca_running_plugin", default=None)
"""The plugin whose hook implementation runs now (in this thread)."""
_collected: ContextVar[tuple[str, list[tuple[str, Any]]] | None] = ContextVar(
    "tinca_collected_results", default=None
)
"""While :func:`_collect` runs: a hook name and its results, by plugin."""


def running_plugin() -> str | None:
    """The name of the plugin whose hook implementation is running in this
    thread, or None outside any implementation (wrappers are not tracked)."""
    return _running.get()


@contextmanager
def _collect(hook_name: str) -> Iterator[list[tuple[str, Any]]]:
    """Collect ``(plugin, result)`` of each implementation of ``hook_name``
    called inside the block: pluggy's result list does not say who returned what."""
    results: list[tuple[str, Any]] = []
    token = _collected.set((hook_name, results))
    try:
        yield results
    finally:
        _collected.reset(token)


def _guard(function: Callable[..., Any], plugin: str, hook_name: str) -> Callable[..., Any]:
    """Wrap one hook implementation of ``plugin``.

    pluggy calls an implementation positionally with the argument names it
    declares, so ``*args`` keeps implementations that take fewer arguments
    than the specification working. Whether the hook is an event or a
    registry hook is looked up at call time, so hooks added to
    :data:`EVENT_HOOKS` or :data:`REGISTRY_HOOKS` after registration count.
    """

    @functools.wraps(function)
    def guarded(*args: Any) -> Any:
        token = _running.set(plugin)
        try:
            result = function(*args)
        except Exception as err:
            if hook_name in EVENT_HOOKS:  # a plugin bug must not stop the node
                log.error("plugin %s failed in %s: %s", plugin, hook_name, err)
                return None
            startup = hook_name in REGISTRY_HOOKS or hook_name == CONFIG_HOOK
            if isinstance(err, PluginError) or not startup:
                raise  # a duplicate name already names both plugins
            raise PluginError(f"plugin {plugin!r} failed in {hook_name}: {err}") from None
        finally:
            _running.reset(token)
        collected = _collected.get()
        if collected is not None and collected[0] == hook_name:
            collected[1].append((plugin, result))
        return result

    return guarded


class _GuardedPluginManager(pluggy.PluginManager):
    """pluggy's manager, wrapping each hook implementation in :func:`_guard`
    as its plugin is registered (however it is registered)."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` as pluggy does, then guard its implementations."""
        plugin_name = super().register(plugin, name)
        if plugin_name is None:
            return None  # blocked
        for caller in self.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    # pluggy types HookImpl.function as Final for its users;
                    # the guard replaces it once, keeping its argument names.
                    object.__setattr__(impl, "function",
                                       _guard(impl.function, plugin_name, caller.name))
        return plugin_name


def _trace_write(text: str) -> None:
    # Registries and variables are built before the daemon sets up logging:
    # without a handler those lines would vanish, so they go to stderr.
    if trace_log.hasHandlers():
        trace_log.log(NOTICE, "%s", text)
    else:
        print(text, file=sys.stderr, flush=True)


def _trace_before(hook_name: str, impls: Sequence[pluggy.HookImpl],
                  kwargs: Mapping[str, object]) -> None:
    arguments = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    plugins = ", ".join(impl.plugin_name for impl in reversed(impls)) or "none"
    _trace_write(f"hook {hook_name}({arguments}) calls {plugins}")


def _trace_after(outcome: pluggy.Result[object], hook_name: str,
                 impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
    if outcome.exception is not None:
        error = outcome.exception
        _trace_write(f"hook {hook_name} raised {type(error).__name__}: {error}")
    else:
        _trace_write(f"hook {hook_name} returned {outcome.get_result()!r}")


def tracing_requested() -> bool:
    """True when :data:`TRACE_ENV` asks for hook call tracing (set, not 0)."""
    return os.environ.get(TRACE_ENV, "") not in ("", "0")


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
        self.pm: pluggy.PluginManager = _GuardedPluginManager(PROJECT_NAME)
        if tracing_requested():
            self.pm.add_hookcall_monitoring(_trace_before, _trace_after)
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
        """Every variable declared by the core and the loaded plugins.

        A plugin whose ``tinca_config_variables`` raises, or two plugins
        declaring one name, raise :class:`PluginError`.
        """
        table = VariableTable()
        with _collect(CONFIG_HOOK) as declared:
            self.pm.hook.tinca_config_variables()
        for plugin, variables in declared:
            for variable in variables or []:
                table.declare(self._with_registered_names(variable), plugin)
        return table

    def _with_registered_names(self, variable: Variable) -> Variable:
        """``variable`` with the names now in its registry as its choices, when
        its values name registry entries (:class:`Registered`, e.g. ``Mode``),
        or with the highest registered level as its maximum
        (:class:`RegisteredLevel`, ``Compression``)."""
        vtype = variable.type
        if isinstance(vtype, RegisteredLevel):
            levels = [int(n) for n in self.registry(vtype.hook).names() if n.isdigit()]
            highest = max([vtype.maximum or 0, *levels])
            return replace(variable, type=replace(vtype, maximum=highest))
        if not isinstance(vtype, Registered) or vtype.options:
            return variable
        names = tuple(self.registry(vtype.hook).names())
        return replace(variable, type=replace(vtype, options=names))

    def registry(self, hook_name: str) -> Registry:
        """The registry filled by ``hook_name`` (one of :data:`REGISTRY_HOOKS`).

        Built on first use by calling the hook once; each entry records the
        plugin whose implementation called ``register``. A name claimed by two
        plugins, or an implementation that raises, is a :class:`PluginError`.
        """
        registry = self._registries.get(hook_name)
        if registry is None:
            registry = Registry(REGISTRY_HOOKS[hook_name])

            def register(name: str, value: object, doc: str = "") -> Entry:
                plugin = running_plugin()
                if plugin is None:
                    raise PluginError(
                        f"register() of {hook_name} was called outside a plugin's "
                        "implementation of it (from a wrapper, or later)"
                    )
                return registry.add(str(name), value, doc, plugin=plugin)

            getattr(self.pm.hook, hook_name)(register=register)
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
