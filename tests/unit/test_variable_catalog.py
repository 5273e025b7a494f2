"""The built-in variable declarations cover every tinc.conf(5) variable exactly once.

The name lists below are data taken from tinc's sources: the ``.It Va`` entries
of ``doc/tinc.conf.5.in`` in release-1.0.36 and on the 1.1 branch, the names
tincd passes to ``lookup_config()``, and 1.1's ``variables[]`` table in
``src/tincctl.c`` with its SERVER/HOST/MULTIPLE flags.
"""

from __future__ import annotations

import pytest

from tinca.core.config import core_variables
from tinca.core.config.values import AliasedChoice, Proxy, ProxySpec
from tinca.core.config.variables import Scope, Variable, VariableTable
from tinca.plugins.ciphers.legacy import variables as legacy_variables
from tinca.plugins.ciphers.sptps import variables as sptps_variables
from tinca.plugins.discovery import variables as discovery_variables
from tinca.plugins.mtu import variables as mtu_variables

MODULES = {
    "core": core_variables,
    "legacy": legacy_variables,
    "sptps": sptps_variables,
    "discovery": discovery_variables,
    "mtu": mtu_variables,
}

# tinc 1.0.36: doc/tinc.conf.5.in, ".It Va" entries
MAN_1_0 = """
AddressFamily BindToAddress BindToInterface Broadcast ConnectTo DecrementTTL
Device DeviceType DirectOnly Forwarding GraphDumpFile Hostnames IffOneQueue
Interface KeyExpire LocalDiscovery MACExpire MaxTimeout Mode Name PingInterval
PingTimeout PriorityInheritance PrivateKey PrivateKeyFile ProcessPriority Proxy
ReplayWindow StrictSubnets TunnelServer UDPRcvBuf UDPSndBuf Address Cipher
ClampMSS Compression Digest IndirectData MACLength PMTU PMTUDiscovery Port
PublicKey PublicKeyFile Subnet TCPOnly
""".split()

# tinc 1.0.36: names passed to lookup_config() in src/
CODE_1_0 = """
Address AddressFamily BindToAddress BindToInterface Broadcast Cipher ClampMSS
Compression ConnectTo DecrementTTL Device DeviceType Digest DirectOnly
Forwarding GraphDumpFile Hostnames IffOneQueue IndirectData Interface KeyExpire
LocalDiscovery MACExpire MACLength MaxOutputBufferSize MaxTimeout MinTimeout
Mode Name PMTU PMTUDiscovery PingInterval PingTimeout Port PriorityInheritance
PrivateKey PrivateKeyFile ProcessPriority Proxy PublicKey PublicKeyFile
ReplayWindow ScriptsInterpreter StrictSubnets Subnet TCPOnly TunnelServer
UDPRcvBuf UDPSndBuf VDEGroup VDEPort Weight
""".split()

# tinc 1.1: doc/tinc.conf.5.in, ".It Va" entries
MAN_1_1 = """
AddressFamily AutoConnect BindToAddress BindToInterface Broadcast BroadcastSubnet
ConnectTo DecrementTTL Device DeviceStandby DeviceType DirectOnly
Ed25519PrivateKeyFile ExperimentalProtocol Forwarding FWMark Hostnames
IffOneQueue Interface InvitationExpire KeyExpire ListenAddress LocalDiscovery
LogLevel MACExpire MaxConnectionBurst MaxTimeout Mode Name PingInterval
PingTimeout PriorityInheritance PrivateKey PrivateKeyFile ProcessPriority Proxy
ReplayWindow Sandbox StrictSubnets TunnelServer UDPDiscovery
UDPDiscoveryKeepaliveInterval UDPDiscoveryInterval UDPDiscoveryTimeout
UDPInfoInterval UDPRcvBuf UDPSndBuf UPnP UPnPDiscoverWait UPnPRefreshPeriod
Address Cipher ClampMSS Compression Digest IndirectData MACLength PMTU
PMTUDiscovery MTUInfoInterval Port PublicKey PublicKeyFile Subnet TCPOnly Weight
ScriptsExtension ScriptsInterpreter
""".split()

# tinc 1.1: names passed to lookup_config() in src/ that neither man page lists
CODE_1_1_ONLY = ["DisableBuggyPeers", "Ed25519PublicKey", "Ed25519PublicKeyFile"]

