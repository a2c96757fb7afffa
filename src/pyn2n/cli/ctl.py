"""`pyn2n ctl` — n2n-ctl's job: ask a running edge or supernode over its management port
(spec §8). On a terminal the rows are a table that fits it; piped, tab-separated text; `--json`
for scripts. Times are ages or ISO times, missing values `-`; an error reply says what to do.

pyn2n ctl edges                 # table of the edge's peers
pyn2n ctl -t 5645 edges         # a supernode's edges
pyn2n ctl --json packetstats    # rows as JSON, for scripts
pyn2n ctl -w verbose 3          # writes send the management password (-k, default n2n)
pyn2n ctl -s peer               # follow peer events until Ctrl-C
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import Any

from pyn2n import constants as C
from pyn2n.cli.common import Parser, UsageError, did_you_mean, run_main


class CtlError(Exception):
    """No answer, or an error reply (`reply`: the node's error row)."""

    def __init__(self, text: str, reply: dict[str, Any] | None = None) -> None:
        super().__init__(text)
        self.reply = reply


CTL_RCVBUF = 8 << 20  # the kernel caps it at net.core.rmem_max


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
        # one datagram per row: a supernode's thousands of edges overflow the default buffer
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CTL_RCVBUF)
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
                    raise CtlError(f"{method}: {msg.get('error')}", msg)
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


# per method, the columns that matter most, in display order; the others follow and are the
# first to go when the terminal is narrow
IMPORTANT: dict[str, list[str]] = {
    "edges": ["desc", "community", "ip4addr", "mode", "sockaddr", "last_seen", "macaddr"],
    "peers": ["desc", "ip4addr", "path", "reason", "rtt_ms", "sockaddr", "fastpath"],
    "supernodes": ["sockaddr", "current", "selection", "last_seen", "macaddr", "version"],
    "drops": ["reason", "count", "meaning"],
    "communities": ["community", "ip4addr", "is_federation"],
}
# wall-clock seconds (0: never) shown as ages, or as an ISO time for start times
WALL_TIMES = {"last_seen", "last_p2p", "last_sent_query", "last_super", "last_fwd"}
WALL_TIMES |= {"last_reg_super"}
ISO_TIMES = {"start_time"}
MIN_WRAP = 12  # a wrapped column keeps at least this many characters per line


