"""``tinca``: the control command line, with tinc 1.1's command names.

``tinca -n NET COMMAND [ARGS]`` works like ``tinc -n NET COMMAND``. Commands
that need the running daemon's control socket arrive with the node; until
then they say so instead of pretending.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tinca.core import __version__
from tinca.core.cli.getopt import Arg, Option, UsageError, parse
from tinca.core.errors import TincaError
from tinca.core.paths import Names, make_names

PROGRAM = "tinca"

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
  version                          Show the version.
  help                             Show this help.
"""

# tinc 1.1 commands that need the control socket, which arrives with the node.
NEEDS_CONTROL_SOCKET = {
    "dump",
    "list",
    "info",
    "purge",
    "debug",
    "connect",
    "disconnect",
    "top",
    "pcap",
    "log",
}
# tinc 1.1 commands outside this version's scope, refused with a clear word.
NOT_YET = {
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
    """Options shared by every command."""

    def __init__(self, names: Names, force: bool, batch: bool) -> None:
        self.names = names
        self.force = force
        self.batch = batch


def cmd_plugins(ctx: Context, args: list[str]) -> int:
    """``tinca plugins``: every loaded plugin, its distribution, version and slots."""
    from tinca.core.plugin_manager import PluginManager
    from tinca.core.stack import _raw_server_entries

    blocked: list[str] = []
    extra: list[str] = []
    if (
        (ctx.names.confbase / "tinc.conf").exists()
        or ctx.names.confbase.suffix == ".toml"
        or (ctx.names.confbase / "tinca.toml").exists()
    ):
        raw = _raw_server_entries(ctx.names.confbase)
        blocked = [e.value for e in raw if e.name.lower() == "blockplugin"]
        extra = [e.value for e in raw if e.name.lower() == "loadplugin"]
    manager = PluginManager(blocked=blocked, extra=extra)
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


def _signal_daemon(signum: int) -> Callable[[Context, list[str]], int]:
    def run(ctx: Context, args: list[str]) -> int:
        from tinca.core.pidfile import kill_other

        kill_other(ctx.names.pidfile, ctx.names.netname, signum)
        return 0

    return run


def _tincad_argv(ctx: Context, args: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "tinca.core.cli.tincad", "-c", str(ctx.names.confbase)]
    if ctx.names.netname:
        argv += ["-n", ctx.names.netname]
    return [*argv, "--pidfile", str(ctx.names.pidfile), *args]


def cmd_start(ctx: Context, args: list[str]) -> int:
    """``tinca start``: run tincad for this network (it detaches unless -D)."""
    return subprocess.call(_tincad_argv(ctx, args))


def cmd_restart(ctx: Context, args: list[str]) -> int:
    """``tinca restart``: stop the running daemon if any, then start."""
    from tinca.core.pidfile import kill_other

    try:
        kill_other(ctx.names.pidfile, ctx.names.netname, signal.SIGTERM)
    except TincaError as err:
        print(err, file=sys.stderr)
    return cmd_start(ctx, args)


def cmd_pid(ctx: Context, args: list[str]) -> int:
    """``tinca pid``: the running daemon's process id."""
    from tinca.core.pidfile import read_pid

    pid = read_pid(ctx.names.pidfile)
    if pid is None:
        raise TincaError(f"Could not open pid file {ctx.names.pidfile}: no daemon running?")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise TincaError(f"The daemon with pid {pid} is no longer running.") from None
    print(pid)
    return 0


def cmd_version(ctx: Context, args: list[str]) -> int:
    """``tinca version``."""
    print(f"tinca version {__version__} (protocol 17.0 and 17.7)")
    return 0


def cmd_help(ctx: Context, args: list[str]) -> int:
    """``tinca help``."""
    sys.stdout.write(USAGE)
    return 0


COMMANDS: dict[str, Callable[[Context, list[str]], int]] = {
    "plugins": cmd_plugins,
    "config": cmd_config,
    "generate-keys": _keys(["rsa", "ed25519"]),
    "generate-rsa-keys": _keys(["rsa"]),
    "generate-ed25519-keys": _keys(["ed25519"]),
    "start": cmd_start,
    "stop": _signal_daemon(signal.SIGTERM),
    "restart": cmd_restart,
    "reload": _signal_daemon(signal.SIGHUP),
    "retry": _signal_daemon(signal.SIGALRM),
    "pid": cmd_pid,
    "version": cmd_version,
    "help": cmd_help,
}


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
            return cmd_version(None, [])  # type: ignore[arg-type]
        if "help" in opts or split == len(argv):
            sys.stdout.write(USAGE)
            return 0 if "help" in opts else 1
        command, args = argv[split], argv[split + 1 :]
        names = make_names(opts.get("net"), opts.get("config"), opts.get("pidfile"))
        ctx = Context(names, "force" in opts, "batch" in opts)
        handler = COMMANDS.get(command)
        if handler is None:
            if command in NEEDS_CONTROL_SOCKET:
                raise TincaError(
                    f"'{command}' needs the daemon's control socket, which this version of "
                    "tinca does not provide yet"
                )
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