# tinc 1.1: src/tincctl.c variables[]; S = VAR_SERVER, H = VAR_HOST, M = VAR_MULTIPLE
TABLE_1_1 = {
    "AddressFamily": "S", "AutoConnect": "S", "BindToAddress": "SM",
    "BindToInterface": "S", "Broadcast": "S", "BroadcastSubnet": "SM",
    "ConnectTo": "SM", "DecrementTTL": "S", "Device": "S", "DeviceStandby": "S",
    "DeviceType": "S", "DirectOnly": "S", "Ed25519PrivateKeyFile": "S",
    "ExperimentalProtocol": "S", "Forwarding": "S", "FWMark": "S",
    "GraphDumpFile": "S", "Hostnames": "S", "IffOneQueue": "S", "Interface": "S",
    "InvitationExpire": "S", "KeyExpire": "S", "ListenAddress": "SM",
    "LocalDiscovery": "S", "LogLevel": "S", "MACExpire": "S",
    "MaxConnectionBurst": "S", "MaxOutputBufferSize": "S", "MaxTimeout": "S",
    "Mode": "S", "Name": "S", "PingInterval": "S", "PingTimeout": "S",
    "PriorityInheritance": "S", "PrivateKey": "S", "PrivateKeyFile": "S",
    "ProcessPriority": "S", "Proxy": "S", "ReplayWindow": "S", "Sandbox": "S",
    "ScriptsExtension": "S", "ScriptsInterpreter": "S", "StrictSubnets": "S",
    "TunnelServer": "S", "UDPDiscovery": "S", "UDPDiscoveryKeepaliveInterval": "S",
    "UDPDiscoveryInterval": "S", "UDPDiscoveryTimeout": "S", "MTUInfoInterval": "S",
    "UDPInfoInterval": "S", "UDPRcvBuf": "S", "UDPSndBuf": "S", "UPnP": "S",
    "UPnPDiscoverWait": "S", "UPnPRefreshPeriod": "S", "VDEGroup": "S", "VDEPort": "S",
    "Address": "HM", "Cipher": "SH", "ClampMSS": "SH", "Compression": "SH",
    "Digest": "SH", "Ed25519PublicKey": "H", "Ed25519PublicKeyFile": "SH",
    "IndirectData": "SH", "MACLength": "SH", "PMTU": "SH", "PMTUDiscovery": "SH",
    "Port": "H", "PublicKey": "H", "PublicKeyFile": "SH", "Subnet": "HM",
    "TCPOnly": "SH", "Weight": "H",
}  # fmt: skip

# tinca's own plugin-selection variables
TINCA_OWN = ["CipherSuite", "PacketPolicy", "MTUStrategy", "Discovery", "LoadPlugin", "BlockPlugin"]

TINC_NAMES = sorted({*MAN_1_0, *CODE_1_0, *MAN_1_1, *CODE_1_1_ONLY, *TABLE_1_1}, key=str.lower)
ALL_NAMES = [*TINC_NAMES, *TINCA_OWN]

IMPLEMENTED = {
    "Name", "Port", "DeviceType", "Device", "Interface", "AddressFamily",
    "BindToAddress", "ListenAddress", "MTUStrategy", "Discovery", "LoadPlugin", "BlockPlugin",
    "CipherSuite", "PacketPolicy",
    # the node (tinc 1.0 protocol, graph, routing, data path)
    "Address", "Broadcast", "Cipher", "ClampMSS", "Compression", "ConnectTo", "DecrementTTL",
    "Digest", "DirectOnly", "Forwarding", "IndirectData", "KeyExpire", "MACExpire", "MACLength",
    "MaxTimeout", "Mode", "PMTU", "PMTUDiscovery", "PingInterval", "PingTimeout", "PrivateKey",
    "PrivateKeyFile", "PublicKey", "PublicKeyFile", "ReplayWindow", "StrictSubnets", "Subnet",
    "TCPOnly", "TunnelServer", "Weight",
    # devices and scripts
    "IffOneQueue", "ScriptsInterpreter", "ScriptsExtension",
    "UDPRcvBuf", "UDPSndBuf",
    # tinc 1.1's protocol (SPTPS)
    "ExperimentalProtocol", "Ed25519PrivateKeyFile", "Ed25519PublicKey", "Ed25519PublicKeyFile",
}  # fmt: skip


def _declared() -> list[tuple[str, Variable]]:
    return [(owner, v) for owner, module in MODULES.items() for v in module.VARIABLES]


def _by_name() -> dict[str, Variable]:
    return {v.name.lower(): v for _, v in _declared()}


