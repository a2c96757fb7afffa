"""`pyn2n ctl` output fits 80 columns, is tab-separated when piped,
shows ages and `-`, and explains error replies (a failed reload, a method the node lacks)."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest

from pyn2n.cli import ctl
from pyn2n.cli.ctl import age_text, cell, format_table, format_tsv
from pyn2n.mgmt.protocol import CommandFailed, Control, Management

NOW = 1_800_000_000.0
EDGES = [
    {
        "mode": "p2p",
        "ip4addr": "198.19.0.2/24",
        "purgeable": 1,
        "local": 0,
        "macaddr": "FE:12:34:56:78:9A",
        "sockaddr": "198.18.2.2:43512",
        "desc": "knuth-laptop",
        "last_p2p": int(NOW - 3),
        "last_sent_query": 0,
        "last_seen": int(NOW - 12),
    },
    {
        "mode": "pSp",
        "ip4addr": "",
        "purgeable": 1,
        "local": 0,
        "macaddr": "FE:12:34:56:78:9B",
        "sockaddr": "198.18.3.2:43512",
        "desc": "dijkstra",
        "last_p2p": 0,
        "last_sent_query": int(NOW - 200),
        "last_seen": int(NOW - 4000),
    },
]
DROPS = [
    {
        "reason": "fast_glare",
        "count": 3,
        "meaning": "both edges began a fast-path negotiation at once; one yields (benign)",
    }
]


def test_ages_dashes_and_iso_times() -> None:
    assert age_text(0.42) == "0.4 s ago" and age_text(12.7) == "12 s ago"
    assert age_text(200) == "3 min ago" and age_text(7300) == "2 h ago"
    assert cell("last_seen", int(NOW - 12), NOW) == "12 s ago"
    assert cell("last_p2p", 0, NOW) == "-"  # never
    assert cell("ip4addr", "", NOW) == "-" and cell("rtt_ms", None, NOW) == "-"
    assert cell("last_seen_age", 1.25, NOW) == "1.2 s ago"
    assert cell("start_time", NOW, NOW).startswith(("2027-01-15", "2027-01-14"))
    assert cell("count", 0, NOW) == "0"
    assert cell("uptime", 7300, NOW) == "2 h" and cell("uptime", 0, NOW) == "-"


def test_table_fits_80_columns_without_ellipsis() -> None:
    for method, rows in (("edges", EDGES), ("drops", DROPS)):
        text = format_table(method, rows, NOW, 80)
        assert all(len(line) <= 80 for line in text.splitlines()), text
        assert "…" not in text
    text = format_table("edges", EDGES, NOW, 80)
    header = text.splitlines()[0].split()
    assert header[:4] == ["desc", "ip4addr", "mode", "sockaddr"]
    assert "knuth-laptop" in text and "12 s ago" in text and "1 h ago" in text
    assert "not shown at 80 columns" in text and "purgeable" in text
    wide = format_table("edges", EDGES, NOW, 200)
    assert "not shown" not in wide and "FE:12:34:56:78:9A" in wide
    drops = format_table("drops", DROPS, NOW, 80)
    assert "one yields (benign)" in " ".join(drops.split())  # wrapped, nothing cut


def test_tsv_when_piped() -> None:
    lines = format_tsv("edges", EDGES, NOW).splitlines()
    assert lines[0].split("\t")[:3] == ["desc", "ip4addr", "mode"]
    assert lines[2].split("\t")[:2] == ["dijkstra", "-"]
    assert all(len(line.split("\t")) == 10 for line in lines)
    out = io.StringIO()
    with redirect_stdout(out):  # a StringIO is not a terminal
        ctl.print_rows("edges", EDGES)
    assert out.getvalue().count("\t") == 27 and "─" not in out.getvalue()


class _Server(threading.Thread):
    """A management port on 127.0.0.1 answered by the engine (supernode role)."""

    def __init__(self, management: Management) -> None:
        super().__init__(daemon=True)
        self.m = management
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            for reply, to in self.m.handle(data, addr, 0.0):
                self.sock.sendto(reply, to)


class _Views:
    def mgmt_edges(self, now: float) -> list[dict[str, Any]]:
        return []

    def status_text(self, now: float) -> str:
        return ""


def _bad_file() -> None:
    raise CommandFailed("badfile", "-c /etc/n2n/c.list:2: bad regex; the old communities stay")


@pytest.fixture
def supernode_port() -> Iterator[int]:
    server = _Server(Management(_Views(), role="supernode", control=Control(on_reload=_bad_file)))
    server.start()
    yield server.port
    server.done.set()
    server.join()
    server.sock.close()


def run_ctl(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ctl.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_failed_reload_exits_non_zero(supernode_port: int) -> None:
    code, out, err = run_ctl("-t", str(supernode_port), "-w", "reload_communities")
    assert code == 1 and out == ""
    assert err.strip() == (
        "error: reload_communities failed: -c /etc/n2n/c.list:2: bad regex; "
        "the old communities stay"
    )


def test_info_on_a_supernode_lists_its_methods(supernode_port: int) -> None:
    code, _, err = run_ctl("-t", str(supernode_port), "info")
    assert code == 1
    assert err.startswith(f"error: the supernode on port {supernode_port} has no method 'info'")
    assert "reload_communities" in err and "edges" in err


def test_mistyped_method_gets_a_suggestion(supernode_port: int) -> None:
    code, _, err = run_ctl("-t", str(supernode_port), "edgs")
    assert code == 1
    assert f"on port {supernode_port} has no method 'edgs' (did you mean edges?); it has:" in err
