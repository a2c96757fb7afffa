"""`--metrics [ADDR:]PORT` and `--http [ADDR:]PORT` of `pyn2n edge` and `pyn2n supernode`: the
flags, and the listeners attached to a runtime (mgmt/http.py serves, mgmt/metrics.py builds what
they show). Without an address they listen on 127.0.0.1 only; both only read the node.

A scrape or a page poll asks the loop for a fresh snapshot (a wake-up, then a wake hook builds
it), so it sees current data and never walks the node's live tables (mgmt/metrics.py).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyn2n.cli.common import UsageError

if TYPE_CHECKING:
    from pyn2n.cli.runtime import Runtime
    from pyn2n.mgmt.edge_views import EdgeViews
    from pyn2n.mgmt.http import HttpListener
    from pyn2n.mgmt.supernode_views import SupernodeViews

DEFAULT_ADDR = "127.0.0.1"
Listen = tuple[str, int]


def add_observe_flags(add: Callable[..., Any]) -> None:
    """The two flags, on an argparse parser's `add_argument`."""
    add(
        "--metrics",
        metavar="[ADDR:]PORT",
        help="serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR default 127.0.0.1)",
    )
    add(
        "--http",
        metavar="[ADDR:]PORT",
        help="serve a read-only status page at http://ADDR:PORT/ (ADDR default 127.0.0.1)",
    )


def parse_listen(text: str | None, flag: str) -> Listen | None:
    """`PORT`, `ADDR:PORT` or `[IPV6]:PORT` to (addr, port); 127.0.0.1 without an address."""
    if text is None:
        return None
    addr, sep, port_text = text.rpartition(":")
    addr = addr.strip("[]") if sep else ""
    addr = addr or DEFAULT_ADDR
    try:
        port = int(port_text, 10)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise UsageError(
            f"{flag} {text!r}: give [ADDR:]PORT with a port from 1 to 65535, e.g. {flag} 9100"
        )
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r}: {addr!r} is not an IP address; give one of this host's, "
            f"e.g. {flag} 127.0.0.1:{port}"
        ) from None
    return addr, port


def attach_observers(
    runtime: Runtime,
    views: EdgeViews | SupernodeViews,
    *,
    metrics: Listen | None,
    http: Listen | None,
    tap: str | None = None,
) -> list[HttpListener]:
    """Bind the listeners asked for and serve them from the runtime's threads; [] if none.

    `tap`: an edge's TAP name, for the kernel's byte counters. A port that cannot be bound is a
    `UsageError` naming the flag.
    """
    if metrics is None and http is None:
        return []
    # imported here: prometheus_client is only loaded by nodes that serve it
    from pyn2n.mgmt.edge_views import EdgeViews
    from pyn2n.mgmt.http import HttpListener, Route, metrics_routes, status_routes
    from pyn2n.mgmt.metrics import edge_observer, make_registry, supernode_observer

    if isinstance(views, EdgeViews):
        observer = edge_observer(views, runtime.io_drops, tap)
    else:
        observer = supernode_observer(views, runtime.io_drops)
    observer.refresh(time.monotonic())  # the baseline; the loop does not run yet: safe here
    observer.wake = runtime.loop.wake
    runtime.add_wake_hook(observer.on_wake)
    runtime.add_event_hook(observer.on_event)
    wanted: dict[Listen, tuple[dict[str, Route], str]] = {}
    if metrics is not None:
        wanted[metrics] = (metrics_routes(make_registry(observer)), "--metrics")
    if http is not None:
        routes, flag = wanted.get(http, ({}, "--http"))
        wanted[http] = ({**routes, **status_routes(observer)}, flag)
    listeners: list[HttpListener] = []
    for addr, (routes, flag) in wanted.items():
        try:
            listener = HttpListener(addr, routes)
        except OSError as exc:
            for done in listeners:
                done.server.server_close()
            raise UsageError(
                f"{flag} {addr[0]}:{addr[1]}: cannot listen ({exc.strerror}); "
                f"pick another port or address with {flag}"
            ) from None
        listeners.append(listener)
        runtime.add_thread(listener)
    return listeners
