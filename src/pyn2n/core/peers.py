"""The edge's peer tables (spec §7.4; n2n `pending_peers` / `known_peers`).

*Pending* peers are edges we have heard of (a relayed PACKET or REGISTER, a frame we want to send
them, a PEER_INFO) but that have not answered a REGISTER with a REGISTER_ACK yet: traffic to them
goes via the supernode. *Known* peers answered: traffic goes straight to their socket while direct
traffic from them is fresh (10 s). Both tables are keyed by the 6 MAC bytes and bounded; the
known table also has a socket index so the "same socket, new MAC" rules of n2n stay O(1).
"""

from __future__ import annotations

from pyn2n.core.api import Addr

__all__ = ["KEYS_DIFFER", "NO_SOCK", "Peer", "PeerTable"]

NO_SOCK: Addr = ("0.0.0.0", 0)
# a peer's `trouble` when its packets (standard or fast path) do not open with our key
KEYS_DIFFER = "keys differ: its packets do not decrypt with our key (check -k and -A)"


class Peer:
    """One remote edge (n2n `struct peer_info`). Plain slots: it is touched per data frame."""

    __slots__ = (
        "desc",
        "dev_addr",
        "last_cookie",
        "last_p2p",
        "last_seen",
        "last_sent_query",
        "local",
        "mac",
        "preferred_sock",
        "purgeable",
        "reg_sent",
        "rtt",
        "sock",
        "stamp",
        "trouble",
    )

    def __init__(self, mac: bytes, sock: Addr, now: float) -> None:
        self.mac = mac
        self.sock = sock  # public socket (as the supernode or our own socket saw it)
        self.preferred_sock: Addr | None = None  # the peer's `-e` socket from PEER_INFO
        self.dev_addr: tuple[str, int] | None = None  # TAP IPv4 and prefix from its REGISTER
        self.desc = ""
        self.last_seen = now
        self.last_p2p: float | None = None  # last direct datagram from it
        self.last_sent_query: float | None = None  # last REGISTER-via-SN + QUERY_PEER for it
        self.last_cookie = 0  # of the REGISTER_ACK that made it known
        self.local = False
        self.purgeable = True
        self.reg_sent: float | None = None  # our last direct REGISTER to it (for the RTT)
        self.rtt: float | None = None  # REGISTER -> REGISTER_ACK, seconds
        self.stamp: int | None = None  # last valid header-encryption time stamp (§6)
        self.trouble: tuple[float, str] | None = None  # (when, why) its packets did not open


class PeerTable:
    """Pending and known peers, each table bounded by `max_peers`."""

    def __init__(self, max_peers: int) -> None:
        self.max_peers = max_peers
        self.pending: dict[bytes, Peer] = {}
        self.known: dict[bytes, Peer] = {}
        self._known_by_sock: dict[Addr, Peer] = {}

    # -- pending ------------------------------------------------------------------------------

    def add_pending(self, mac: bytes, sock: Addr, now: float) -> Peer | None:
        """A new pending peer, or None when the table is full."""
        if len(self.pending) >= self.max_peers:
            return None
        peer = Peer(mac, sock, now)
        self.pending[mac] = peer
        return peer

    def find_pending_by_sock(self, sock: Addr) -> Peer | None:
        for peer in self.pending.values():
            if peer.sock == sock:
                return peer
        return None

    # -- known --------------------------------------------------------------------------------

    def add_known(self, peer: Peer) -> bool:
        """Insert (or replace) `peer` among the known peers; False when the table is full."""
        old = self.known.get(peer.mac)
        if old is None and len(self.known) >= self.max_peers:
            return False
        if old is not None and old is not peer:
            self._unindex(old)
        self.known[peer.mac] = peer
        self._known_by_sock[peer.sock] = peer
        return True

    def remove_known(self, mac: bytes) -> Peer | None:
        peer = self.known.pop(mac, None)
        if peer is not None:
            self._unindex(peer)
        return peer

    def find_known_by_sock(self, sock: Addr) -> Peer | None:
        return self._known_by_sock.get(sock)

    def set_known_sock(self, peer: Peer, sock: Addr) -> None:
        """Change a known peer's socket, keeping the index right."""
        self._unindex(peer)
        peer.sock = sock
        self._known_by_sock[sock] = peer

    def rename_known(self, peer: Peer, mac: bytes) -> None:
        """n2n's "MAC change": a known peer's socket now speaks for another MAC."""
        if self.known.get(peer.mac) is peer:
            del self.known[peer.mac]
        other = self.known.get(mac)
        if other is not None and other is not peer:
            self._unindex(other)
        peer.mac = mac
        self.known[mac] = peer
        self._known_by_sock[peer.sock] = peer

    def _unindex(self, peer: Peer) -> None:
        if self._known_by_sock.get(peer.sock) is peer:
            del self._known_by_sock[peer.sock]

    # -- purge --------------------------------------------------------------------------------

    def purge_pending(self, before: float) -> list[Peer]:
        """Drop pending peers not seen since `before`; returns them."""
        gone = [p for p in self.pending.values() if p.purgeable and p.last_seen < before]
        for peer in gone:
            del self.pending[peer.mac]
        return gone

    def purge_known(self, before: float) -> list[Peer]:
        gone = [p for p in self.known.values() if p.purgeable and p.last_seen < before]
        for peer in gone:
            self.remove_known(peer.mac)
        return gone
