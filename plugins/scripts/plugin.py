"""Run tincd's scripts on tinca's lifecycle events.

Which script runs when, and with what environment, follows tincd 1.0.36
(``src/net_setup.c``, ``src/graph.c``, ``src/subnet.c``, ``src/process.c``)
plus the ``DEBUG`` variable and ``ScriptsExtension`` of tinc 1.1
(``src/script.c``):

==================  =========================================  ===========================
event               scripts, in this order                     extra variables
==================  =========================================  ===========================
node up             ``tinc-up``                                 —
node down           ``tinc-down``                               —
host up / down      ``host-up``, then ``hosts/NODE-up``         NODE, REMOTEADDRESS,
                    (``host-down``, ``hosts/NODE-down``)        REMOTEPORT
subnet up / down    ``subnet-up`` (``subnet-down``)             NODE, SUBNET, WEIGHT, and
                                                               REMOTEADDRESS, REMOTEPORT
                                                               for other nodes' subnets
==================  =========================================  ===========================

Every script also gets NETNAME, DEVICE, INTERFACE, NAME and DEBUG, on top of
the daemon's own environment (tincd ``putenv``\\s them before ``system()``).
As in tinc 1.0.36, NETNAME, DEVICE and INTERFACE are present but empty when
unknown, and SUBNET/WEIGHT are written the way its ``net2str`` writes them:
always with a prefix length and a weight. The daemon fires subnet events after
the host event of their owner, and ``tinc-up`` before our own subnets' events,
as tincd does; this plugin runs what one event calls for, in order.

Each hook runs its scripts one after the other and waits for each, as
tincd's ``system()`` does, but at most ``ScriptsTimeout`` seconds (tinca;
tincd waits forever), after which the script's process group is killed.
Unlike tincd, the daemon does not stop for them: ``tinc-up`` and
``tinc-down`` run on the daemon's loop (tinc-up completes before any peer
connects), but host and subnet hooks are called from the daemon's ordered
lifecycle queue on a worker thread (:mod:`tinca.core.lifecycle`), so a slow
``host-up`` delays only the scripts queued after it, never packets or
keepalives. Scripts of earlier events still running when ``tinc-down`` is due
(the daemon waits a few seconds for them at shutdown) are ended with their
process group first, as a process-group or cgroup kill of tincd would end
tincd's scripts. A missing script is skipped silently; a script that cannot
be started, fails, is killed or times out is logged once, with tincd's
wording where tincd has one, and never stops the daemon.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinca.core.config.entries import Entry
from tinca.core.config.values import Integer
from tinca.core.config.variables import Scope, Variable
from tinca.core.errors import TincaError
from tinca.core.events import HostEvent, NodeEvent, SubnetEvent
from tinca.core.logs import DEBUG_STATUS, level_for
from tinca.core.markers import hookimpl

log = logging.getLogger(__name__)

DEFAULT_WEIGHT = 10
"""A subnet's weight when none is given (tinc's DEFAULT_WEIGHT, src/subnet.h)."""

DEFAULT_TIMEOUT = 120
"""Seconds a script may run before it is killed (tinca: tincd waits forever)."""

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL for a script that timed out."""

SHELL = "/bin/sh"
"""Runs scripts that have no ``#!`` line, as tincd's ``system()`` does through the shell."""

VARIABLES: list[Variable] = [
    Variable(
        "ScriptsTimeout",
        Integer(minimum=1),
        "Seconds tinca waits for a script (tinc-up, host-up, ...) before killing it (tinca).",
        default=DEFAULT_TIMEOUT,
        scope=Scope.SERVER,
    ),
]
"""The variables this plugin declares (``ScriptsInterpreter`` and
``ScriptsExtension`` are tinc's and stay declared by the core)."""

_running_lock = threading.Lock()
_running: dict[subprocess.Popen[bytes], str] = {}
"""Scripts running now (on the lifecycle worker or the loop), by process."""
_ended: set[subprocess.Popen[bytes]] = set()
"""Scripts :func:`end_running_scripts` ended: their end was logged there."""

_MAC = re.compile(r"([0-9A-Fa-f]{1,2}:){5}[0-9A-Fa-f]{1,2}")


