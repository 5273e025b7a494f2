"""``tinca``: the control command line, with tinc 1.1's command names.

``tinca -n NET COMMAND [ARGS]`` works like ``tinc -n NET COMMAND``. Commands
that talk to the running daemon (``dump``, ``info``, ``stop``, ``reload``,
``retry``, ``debug``, ``disconnect``, ``purge``, ``log``, ``pid``) use its
control socket with tinc 1.1's protocol (:mod:`tinca.core.cli.control_client`)
and print what tinc 1.1's ``tinc`` prints.

Plugins add commands through ``tinca_register_cli_commands``: a name
``tinca`` has no built-in for is looked up among them (installed plugins and
the network's ``LoadPlugin`` lines), and ``tinca help`` lists them. Built-in
names always win (see :func:`run_plugin_command`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tinca.core import __version__
from tinca.core.cli.getopt import Arg, Option, UsageError, parse
from tinca.core.errors import TincaError
from tinca.core.paths import Names, make_names

if TYPE_CHECKING:
    from tinca.core.cli.control_client import ControlClient, PluginReply
    from tinca.core.plugin_manager import PluginManager
    from tinca.core.registry import Registry

PROGRAM = "tinca"
#: the registry hook plugin commands come from
CLI_COMMANDS_HOOK = "tinca_register_cli_commands"
#: a plugin command: (context, the words after its name) -> exit status
PluginCommand = Callable[["Context", list[str]], int]
#: seconds `restart` waits for the old daemon to exit
RESTART_WAIT = 10.0

OPTIONS = [
    Option("config", "c", "config", Arg.REQUIRED),
    Option("net", "n", "net", Arg.REQUIRED),
    Option("pidfile", None, "pidfile", Arg.REQUIRED),
    Option("force", None, "force"),
    Option("batch", "b", "batch"),
    Option("help", None, "help"),
    Option("version", None, "version"),
]

USAGE = """\
Usage: tinca [options] command [arguments]

Options:
  -c, --config=DIR        Read the configuration from DIR (or a .toml file).
  -n, --net=NETNAME       Use the network NETNAME (/etc/tinc/NETNAME).
      --pidfile=FILENAME  Find the running daemon through FILENAME.
      --force             Overwrite files and skip confirmations.
  -b, --batch             Never ask questions.
      --help              Show this help and exit.
      --version           Show the version and exit.

Commands:
  plugins                          List loaded plugins, their packages and slots.
  config convert SOURCE TARGET     Convert a configuration directory to a .toml
                                   file, or a .toml file to a directory.
  config get VARIABLE              Show a variable's value(s) (HOST.VARIABLE for hosts).
  config check                     Validate the configuration and show warnings.
  config variables                 List every declared variable with its doc.
  generate-keys [BITS]             Make RSA and Ed25519 key pairs.
  generate-rsa-keys [BITS]         Make an RSA key pair (tinc 1.0 protocol).
  generate-ed25519-keys            Make an Ed25519 key pair (tinc 1.1 protocol).
  start [tincad options]           Start the daemon (tincad -n NET ...).
  stop                             Stop the running daemon.
  restart [tincad options]         Stop, then start the daemon.
  reload                           Make the daemon re-read its configuration.
  retry                            Make the daemon retry outgoing connections now.
  pid                              Show the running daemon's process id.
  dump [reachable] nodes           List all (or only reachable) nodes.
  dump edges                       List all edges.
  dump subnets                     List all subnets.
  dump connections                 List all meta and control connections.
  dump graph | digraph             The graph in DOT format (undirected or directed).
  info NODE | SUBNET | ADDRESS     What the daemon knows about a node or subnet.
  debug N                          Set the daemon's debug level (show the old one).
  disconnect NODE                  Close the meta connection with NODE.
  purge                            Forget unreachable nodes.
  log [LEVEL]                      Stream the daemon's log (until Ctrl-C).
  version                          Show the version.
  help                             Show this help (and the commands plugins add).
