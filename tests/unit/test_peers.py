"""The edge's pending/known peer tables (spec §7.4)."""

from __future__ import annotations

from pyn2n.core.peers import NO_SOCK, PeerTable

M1 = bytes.fromhex("020000000001")
M2 = bytes.fromhex("020000000002")
S1 = ("198.18.1.1", 1001)
S2 = ("198.18.1.2", 1002)


def test_pending_is_bounded() -> None:
    table = PeerTable(max_peers=1)
    assert table.add_pending(M1, NO_SOCK, 0.0) is not None
    assert table.add_pending(M2, NO_SOCK, 0.0) is None


def test_known_socket_index_follows_changes() -> None:
    table = PeerTable(max_peers=4)
    peer = table.add_pending(M1, S1, 0.0)
    assert peer is not None
    del table.pending[M1]
    assert table.add_known(peer)
    assert table.find_known_by_sock(S1) is peer
    table.set_known_sock(peer, S2)
    assert table.find_known_by_sock(S1) is None and table.find_known_by_sock(S2) is peer
    table.rename_known(peer, M2)
    assert table.known == {M2: peer} and peer.mac == M2
    assert table.remove_known(M2) is peer
    assert table.find_known_by_sock(S2) is None and not table.known


def test_known_is_bounded_but_replacing_is_fine() -> None:
    table = PeerTable(max_peers=1)
    a = table.add_pending(M1, S1, 0.0)
    assert a is not None and table.add_known(a)
    del table.pending[M1]
    b = table.add_pending(M2, S2, 0.0)
    assert b is not None and not table.add_known(b)
    del table.pending[M2]
    again = table.add_pending(M1, S2, 0.0)  # M1 pending again, from a new socket
    assert again is not None and table.add_known(again)
    assert table.known == {M1: again}
    assert table.find_known_by_sock(S1) is None and table.find_known_by_sock(S2) is again


def test_purge_by_last_seen() -> None:
    table = PeerTable(max_peers=4)
    old = table.add_pending(M1, S1, 0.0)
    new = table.add_pending(M2, S2, 50.0)
    assert old is not None and new is not None
    assert table.purge_pending(before=10.0) == [old]
    assert list(table.pending) == [M2]
    new.purgeable = False
    assert table.purge_pending(before=100.0) == []
    del table.pending[M2]
    new.purgeable = True
    table.add_known(new)
    assert table.purge_known(before=100.0) == [new]
    assert table.find_known_by_sock(S2) is None


def test_find_pending_by_sock() -> None:
    table = PeerTable(max_peers=4)
    table.add_pending(M1, S1, 0.0)
    peer = table.add_pending(M2, S2, 0.0)
    assert table.find_pending_by_sock(S2) is peer
    assert table.find_pending_by_sock(("198.18.9.9", 9)) is None