# ---------------------------------------------------------------------------
# The environment (pure functions)
# ---------------------------------------------------------------------------


def subnet_variables(subnet: str, weight: int) -> tuple[str, str]:
    """``SUBNET`` and ``WEIGHT`` for a subnet, as tincd 1.0.36 writes them.

    tincd 1.0.36 formats a subnet with ``net2str`` (``src/subnet.c``): IPv4 as
    dotted quad with ``/prefix`` always, IPv6 as eight unpadded hex groups
    without ``::`` compression, MAC as six unpadded hex bytes; then it splits
    the ``#weight`` off into WEIGHT, which is therefore always a number.
    ``subnet`` may carry its own ``#weight``; ``weight`` wins. Text that is no
    subnet at all is passed through unchanged rather than refused.
    """
    body = subnet.partition("#")[0].strip()
    if _MAC.fullmatch(body):
        text = ":".join(f"{int(part, 16):x}" for part in body.split(":"))
        return text, str(weight)
    try:
        iface = ipaddress.ip_interface(body)
    except ValueError:
        return body, str(weight)
    if iface.version == 4:
        text = f"{iface.ip}/{iface.network.prefixlen}"
    else:
        packed = iface.ip.packed
        groups = (int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2))
        text = ":".join(f"{group:x}" for group in groups) + f"/{iface.network.prefixlen}"
    return text, str(weight)


def node_environment(node: NodeEvent) -> dict[str, str]:
    """The variables every script gets: NETNAME, DEVICE, INTERFACE, NAME, DEBUG."""
    return {
        "NETNAME": node.netname or "",
        "DEVICE": node.device or "",
        "INTERFACE": node.interface or "",
        "NAME": node.name,
        "DEBUG": str(node.debug_level),
    }


def _remote(address: str | None, port: int | None) -> dict[str, str]:
    variables = {}
    if address is not None:
        variables["REMOTEADDRESS"] = address
    if port is not None:
        variables["REMOTEPORT"] = str(port)
    return variables


def host_environment(event: HostEvent) -> dict[str, str]:
    """``host-up``/``host-down``: the node variables plus NODE, REMOTEADDRESS and
    REMOTEPORT (left out when the event does not know them)."""
    return {
        **node_environment(event.node),
        "NODE": event.host,
        **_remote(event.remote_address, event.remote_port),
    }


def subnet_environment(event: SubnetEvent) -> dict[str, str]:
    """``subnet-up``/``subnet-down``: NODE (the owner), SUBNET, WEIGHT, and for
    another node's subnet REMOTEADDRESS and REMOTEPORT (tincd leaves them out
    for our own)."""
    subnet, weight = subnet_variables(event.subnet, event.weight)
    variables = {**node_environment(event.node), "NODE": event.owner}
    if event.owner != event.node.name:
        variables.update(_remote(event.remote_address, event.remote_port))
    variables["SUBNET"] = subnet
    variables["WEIGHT"] = weight
    return variables


def script_environment(event: NodeEvent | HostEvent | SubnetEvent) -> dict[str, str]:
    """The script variables for any lifecycle event (without the daemon's own
    environment, which :func:`run_script` adds underneath)."""
    if isinstance(event, SubnetEvent):
        return subnet_environment(event)
    if isinstance(event, HostEvent):
        return host_environment(event)
    return node_environment(event)


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptSettings:
    """How scripts are found and run: ``ScriptsInterpreter``,
    ``ScriptsExtension`` and ``ScriptsTimeout``."""

    interpreter: str | None = None
    extension: str = ""
    timeout: float = DEFAULT_TIMEOUT


def script_command(path: str, settings: ScriptSettings) -> list[str]:
    """The argument vector for a script: the script itself, or the
    interpreter's words followed by the script (tincd runs
    ``INTERPRETER "PATH"`` through the shell; the words are split the same way)."""
    if settings.interpreter:
        return [*shlex.split(settings.interpreter), path]
    return [path]


