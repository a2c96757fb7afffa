"""`pyn2n ctl` — n2n-ctl's job: ask a running edge or supernode over its management port (§8).

pyn2n ctl edges                 # table of the edge's peers
pyn2n ctl -t 5645 edges         # a supernode's edges
pyn2n ctl --json packetstats    # rows as JSON, for scripts
pyn2n ctl -w verbose 3          # writes send the management password (-k, default n2n)
pyn2n ctl -s peer               # follow peer events until Ctrl-C
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from pyn2n import constants as C
from pyn2n.cli.common import Parser, UsageError, run_main


class CtlError(Exception):
    pass


def request(
    method: str,
    args: str = "",
    *,
    port: int = C.N2N_EDGE_MGMT_PORT,
    host: str = "127.0.0.1",
    write: bool = False,
    password: str | None = None,
    timeout: float = 2.0,
) -> list[dict[str, Any]]:
    """Send one JSON-API request and return its rows; raises CtlError on an error reply."""
    tag = secrets.token_hex(3)
    options = f"{tag}:1:{password}" if password is not None else tag
    line = f"{'w' if write else 'r'} {options} {method} {args}".strip()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(line.encode(), (host, port))
        rows: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = sock.recvfrom(65536)
            except TimeoutError:
                raise CtlError(
                    f"no answer from {host}:{port} — is an edge/supernode running there "
                    "(and in this network namespace)? `-t PORT` picks another port"
                ) from None
            for text in data.decode(errors="replace").splitlines():
                if not text.strip():
                    continue
                msg = json.loads(text)
                if msg.get("_tag") != tag:
                    continue
                kind = msg.get("_type")
                if kind == "error":
                    raise CtlError(f"{method}: {msg.get('error')}")
                if kind == "row":
                    rows.append({k: v for k, v in msg.items() if not k.startswith("_")})
                elif kind == "end":
                    return rows


def subscribe(topic: str, *, port: int, password: str, host: str = "127.0.0.1") -> None:
    tag = secrets.token_hex(3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(f"s {tag}:1:{password} {topic}".encode(), (host, port))
        while True:
            data, _ = sock.recvfrom(65536)
            for text in data.decode(errors="replace").splitlines():
                msg = json.loads(text)
                if msg.get("_type") == "error":
                    raise CtlError(f"subscribe {topic}: {msg.get('error')}")
                if msg.get("_type") == "unsubscribed":
                    return
                print(json.dumps(msg), flush=True)


def print_table(method: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        print(f"{method}: no rows")
        return
    table = Table(title=method)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row.get(col, "")) for col in columns))
    Console().print(table)


def main(argv: Sequence[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    p = Parser(
        prog="pyn2n ctl",
        description="Ask a running edge or supernode over its management port, as n2n-ctl does.",
    )
    p.add_argument(
        "-t",
        dest="port",
        type=int,
        default=C.N2N_EDGE_MGMT_PORT,
        help=f"management port (edge {C.N2N_EDGE_MGMT_PORT}, supernode {C.N2N_SN_MGMT_PORT})",
    )
    p.add_argument(
        "-k",
        "--password",
        default=C.DEFAULT_MGMT_PASSWORD,
        help="management password for writes and subscriptions",
    )
    p.add_argument("-w", "--write", action="store_true", help="send a write request")
    p.add_argument("-s", "--subscribe", action="store_true", help="follow a topic's events")
    p.add_argument("--json", action="store_true", help="print rows as JSON")
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument(
        "method",
        help="edges, supernodes, peers, info, packetstats, timestamps, "
        "communities, drops, verbose, stop, help …",
    )
    p.add_argument("args", nargs="*")
    ns = p.parse_args(argv)
    try:
        if ns.subscribe:
            subscribe(ns.method, port=ns.port, password=ns.password)
            return 0
        rows = request(
            ns.method,
            " ".join(ns.args),
            port=ns.port,
            write=ns.write,
            password=ns.password if ns.write else None,
            timeout=ns.timeout,
        )
    except CtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    if ns.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(ns.method, rows)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["CtlError", "UsageError", "main", "request"]
