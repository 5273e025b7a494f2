"""Configuration variables the core owns.

Identity and routing mode, sockets and binding, the virtual device, timers of
the meta protocol, the graph and the subnets, scripts, proxies and UPnP, plus
tinca's own plugin-selection variables. Crypto, discovery and path MTU
variables belong to the plugins that act on them.

Defaults are tincd's code defaults (``src/net_setup.c`` and friends), not the
manual's where the two differ. Where tinc 1.0.36 and tinc 1.1 differ, the doc
says so and ``default`` is the 1.0.36 one. Scopes and multiplicity follow tinc
1.1's ``variables[]`` table in ``src/tincctl.c``.
"""

from __future__ import annotations

from tinca.core.config.values import (
    AliasedChoice,
    Bool,
    Choice,
    HostPort,
    Integer,
    NodeName,
    Port,
    Proxy,
    Registered,
    RegisteredLevel,
    SubnetValue,
    Text,
    Words,
)
from tinca.core.config.variables import Scope, Variable

SERVER = Scope.SERVER
HOST = Scope.HOST
BOTH = Scope.BOTH

_IDENTITY = [
    Variable(
        "Name",
        NodeName(),
        "This node's name; required, and the name of its file in hosts/.",
        scope=SERVER,
    ),
    Variable(
        "Mode",
        Registered(hook="tinca_register_routing_modes"),
        "Routing mode plugin: by Subnet (router), by learned MAC address (switch), to everyone "
        "(hub), or a mode another plugin registers.",
        default="router",
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "Forwarding",
        Choice(("off", "internal", "kernel")),
        "Packets meant for other nodes: drop them, relay them, or hand them to the kernel.",
        default="internal",
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "Broadcast",
        AliasedChoice(("no", "mst", "direct"), aliases=(("yes", "mst"),)),
        "How broadcasts spread: not at all, along the minimum spanning tree, or to direct peers.",
        default="mst",
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "BroadcastSubnet",
        SubnetValue(),
        "An extra subnet whose packets are treated as broadcasts (tinc 1.1).",
        scope=SERVER,
        multiple=True,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "Subnet",
        SubnetValue(),
        "A subnet this node owns, optionally with a #weight to prefer among owners.",
        scope=HOST,
        multiple=True,
        implemented=True,
    ),
    Variable(
        "StrictSubnets",
        Bool(),
        "Accept only the subnets found in local host files, ignoring those peers announce.",
        default=False,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "TunnelServer",
        Bool(),
        "Keep peers apart: forward no peer's edges or subnets to others (implies StrictSubnets).",
        default=False,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "DirectOnly",
        Bool(),
        "Send packets only to nodes reachable directly, never through relays.",
        default=False,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "IndirectData",
        Bool(),
        "This host takes no direct UDP; others reach it via a node it is connected to.",
        default=False,
        scope=BOTH,
        implemented=True,
    ),
    Variable(
        "TCPOnly",
        Bool(),
        "Carry data packets over the TCP meta connection only (implies IndirectData).",
        default=False,
        scope=BOTH,
        implemented=True,
    ),
    Variable(
        "Weight",
        Integer(),
        "Edge weight for connections with this host; the handshake round trip in ms when unset.",
        scope=HOST,
        implemented=True,
    ),
    Variable(
        "Compression",
        RegisteredLevel(minimum=0, maximum=12, hook="tinca_register_compressions"),
        "Compression for packets sent to us: 0 none, 1-9 zlib, 10-11 LZO, 12 LZ4 (1.1 only); "
        "plugins may register more levels.",
        default=0,
        scope=BOTH,
        implemented=True,
    ),
    Variable(
        "DecrementTTL",
        Bool(),
        "Lower the TTL or hop limit of routed IP packets, dropping those that reach zero.",
        default=False,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "PriorityInheritance",
        Bool(),
        "Copy the TOS/traffic class of tunnelled packets onto the UDP packets that carry them.",
        default=False,
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "MACExpire",
        Integer(),
        "Seconds a MAC address learned in switch mode stays known without traffic.",
        default=600,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "Hostnames",
        Bool(),
        "Resolve peer addresses to host names for logs (may block on DNS).",
        default=False,
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "DisableBuggyPeers",
        Bool(),
        "Send new peers a max-size zero packet that trips buggy old tincs (1.1, undocumented).",
        default=False,
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
]

_BINDING = [
    Variable(
        "Port",
        Port(),
        "TCP and UDP port the node listens on and is reached at (tincd also takes service names).",
        default=655,
        scope=HOST,
    ),
    Variable(
        "AddressFamily",
        Choice(("ipv4", "ipv6", "any")),
        "Which IP versions to listen and connect with.",
        default="any",
        scope=SERVER,
    ),
    Variable(
        "BindToAddress",
        HostPort(),
        "Listen on this local address (and port) and make outgoing connections from it too.",
        scope=SERVER,
        multiple=True,
    ),
    Variable(
        "ListenAddress",
        HostPort(),
        "Listen on this local address (and port) only; outgoing connections are not bound (1.1).",
        scope=SERVER,
        multiple=True,
        since="1.1",
    ),
    Variable(
        "BindToInterface",
        Text(),
        "Tie the listening and outgoing sockets to this network interface.",
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "UDPRcvBuf",
        Integer(minimum=0),
        "UDP receive buffer in bytes (0: OS default); unset, 1048576 with SPTPS on as in "
        "tinc 1.1, else the OS default as in tinc 1.0.",
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "UDPSndBuf",
        Integer(minimum=0),
        "UDP send buffer in bytes (0: OS default); unset, 1048576 with SPTPS on as in "
        "tinc 1.1, else the OS default as in tinc 1.0.",
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "FWMark",
        Integer(),
        "Firewall mark (SO_MARK) put on every socket this node opens; 0 sets none (tinc 1.1).",
        default=0,
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "MaxConnectionBurst",
        Integer(minimum=1),
        "Connections accepted in a quick burst before throttling to one a second (tinc 1.1).",
        default=10,
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "Proxy",
        Proxy(),
        "Make outgoing meta connections through a SOCKS or HTTP proxy, or a command's stdio.",
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "UPnP",
        Choice(("yes", "udponly", "no")),
        "Have the UPnP-IGD router forward our port: TCP and UDP, UDP only, or not (tinc 1.1).",
        default="no",
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "UPnPDiscoverWait",
        Integer(),
        "Seconds to wait for a UPnP router to answer discovery (tinc 1.1).",
        default=5,
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "UPnPRefreshPeriod",
        Integer(),
        "Seconds between renewals of the UPnP port mappings (tinc 1.1).",
        default=60,
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
]

_DEVICE = [
    Variable(
        "DeviceType",
        Text(),
        "Kind of virtual network device (tun, tap, dummy, ...); the platform picks when unset.",
        scope=SERVER,
    ),
    Variable(
        "Device",
        Text(),
        "Device file or socket to open (e.g. /dev/net/tun); platform dependent when unset.",
        scope=SERVER,
    ),
    Variable(
        "Interface",
        Text(),
        "Name of the network interface to create or use; on Linux the netname when unset.",
        scope=SERVER,
    ),
    Variable(
        "IffOneQueue",
        Bool(),
        "Set IFF_ONE_QUEUE on the Linux tun/tap device.",
        default=False,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "DeviceStandby",
        Bool(),
        "Enable the device and run tinc-up only while another node is reachable (tinc 1.1).",
        default=False,
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "VDEPort",
        Integer(minimum=0),
        "Port of the VDE switch to plug into with the vde device; 0 lets the switch choose.",
        default=0,
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "VDEGroup",
        Text(),
        "Group that owns the port opened on the VDE switch.",
        scope=SERVER,
        implemented=False,
    ),
]

_TIMERS = [
    Variable(
        "PingInterval",
        Integer(),
        "Seconds of silence on a meta connection before we send a PING (below 1 means a day).",
        default=60,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "PingTimeout",
        Integer(),
        "Seconds to wait for a PONG before dropping the connection (capped at PingInterval).",
        default=5,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "MaxTimeout",
        Integer(minimum=1),
        "Upper bound in seconds of the growing delay between attempts to reconnect to a peer.",
        default=900,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "MinTimeout",
        Integer(minimum=0),
        "Least delay in seconds between reconnect attempts (tinc 1.0 only, undocumented).",
        default=0,
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "KeyExpire",
        Integer(),
        "Seconds before this node makes fresh data-channel keys and tells its peers.",
        default=3600,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "ReplayWindow",
        Integer(minimum=0),
        "Bytes of the window for late UDP packets; 16 in 1.0, 32 in 1.1, 0 turns it off.",
        default=16,
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "MaxOutputBufferSize",
        Integer(),
        "Bytes queued on a meta connection before data packets are dropped; 10 MTUs if unset.",
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "InvitationExpire",
        Integer(),
        "Seconds an invitation made with `tinc invite` stays valid (tinc 1.1).",
        default=604800,
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
]

_PROCESS = [
    Variable(
        "ProcessPriority",
        Choice(("low", "normal", "high")),
        "Scheduling priority the daemon asks for at start-up.",
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "LogLevel",
        Integer(),
        "Debug level to log at when none is given on the command line (tinc 1.1).",
        default=0,
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "GraphDumpFile",
        Text(),
        "File (or |command) that gets the graph in Graphviz form when it changes (1.0 only).",
        scope=SERVER,
        implemented=False,
    ),
    Variable(
        "Sandbox",
        Choice(("off", "normal", "high")),
        "How tightly the daemon confines itself; normal where supported (OpenBSD), else off (1.1).",
        scope=SERVER,
        implemented=False,
        since="1.1",
    ),
    Variable(
        "ScriptsInterpreter",
        Text(),
        "Program that runs tinc-up and the other scripts, given the script path as its argument.",
        scope=SERVER,
        implemented=True,
    ),
    Variable(
        "ScriptsExtension",
        Text(),
        "Suffix added to script names when looking them up, e.g. .py (tinc 1.1; none by default).",
        scope=SERVER,
        implemented=True,
        since="1.1",
    ),
]

# tinca's own variables: tinc does not know them; they choose plugins.
_PLUGINS = [
    Variable(
        "CipherSuite",
        Text(),
        "Cipher suite plugin the node runs (meta protocol and packet keys); unset, the "
        "installed cipher plugins choose (tinc 1.1's SPTPS, falling back to tinc 1.0's).",
        scope=SERVER,
        since="tinca",
    ),
    Variable(
        "MTUStrategy",
        Text(),
        "Path MTU strategy plugin to use, for all peers (tinc.conf) or one peer (hosts/NAME); "
        "unset, the cipher suite's choice for the peer (tinc 1.0's or tinc 1.1's probing).",
        scope=BOTH,
        since="tinca",
    ),
    Variable(
        "PacketPolicy",
        Words(),
        "Packet policy plugins asked, in order, about every packet routed; any may drop it.",
        scope=SERVER,
        since="tinca",
    ),
    Variable(
        "LoadPlugin",
        Text(),
        "Load one more plugin, given as a Python module path.",
        scope=SERVER,
        multiple=True,
        since="tinca",
    ),
    Variable(
        "BlockPlugin",
        Text(),
        "Name of a plugin not to load, even if installed.",
        scope=SERVER,
        multiple=True,
        since="tinca",
    ),
]

#: every variable the core declares
VARIABLES: list[Variable] = [*_IDENTITY, *_BINDING, *_DEVICE, *_TIMERS, *_PROCESS, *_PLUGINS]