def settings_from(setting: Callable[[str], Any]) -> ScriptSettings:
    """Script settings from a typed configuration look-up."""
    timeout = setting("ScriptsTimeout")
    return ScriptSettings(
        interpreter=setting("ScriptsInterpreter") or None,
        extension=setting("ScriptsExtension") or "",
        timeout=float(timeout) if timeout else DEFAULT_TIMEOUT,
    )


def script_dir(confbase: str) -> Path:
    """Where scripts live: the configuration directory, or the directory of
    a ``.toml`` configuration file."""
    path = Path(confbase)
    if path.suffix == ".toml" and not path.is_dir():
        return path.parent
    return path


def _config_files(confbase: str) -> list[Path]:
    path = Path(confbase)
    if path.suffix == ".toml" and not path.is_dir():
        return [path]
    from tinca.core.config.loader import TOML_NAME

    if (path / "tinc.conf").exists():
        conf_d = path / "conf.d"
        extra = sorted(conf_d.glob("*.conf")) if conf_d.is_dir() else []
        return [path / "tinc.conf", *extra]
    return [path / TOML_NAME] if (path / TOML_NAME).exists() else []


_file_cache: dict[str, tuple[tuple[tuple[str, int], ...], ScriptSettings]] = {}


def settings_from_files(confbase: str) -> ScriptSettings:
    """Script settings read straight from the configuration files.

    The fallback for daemons whose events carry no ``setting`` look-up:
    first value wins, as in tincd; ``-o`` command-line options are not seen.
    Cached until a file changes, so a SIGHUP-reloaded change is picked up.
    Unreadable or bad values give the defaults with a warning.
    """
    files = _config_files(confbase)
    try:
        signature = tuple((str(f), f.stat().st_mtime_ns) for f in files)
    except OSError:
        signature = ()
    cached = _file_cache.get(confbase)
    if cached is not None and cached[0] == signature:
        return cached[1]
    entries: list[Entry] = []
    try:
        for file in files:
            if file.suffix == ".toml":
                from tinca.core.config.toml_form import read_toml

                entries.extend(read_toml(file)[0])
            else:
                from tinca.core.config.loader import read_file_entries

                entries.extend(read_file_entries(file))
    except TincaError as err:
        log.warning("Cannot read script settings, using the defaults: %s", err)
        entries = []
    first: dict[str, str] = {}
    for entry in entries:
        first.setdefault(entry.name.lower(), entry.value)

    def setting(name: str) -> Any:
        value = first.get(name.lower())
        if value is not None and name == "ScriptsTimeout":
            try:
                return VARIABLES[0].type.parse(value)
            except ValueError as err:
                log.warning("Bad value for ScriptsTimeout, using %d: %s", DEFAULT_TIMEOUT, err)
                return None
        return value

    settings = settings_from(setting)
    _file_cache[confbase] = (signature, settings)
    return settings


