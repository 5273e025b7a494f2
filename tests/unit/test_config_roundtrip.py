"""Property: tinc.conf → TOML → tinc.conf loses nothing.

Hypothesis builds server and host files from the declared variables (with
valid values in any spelling tincd accepts), unknown variables and PEM blocks.
After a trip through TOML and back, every variable must have the same values
in the same order, compared by meaning (``YES`` and ``yes`` are one value).
"""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinca.core.config import values
from tinca.core.config.convert import tinc_dir_to_toml, toml_to_tinc_dir
from tinca.core.config.entries import PEM, Entry, format_entries, parse_text
from tinca.core.config.toml_form import format_toml, parse_toml
from tinca.core.config.variables import Scope, Variable, VariableTable
from tinca.core.plugin_manager import PluginManager

TABLE: VariableTable = PluginManager().variables

_printable = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f"),
    min_size=1,
    max_size=20,
).map(str.strip).filter(bool)
_word = st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=12)
_node = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)


def _mixed_case(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.lower(), word.capitalize()])


def value_text(variable: Variable) -> st.SearchStrategy[str]:
    """Valid tinc.conf text for one variable's type."""
    vtype = variable.type
    if isinstance(vtype, values.Bool):
        return st.sampled_from(["yes", "no"]).flatmap(_mixed_case)
    if isinstance(vtype, values.Integer):
        low = -(2**31) if vtype.minimum is None else vtype.minimum
        high = 2**31 if vtype.maximum is None else vtype.maximum
        return st.integers(low, high).map(str)
    if isinstance(vtype, values.Choice):
        words = list(vtype.options) + [a for a, _ in getattr(vtype, "aliases", ())]
        return st.sampled_from(words).flatmap(_mixed_case)
    if isinstance(vtype, values.NodeName):
        return _node
    if isinstance(vtype, values.Words):
        return st.lists(_word, min_size=1, max_size=4).map(" ".join)
    if isinstance(vtype, values.HostPort):
        return st.tuples(_word, st.none() | st.integers(0, 65535).map(str)).map(
            lambda hp: hp[0] if hp[1] is None else f"{hp[0]} {hp[1]}"
        )
    if isinstance(vtype, values.SubnetValue):
        return st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(_ipv4_subnet)
    if isinstance(vtype, values.Proxy):
        return st.sampled_from(
            ["none", "exec nc %h %p", "socks5 192.0.2.9 1080", "http proxy.example 3128 u p"]
        )
    if isinstance(vtype, values.Text):
        return _printable
    # A type this test does not know (a plugin's own): use whichever of these
    # sample values it accepts, so new types are covered without edits here.
    accepted = [text for text in SAMPLES if _parses(vtype, text)]
    return st.sampled_from(accepted) if accepted else st.nothing()


SAMPLES = (
    "198.18.0.1/24", "198.18.0.0/16", "198.18.0.0/16 via 198.18.0.1", "2001:db8::1/64",
    "1", "1400", "yes", "no", "any", "text", "/var/tmp/file", "tun0", "none",
)  # fmt: skip


def _parses(vtype: values.ValueType, text: str) -> bool:
    try:
        vtype.parse(text)
    except ValueError:
        return False
    return True


def _ipv4_subnet(pair: tuple[int, int]) -> str:
    address, prefix = pair
    mask = ((1 << prefix) - 1) << (32 - prefix) if prefix else 0
    net = address & mask
    return ".".join(str((net >> s) & 255) for s in (24, 16, 8, 0)) + f"/{prefix}"


def entries_for(scope: Scope) -> st.SearchStrategy[list[Entry]]:
    declared = [
        d.variable
        for d in TABLE
        if d.variable.scope & scope and not value_text(d.variable).is_empty
    ]
    known = st.sampled_from(declared).flatmap(
        lambda v: st.tuples(
            _mixed_case(v.name) if v.name.isascii() else st.just(v.name), value_text(v)
        )
    )
    unknown = st.tuples(
        st.from_regex(r"X[A-Za-z0-9]{1,10}", fullmatch=True).filter(lambda n: n not in TABLE),
        _printable,
    )
    line = st.one_of(known, known, unknown)
    return st.lists(line, max_size=12).map(
        lambda pairs: [Entry(n, v, "f", i) for i, (n, v) in enumerate(pairs, 1)]
    )


PEM_BLOCK = st.binary(min_size=3, max_size=120).map(
    lambda raw: "-----BEGIN RSA PUBLIC KEY-----\n"
    + __import__("base64").b64encode(raw).decode()
    + "\n-----END RSA PUBLIC KEY-----\n"
)


def host_entries() -> st.SearchStrategy[list[Entry]]:
    return st.tuples(entries_for(Scope.HOST), st.lists(PEM_BLOCK, max_size=2)).map(
        lambda pair: pair[0] + [Entry(PEM, block, "f", 99) for block in pair[1]]
    )


def meaning(entries: list[Entry]) -> dict[str, list[object]]:
    """Per variable (any case), the values in order, parsed where declared."""
    result: dict[str, list[object]] = {}
    for entry in entries:
        declared = TABLE.lookup(entry.name)
        value: object = entry.value
        if declared is not None:
            value = declared.variable.type.parse(entry.value)
        result.setdefault(entry.name.lower(), []).append(value)
    return result


@settings(max_examples=150, deadline=None)
@given(
    server=entries_for(Scope.SERVER),
    hosts=st.dictionaries(_node, host_entries(), max_size=3),
)
def test_tinc_conf_to_toml_and_back_loses_nothing(
    server: list[Entry], hosts: dict[str, list[Entry]]
) -> None:
    # Through the tinc.conf text first, so the generated lines are real file lines.
    server = parse_text(format_entries(server), "tinc.conf")
    hosts = {name: parse_text(format_entries(e), f"hosts/{name}") for name, e in hosts.items()}

    toml_text = format_toml(server, hosts, TABLE)
    server2, hosts2 = parse_toml(toml_text, "tinca.toml")
    server3 = parse_text(format_entries(server2), "tinc.conf")
    hosts3 = {n: parse_text(format_entries(e), f"hosts/{n}") for n, e in hosts2.items()}

    assert meaning(server3) == meaning(server)
    assert set(hosts3) == set(hosts)
    for name in hosts:
        assert meaning(hosts3[name]) == meaning(hosts[name])


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(server=entries_for(Scope.SERVER), host=host_entries())
def test_convert_command_functions_round_trip_on_disk(
    tmp_path: Path, server: list[Entry], host: list[Entry]
) -> None:
    source = tmp_path / "src"
    (source / "hosts").mkdir(parents=True, exist_ok=True)
    (source / "tinc.conf").write_text(format_entries(server))
    (source / "hosts" / "alpha").write_text(format_entries(host))
    toml_file = tmp_path / "net.toml"
    toml_file.write_text(tinc_dir_to_toml(source, TABLE))
    target = tmp_path / "dst"
    toml_to_tinc_dir(toml_file, target, force=True)
    assert meaning(parse_text((target / "tinc.conf").read_text(), "t")) == meaning(
        parse_text((source / "tinc.conf").read_text(), "s")
    )
    assert meaning(parse_text((target / "hosts" / "alpha").read_text(), "t")) == meaning(
        parse_text((source / "hosts" / "alpha").read_text(), "s")
    )
