"""The management protocol engine (spec §8), against a small stand-in node."""

from __future__ import annotations

import json
from typing import Any

from pyn2n.core.api import MgmtError
from pyn2n.core.drops import IO_DROPS
from pyn2n.core.events import PeerAction, PeerEvent
from pyn2n.mgmt.protocol import Control, Management

ASKER = ("127.0.0.1", 40000)
OTHER = ("127.0.0.1", 40001)


class Node:
    def __init__(self) -> None:
        self.header_encrypted = False

    def mgmt_communities(self, now: float) -> list[dict[str, Any]]:
        if self.header_encrypted:
            raise MgmtError("noaccess")
        return [{"community": "test"}]

    def mgmt_edges(self, now: float) -> list[dict[str, Any]]:
        return [{"mode": "p2p", "macaddr": "02:00:00:00:00:01"}, {"mode": "pSp", "macaddr": ""}]

    def mgmt_drops(self, now: float) -> list[dict[str, Any]]:
        return [{"reason": "he_no_key", "count": 2}]

    def status_text(self, now: float) -> str:
        return f"COMMUNITY 'test' at {now}\n"


def rows(replies: list[tuple[bytes, tuple[str, int]]]) -> list[dict[str, Any]]:
    out = []
    for data, addr in replies:
        assert addr == ASKER
        assert data.endswith(b"\n") and data.count(b"\n") == 1  # one object per datagram
        out.append(json.loads(data))
    return out


def engine(role: str = "edge") -> Management:
    return Management(Node(), role=role, password="n2n")


def test_read_is_framed_begin_rows_end() -> None:
    got = rows(engine().handle(b"r 7 edges", ASKER, 1.0))
    assert [r["_type"] for r in got] == ["begin", "row", "row", "end"]
    assert all(r["_tag"] == "7" for r in got)
    assert got[0]["cmd"] == got[-1]["cmd"] == "edges"
    assert got[1]["mode"] == "p2p" and got[2]["mode"] == "pSp"


def test_stop_and_verbose_like_n2n_integration_script() -> None:
    m = engine()
    assert rows(m.handle(b"r 1 verbose", ASKER, 0))[1] == {
        "_tag": "1",
        "_type": "row",
        "traceLevel": 2,
    }
    assert rows(m.handle(b"w 2:1:n2n verbose 1", ASKER, 0))[1]["traceLevel"] == 1
    assert rows(m.handle(b"r 3 stop", ASKER, 0))[1]["keep_running"] == 1
    assert m.control.keep_running
    assert rows(m.handle(b"w 4:1:n2n stop", ASKER, 0))[1]["keep_running"] == 0
    assert not m.control.keep_running


def test_writes_need_the_password() -> None:
    m = engine()
    assert rows(m.handle(b"w 5 stop", ASKER, 0)) == [
        {"_tag": "5", "_type": "error", "error": "badauth"}
    ]
    assert rows(m.handle(b"w 5:1:wrong stop", ASKER, 0))[0]["error"] == "badauth"
    assert rows(m.handle(b"r 5:1:wrong edges", ASKER, 0))[0]["error"] == "badauth"
    assert m.control.keep_running


def test_errors() -> None:
    m = engine()
    assert rows(m.handle(b"x 1 edges", ASKER, 0))[0] == {
        "_tag": "-1",
        "_type": "error",
        "error": "badtype",
    }
    assert rows(m.handle(b"r ", ASKER, 0))[0]["error"] == "nooptions"
    assert rows(m.handle(b"r 9", ASKER, 0))[0]["error"] == "nocmd"
    assert rows(m.handle(b"r 9 nosuch", ASKER, 0))[0]["error"] == "unknowncmd"
    assert rows(m.handle(b"w 9:1:n2n edges", ASKER, 0))[0]["error"] == "readonly"
    assert rows(m.handle(b"r 9 reload_communities", ASKER, 0))[0]["error"] == "unimplemented"
    m.views.header_encrypted = True
    assert rows(m.handle(b"r 9 communities", ASKER, 0))[0]["error"] == "noaccess"


def test_tag_cannot_break_json() -> None:
    got = rows(engine().handle(b'r a"\\bcdefghijkl edges', ASKER, 0))
    assert got[0]["_tag"] == "abcdefghi"


def test_subscription_replacement_and_events() -> None:
    m = engine()
    assert rows(m.handle(b"s 1 peer", ASKER, 0))[0]["error"] == "badauth"  # as n2n
    first = m.handle(b"s 1:1:n2n peer", ASKER, 0)
    assert [json.loads(d)["_type"] for d, _ in first] == ["subscribe"]
    second = m.handle(b"s 2:1:n2n peer", OTHER, 0)
    kinds = {(json.loads(d)["_type"], a) for d, a in second}
    assert kinds == {("unsubscribed", ASKER), ("replacing", OTHER), ("subscribe", OTHER)}
    out = m.post(PeerEvent(PeerAction.ADD_P2P, "02:00:00:00:00:02", "198.18.1.2:1"))
    assert len(out) == 1 and out[0][1] == OTHER
    assert json.loads(out[0][0]) == {
        "_tag": "2",
        "_type": "event",
        "action": 4,
        "macaddr": "02:00:00:00:00:02",
        "sockaddr": "198.18.1.2:1",
    }
    assert rows(m.handle(b"s 3:1:n2n nosuch", ASKER, 0))[0]["error"] == "unknowntopic"


