"""The read-only HTTP side of a node: `--metrics [ADDR:]PORT` (Prometheus text at /metrics) and
`--http [ADDR:]PORT` (the status page at / and its data at /status.json); the flags are parsed
and the listeners attached to a runtime by cli/observe.py.

Each listener is a `ThreadingHTTPServer` in its own thread, so a slow or hostile client never
holds up the event loop; the threads read only the snapshots the loop builds for them
(mgmt/metrics.py).
Only GET and HEAD exist: nothing here writes to the node, so no password is ever asked for.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pyn2n.mgmt.metrics import Observer
from pyn2n.mgmt.status_page import PAGE

Route = Callable[[], tuple[str, bytes]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]

    def __init__(self, addr: tuple[str, int], routes: dict[str, Route]) -> None:
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.routes = routes
        super().__init__(addr, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "pyn2n"
    timeout = 10  # seconds: a client that connects and says nothing does not keep its thread

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.send_error(404, "not here: try " + " ".join(sorted(self.server.routes)))
            return
        ctype, data = route()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would be one line per scrape


def metrics_routes(registry: CollectorRegistry) -> dict[str, Route]:
    return {"/metrics": lambda: (CONTENT_TYPE_LATEST, generate_latest(registry))}


def status_routes(observer: Observer) -> dict[str, Route]:
    page = PAGE.encode()

    def status() -> tuple[str, bytes]:
        return "application/json", json.dumps(observer.read()).encode()

    return {
        "/": lambda: ("text/html; charset=utf-8", page),
        "/status.json": status,
    }


class HttpListener:
    """One bound listener serving `routes` from a thread (`Runtime.add_thread`)."""

    def __init__(self, addr: tuple[str, int], routes: dict[str, Route]) -> None:
        self.server = _Server(addr, routes)  # OSError if it cannot bind: the caller names the flag
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.5,), name=f"pyn2n-http-{addr[1]}", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        self.server.server_close()
