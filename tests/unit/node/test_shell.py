"""The asyncio shell moves a Node's outputs and arms its one timer; nothing more.

Driven with a fake loop and fake transports: what a meta connection queued
is written before its transport closes, hook calls reach ``fire`` in order,
and the timer follows :meth:`Node.next_timer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import make_net
from tests.unit.node.fakes import FakeDevice
from tinca.core.events import NodeEvent
from tinca.core.node.node import PROBE_TICK, Node
from tinca.core.node.shell import NodeRuntime
from tinca.core.stack import build_stack


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


class FakeLoop:
    def __init__(self) -> None:
        self.timers: list[tuple[float, Any]] = []
        self.soon: list[Any] = []

    def add_reader(self, *args: object) -> None: ...

    def remove_reader(self, *args: object) -> None: ...

    def is_closed(self) -> bool:
        return False

    def call_later(self, delay: float, callback: Any) -> Any:
        self.timers.append((delay, callback))

        class Handle:
            def cancel(self) -> None: ...

        return Handle()

    def call_soon(self, callback: Any) -> None:
        self.soon.append(callback)


def shell(tmp_path: Path, now: list[float]) -> tuple[NodeRuntime, list[str]]:
    base = tmp_path / "alpha"
    make_net(base, "alpha")
    stack = build_stack(base)
    event = NodeEvent(None, "alpha", None, None, 0, str(base))
    node = Node(stack, event, FakeDevice(), now=now[0])
    fired: list[str] = []
    return NodeRuntime(node, FakeDevice(), [], lambda hook, **kw: fired.append(hook),
                       clock=lambda: now[0]), fired


def test_a_links_bytes_are_written_before_its_transport_closes(tmp_path: Path) -> None:
    now = [50.0]
    runtime, _ = shell(tmp_path, now)
    runtime.loop = FakeLoop()  # type: ignore[assignment]
    link = runtime.node.meta_connected("beta", ("192.0.2.2", "655"), now[0])
    runtime.flush()  # no transport yet: the opening bytes wait in the link
    transport = FakeTransport()
    runtime.attached(link, transport)  # type: ignore[arg-type]
    assert transport.written and transport.written[0].startswith(b"0 alpha ")  # our ID
    second = runtime.node.meta_connected("beta", ("192.0.2.2", "655"), now[0])
    other = FakeTransport()
    runtime.transports[second] = other  # type: ignore[assignment]
    second.close(report=False)  # its ID is still queued
    assert not other.closed  # nothing happens outside a flush
    runtime.flush()
    assert other.written and other.written[0].startswith(b"0 alpha ")  # written ...
    assert other.closed  # ... and then closed
    assert second not in runtime.transports


def test_the_timer_follows_the_node_and_hooks_fire_in_order(tmp_path: Path) -> None:
    now = [50.0]
    runtime, fired = shell(tmp_path, now)
    loop = FakeLoop()
    runtime.load_own_subnets()
    runtime.start(loop)  # type: ignore[arg-type]
    assert fired == ["tinca_metrics_start"]
    delay, callback = loop.timers[-1]
    assert abs(delay - PROBE_TICK) < 1e-9
    now[0] += delay
    callback()
    assert abs(loop.timers[-1][0] - PROBE_TICK) < 1e-9  # re-armed for the next look
    # An output queued outside an input (a control command) is drained soon.
    runtime.node.unload_own_subnets(now[0])
    runtime.node.protocol.broadcast("8")
    runtime.node._fire("tinca_host_up")
    assert loop.soon and fired[-1] == "tinca_metrics_start"
    loop.soon.pop()()
    assert fired[-1] == "tinca_host_up"
