"""The daemon's I/O shell: device, sockets, signals, lifecycle hooks.

This is the thin asyncio layer the design calls for. It opens the device the
configuration selects, binds TCP and UDP on ``Port``, announces the node
(``tinca_node_up``, tincd's tinc-up), logs ``Ready`` and serves until SIGTERM
or SIGINT. SIGHUP re-reads the configuration and keeps the old one if the new
one is broken. The meta protocol and the data path plug into the accept and
read callbacks here.

Lifecycle hooks are called through pluggy. ``tinca_node_up`` (tinc-up) and
``tinca_node_down`` (tinc-down) run on the loop, so tinc-up completes before
any peer connects; host and subnet events go to a
:class:`~tinca.core.lifecycle.LifecycleQueue` and run in order on its worker,
so a slow ``host-up`` script does not stall the other peers. At shutdown the
queue is drained (bounded) before tinc-down, keeping tincd's order.

Once the ports are bound, the daemon opens tinc 1.1's control socket beside its
pidfile and rewrites the pidfile with the control cookie (``PID COOKIE HOST
port PORT``), so ``tinca`` (or tinc 1.1's ``tinc``) can dump its state, stop
it, reload it and stream its log (:mod:`tinca.core.control`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tinca.core import __version__
from tinca.core.control import ControlServer
from tinca.core.device import Device, DeviceRequest, device_layer
from tinca.core.errors import ConfigError, PluginError, TincaError
from tinca.core.events import HostEvent, NodeEvent
from tinca.core.lifecycle import DRAIN_TIMEOUT, LifecycleQueue
from tinca.core.listeners import Listener, close_all, open_listeners
from tinca.core.logs import DEBUG_CONNECTIONS, level_for
from tinca.core.node.node import Node
from tinca.core.node.shell import NodeRuntime
from tinca.core.paths import Names
from tinca.core.pidfile import PidfileInfo, write_control_pidfile
from tinca.core.route.mode import MODES_HOOK, mode_layer
from tinca.core.stack import Stack, build_stack

log = logging.getLogger("tinca")

DEVICE_BATCH = 64
"""Packets taken from the device per wake-up (the data path works in batches)."""


@dataclass
class Daemon:
    """One running node: the configuration stack plus everything it opened."""

    stack: Stack
    names: Names
    debug: int = 0
    options: list[str] = field(default_factory=list)
    device: Device | None = None
    listeners: list[Listener] = field(default_factory=list)
    #: the running node, sans-IO (the control socket reads it)
    node: Node | None = None
    #: its I/O shell on the event loop
    shell: NodeRuntime | None = None
    after_setup: Callable[[], None] | None = None
    """Run once the device is open and ports are bound (-R, -U drop privileges here)."""
    control: ControlServer | None = None
    """The control socket, open from set-up to shutdown."""
    lifecycle: LifecycleQueue | None = None
    """Delivers the node's events in order off the loop, from set-up to shutdown."""
    _stopping: asyncio.Event | None = None

    # ------------------------------------------------------------------ set-up

    def _select_device(self) -> Device:
        config = self.stack.config
        manager = self.stack.manager
        # The registry has the mode (the stack checked Mode); its class says
        # whether the device must carry Ethernet frames.
        modes = manager.registry(MODES_HOOK)
        wanted = mode_layer(modes.get(str(config.lookup("Mode"))).value)
        device_type = config.lookup("DeviceType") or manager.hook.tinca_default_device_type(
            layer=wanted)
        registry = manager.registry("tinca_register_device_types")
        if device_type is None:
            raise ConfigError(
                f"DeviceType is not set and no installed plugin offers a default device for "
                f"{'Ethernet frames' if wanted == 'tap' else 'IP packets'}; installed: "
                f"{', '.join(registry.names()) or 'none'}",
                config.source,
            )
        try:
            factory = registry.get(device_type).value
        except PluginError as err:
            entry = config.server.entry("DeviceType")
            if entry is None:
                raise ConfigError(
                    f"DeviceType is not set and the default {err}", config.source
                ) from None
            raise ConfigError(str(err), entry.file, entry.line) from None
        layer = device_layer(factory, wanted)
        request = DeviceRequest(
            netname=self.names.netname,
            layer=layer,
            device=config.lookup("Device"),
            interface=config.lookup("Interface"),
            setting=config.lookup,
            setting_all=config.server.get_all,
        )
        device: Device = factory(request)
        return device

    def _open_listeners(self) -> list[Listener]:
        config = self.stack.config
        addresses = list(config.server.get_all("BindToAddress"))
        addresses += config.server.get_all("ListenAddress")
        return open_listeners(
            int(config.lookup("Port")),
            str(config.lookup("AddressFamily") or "any"),
            addresses or None,
        )

    def node_event(self) -> NodeEvent:
        """The facts tincd gives tinc-up and tinc-down."""
        return NodeEvent(
            netname=self.names.netname,
            name=self.stack.config.name or "",
            device=self.device.device if self.device else None,
            interface=self.device.interface if self.device else None,
            debug_level=self.debug,
            confbase=str(self.names.confbase),
            setting=self.stack.config.lookup,
        )

    def _call_hook(self, hook_name: str, kwargs: Mapping[str, Any]) -> None:
        # Through pluggy; the plugin manager's guard logs a failing plugin and
        # runs the others. Looked up per call: a reload may bring a new stack.
        getattr(self.stack.manager.hook, hook_name)(**kwargs)

    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook now, on this thread (tinc-up, tinc-down)."""
        try:
            self._call_hook(hook_name, kwargs)
        except Exception as err:  # a failing wrapper must not stop the node either
            log.error("Lifecycle hook %s failed: %s", hook_name, err)

    def _fire(self, hook_name: str, **kwargs: Any) -> None:
        """The node's event callback: queue an event hook call (host and
        subnet up/down, the observability events).

        Runs on the loop thread and never blocks: the hook runs later on the
        lifecycle worker, after every event fired before it (at once, on
        this thread, only before the queue exists).
        """
        event = kwargs.get("event")
        if self.control is not None and isinstance(event, HostEvent):
            # tinc's last_state_change, which `dump nodes` and `info` show
            self.control.host_state_changed(event.host)
        if self.lifecycle is None:
            self._notify(hook_name, **kwargs)
        else:
            self.lifecycle.submit(hook_name, **kwargs)

    # ------------------------------------------------------------------ running

    def run(self) -> int:
        """Run until stopped; returns the process exit status."""
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency, but optional at run time
            return asyncio.run(self._main())
        return uvloop.run(self._main())

    async def _main(self) -> int:
        log.info("tincad %s (tinca) starting, debug level %d", __version__, self.debug)
        for warning in self.stack.warnings:
            log.warning("%s", warning)
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            self.device = self._select_device()
            self.device.open()
            # tincd runs tinc-up right after opening the device, before its
            # sockets, so the script can configure what the sockets bind to.
            self._notify("tinca_node_up", event=self.node_event())
            self.listeners = self._open_listeners()
            # As tinc 1.1: the control socket and the cookie in the pidfile
            # once the ports are bound, before privileges are dropped.
            self._open_control()
            if self.after_setup is not None:
                self.after_setup()
            self.lifecycle = LifecycleQueue(self._call_hook)
            self.shell = NodeRuntime.build(
                self.stack, self.node_event(), self.device, self.listeners, self._fire
            )
            self.node = self.shell.node
        except (TincaError, OSError) as err:
            log.error("%s", err)
            await self._close_lifecycle()
            if self.device is not None:
                self._notify("tinca_node_down", event=self.node_event())
            self._close()
            log.info("Terminating")
            return 1
        self._watch(loop)
        self.shell.on_fatal = self.stop
        self.shell.load_own_subnets()
        self.shell.start(loop)
        assert self.control is not None
        await self.control.start()
        logging.getLogger().addHandler(self.control.log_handler)
        self.control.refresh_log_levels()
        log.info("Ready")
        await self._stopping.wait()
        self.shell.stop()
        await asyncio.sleep(0)  # let transports flush their close
        self.shell.unload_own_subnets()
        # tincd's order: the host-down and subnet-down events of shutdown
        # before tinc-down. Waited for off the loop, which keeps serving the
        # control socket's log stream meanwhile.
        await self._close_lifecycle()
        self._notify("tinca_node_down", event=self.node_event())
        self._unwatch(loop)
        self._close()
        dropped = ", ".join(f"{n} {r}" for r, n in sorted(self.node.datapath.dropped.items()))
        log.log(level_for(DEBUG_CONNECTIONS), "Dropped packets: %s", dropped or "none")
        log.info("Terminating")
        return 0

    async def _close_lifecycle(self) -> None:
        if self.lifecycle is not None:
            await asyncio.to_thread(self.lifecycle.close, DRAIN_TIMEOUT)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        handlers: dict[int, Callable[[], None]] = {
            signal.SIGTERM: self.stop,
            signal.SIGINT: self.stop,
            signal.SIGHUP: self.reload,
            signal.SIGALRM: self._retry,
        }
        for signum, handler in handlers.items():
            loop.add_signal_handler(signum, handler)

    def _unwatch(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
            loop.remove_signal_handler(signum)

    def _open_control(self) -> None:
        control = ControlServer(self.names.control_socket, self)
        control.bind()
        self.control = control
        host, port = "127.0.0.1", str(self.stack.config.lookup("Port"))
        if self.listeners:
            host, port = (str(part) for part in self.listeners[0].tcp.getsockname()[:2])
            # A wildcard is no address to connect to: tinc writes loopback instead.
            host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        write_control_pidfile(self.names.pidfile, PidfileInfo(os.getpid(), control.cookie,
                                                              host, port))

    def _close(self) -> None:
        if self.control is not None:
            logging.getLogger().removeHandler(self.control.log_handler)
            with contextlib.suppress(OSError):
                self.control.close()
            self.control = None
        close_all(self.listeners)
        self.listeners = []
        if self.device is not None:
            self.device.close()

    def stop(self) -> None:
        """Begin an orderly shutdown (SIGTERM, SIGINT)."""
        log.info("Got signal, terminating")
        if self._stopping is not None:
            self._stopping.set()

    def reload(self) -> None:
        """Re-read the configuration (SIGHUP); keep the old one if the new is bad."""
        log.info("Got SIGHUP, rereading configuration")
        self.reload_configuration()

    def reload_configuration(self) -> bool:
        """Re-read the configuration; keep the old one and return False if the
        new one is broken."""
        try:
            stack = build_stack(self.names.confbase, self.options)
        except TincaError as err:
            log.error("Unable to reread configuration, keeping the old one: %s", err)
            return False
        for warning in stack.warnings:
            log.warning("%s", warning)
        self.stack = stack
        if self.shell is not None:
            self.shell.reconfigure(stack)
        return True

    # ------------------------------------------------------------------ control socket

    def control_stop(self) -> None:
        """``tinca stop``: shut down; the control connections close at the end."""
        log.info("Got 'stop' command, terminating")
        if self._stopping is not None:
            self._stopping.set()

    def control_reload(self) -> bool:
        """``tinca reload``: as SIGHUP, but the client learns whether it worked."""
        return self.reload_configuration()

    def control_retry(self) -> None:
        """``tinca retry``: as SIGALRM."""
        if self.shell is not None:
            self.shell.retry()

    def control_set_debug(self, level: int) -> None:
        """``tinca debug N``: the new debug level (the control server adjusts the loggers)."""
        self.debug = level

    def _retry(self) -> None:
        log.info("Got SIGALRM, retrying outgoing connections")
        if self.shell is not None:
            self.shell.retry()