def age_text(seconds: float) -> str:
    """An age as people read it: "0.4 s ago", "12 s ago", "3 min ago", "2 h ago", "4 d ago"."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s ago"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def cell(column: str, value: Any, now: float) -> str:
    """One value as `ctl` shows it: `-` when missing, times as ages or ISO times."""
    if value is None or value == "":
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if column in WALL_TIMES or column in ISO_TIMES:
            if value <= 0:
                return "-"  # never
            if column in ISO_TIMES:
                return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
            return age_text(now - value)
        if column.endswith("_age"):
            return age_text(float(value))
        if column == "uptime":  # seconds the supernode has been up
            return age_text(float(value)).removesuffix(" ago") if value else "-"
    return str(value)


def columns_of(method: str, rows: list[dict[str, Any]]) -> list[str]:
    """Every column of the rows, the important ones for `method` first."""
    seen: list[str] = []
    for row in rows:
        seen += [k for k in row if k not in seen]
    first = [c for c in IMPORTANT.get(method, []) if c in seen]
    return first + [c for c in seen if c not in first]


def format_tsv(method: str, rows: list[dict[str, Any]], now: float) -> str:
    """Tab-separated, a header line first: for pipes (`--json` for scripts that parse)."""
    columns = columns_of(method, rows)
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(cell(c, row.get(c), now).replace("\t", " ") for c in columns))
    return "\n".join(lines)


def _widths(columns: list[str], cells: list[list[str]]) -> list[int]:
    return [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]


def _wrappable(columns: list[str], cells: list[list[str]]) -> list[int]:
    """Columns of words (reason, meaning, selection): they may wrap, addresses may not."""
    return [i for i in range(len(columns)) if any(" " in r[i] for r in cells)]


def _fit(columns: list[str], cells: list[list[str]], width: int) -> int:
    """How many columns (the most important first) fit `width`, if one column of words may
    wrap down to MIN_WRAP characters; at least two."""
    n = len(columns)
    while n > 2:
        widths = _widths(columns[:n], [r[:n] for r in cells])
        total = sum(widths) + 2 * (n - 1)
        wrap = _wrappable(columns[:n], [r[:n] for r in cells])
        slack = max((widths[i] - MIN_WRAP for i in wrap), default=0)
        if total - max(slack, 0) <= width:
            break
        n -= 1
    return n


def format_table(method: str, rows: list[dict[str, Any]], now: float, width: int) -> str:
    """A plain table that fits `width` columns: less important columns are left out (and named
    below the table), and a column of words wraps if the table still does not fit."""
    columns = columns_of(method, rows)
    cells = [[cell(c, row.get(c), now) for c in columns] for row in rows]
    n = _fit(columns, cells, width)
    shown, hidden, cells = columns[:n], columns[n:], [r[:n] for r in cells]
    widths = _widths(shown, cells)
    excess = sum(widths) + 2 * (n - 1) - width
    wrap_at = -1
    wrap = _wrappable(shown, cells)
    if excess > 0 and wrap:
        wrap_at = max(wrap, key=lambda i: widths[i])
        widths[wrap_at] = max(MIN_WRAP, widths[wrap_at] - excess)
    lines = ["  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        parts = [
            (textwrap.wrap(text, w, break_on_hyphens=False) or [""]) if i == wrap_at else [text]
            for i, (text, w) in enumerate(zip(r, widths, strict=True))
        ]
        for k in range(max(len(p) for p in parts)):
            line = [
                (p[k] if k < len(p) else "").ljust(w) for p, w in zip(parts, widths, strict=True)
            ]
            lines.append("  ".join(line).rstrip())
    if hidden:
        note = f"(not shown at {width} columns: {', '.join(hidden)}; --json shows all)"
        lines += textwrap.wrap(note, width)
    return "\n".join(lines)


def print_rows(method: str, rows: list[dict[str, Any]], *, as_json: bool = False) -> None:
    """--json: rows as JSON; a terminal: a table that fits it; a pipe: tab-separated text."""
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    now = time.time()
    if not sys.stdout.isatty():
        if rows:
            print(format_tsv(method, rows, now))
        return
    if not rows:
        print(f"{method}: no rows")
        return
    print(format_table(method, rows, now, shutil.get_terminal_size().columns))


ERROR_HINTS = {
    "badauth": "wrong management password: give the node's --management-password with -k",
    "readonly": "a read-only method: leave out -w",
    "noaccess": "refused: this node does not show it (header encryption, -H)",
    "unknowntopic": "no such topic: subscribe to peer, debug or test",
}


def explain(error: dict[str, Any], method: str, port: int, host: str, timeout: float) -> str:
    """An error reply as a sentence with the fix; for a method the node lacks, its methods."""
    word = str(error.get("error"))
    if error.get("message"):
        return f"{method} failed: {error['message']}"
    if word in ("unknowncmd", "unimplemented"):
        try:
            names = [str(r["cmd"]) for r in request("help", port=port, host=host, timeout=timeout)]
        except CtlError:
            names = []
        role = "edge" if "info" in names else "supernode" if names else "node"
        has = f"; it has: {', '.join(names)}" if names else ""
        close = did_you_mean(method, names).removeprefix("; ")
        hint = f" ({close})" if close else ""
        return f"the {role} on port {port} has no method {method!r}{hint}{has}"
    return f"{method}: {ERROR_HINTS.get(word, word)}"


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
    p.add_argument(
        "--json",
        action="store_true",
        help="print rows as JSON (otherwise a table on a terminal, tab-separated text in a pipe)",
    )
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer")
    p.add_argument(
        "method",
        help="edges, supernodes, peers, info (edge), packetstats, timestamps, communities, "
        "drops, verbose, stop, reload_communities (supernode), help: the node's list",
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
        text = str(exc)
        if exc.reply is not None:
            text = explain(exc.reply, ns.method, ns.port, "127.0.0.1", ns.timeout)
        print(f"error: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    print_rows(ns.method, rows, as_json=ns.json)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["CtlError", "UsageError", "main", "request"]
