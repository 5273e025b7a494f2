"""``tincad``: the tinca daemon, with tincd's command line.

It accepts the options of tincd 1.0.36 and 1.1 (see ``tincad --help``) so that
init scripts, systemd units and habits keep working: ``tincad -n NET``,
``tincad -n NET -D -d5``, ``tincad -n NET -K``, ``tincad -n NET -k``.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import sys
from dataclasses import dataclass, field

from tinca.core import __version__
from tinca.core.cli.getopt import Arg, Option, UsageError, parse
from tinca.core.errors import TincaError
from tinca.core.paths import Names, make_names

PROGRAM = "tincad"

OPTIONS = [
    Option("config", "c", "config", Arg.REQUIRED),
    Option("no_detach", "D", "no-detach"),
    Option("debug", "d", "debug", Arg.OPTIONAL),
    Option("kill", "k", "kill", Arg.OPTIONAL),
    Option("net", "n", "net", Arg.REQUIRED),
    Option("generate_keys", "K", "generate-keys", Arg.OPTIONAL),
    Option("mlock", "L", "mlock"),
    Option("logfile", None, "logfile", Arg.OPTIONAL),
    Option("pidfile", None, "pidfile", Arg.REQUIRED),
    Option("option", "o", "option", Arg.REQUIRED),
    Option("chroot", "R", "chroot"),
    Option("user", "U", "user", Arg.REQUIRED),
    Option("syslog", "s", "syslog"),
    Option("bypass_security", None, "bypass-security"),
    Option("help", None, "help"),
    Option("version", None, "version"),
]

USAGE = """\
Usage: tincad [option]...

  -c, --config=DIR               Read the configuration from DIR (or a .toml file).
  -D, --no-detach                Stay in the foreground.
  -d, --debug[=LEVEL]            Raise the debug level by one, or set it to LEVEL.
  -k, --kill[=SIGNAL]            Signal the running tincad (default TERM) and exit.
  -n, --net=NETNAME              Use the network NETNAME (/etc/tinc/NETNAME).
  -K, --generate-keys[=BITS]     Make an RSA key pair (default 2048 bits) and exit.
  -L, --mlock                    Keep the daemon's memory out of swap.
      --logfile[=FILENAME]       Log to a file (default /var/log/tinc.NETNAME.log).
      --pidfile=FILENAME         Write the process id to FILENAME.
  -o, --option=[HOST.]KEY=VALUE  Set a server or host variable, overriding the files.
  -R, --chroot                   Change root to the configuration directory at start-up.
  -U, --user=USER                Switch to USER after start-up.
  -s, --syslog                   Log to syslog even in the foreground.
      --bypass-security          Skip peer authentication (testing only; insecure).
      --help                     Show this help and exit.
      --version                  Show the version and exit.