def test_every_module_exports_a_list_of_variables_and_has_a_docstring() -> None:
    for module in MODULES.values():
        assert module.__doc__ and module.__doc__.strip()
        assert isinstance(module.VARIABLES, list) and module.VARIABLES
        assert all(isinstance(v, Variable) for v in module.VARIABLES)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_known_name_is_declared_in_exactly_one_module(name: str) -> None:
    owners = [o for o, v in _declared() if v.name.lower() == name.lower()]
    assert len(owners) == 1, f"{name} declared by {owners}"


def test_no_name_is_declared_twice_and_none_is_unknown() -> None:
    names = [v.name.lower() for _, v in _declared()]
    assert len(names) == len(set(names))
    known = {n.lower() for n in ALL_NAMES}
    assert set(names) - known == set()


def test_names_use_tincs_spelling() -> None:
    canonical = {n.lower(): n for n in ALL_NAMES}
    for _, v in _declared():
        assert v.name == canonical[v.name.lower()]


def test_they_all_fit_in_one_table() -> None:
    table = VariableTable()
    for owner, v in _declared():
        table.declare(v, owner)
    assert len(table) == len(ALL_NAMES)


@pytest.mark.parametrize("owner,variable", _declared(), ids=lambda x: getattr(x, "name", x))
def test_doc_is_one_non_empty_line(owner: str, variable: Variable) -> None:
    assert variable.doc.strip()
    assert "\n" not in variable.doc and "\r" not in variable.doc


@pytest.mark.parametrize("owner,variable", _declared(), ids=lambda x: getattr(x, "name", x))
def test_default_round_trips_through_its_type(owner: str, variable: Variable) -> None:
    if variable.default is None:
        return
    vtype = variable.type
    assert vtype.parse(vtype.format(variable.default)) == variable.default
    assert vtype.from_toml(vtype.to_toml(variable.default)) == variable.default


@pytest.mark.parametrize("name,flags", sorted(TABLE_1_1.items()))
def test_scope_and_multiplicity_follow_tinc_11s_table(name: str, flags: str) -> None:
    variable = _by_name()[name.lower()]
    expected = Scope(0)
    if "S" in flags:
        expected |= Scope.SERVER
    if "H" in flags:
        expected |= Scope.HOST
    assert variable.scope == expected
    assert variable.multiple == ("M" in flags)


def test_scope_of_variables_outside_the_table() -> None:
    by_name = _by_name()
    assert by_name["mintimeout"].scope == Scope.SERVER
    assert by_name["disablebuggypeers"].scope == Scope.SERVER
    assert by_name["mtustrategy"].scope == Scope.BOTH
    assert by_name["discovery"].scope == Scope.SERVER
    assert by_name["loadplugin"].multiple and by_name["blockplugin"].multiple


def test_since() -> None:
    in_10 = {n.lower() for n in (*MAN_1_0, *CODE_1_0)}
    own = {n.lower() for n in TINCA_OWN}
    for _, v in _declared():
        key = v.name.lower()
        if key in own:
            assert v.since == "tinca"
        elif key in in_10:
            assert v.since == "1.0", v.name
        else:
            assert v.since == "1.1", v.name


def test_only_the_agreed_variables_are_implemented() -> None:
    implemented = {v.name for _, v in _declared() if v.implemented}
    assert implemented == IMPLEMENTED


def test_ownership() -> None:
    def names(module: object) -> set[str]:
        return {v.name for v in module.VARIABLES}  # type: ignore[attr-defined]

    assert names(legacy_variables) == {
        "Cipher", "Digest", "MACLength", "PrivateKey", "PrivateKeyFile", "PublicKey",
        "PublicKeyFile",
    }  # fmt: skip
    assert names(sptps_variables) == {
        "Ed25519PrivateKeyFile", "Ed25519PublicKey", "Ed25519PublicKeyFile",
        "ExperimentalProtocol",
    }  # fmt: skip
    assert {"ConnectTo", "Address", "LocalDiscovery", "AutoConnect"} <= names(discovery_variables)
    assert {"PMTU", "PMTUDiscovery", "ClampMSS", "MTUInfoInterval"} <= names(mtu_variables)
    assert {"KeyExpire", "ReplayWindow", "MTUStrategy", "Name", "Port"} <= names(core_variables)


