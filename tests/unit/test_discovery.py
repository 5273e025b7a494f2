"""Discovery sources: built once per configuration, pulled (maybe slowly) at
each dial, and able to push addresses that a waiting connection tries at once."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_net, write_files
from tinca.core.config.loader import load_configuration
from tinca.core.config.model import Configuration
from tinca.core.device import DeviceRequest
from tinca.core.discovery import Candidate, Discovery, DiscoveryContext, DiscoverySource
from tinca.core.events import NodeEvent
from tinca.core.node.node import Dial
from tinca.core.node.shell import NodeRuntime
from tinca.core.plugin_manager import PluginManager
from tinca.core.registry import Registry
from tinca.core.stack import Stack, build_stack
from tinca.plugins.discovery.static import StaticDiscovery

FAKE_PLUGIN = '''
"""A discovery source that answers slowly, pushes on request and counts."""
import asyncio

from tinca.core import hookimpl
from tinca.core.discovery import DiscoverySource

BUILT = []
ANSWERS = {}


class Fake(DiscoverySource):
    def __init__(self, context):
        self.context = context
        self.asked = []
        self.started = 0
        self.stopped = 0
        BUILT.append(self)

    async def candidates(self, peer):
        self.asked.append(peer)
        await asyncio.sleep(0.01)  # as if it asked the network
        return list(ANSWERS.get(peer, []))

    def start(self):
        self.started += 1

    def stop(self):
        self.stopped += 1


@hookimpl
def tinca_register_discovery(register):
    register("fake", Fake, doc="test source")
'''


def config_of(base: Path) -> Configuration:
    return load_configuration(base, PluginManager().variables)


# ---------------------------------------------------------------------------
# the static source


def test_static_candidates_follow_address_lines_and_the_peers_port(tmp_path: Path) -> None:
    base = write_files(
        tmp_path,
        {
            "tinc.conf": "Name = alpha\n",
            "hosts/alpha": "Port = 655\n",
            "hosts/beta": "Port = 700\nAddress = beta.example\nAddress = 192.0.2.7 800\n",
            "hosts/gamma": "Address = 198.51.100.3\n",
        },
    )
    source = StaticDiscovery(DiscoveryContext(config_of(base), lambda peer, found: None))
    assert asyncio.run(source.candidates("beta")) == [
        Candidate("beta.example", "700", "static"),
        Candidate("192.0.2.7", "800", "static"),
    ]
    assert asyncio.run(source.candidates("gamma")) == [Candidate("198.51.100.3", "655", "static")]
    assert asyncio.run(source.candidates("nobody")) == []


# ---------------------------------------------------------------------------
# Discovery: the node's side


class Slow(DiscoverySource):
    """An async source: its answer takes a while and it remembers the push."""

    def __init__(self, context: DiscoveryContext) -> None:
        self.context = context

    async def candidates(self, peer: str) -> list[Candidate]:
        await asyncio.sleep(0.01)
        return [Candidate(f"{peer}.slow.example", "655", "slow")]


def registry(**factories: object) -> Registry:
    found = Registry("discovery method")
    found.add("static", StaticDiscovery, plugin="discovery")
    for name, factory in factories.items():
        found.add(name, factory, plugin="test")
    return found


@pytest.fixture
def beta_net(tmp_path: Path) -> Configuration:
    return config_of(
        write_files(
            tmp_path,
            {
                "tinc.conf": "Name = alpha\n",
                "hosts/alpha": "Port = 655\n",
                "hosts/beta": "Address = 192.0.2.2\n",
            },
        )
    )


def test_an_async_source_is_awaited_in_discovery_order(beta_net: Configuration) -> None:
    discovery = Discovery(registry(slow=Slow), beta_net, ["slow", "static"], lambda peer: None)
    assert asyncio.run(discovery.candidates("beta")) == [
        Candidate("beta.slow.example", "655", "slow"),
        Candidate("192.0.2.2", "655", "static"),
    ]


def test_pushed_candidates_are_remembered_per_peer_after_the_pulled_ones(
    beta_net: Configuration,
) -> None:
    pushed: list[str] = []
    discovery = Discovery(registry(slow=Slow), beta_net, ["slow", "static"], pushed.append)
    source = discovery.sources[0][1]
    assert isinstance(source, Slow)
    mdns = Candidate("192.0.2.9", "655", "slow")
    source.context.push("beta", [mdns])
    assert pushed == ["beta"]
    assert asyncio.run(discovery.candidates("beta")) == [
        Candidate("beta.slow.example", "655", "slow"),
        mdns,
        Candidate("192.0.2.2", "655", "static"),
    ]
    assert asyncio.run(discovery.candidates("gamma")) == [
        Candidate("gamma.slow.example", "655", "slow")
    ]
    # A push replaces the source's earlier one; an empty push withdraws it
    # (and gives a waiting connection nothing new to retry).
    source.context.push("beta", [])
    assert mdns not in asyncio.run(discovery.candidates("beta"))
    assert pushed == ["beta"]


def test_pushes_after_stop_are_ignored(beta_net: Configuration) -> None:
    pushed: list[str] = []
    discovery = Discovery(registry(slow=Slow), beta_net, ["slow"], pushed.append)
    discovery.stop()
    discovery.sources[0][1].context.push("beta", [Candidate("192.0.2.9", "655", "slow")])  # type: ignore[attr-defined]
    assert pushed == []


class Broken(DiscoverySource):
    def __init__(self, context: DiscoveryContext) -> None:
        pass

    async def candidates(self, peer: str) -> list[Candidate]:
        raise OSError("no route to the directory")


def test_a_failing_source_counts_as_no_candidates(beta_net: Configuration) -> None:
    discovery = Discovery(registry(broken=Broken), beta_net, ["broken", "static"], print)
    assert asyncio.run(discovery.candidates("beta")) == [Candidate("192.0.2.2", "655", "static")]


# ---------------------------------------------------------------------------
# the node: sources built once, rebuilt on SIGHUP, pushes end a back-off


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "fake_discovery.py").write_text(FAKE_PLUGIN)
    monkeypatch.syspath_prepend(str(mods))
    import fake_discovery  # type: ignore[import-not-found]

    yield fake_discovery
    sys.modules.pop("fake_discovery", None)


def closed_port() -> int:
    """A loopback port nobody listens on (connecting is refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_net(base: Path) -> Path:
    make_net(
        base,
        "alpha",
        "LoadPlugin = fake_discovery\nDiscovery = static fake\nConnectTo = beta\n",
    )
    (base / "hosts" / "beta").write_text(f"Address = 127.0.0.1 {closed_port()}\n")
    return base


def runtime(stack: Stack) -> NodeRuntime:
    factory = stack.manager.registry("tinca_register_device_types").get("dummy").value
    event = NodeEvent(None, "alpha", None, None, 0, str(stack.config.confbase))
    return NodeRuntime.build(stack, event, factory(DeviceRequest(None, "tun")), [],
                             lambda *a, **k: None)


async def until(condition, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_sources_are_built_once_and_anew_on_reconfigure(tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    base = node_net(tmp_path / "net")
    node = runtime(build_stack(base))
    assert len(fake.BUILT) == 1
    first = fake.BUILT[0]

    async def main() -> None:
        node.start(asyncio.get_running_loop())
        outgoing = node.node.outgoing["beta"]
        await until(outgoing.waiting)
        for _ in range(3):  # more rounds of dialling ask the same source
            await node._connect(Dial("beta", fresh=True))
        assert first.asked == ["beta"] * 4
        assert first.started == 1
        node.reconfigure(build_stack(base))
        node.stop()

    asyncio.run(main())
    assert len(fake.BUILT) == 2
    second = fake.BUILT[1]
    assert (first.stopped, second.started, second.stopped) == (1, 1, 1)


def test_a_push_ends_the_back_off_and_the_pushed_address_is_dialled(
    tmp_path: Path,
    fake,  # type: ignore[no-untyped-def]
) -> None:
    node = runtime(build_stack(node_net(tmp_path / "net")))
    source = fake.BUILT[0]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            server.setblocking(False)
            node.start(loop)
            outgoing = node.node.outgoing["beta"]
            await until(outgoing.waiting)
            assert outgoing.timeout == 5  # tincd's first back-off: nothing before 5 s
            waited_until = outgoing.next_attempt
            port = str(server.getsockname()[1])
            source.context.push("beta", [Candidate("127.0.0.1", port, "fake")])
            accepted, _ = await asyncio.wait_for(loop.sock_accept(server), 2.0)
            accepted.close()
            assert node.clock() < waited_until
            assert source.asked == ["beta", "beta"]
            node.stop()

    asyncio.run(main())


def test_a_push_for_a_peer_that_is_not_waiting_only_is_remembered(
    tmp_path: Path,
    fake,  # type: ignore[no-untyped-def]
) -> None:
    node = runtime(build_stack(node_net(tmp_path / "net")))
    source = fake.BUILT[0]

    async def main() -> None:
        node.start(asyncio.get_running_loop())
        await until(node.node.outgoing["beta"].waiting)
        spawned = len(node.tasks)
        source.context.push("gamma", [Candidate("192.0.2.3", "655", "fake")])
        assert len(node.tasks) == spawned
        pushed = node.node.discovery.pushed["fake"]["gamma"]
        assert pushed == [Candidate("192.0.2.3", "655", "fake")]
        node.stop()

    asyncio.run(main())


def test_unset_discovery_asks_the_static_source(tmp_path: Path) -> None:
    base = tmp_path / "net"
    make_net(base, "alpha", "ConnectTo = beta\n")
    (base / "hosts" / "beta").write_text("Address = 192.0.2.2 700\n")
    node = runtime(build_stack(base))
    assert [method for method, _ in node.node.discovery.sources] == ["static"]
    assert asyncio.run(node.node.discovery.candidates("beta")) == [
        Candidate("192.0.2.2", "700", "static")
    ]


def test_a_slow_first_round_is_not_doubled_by_the_housekeeping_tick(
    tmp_path: Path,
    fake,  # type: ignore[no-untyped-def]
) -> None:
    node = runtime(build_stack(node_net(tmp_path / "net")))
    source = fake.BUILT[0]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Event()
        original = source.candidates

        async def slow(peer: str) -> list[Candidate]:
            await gate.wait()  # the first round hangs in discovery
            return await original(peer)

        source.candidates = slow
        node.start(loop)
        await asyncio.sleep(0)
        node.node._housekeeping(node.clock() + 2)  # a tick while the round still runs
        node.flush()
        await asyncio.sleep(0.05)
        gate.set()
        await until(node.node.outgoing["beta"].waiting)
        assert source.asked == ["beta"]
        node.stop()

    asyncio.run(main())