"""

# tinc 1.1 commands outside this version's scope, refused with a clear word.
# (`connect` has no handler in tinc 1.1's daemon either; `top` and `pcap` need
# per-packet traffic data that tinca's data path does not export.)
NOT_YET = {
    "connect",
    "top",
    "pcap",
    "init",
    "edit",
    "export",
    "export-all",
    "import",
    "exchange",
    "exchange-all",
    "invite",
    "join",
    "network",
    "fsck",
    "sign",
    "verify",
    "add",
    "del",
    "get",
    "set",
}


class Context:
    """What every command gets: the network's names and the global options.

    This is also the context a plugin command
    (``tinca_register_cli_commands``) receives; the members documented here
    are what a plugin may rely on.
    """

    def __init__(self, names: Names, force: bool, batch: bool) -> None:
        #: the network's file names (:class:`~tinca.core.paths.Names`)
        self.names = names
        #: ``--force`` was given: overwrite files, skip confirmations
        self.force = force
        #: ``--batch`` was given: never ask questions
        self.batch = batch

    @property
    def netname(self) -> str | None:
        """The network name (``-n``), or ``None``."""
        return self.names.netname

    @property
    def confbase(self) -> Path:
        """The configuration directory (``-c``, else ``/etc/tinc/NETNAME``), or a .toml file."""
        return self.names.confbase

    @property
    def pidfile(self) -> Path:
        """The running daemon's pidfile (``--pidfile``, else the default)."""
        return self.names.pidfile

    @property
    def control_socket(self) -> Path:
        """The running daemon's control socket."""
        return self.names.control_socket

    def connect(self) -> ControlClient:
        """An authenticated control connection to the running daemon (use it
        in a ``with`` block); :class:`~tinca.core.errors.TincaError` if none."""
        return _connect(self)

    def plugin_request(self, name: str, *args: object) -> PluginReply:
        """Send the plugin control request ``name`` with ``args`` (words
        without blanks) to the running daemon; its status and reply lines."""
        with self.connect() as client:
            return client.plugin_request(name, *args)


def _plugin_manager(ctx: Context) -> PluginManager:
    """The installed plugins plus the network's ``LoadPlugin``/``BlockPlugin``."""
    from tinca.core.config.loader import raw_server_entries
    from tinca.core.stack import plugin_manager_for

    confbase = ctx.names.confbase
    configured = (
        (confbase / "tinc.conf").exists()
        or confbase.suffix == ".toml"
        or (confbase / "tinca.toml").exists()
    )
    return plugin_manager_for(raw_server_entries(confbase) if configured else [])


def _plugin_commands(ctx: Context) -> Registry:
    """The commands plugins registered (``tinca_register_cli_commands``)."""
    return _plugin_manager(ctx).registry(CLI_COMMANDS_HOOK)