def settings_for(node: NodeEvent) -> ScriptSettings:
    """The script settings in force for an event of ``node``: through the
    event's ``setting`` look-up when the daemon provides one, else from the
    configuration files."""
    setting = getattr(node, "setting", None)
    if callable(setting):
        return settings_from(setting)
    return settings_from_files(node.confbase)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def _start(argv: list[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    # Scripts share the daemon's stdout/stderr (tincd's system() does too) but
    # never its stdin, and get a session of their own so a timeout can kill
    # everything they started. They run in the configuration directory, where
    # tinc 1.1 runs them (its tincd chdir()s there at start).
    return subprocess.Popen(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            proc.send_signal(sig)  # no group of its own (any more): the script itself
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_script(
    confbase: str,
    name: str,
    variables: Mapping[str, str],
    settings: ScriptSettings | None = None,
) -> bool:
    """Run script ``name`` (``tinc-up``, ``hosts/alpha-up``, ...) from ``confbase``.

    Returns True when the script does not exist or exited with status 0, and
    False after logging why otherwise. ``variables`` are added to the daemon's
    environment. Blocks until the script ends, ``settings.timeout`` passes or
    :func:`end_running_scripts` ends it.
    """
    settings = settings or ScriptSettings()
    directory = script_dir(confbase)
    path = str(directory / f"{name}{settings.extension}")
    if not os.path.exists(path):  # tincd: access(F_OK), so a dangling link is "missing" too
        return True
    log.log(level_for(DEBUG_STATUS), "Executing script %s", name)
    env = {**os.environ, **variables}
    argv = script_command(path, settings)
    try:
        try:
            proc = _start(argv, env, directory)
        except OSError as err:
            if err.errno != errno.ENOEXEC or settings.interpreter:
                raise
            # No #! line: the shell runs it as a shell script, as with system().
            proc = _start([SHELL, path], env, directory)
    except PermissionError:
        what = f"interpreter {argv[0]}" if settings.interpreter else path
        log.error(
            "Script %s cannot be run: %s is not executable "
            "(chmod +x it, or set ScriptsInterpreter)",
            name,
            what,
        )
        return False
    except OSError as err:
        log.error("Script %s cannot be run: %s: %s", name, argv[0], err.strerror)
        return False
    with _running_lock:
        _running[proc] = name
    try:
        status = proc.wait(settings.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        log.error(
            "Script %s did not finish within %g seconds and was killed", name, settings.timeout
        )
        return False
    finally:
        with _running_lock:
            _running.pop(proc, None)
            ended = proc in _ended
            _ended.discard(proc)
    if ended:
        return False
    if status > 0:
        log.error("Script %s exited with non-zero status %d", name, status)
        return False
    if status < 0:
        sig = -status
        log.error("Script %s was killed by signal %d (%s)", name, sig, signal.strsignal(sig))
        return False
    return True


def end_running_scripts() -> list[str]:
    """End every script still running, with its process group (SIGTERM, then
    SIGKILL after :data:`KILL_GRACE` seconds); returns their names.

    Called before ``tinc-down``: a script of an earlier event that is still
    running then (a ``host-up`` that hangs) must not outlive the daemon.
    """
    with _running_lock:
        procs = list(_running.items())
        _ended.update(proc for proc, _ in procs)
    for proc, name in procs:  # one at most: the lifecycle worker runs one script at a time
        log.warning("Script %s is still running at shutdown; stopping it", name)
        _kill_group(proc)
    return [name for _, name in procs]


def _run_for(node: NodeEvent, names: list[str], variables: Mapping[str, str]) -> None:
    settings = settings_for(node)
    for name in names:
        run_script(node.confbase, name, variables, settings)


def _host_scripts(event: HostEvent, state: str) -> list[str]:
    names = [f"host-{state}"]
    # Node names are tinc identifiers; refuse anything that could leave hosts/.
    if re.fullmatch(r"[A-Za-z0-9_]+", event.host):
        names.append(f"hosts/{event.host}-{state}")
    else:
        log.error(
            "Not running hosts/%s-%s: %r is not a valid node name", event.host, state, event.host
        )
    return names


# ---------------------------------------------------------------------------
# Hooks
# ---------------------------------------------------------------------------


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare ``ScriptsTimeout``."""
    return list(VARIABLES)


@hookimpl
def tinca_node_up(event: NodeEvent) -> None:
    """Run ``tinc-up``."""
    _run_for(event, ["tinc-up"], node_environment(event))


@hookimpl
def tinca_node_down(event: NodeEvent) -> None:
    """End scripts still running from earlier events, then run ``tinc-down``."""
    end_running_scripts()
    _run_for(event, ["tinc-down"], node_environment(event))


@hookimpl
def tinca_host_up(event: HostEvent) -> None:
    """Run ``host-up``, then ``hosts/NODE-up``."""
    _run_for(event.node, _host_scripts(event, "up"), host_environment(event))


@hookimpl
def tinca_host_down(event: HostEvent) -> None:
    """Run ``host-down``, then ``hosts/NODE-down``."""
    _run_for(event.node, _host_scripts(event, "down"), host_environment(event))


@hookimpl
def tinca_subnet_up(event: SubnetEvent) -> None:
    """Run ``subnet-up``."""
    _run_for(event.node, ["subnet-up"], subnet_environment(event))


@hookimpl
def tinca_subnet_down(event: SubnetEvent) -> None:
    """Run ``subnet-down``."""
    _run_for(event.node, ["subnet-down"], subnet_environment(event))