Environment: TINCA_CONFDIR moves /etc/tinc, TINCA_RUNDIR moves /var/run,
NETNAME is used when -n is not given.
"""

VERSION_TEXT = f"""\
tincad (tinca) version {__version__}, speaking tinc protocol 17.0 (tinc 1.0) and 17.7 (tinc 1.1)
tinca is free software under the GNU GPL version 2 or later, with ABSOLUTELY NO WARRANTY.
"""


@dataclass
class Settings:
    """The parsed command line."""

    confbase: str | None = None
    netname: str | None = None
    detach: bool = True
    debug: int = 0
    kill: str | None = None
    kill_requested: bool = False
    generate_keys: int | None = None
    mlock: bool = False
    use_logfile: bool = False
    logfile: str | None = None
    pidfile: str | None = None
    options: list[str] = field(default_factory=list)
    chroot: bool = False
    user: str | None = None
    syslog: bool = False
    bypass_security: bool = False
    show_help: bool = False
    show_version: bool = False


def parse_args(argv: list[str]) -> Settings:
    """Turn argv into :class:`Settings`; raises UsageError like tincd would."""
    found, operands = parse(argv, OPTIONS, PROGRAM)
    if operands:
        raise UsageError(f"{PROGRAM}: unexpected argument '{operands[0]}'")
    s = Settings()
    for key, value in found:
        if key == "config":
            if s.confbase is not None:
                raise UsageError("Only one configuration directory can be given.")
            s.confbase = value
        elif key == "net":
            if s.netname is not None:
                raise UsageError("Only one netname can be given.")
            s.netname = value
        elif key == "no_detach":
            s.detach = False
        elif key == "debug":
            s.debug = _int(value, "LEVEL") if value is not None else s.debug + 1
        elif key == "kill":
            s.kill_requested, s.kill = True, value
        elif key == "generate_keys":
            bits = 2048 if value is None else _int(value, "BITS")
            if bits < 512:
                raise UsageError(
                    f"Invalid argument `{value}'; "
                    "BITS must be a number equal to or greater than 512."
                )
            s.generate_keys = bits & ~7  # whole bytes, as tincd rounds
        elif key == "logfile":
            if value is not None and s.logfile is not None:
                raise UsageError("Only one logfile can be given.")
            s.use_logfile = True
            s.logfile = value or s.logfile
        elif key == "pidfile":
            s.pidfile = value
        elif key == "option":
            s.options.append(value or "")
        elif key in {"mlock", "chroot", "syslog", "bypass_security"}:
            setattr(s, key, True)
        elif key == "user":
            s.user = value
        elif key == "help":
            s.show_help = True
        elif key == "version":
            s.show_version = True
    return s


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"Invalid argument `{text}'; {what} must be a number.") from None


def _mlock() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    mcl_current, mcl_future = 1, 2
    if libc.mlockall(mcl_current | mcl_future) != 0:
        err = ctypes.get_errno()
        raise TincaError(f"System call `mlockall' failed: {os.strerror(err)}")


def _drop_privileges(settings: Settings, names: Names) -> None:
    """-R and -U, after the device is open and the ports are bound, as tincd."""
    if settings.chroot:
        os.chroot(names.confbase)
        os.chdir("/")
    if settings.user:
        try:
            entry = pwd.getpwnam(settings.user)
        except KeyError:
            raise TincaError(f"unknown user `{settings.user}'") from None
        os.initgroups(settings.user, entry.pw_gid)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)


def _detach() -> None:
    """Fork into the background like daemon(3): the parent exits 0."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tincad`` console script."""
    try:
        settings = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        print(err, file=sys.stderr)
        print(f"Try `{PROGRAM} --help' for more information.", file=sys.stderr)
        return 1
    if settings.show_version:
        sys.stdout.write(VERSION_TEXT)
        return 0
    if settings.show_help:
        sys.stdout.write(USAGE)
        return 0
    try:
        names = make_names(settings.netname, settings.confbase, settings.pidfile, settings.logfile)
        if settings.kill_requested:
            from tinca.core.pidfile import kill_other, parse_signal

            kill_other(names.pidfile, names.netname, parse_signal(settings.kill))
            return 0
        if settings.generate_keys is not None:
            from tinca.core.cli.keys import generate_keys

            return generate_keys(names, ["rsa"], settings.generate_keys)
        return _run_daemon(settings, names)
    except TincaError as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1


def _run_daemon(settings: Settings, names: Names) -> int:
    import logging

    from tinca.core.daemon import Daemon
    from tinca.core.logs import setup_logging
    from tinca.core.pidfile import check_pidfile, remove_pidfile, write_pidfile
    from tinca.core.stack import build_stack

    stack = build_stack(names.confbase, settings.options)
    check_pidfile(names.pidfile, names.netname)  # fail on the terminal, before forking
    if settings.detach:
        _detach()
    setup_logging(
        settings.debug,
        netname=names.netname,
        logfile=str(names.logfile) if settings.use_logfile else None,
        syslog=settings.syslog or (settings.detach and not settings.use_logfile),
        fallback_logfile=str(names.logfile),
    )
    try:
        write_pidfile(names.pidfile, names.netname)
    except TincaError as err:
        logging.getLogger("tinca").error("%s", err)
        return 1
    try:
        if settings.mlock:
            _mlock()
        daemon = Daemon(stack, names, settings.debug, settings.options)
        daemon.after_setup = lambda: _drop_privileges(settings, names)
        return daemon.run()
    except TincaError as err:
        logging.getLogger("tinca").error("%s", err)
        return 1
    finally:
        remove_pidfile(names.pidfile)


if __name__ == "__main__":
    sys.exit(main())
