"""n2n's management protocol, sans-IO (spec §8): legacy text commands and the JSON API.

A request is one UDP datagram. JSON requests are one line, at most 80 bytes:

    <type> <tag>[:<hexflags>[:<password>]] <method> [args]

type `r` read, `w` write, `s` subscribe; flag bit 0 (value 1) says a password follows. Every reply is
a JSON object plus "\\n" in its own datagram: `{"_tag":T,"_type":"begin","cmd":M}`, rows
`{"_tag":T,"_type":"row",...}`, then `{"_tag":T,"_type":"end","cmd":M}`; errors
`{"_tag":T,"_type":"error","error":"badauth|badtype|nooptions|nocmd|unknowncmd|readonly|unimplemented|noaccess|unknowntopic"}`
with tag "-1" until the tag is parsed. pyn2n adds `"message"` where a word cannot say it all: a
failed `reload_communities` answers `"error":"badfile"` with the file's mistake. Subscriptions (`s <tag> <topic>`, topics debug/test/peer)
get `"_type":"subscribe"`; a replaced subscriber gets `"unsubscribed"` and the new one `"replacing"`.

The node's views (mgmt/, or the core itself) answer read methods through
`mgmt_<method>(now) -> list[dict]` and the text console through `status_text(now)`; a method they
do not have is `unimplemented`. A view may raise `MgmtError("noaccess")` to refuse. The drivers'
own drop counts (`core/drops.py` `IO_DROPS`) join the node's in `drops`, each with its meaning.

Differences from n2n: the text `stop`, `+verb` and `-verb` need the management password
(`stop <password>`, `+verb <password>`), as JSON writes do, because anyone on the host could
otherwise stop an edge or silence its warnings (`open_verbosity` keeps n2n's password-less
`+verb`/`-verb`: the edge's `--management-open-verbosity`); the supernode gets JSON
only for lines shaped like JSON (n2n takes any datagram whose second byte is a space); the
supernode implements `supernodes`; both add `peers` (edge) and `drops` (both) read methods.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyn2n.core.api import Addr, MgmtError
from pyn2n.core.drops import meanings
from pyn2n.core.events import Event, TestEvent
from pyn2n.crypto.pearson import pearson_hash_64

MAX_REQUEST = 80
TAG_MAX = 9  # n2n keeps char tag[10]

EDGE_HELP = (
    "Help for edge management console:\n"
    "\tstop <pw> | Gracefully exit edge (needs the management password)\n"
    "\thelp      | This help message\n"
    "\t+verb <pw> | Increase verbosity of logging (needs the management password)\n"
    "\t-verb <pw> | Decrease verbosity of logging (needs the management password)\n"
    "\tr ...     | start query with JSON reply\n"
    "\tw ...     | start update with JSON reply\n"
    "\ts ...     | subscribe to event channel JSON reply\n"
    "\t<enter>   | Display statistics\n\n"
)
SUPERNODE_HELP = (
    "Help for supernode management console:\n"
    "\thelp               | This help message\n"
    "\treload_communities | Reloads communities and user's public keys (needs `w` and the password)\n"
    "\tr ...              | start query with JSON reply\n"
    "\tw ...              | start update with JSON reply\n"
    "\t<enter>            | Display statistics\n\n"
)

# (method, writable, help)
_COMMON_METHODS: list[tuple[str, bool, str]] = [
    ("stop", True, "Gracefully exit"),
    ("verbose", True, "Manage verbosity level"),
    ("communities", False, "Show current communities"),
    ("edges", False, "List current edges/peers"),
    ("supernodes", False, "List current supernodes"),
    ("timestamps", False, "Event timestamps"),
    ("packetstats", False, "traffic counters"),
    ("drops", False, "Dropped datagrams by reason (pyn2n)"),
    ("help", True, "Show JSON commands"),
]
EDGE_METHODS: list[tuple[str, bool, str]] = [
    ("reload_communities", True, "Reserved for supernode"),
    *_COMMON_METHODS,
    ("info", False, "Local edge information"),
    ("peers", False, "Per peer: direct or relayed, and why (pyn2n)"),
    ("post.test", False, "send a test event"),
    ("help.events", False, "Show available Subscribe topics"),
]
SUPERNODE_METHODS: list[tuple[str, bool, str]] = [
    ("reload_communities", True, "Reloads communities and user's public keys"),
    *_COMMON_METHODS,
]
TOPICS: dict[str, str] = {
    "debug": "All events - for event debugging",
    "test": "Used only by post.test",
    "peer": "Changes to peer list",
}


class CommandFailed(MgmtError):
    """A write that could not be done: an error reply with the word and a message."""

    def __init__(self, word: str, message: str) -> None:
        super().__init__(word)
        self.word = word
        self.message = message


@dataclass
class Control:
    """What management writes act on, owned by the runtime."""

    keep_running: bool = True
    trace_level: int = 2
    on_stop: Callable[[], None] | None = None
    on_verbose: Callable[[int], None] | None = None
    # supernode: re-read the community file; raises CommandFailed("badfile", why) if it is bad
    on_reload: Callable[[], None] | None = None


@dataclass
class _Subscriber:
    tag: str
    addr: Addr


@dataclass
class Management:
    """The management engine for one node. `handle()` answers a datagram; `post()` an event."""

    views: Any  # the node's management views: `mgmt_<method>(now)` and `status_text(now)`
    role: str  # "edge" | "supernode"
    password: str = "n2n"
    control: Control = field(default_factory=Control)
    subscribers: dict[str, _Subscriber] = field(default_factory=dict)
    io_drops: Callable[[], dict[str, int]] | None = None  # the drivers' counts (IO_DROPS)
    open_verbosity: bool = False  # n2n's behaviour: text +verb/-verb without the password

    def __post_init__(self) -> None:
        self._password_hash = pearson_hash_64(self.password.encode())
        table = EDGE_METHODS if self.role == "edge" else SUPERNODE_METHODS
        self._methods = {name: (writable, help_) for name, writable, help_ in table}
        self._builtins: dict[str, Callable[[bool, str | None], list[dict[str, Any]]]] = {
            "stop": self._m_stop,
            "verbose": self._m_verbose,
            "help": self._m_help,
            "help.events": self._m_help_events,
            "post.test": self._m_post_test,
            "reload_communities": self._m_reload_communities,
        }

    # -- entry points -------------------------------------------------------------------------

    def handle(self, data: bytes, addr: Addr, now: float) -> list[tuple[bytes, Addr]]:
        text = data.decode("utf-8", "replace")
        if len(text) >= 2 and "a" <= text[0] <= "z" and text[1] == " ":
            return self._json(text[:MAX_REQUEST], addr, now)
        return [(r, addr) for r in self._text(text, now)]

    def post(self, event: Event) -> list[tuple[bytes, Addr]]:
        """Replies for the subscribers of an event's topic (and of `debug`)."""
        targets = [s for t in (event.kind, "debug") if (s := self.subscribers.get(t))]
        if not targets:
            return []
        out = []
        for sub in targets:
            row = {"_tag": sub.tag, "_type": "event", **event.data()}
            out.append((_dump(row), sub.addr))
        return out

    # -- legacy text console ------------------------------------------------------------------

    def _text(self, text: str, now: float) -> list[bytes]:
        word = text.strip()
        if word.startswith("help") or word.startswith("?"):
            return [(EDGE_HELP if self.role == "edge" else SUPERNODE_HELP).encode()]
        if self.role == "edge":
            if word.startswith("stop"):
                given = word[4:].strip()
                if not self._auth_ok(given):
                    return [b"> stop refused: send `stop <management password>`\n"]
                self._stop()
                return [b"> OK stopping\n"]
            if word.startswith(("+verb", "-verb")):
                return [self._text_verb(word)]
        elif word.startswith("reload_communities"):
            # a write: like the JSON API, it needs the password
            if not self._auth_ok(word[len("reload_communities") :].strip()):
                return [b"> reload refused: send `reload_communities <management password>`\n"]
            return [self._reload()]
        return [self.views.status_text(now).encode()]

    def _text_verb(self, word: str) -> bytes:
        """`+verb <password>` / `-verb <password>`: a write, so it needs the password."""
        if not self.open_verbosity and not self._auth_ok(word[5:].strip()):
            return f"> {word[0]}verb refused: send `{word[0]}verb <management password>`\n".encode()
        if word[0] == "+":
            self._set_verbose(self.control.trace_level + 1)
            return f"> +OK traceLevel={self.control.trace_level}\n".encode()
        if self.control.trace_level > 0:
            self._set_verbose(self.control.trace_level - 1)
            return f"> -OK traceLevel={self.control.trace_level}\n".encode()
        return f"> -NOK traceLevel={self.control.trace_level}\n".encode()

    # -- JSON API -------------------------------------------------------------------------------

    def _json(self, line: str, addr: Addr, now: float) -> list[tuple[bytes, Addr]]:
        """Replies to the asker, plus notices to others (a replaced subscriber, test events)."""
        parts = line.strip("\r\n").split(None, 3)
        tag = "-1"
        kind = parts[0]
        if kind not in ("r", "w", "s"):
            return [(_error(tag, "badtype"), addr)]
        if len(parts) < 2:
            return [(_error(tag, "nooptions"), addr)]
        if len(parts) < 3:
            return [(_error(tag, "nocmd"), addr)]
        options, method = parts[1], parts[2]
        argv = parts[3].strip() if len(parts) > 3 else None
        opt = options.split(":")
        tag = _clean_tag(opt[0])
        flags = _hex(opt[1]) if len(opt) > 1 else 0
        given = opt[2] if (flags & 1) and len(opt) > 2 else None
        if given is not None:
            if not self._auth_ok(given):
                return [(_error(tag, "badauth"), addr)]
        elif kind != "r":
            return [(_error(tag, "badauth"), addr)]

        if kind == "s":
            return self._subscribe(tag, method, addr)
        if method not in self._methods:
            return [(_error(tag, "unknowncmd"), addr)]
        writable = self._methods[method][0]
        if kind == "w" and not writable:
            return [(_error(tag, "readonly"), addr)]
        try:
            rows = self._call(method, kind == "w", argv, now)
        except MgmtError as exc:  # CommandFailed carries a message too
            return [(_error(tag, str(exc), getattr(exc, "message", None)), addr)]
        out = [_dump({"_tag": tag, "_type": "begin", "cmd": method})]
        out += [_dump({"_tag": tag, "_type": "row", **row}) for row in rows]
        out.append(_dump({"_tag": tag, "_type": "end", "cmd": method}))
        replies = [(r, addr) for r in out]
        if method == "post.test":
            replies += self.post(TestEvent(argv or ""))
        return replies

    def _call(self, method: str, write: bool, argv: str | None, now: float) -> list[dict[str, Any]]:
        """A method the engine answers itself, else the views' `mgmt_<method>`."""
        builtin = self._builtins.get(method)
        if builtin is not None:
            return builtin(write, argv)
        fn = getattr(self.views, "mgmt_" + method.replace(".", "_"), None)
        if fn is None:
            raise MgmtError("unimplemented")
        out: list[dict[str, Any]] = list(fn(now))
        if method == "drops":
            if self.io_drops is not None:
                out += [{"reason": r, "count": n} for r, n in sorted(self.io_drops().items()) if n]
            known = meanings(self.role)
            for row in out:
                row["meaning"] = known.get(row["reason"], "")
                row["benign"] = row["meaning"].startswith("normal")  # not a problem
        return out

    # -- the methods the engine answers itself: (write?, argv) -> rows --------------------------

    def _m_stop(self, write: bool, argv: str | None) -> list[dict[str, Any]]:
        if write:
            self._stop()
        return [{"keep_running": int(self.control.keep_running)}]

    def _m_verbose(self, write: bool, argv: str | None) -> list[dict[str, Any]]:
        if write and argv:
            # n2n's strtoul would read garbage as 0; we keep the level instead
            with contextlib.suppress(ValueError):
                self._set_verbose(int(argv.split()[0], 0))
        return [{"traceLevel": self.control.trace_level}]

    def _m_help(self, write: bool, argv: str | None) -> list[dict[str, Any]]:
        return [{"cmd": name, "help": help_} for name, (_, help_) in self._methods.items()]

    def _m_help_events(self, write: bool, argv: str | None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for topic, help_ in TOPICS.items():
            sub = self.subscribers.get(topic)
            sockaddr = f"{sub.addr[0]}:{sub.addr[1]}" if sub else "?:?"
            rows.append(
                {"topic": topic, "tag": sub.tag if sub else "", "sockaddr": sockaddr, "help": help_}
            )
        return rows

    def _m_post_test(self, write: bool, argv: str | None) -> list[dict[str, Any]]:
        return [{"sending": "test"}]  # the event itself follows the reply (`_json`)

    def _m_reload_communities(self, write: bool, argv: str | None) -> list[dict[str, Any]]:
        if self.role != "supernode" or self.control.on_reload is None:
            raise MgmtError("unimplemented")
        if not write:
            return []
        self.control.on_reload()
        return [{"reloaded": 1}]

    def _subscribe(self, tag: str, topic: str, addr: Addr) -> list[tuple[bytes, Addr]]:
        if topic not in TOPICS:
            return [(_error(tag, "unknowntopic"), addr)]
        out: list[tuple[bytes, Addr]] = []
        old = self.subscribers.get(topic)
        if old is not None:
            out.append(
                (_dump({"_tag": old.tag, "_type": "unsubscribed", "topic": topic}), old.addr)
            )
            out.append((_dump({"_tag": tag, "_type": "replacing", "topic": topic}), addr))
        self.subscribers[topic] = _Subscriber(tag, addr)
        out.append((_dump({"_tag": tag, "_type": "subscribe", "topic": topic}), addr))
        return out

    # -- helpers --------------------------------------------------------------------------------

    def _auth_ok(self, given: str) -> bool:
        return pearson_hash_64(given.encode()) == self._password_hash

    def _stop(self) -> None:
        self.control.keep_running = False
        if self.control.on_stop:
            self.control.on_stop()

    def _set_verbose(self, level: int) -> None:
        self.control.trace_level = max(0, level)
        if self.control.on_verbose:
            self.control.on_verbose(self.control.trace_level)

    def _reload(self) -> bytes:
        if self.control.on_reload is None:
            return b"> no community file to reload\n"
        try:
            self.control.on_reload()
        except CommandFailed as exc:
            return f"> reload failed ({exc.message})\n".encode()
        return b"OK.\n"


def _dump(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def _error(tag: str, word: str, message: str | None = None) -> bytes:
    row = {"_tag": tag, "_type": "error", "error": word}
    if message is not None:
        row["message"] = message
    return _dump(row)


def _hex(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        return 0


def _clean_tag(tag: str) -> str:
    # n2n copies the tag verbatim into JSON; we keep it JSON-safe and as short as n2n's buffer
    return "".join(ch for ch in tag if ch.isprintable() and ch not in '"\\')[:TAG_MAX]
