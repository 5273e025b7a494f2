"""tinca-sample-prometheus: serve the node's traffic counters to Prometheus.

A metrics plugin gets the node's counters once it serves and reads them
whenever it likes, from any thread. This package is a small Prometheus
exporter: an HTTP server (the standard library's, in a daemon thread) that
answers ``GET /metrics`` in Prometheus' text format. It serves only when
asked to::

    # tinc.conf
    PrometheusListen = 127.0.0.1 9655     # address and port to serve on

    $ curl -s http://127.0.0.1:9655/metrics
    tinca_peer_packets_total{node="alpha",peer="beta",direction="in"} 12
    tinca_peer_bytes_total{node="alpha",peer="beta",direction="out"} 1008
    tinca_dropped_packets_total{node="alpha",reason="not IP"} 1
    ...

Every known peer has packets and bytes in and out; our own node (``peer`` is
its name) has the device's figures; drops are by reason.

What a metrics plugin implements
    ``tinca_metrics_start(counters, node)``: called once when the node starts
    serving, with :class:`tinca.core.counters.Counters` (call
    ``counters.snapshot()`` for a frozen
    :class:`tinca.core.counters.CountersSnapshot`; safe from any thread) and
    the node's :class:`tinca.core.events.NodeEvent` (``node.setting(NAME)``
    reads a configuration variable). ``tinca_node_down(event)``: stop serving;
    here :meth:`Exporter.stop` shuts the server down and joins its thread.
    Both run on the daemon's main thread; neither may block for long.

Configuration variable ``PrometheusListen`` (hook ``tinca_config_variables``)
    ``ADDRESS [PORT]`` (port default :data:`DEFAULT_PORT`); unset: no server.

Entry point: ``sample-prometheus = "tinca_sample_prometheus"`` in the ``tinca`` group.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tinca.core import hookimpl
from tinca.core.config.values import HostPort
from tinca.core.config.variables import Scope, Variable
from tinca.core.counters import Counters, CountersSnapshot
from tinca.core.events import NodeEvent

log = logging.getLogger("tinca_sample_prometheus")

LISTEN_VARIABLE = "PrometheusListen"
DEFAULT_PORT = 9655
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus' text exposition format, version 0.0.4."""


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(snapshot: CountersSnapshot) -> str:
    """``snapshot`` in Prometheus' text format."""
    node = _label(snapshot.myself)
    peers = sorted({snapshot.myself: snapshot.node, **snapshot.peers}.items())
    lines = []
    for metric, unit in (("packets", "Packets"), ("bytes", "Bytes")):
        name = f"tinca_peer_{metric}_total"
        lines += [f"# HELP {name} {unit} exchanged with a node (our own: the device's).",
                  f"# TYPE {name} counter"]
        for peer, t in peers:
            counts = (t.in_packets, t.out_packets) if metric == "packets" else (
                t.in_bytes, t.out_bytes)
            for direction, value in zip(("in", "out"), counts, strict=True):
                lines.append(f'{name}{{node="{node}",peer="{_label(peer)}",'
                             f'direction="{direction}"}} {value}')
    lines += ["# HELP tinca_dropped_packets_total Packets the data path dropped, by reason.",
              "# TYPE tinca_dropped_packets_total counter"]
    for reason, count in sorted(snapshot.drops.items()):
        lines.append(f'tinca_dropped_packets_total{{node="{node}",reason="{_label(reason)}"}} '
                     f"{count}")
    return "\n".join(lines) + "\n"


class Exporter:
    """An HTTP server answering ``/metrics`` from ``counters``, in a daemon thread."""

    def __init__(self, counters: Counters, address: str, port: int) -> None:
        self.counters = counters

        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = render(exporter.counters.snapshot()).encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                # one line per scrape would flood the node's log
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       name="prometheus-exporter", daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on (the chosen one when asked for port 0)."""
        return self.server.server_address[1]

    def start(self) -> None:
        """Begin serving."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


_running: list[Exporter] = []


@hookimpl
def tinca_metrics_start(counters: Counters, node: NodeEvent) -> None:
    """Serve ``counters`` on ``PrometheusListen``, if set."""
    listen = node.setting(LISTEN_VARIABLE) if node.setting else None
    if listen is None:
        return
    address, port = listen
    try:
        exporter = Exporter(counters, address, int(port or DEFAULT_PORT))
    except OSError as err:
        log.error("prometheus: cannot listen on %s port %s: %s", address, port, err.strerror)
        return
    exporter.start()
    _running.append(exporter)
    log.info("prometheus: serving metrics of %s on http://%s:%d/metrics",
             node.name, address, exporter.port)


@hookimpl
def tinca_node_down(event: NodeEvent) -> None:
    """Stop serving."""
    while _running:
        _running.pop().stop()
        log.info("prometheus: stopped serving")


@hookimpl
def tinca_config_variables() -> list[Variable]:
    """Declare ``PrometheusListen``, which this plugin owns."""
    return [
        Variable(
            LISTEN_VARIABLE,
            HostPort(),
            f"Address and port (default {DEFAULT_PORT}) to serve Prometheus metrics on.",
            scope=Scope.SERVER,
            implemented=True,
            since="tinca",
        )
    ]