# Defaults checked against tincd's code (release-1.0.36 unless noted).
INTEROP_DEFAULTS = {
    "Port": 655,  # net_setup.c:427
    "Cipher": "aes-256-cbc",  # net_setup.c:726; 1.1 net_setup.c:919
    "Digest": "sha256",  # net_setup.c:776; 1.1 net_setup.c:955
    "MACLength": 4,  # net_setup.c:792; 1.1 net_setup.c:944
    "PingInterval": 60,  # net_setup.c:1044
    "PingTimeout": 5,  # net_setup.c:1048
    "MaxTimeout": 900,  # net_setup.c:651
    "MinTimeout": 0,  # net_setup.c:665
    "KeyExpire": 3600,  # net_setup.c:754
    "MACExpire": 600,  # net_setup.c:642
    "Mode": "router",  # route.c:36
    "Forwarding": "internal",  # route.c:37
    "Broadcast": "mst",  # route.c:38
    "AddressFamily": "any",  # net_socket.c:43
    "ReplayWindow": 16,  # net_packet.c:63 (32 in 1.1)
    "LocalDiscovery": False,  # net_packet.c:64 (true in 1.1)
    "Compression": 0,  # net_setup.c:805
    "PMTUDiscovery": True,  # net_setup.c:592 (unless TCPOnly)
    "ClampMSS": True,  # net_setup.c:599
    "PMTU": None,  # no default; node.c:70 starts at MTU (1518)
    "UDPRcvBuf": None,  # net_socket.c:47: OS default (1048576 in 1.1)
    "UDPSndBuf": None,  # net_socket.c:48: OS default (1048576 in 1.1)
    "IndirectData": False,
    "TCPOnly": False,
    "Hostnames": False,  # netutl.c:29
    "AutoConnect": True,  # 1.1 net_setup.c:547
    "InvitationExpire": 604800,  # 1.1 net_setup.c:553
    "MaxConnectionBurst": 10,  # 1.1 net_socket.c:45
    "UDPDiscovery": True,  # 1.1 net_packet.c:82
    "UDPDiscoveryKeepaliveInterval": 10,  # 1.1 net_packet.c:83 (manual: 9)
    "UDPDiscoveryInterval": 2,  # 1.1 net_packet.c:84
    "UDPDiscoveryTimeout": 30,  # 1.1 net_packet.c:85
    "MTUInfoInterval": 5,  # 1.1 protocol_misc.c:34
    "UDPInfoInterval": 5,  # 1.1 protocol_misc.c:35
    "UPnP": "no",
    "UPnPDiscoverWait": 5,  # 1.1 upnp.c:37
    "UPnPRefreshPeriod": 60,  # 1.1 upnp.c:38
    "LogLevel": 0,
    "ExperimentalProtocol": None,  # 1.1 net_setup.c:797: on iff an Ed25519 key is readable
    "Sandbox": None,  # 1.1 tincd.c:350: normal only where supported, else off
    "DeviceType": None,
    "MTUStrategy": None,  # the cipher suite names one per peer (test_suite_selection)
    "CipherSuite": None,  # the cipher plugins name the default (test_suite_selection)
    "Discovery": ("static",),
}


@pytest.mark.parametrize("name,default", sorted(INTEROP_DEFAULTS.items()))
def test_defaults_that_matter_for_interop(name: str, default: object) -> None:
    assert _by_name()[name.lower()].default == default


def test_compression_levels_follow_tinc() -> None:
    vtype = _by_name()["compression"].type
    assert vtype.parse("11") == 11
    assert vtype.parse("12") == 12  # LZ4, tinc 1.1
    with pytest.raises(ValueError):
        vtype.parse("13")
    with pytest.raises(ValueError):
        vtype.parse("-1")


def test_broadcast_accepts_yes_for_mst() -> None:
    vtype = _by_name()["broadcast"].type
    assert isinstance(vtype, AliasedChoice)
    assert vtype.parse("YES") == "mst"
    assert vtype.parse("Direct") == "direct"
    with pytest.raises(ValueError):
        vtype.parse("sometimes")


@pytest.mark.parametrize(
    "text,spec",
    [
        ("none", ProxySpec("none")),
        ("socks4 192.0.2.1 1080", ProxySpec("socks4", "192.0.2.1", "1080")),
        (
            "SOCKS5 proxy.example 1080 alice s3cret",
            ProxySpec("socks5", "proxy.example", "1080", "alice", "s3cret"),
        ),
        ("http 192.0.2.1 3128", ProxySpec("http", "192.0.2.1", "3128")),
        ("exec /usr/bin/nc %h %p", ProxySpec("exec", command="/usr/bin/nc %h %p")),
    ],
)
def test_proxy_values(text: str, spec: ProxySpec) -> None:
    vtype = Proxy()
    assert vtype.parse(text) == spec
    assert vtype.parse(vtype.format(spec)) == spec


@pytest.mark.parametrize("text", ["", "socks5", "socks5 192.0.2.1", "exec", "gopher 192.0.2.1 70"])
def test_bad_proxy_values(text: str) -> None:
    with pytest.raises(ValueError):
        Proxy().parse(text)
