"""tincad's command line: tincd's options with getopt_long's quirks."""

from __future__ import annotations

import signal

import pytest

from tinca.core.cli.getopt import UsageError
from tinca.core.cli.tincad import parse_args
from tinca.core.errors import TincaError
from tinca.core.pidfile import parse_signal


@pytest.mark.parametrize(
    "argv, level",
    [
        ([], 0),
        (["-d"], 1),
        (["-d", "-d"], 2),
        (["-d5"], 5),
        (["-d", "5"], 5),  # tincd also takes the next word when it is not an option
        (["--debug=3"], 3),
        (["--debug", "4"], 4),
        (["-Dd2"], 2),
    ],
)
def test_debug_levels(argv: list[str], level: int) -> None:
    assert parse_args(argv).debug == level


def test_the_usual_habits() -> None:
    s = parse_args(["-n", "vpn", "-D", "-d5", "--pidfile=/run/x.pid", "-o", "alpha.Port=1"])
    assert (s.netname, s.detach, s.debug, s.pidfile) == ("vpn", False, 5, "/run/x.pid")
    assert s.options == ["alpha.Port=1"]
    s = parse_args(["--net=vpn", "--config", "/etc/x", "--no-detach", "--logfile"])
    assert (s.netname, s.confbase, s.detach, s.use_logfile, s.logfile) == (
        "vpn",
        "/etc/x",
        False,
        True,
        None,
    )
    assert parse_args(["--logfile", "/var/log/t.log"]).logfile == "/var/log/t.log"
    assert parse_args(["--log=/x"]).logfile == "/x"  # unambiguous long-option prefix


@pytest.mark.parametrize(
    "argv, bits", [(["-K"], 2048), (["-K4096"], 4096), (["-K", "1030"], 1024), (["-K", "-D"], 2048)]
)
def test_generate_keys_bits_round_to_bytes(argv: list[str], bits: int) -> None:
    assert parse_args(argv).generate_keys == bits


def test_kill_with_and_without_signal() -> None:
    s = parse_args(["-k"])
    assert s.kill_requested and s.kill is None
    assert parse_args(["-kHUP"]).kill == "HUP"
    assert parse_args(["--kill=USR1"]).kill == "USR1"
    assert parse_signal(None) == signal.SIGTERM
    assert parse_signal("hup") == signal.SIGHUP
    assert parse_signal("9") == 9
    with pytest.raises(TincaError, match="SIGNAL must be a number or one of HUP"):
        parse_signal("NOPE")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--bogus"], "tincad: unrecognized option '--bogus'"),
        (["-x"], "tincad: invalid option -- 'x'"),
        (["-c"], "tincad: option requires an argument -- 'c'"),
        (["--pidfile"], "tincad: option '--pidfile' requires an argument"),
        (["--help=1"], "tincad: option '--help' doesn't allow an argument"),
        (["-c", "a", "-c", "b"], "Only one configuration directory can be given."),
        (["-n", "a", "-n", "b"], "Only one netname can be given."),
        (
            ["-K", "100"],
            "Invalid argument `100'; BITS must be a number equal to or greater than 512.",
        ),
        (["extra"], "tincad: unexpected argument 'extra'"),
    ],
)
def test_errors_read_like_tincd(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_args(argv)
    assert str(err.value) == message