def cmd_plugins(ctx: Context, args: list[str]) -> int:
    """``tinca plugins``: every loaded plugin, its distribution, version and slots."""
    manager = _plugin_manager(ctx)
    rows = [("NAME", "DISTRIBUTION", "VERSION", "SLOTS")]
    for info in manager.describe():
        rows.append((info.name, info.distribution, info.version, "; ".join(info.slots) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    return 0


def cmd_config(ctx: Context, args: list[str]) -> int:
    """``tinca config convert|get|check|variables``."""
    if not args:
        raise UsageError("config needs a subcommand: convert, get, check or variables")
    sub, rest = args[0], args[1:]
    if sub == "convert":
        return _config_convert(ctx, rest)
    if sub == "variables":
        return _config_variables()
    from tinca.core.stack import build_stack

    stack = build_stack(ctx.names.confbase, require_name=False)
    if sub == "check":
        for warning in stack.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"{stack.config.source}: configuration is valid")
        return 0
    if sub == "get":
        if len(rest) != 1:
            raise UsageError("usage: tinca config get [HOST.]VARIABLE")
        host, dot, variable = rest[0].rpartition(".")
        settings = stack.config.host(host) if dot else stack.config.server
        values = settings.get_all(variable)
        if not values:
            default = settings.get(variable)
            values = [] if default is None else [default]
        if not values:
            print(f"No matching configuration variables found for {rest[0]}.", file=sys.stderr)
            return 1
        declared = stack.config.table.lookup(variable)
        for value in values:
            print(declared.variable.type.format(value) if declared else value)
        return 0
    raise UsageError(f"unknown config subcommand '{sub}'")


def _config_convert(ctx: Context, args: list[str]) -> int:
    from tinca.core.config.convert import tinc_dir_to_toml, toml_to_tinc_dir
    from tinca.core.plugin_manager import PluginManager

    if len(args) != 2:
        raise UsageError("usage: tinca config convert SOURCE TARGET")
    source, target = Path(args[0]), args[1]
    if source.suffix == ".toml" and source.is_file():
        written = toml_to_tinc_dir(source, Path(target), force=ctx.force)
        print(f"wrote {len(written)} files under {target}", file=sys.stderr)
        return 0
    if not (source / "tinc.conf").is_file():
        raise TincaError(f"{source} is neither a .toml file nor a directory with tinc.conf")
    text = tinc_dir_to_toml(source, PluginManager().variables)
    if target == "-":
        sys.stdout.write(text)
        return 0
    out = Path(target)
    if out.exists() and not ctx.force:
        raise TincaError(f"{out} already exists; use --force to overwrite")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _config_variables() -> int:
    from tinca.core.plugin_manager import PluginManager

    for declared in PluginManager().variables:
        v = declared.variable
        scope = {1: "server", 2: "host", 3: "both"}[v.scope.value]
        default = "" if v.default is None else f" (default {v.type.format(v.default)})"
        state = "" if v.implemented else " [not implemented yet]"
        print(f"{v.name:<24} {scope:<6} {declared.plugin:<10} {v.doc}{default}{state}")
    return 0


def _keys(kinds: list[str]) -> Callable[[Context, list[str]], int]:
    def run(ctx: Context, args: list[str]) -> int:
        from tinca.core.cli.keys import generate_keys

        bits = None
        if args:
            if "rsa" not in kinds or not args[0].isdigit() or int(args[0]) < 512:
                raise UsageError(f"Invalid argument `{args[0]}'; BITS must be a number >= 512.")
            bits = int(args[0]) & ~7
        return generate_keys(ctx.names, kinds, bits)

    return run


def _no_arguments(command: str, args: list[str]) -> None:
    if args:
        raise UsageError(f"Too many arguments for `{command}'!")


def _connect(ctx: Context) -> ControlClient:
    """An authenticated control connection to the running daemon."""
    from tinca.core.cli.control_client import ControlClient

    return ControlClient.connect(ctx.names.pidfile, ctx.names.control_socket)


def _connect_or_pid(ctx: Context) -> ControlClient | int:
    """A control connection; or, when the pidfile holds a live daemon's pid but
    no control cookie (a daemon without a control socket), that pid."""
    from tinca.core.pidfile import pid_alive, read_pid, read_pidfile

    if read_pidfile(ctx.names.pidfile) is None:
        pid = read_pid(ctx.names.pidfile)
        if pid is not None and pid_alive(pid):
            return pid
    return _connect(ctx)


def _signal(pid: int, signum: signal.Signals) -> int:
    try:
        os.kill(pid, signum)
    except OSError as err:
        raise TincaError(
            f"Could not send {signum.name[3:]} signal to process with PID {pid}: {err.strerror}"
        ) from None
    print(f"Sent {signum.name[3:]} signal to process with PID {pid}.", file=sys.stderr)
    return 0


def cmd_stop(ctx: Context, args: list[str]) -> int:
    """``tinca stop``: ask the daemon to stop and wait until it closes the socket.

    Without a working control socket, a live daemon named in the pidfile gets
    SIGTERM instead, as tinc does.
    """
    from tinca.core.cli.control_client import ControlClientError
    from tinca.core.control import ControlRequest
    from tinca.core.pidfile import pid_alive, read_pid

    _no_arguments("stop", args)
    try:
        client = _connect(ctx)
    except ControlClientError as err:
        pid = read_pid(ctx.names.pidfile)
        if pid is None or not pid_alive(pid):
            raise
        print(err, file=sys.stderr)
        return _signal(pid, signal.SIGTERM)
    with client:
        client.request(ControlRequest.STOP)
        client.wait_closed()
    return 0


def _simple_command(
    name: str, request: str, failure: str, signum: signal.Signals
) -> Callable[[Context, list[str]], int]:
    def run(ctx: Context, args: list[str]) -> int:
        from tinca.core.control import ControlRequest

        _no_arguments(name, args)
        client = _connect_or_pid(ctx)
        if isinstance(client, int):
            return _signal(client, signum)
        with client:
            if client.command(ControlRequest[request]) != 0:
                print(failure, file=sys.stderr)
                return 1
        return 0

    run.__doc__ = f"``tinca {name}`` through the control socket."
    return run


def cmd_purge(ctx: Context, args: list[str]) -> int:
    """``tinca purge``: forget unreachable nodes, their edges and subnets."""
    from tinca.core.control import ControlRequest

    _no_arguments("purge", args)
    with _connect(ctx) as client:
        if client.command(ControlRequest.PURGE) != 0:
            print("Could not purge old information.", file=sys.stderr)
            return 1
    return 0


def cmd_debug(ctx: Context, args: list[str]) -> int:
    """``tinca debug N``: set the daemon's debug level, show the old one."""
    from tinca.core.control import ControlRequest

    if len(args) != 1:
        raise UsageError("Invalid number of arguments.")
    try:
        level = int(args[0])
    except ValueError:
        raise UsageError(f"Invalid argument `{args[0]}'; LEVEL must be a number.") from None
    with _connect(ctx) as client:
        old = client.command(ControlRequest.SET_DEBUG, level)
    if old is None:
        print("Could not set debug level.", file=sys.stderr)
        return 1
    print(f"Old level {old}, new level {level}.", file=sys.stderr)
    return 0


def cmd_disconnect(ctx: Context, args: list[str]) -> int:
    """``tinca disconnect NODE``: close the meta connection with NODE."""
    from tinca.core.control import ControlRequest
    from tinca.core.meta.requests import check_id

    if len(args) != 1:
        raise UsageError("Invalid number of arguments.")
    if not check_id(args[0]):
        raise TincaError("Invalid name for node.")
    with _connect(ctx) as client:
        if client.command(ControlRequest.DISCONNECT, args[0]) != 0:
            print(f"Could not disconnect {args[0]}.", file=sys.stderr)
            return 1
    return 0


def cmd_dump(ctx: Context, args: list[str]) -> int:
    """``tinca dump [reachable] nodes|edges|subnets|connections|graph|digraph``."""
    from tinca.core.cli import control_client as cc
    from tinca.core.control import NODE_REACHABLE, ControlRequest

    only_reachable = False
    if len(args) > 1 and args[0].lower() == "reachable":
        if args[1].lower() != "nodes":
            raise UsageError("`reachable' only supported for nodes.")
        only_reachable = True
        args = args[1:]
    if len(args) != 1:
        raise UsageError("Invalid number of arguments.")
    kind = args[0].lower()
    if kind == "invitations":
        if not (ctx.names.confbase / "invitations").is_dir():
            print("No outstanding invitations.", file=sys.stderr)
            return 0
        raise TincaError("'dump invitations' is not implemented yet in tinca")
    single = {
        "nodes": ControlRequest.DUMP_NODES,
        "edges": ControlRequest.DUMP_EDGES,
        "subnets": ControlRequest.DUMP_SUBNETS,
        "connections": ControlRequest.DUMP_CONNECTIONS,
    }
    if kind not in single and kind not in ("graph", "digraph"):
        raise UsageError(f"Unknown dump type '{args[0]}'.")
    with _connect(ctx) as client:
        if kind in ("graph", "digraph"):
            # tinc asks for both dumps at once and reads the replies in order
            client.request(ControlRequest.DUMP_NODES)
            client.request(ControlRequest.DUMP_EDGES)
            nodes = cc.parse_dump(ControlRequest.DUMP_NODES,
                                  client.dump_lines(ControlRequest.DUMP_NODES))
            edges = cc.parse_dump(ControlRequest.DUMP_EDGES,
                                  client.dump_lines(ControlRequest.DUMP_EDGES))
            out = cc.graph_lines(nodes, edges, directed=kind == "digraph")
        else:
            rtype = single[kind]
            records = cc.parse_dump(rtype, client.dump(rtype))
            if rtype == ControlRequest.DUMP_NODES:
                out = [cc.format_node(r) for r in records
                       if not only_reachable or r.status & NODE_REACHABLE]
            elif rtype == ControlRequest.DUMP_EDGES:
                out = [cc.format_edge(r) for r in records]
            elif rtype == ControlRequest.DUMP_SUBNETS:
                out = [cc.format_subnet(r) for r in records]
            else:
                out = [cc.format_connection(r) for r in records]
    for line in out:
        print(line)
    return 0


def cmd_info(ctx: Context, args: list[str]) -> int:
    """``tinca info NODE|SUBNET|ADDRESS``: what the daemon knows about it."""
    from tinca.core.cli import control_client as cc

    if len(args) != 1:
        raise UsageError("Invalid number of arguments.")
    item = args[0]
    kind = cc.classify_info_item(item)
    if kind == "invalid":
        raise TincaError("Argument is not a node name, subnet or address.")
    with _connect(ctx) as client:
        if kind == "node":
            lines = cc.info_node(client, item).lines()
        else:
            lines = cc.info_subnet(client, item)
    for line in lines:
        print(line)
    return 0


def cmd_log(ctx: Context, args: list[str]) -> int:
    """``tinca log [LEVEL]``: stream the daemon's log until Ctrl-C or until it stops."""
    from tinca.core.control import DEBUG_UNSET

    if len(args) > 1:
        raise UsageError("Too many arguments!")
    try:
        level = int(args[0]) if args else DEBUG_UNSET
    except ValueError:
        raise UsageError(f"Invalid argument `{args[0]}'; LEVEL must be a number.") from None
    color = sys.stdout.isatty() and os.environ.get("TERM", "dumb") != "dumb"
    out = sys.stdout.buffer
    with _connect(ctx) as client:
        try:
            for text in client.stream_log(level, color):
                out.write(text + b"\n")
                out.flush()
        except KeyboardInterrupt:
            sys.stderr.write("\n")
        except BrokenPipeError:
            pass
    return 0


def _tincad_argv(ctx: Context, args: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "tinca.core.cli.tincad", "-c", str(ctx.names.confbase)]
    if ctx.names.netname:
        argv += ["-n", ctx.names.netname]
    return [*argv, "--pidfile", str(ctx.names.pidfile), *args]


def cmd_start(ctx: Context, args: list[str]) -> int:
    """``tinca start``: run tincad for this network (it detaches unless -D)."""
    return subprocess.call(_tincad_argv(ctx, args))


def cmd_restart(ctx: Context, args: list[str]) -> int:
    """``tinca restart``: stop the running daemon if any, wait for it, then start."""
    from tinca.core.cli.control_client import wait_for_exit
    from tinca.core.pidfile import read_pid

    pid = read_pid(ctx.names.pidfile)
    try:
        cmd_stop(ctx, [])
    except TincaError as err:
        print(err, file=sys.stderr)
    if pid is not None and not wait_for_exit(pid, RESTART_WAIT):
        raise TincaError(f"The daemon with pid {pid} did not stop within {RESTART_WAIT:g} s.")
    return cmd_start(ctx, args)


def cmd_pid(ctx: Context, args: list[str]) -> int:
    """``tinca pid``: the running daemon's process id (from its control socket)."""
    _no_arguments("pid", args)
    client = _connect_or_pid(ctx)
    if isinstance(client, int):
        print(client)
        return 0
    with client:
        print(client.pid)
    return 0


def print_version() -> int:
    """Print tinca's version line (``--version`` and ``tinca version``)."""
    print(f"tinca version {__version__} (protocol 17.0 and 17.7)")
    return 0


def cmd_version(ctx: Context, args: list[str]) -> int:
    """``tinca version``."""
    return print_version()


def cmd_help(ctx: Context, args: list[str]) -> int:
    """``tinca help``: the built-in commands, then those plugins add."""
    sys.stdout.write(USAGE)
    try:
        entries = _plugin_commands(ctx).entries()
    except TincaError as err:
        print(f"Plugin commands cannot be listed: {err}", file=sys.stderr)
        return 0
    if entries:
        print("\nPlugin commands:")
    for entry in entries:
        shadowed = entry.name.lower() in BUILT_INS
        doc = f"(not run: '{entry.name}' is a built-in command)" if shadowed else entry.doc
        print(f"  {entry.name:<31}  {doc} [{entry.plugin}]")
    return 0


def run_plugin_command(ctx: Context, command: str, args: list[str]) -> int | None:
    """Run the plugin command ``command``; ``None`` when no plugin has one.

    Built-in commands win: this is only asked for names :data:`COMMANDS`
    lacks, and a plugin's entry for a built-in name is never run.
    """
    if command.lower() in BUILT_INS:
        return None
    registry = _plugin_commands(ctx)
    if command not in registry:
        return None
    handler: PluginCommand = registry.get(command).value
    return int(handler(ctx, args))


COMMANDS: dict[str, Callable[[Context, list[str]], int]] = {
    "plugins": cmd_plugins,
    "config": cmd_config,
    "generate-keys": _keys(["rsa", "ed25519"]),
    "generate-rsa-keys": _keys(["rsa"]),
    "generate-ed25519-keys": _keys(["ed25519"]),
    "start": cmd_start,
    "stop": cmd_stop,
    "restart": cmd_restart,
    "reload": _simple_command("reload", "RELOAD", "Could not reload configuration.",
                              signal.SIGHUP),
    "retry": _simple_command("retry", "RETRY", "Could not retry outgoing connections.",
                             signal.SIGALRM),
    "pid": cmd_pid,
    "dump": cmd_dump,
    "list": cmd_dump,
    "info": cmd_info,
    "debug": cmd_debug,
    "disconnect": cmd_disconnect,
    "purge": cmd_purge,
    "log": cmd_log,
    "version": cmd_version,
    "help": cmd_help,
}


#: the names plugin commands cannot take (compared without case)
BUILT_INS = frozenset(name.lower() for name in COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tinca`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        # Options stop at the command word, so `tinca start -D` passes -D on.
        split = next(
            (i for i, w in enumerate(argv) if not w.startswith("-") and _is_command(argv, i)),
            len(argv),
        )
        found, _ = parse(argv[:split], OPTIONS, PROGRAM)
        opts = dict(found)
        if "version" in opts:
            return print_version()
        if "help" in opts or split == len(argv):
            sys.stdout.write(USAGE)
            return 0 if "help" in opts else 1
        command, args = argv[split], argv[split + 1 :]
        names = make_names(opts.get("net"), opts.get("config"), opts.get("pidfile"))
        ctx = Context(names, "force" in opts, "batch" in opts)
        handler = COMMANDS.get(command)
        if handler is None:
            # Plugins may add commands, also ones tinca lacks (NOT_YET).
            status = run_plugin_command(ctx, command, args)
            if status is not None:
                return status
            if command in NOT_YET:
                raise TincaError(f"'{command}' is not implemented yet in tinca")
            raise UsageError(f"Unknown command `{command}'.")
        return handler(ctx, args)
    except UsageError as err:
        print(err, file=sys.stderr)
        print(f"Try `{PROGRAM} --help' for more information.", file=sys.stderr)
        return 1
    except TincaError as err:
        print(err, file=sys.stderr)
        return 1


def _is_command(argv: list[str], index: int) -> bool:
    """A word is the command unless it is the argument of a preceding option."""
    if index == 0:
        return True
    previous = argv[index - 1]
    takes_value = {"-c", "-n", "--config", "--net", "--pidfile"}
    return previous not in takes_value


if __name__ == "__main__":
    sys.exit(main())