def test_debug_topic_sees_everything_and_post_test() -> None:
    m = engine()
    m.handle(b"s d:1:n2n debug", OTHER, 0)
    out = m.handle(b"r 8 post.test hello", ASKER, 0)
    to_other = [json.loads(d) for d, a in out if a == OTHER]
    assert to_other == [{"_tag": "d", "_type": "event", "test": "hello"}]


def test_text_console() -> None:
    m = engine()
    assert b"Help for edge" in m.handle(b"help", ASKER, 0)[0][0]
    assert m.handle(b"\n", ASKER, 5.0)[0][0] == b"COMMUNITY 'test' at 5.0\n"
    assert m.handle(b"+verb n2n", ASKER, 0)[0][0] == b"> +OK traceLevel=3\n"
    assert m.handle(b"-verb n2n", ASKER, 0)[0][0] == b"> -OK traceLevel=2\n"
    m.control.trace_level = 0
    assert m.handle(b"-verb n2n", ASKER, 0)[0][0] == b"> -NOK traceLevel=0\n"
    assert b"refused" in m.handle(b"stop", ASKER, 0)[0][0]
    assert m.control.keep_running
    m.handle(b"stop n2n", ASKER, 0)
    assert not m.control.keep_running


def test_supernode_reload_needs_write_and_password() -> None:
    reloaded: list[int] = []
    m = Management(Node(), role="supernode", control=Control(on_reload=lambda: reloaded.append(1)))
    assert rows(m.handle(b"r 1 reload_communities", ASKER, 0))[0]["_type"] == "begin"
    assert reloaded == []
    m.handle(b"w 1:1:n2n reload_communities", ASKER, 0)
    assert reloaded == [1]
    assert b"refused" in m.handle(b"reload_communities", ASKER, 0)[0][0]
    assert m.handle(b"reload_communities n2n", ASKER, 0)[0][0] == b"OK.\n"
    assert reloaded == [1, 1]


def test_drops_add_the_drivers_counts_that_are_not_zero() -> None:
    io = {"udp_recv_error": 3, "tap_write_failed": 0}
    m = Management(Node(), role="edge", io_drops=lambda: io)
    drops = rows(m.handle(b"r 4 drops", ASKER, 0))[1:-1]
    got = [(r["reason"], r["count"]) for r in drops]
    assert got == [("he_no_key", 2), ("udp_recv_error", 3)]
    # each row says what it means (he_no_key is no edge reason: an empty meaning, not a crash)
    assert [r["meaning"] for r in drops] == ["", IO_DROPS["udp_recv_error"]]


def test_failed_reload_is_an_error_reply() -> None:
    """A bad community file is reported to the asker, not only logged."""
    from pyn2n.mgmt.protocol import CommandFailed

    def bad() -> None:
        raise CommandFailed("badfile", "-c c.list:3: bad line; the old communities stay")

    m = Management(Node(), role="supernode", control=Control(on_reload=bad))
    got = rows(m.handle(b"w 7:1:n2n reload_communities", ASKER, 0))
    assert got == [
        {
            "_tag": "7",
            "_type": "error",
            "error": "badfile",
            "message": "-c c.list:3: bad line; the old communities stay",
        }
    ]
    assert m.handle(b"reload_communities n2n", ASKER, 0)[0][0].startswith(b"> reload failed (")
    ok = Management(Node(), role="supernode", control=Control(on_reload=lambda: None))
    assert rows(ok.handle(b"w 8:1:n2n reload_communities", ASKER, 0))[1] == {
        "_tag": "8",
        "_type": "row",
        "reloaded": 1,
    }


def test_text_verbosity_needs_the_password() -> None:
    seen: list[int] = []
    m = engine()
    m.control.on_verbose = seen.append
    for text in (b"+verb", b"-verb", b"+verb wrong", b"-verbx", b"+verb\n", b"-verb  x n2n"):
        reply = m.handle(text, ASKER, 0)[0][0]
        assert b"refused" in reply and b"management password" in reply, text
    assert m.control.trace_level == 2 and seen == []
    assert m.handle(b"+verb n2n\n", ASKER, 0)[0][0] == b"> +OK traceLevel=3\n"
    assert seen == [3]


def test_open_verbosity_keeps_n2ns_behaviour() -> None:
    m = engine()
    m.open_verbosity = True
    assert m.handle(b"+verb", ASKER, 0)[0][0] == b"> +OK traceLevel=3\n"
    assert m.handle(b"-verb", ASKER, 0)[0][0] == b"> -OK traceLevel=2\n"
    assert b"refused" in m.handle(b"stop", ASKER, 0)[0][0]  # stop still needs it
    assert m.control.keep_running
