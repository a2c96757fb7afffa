"""The fast path's sans-IO protocol (core/fastpath/): the HELLO codec, negotiation, framing and
reassembly, AEAD with unique nonces, replays, tamper and loss handling, the loss policy, -r."""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyn2n.core.api import Addr
from pyn2n.core.fastpath import FastPath
from pyn2n.core.fastpath.framing import DEFAULT_SEGMENT, FAST_MAGIC
from pyn2n.core.fastpath.keys import aead_for_transform
from pyn2n.core.fastpath.policy import (
    BULK_FRAMES,
    BULK_HOLD,
    FEEDBACK_PACKETS,
    GRO_IDLE,
    HOLD_MIN,
    OFFER_ATTEMPTS,
    PARTIAL_AGE,
    TICK,
)
from pyn2n.core.l2rules import HostTable
from pyn2n.core.peers import Peer, PeerTable
from pyn2n.wire.hello import (
    AEAD_AES256GCM,
    AEAD_CHACHA20POLY1305,
    AEAD_NONE,
    HELLO_ACCEPT,
    HELLO_SIZE,
    Hello,
    decode_hello,
    encode_hello,
)
from pyn2n.wire.vnet import frame_segments

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
ADDR_A: Addr = ("198.18.1.2", 40001)
ADDR_B: Addr = ("198.18.2.2", 40002)
IP_A, IP_B = bytes([198, 19, 0, 1]), bytes([198, 19, 0, 2])
COMMUNITY20 = b"mynet".ljust(20, b"\x00")


def seeded(seed: int) -> Callable[[int], bytes]:
    r = random.Random(seed)
    return r.randbytes


class Side:
    """One FastPath with its peer table and captured outputs."""

    def __init__(
        self, mac: bytes, other: bytes, other_addr: Addr, ip: bytes, seed: int, **kw: object
    ) -> None:
        self.peers = PeerTable(16)
        self.peer = Peer(other, other_addr, 0.0)
        self.peer.last_p2p = 0.0
        self.peers.add_known(self.peer)
        self.out: list[tuple[bytes, Addr]] = []
        self.drops: Counter[str] = Counter()
        args: dict[str, object] = {
            "mac": mac,
            "community20": COMMUNITY20,
            "passphrase": "secret",
            "aead": AEAD_AES256GCM,
            "peers": self.peers,
            "rng": seeded(seed),
            "send_hello": lambda d, a: self.out.append((d, a)),
            "send_datagram": lambda d, a: self.out.append((d, a)),
            "drops": self.drops,
        }
        args.update(kw)
        self.fp = FastPath(**args)  # type: ignore[arg-type]
        self.fp.ip4 = ip

    def take(self) -> list[tuple[bytes, Addr]]:
        """Everything sent: single datagrams and UDP_SEGMENT buffers cut into datagrams."""
        out, self.out = self.out, []
        for buf, seg, addr in self.fp.gso_out:
            out += [(bytes(buf[o : o + seg]), addr) for o in range(0, len(buf), seg)]
        self.fp.gso_out.clear()
        return out


def deliver(
    dst: Side, datagrams: list[tuple[bytes, Addr]], src_addr: Addr, now: float, strict: bool = True
) -> None:
    for data, _ in datagrams:
        if data[0] == FAST_MAGIC:
            taken = dst.fp.receive(data, src_addr, now)
            assert taken or not strict, "a fast datagram for no session"
        else:
            dst.fp.on_hello(data, src_addr, now)


def make_pair(seed: int = 1, **kw: object) -> tuple[Side, Side]:
    a_kw = {k[2:]: v for k, v in kw.items() if k.startswith("a_")}
    b_kw = {k[2:]: v for k, v in kw.items() if k.startswith("b_")}
    both = {k: v for k, v in kw.items() if not k.startswith(("a_", "b_"))}
    a = Side(MAC_A, MAC_B, ADDR_B, IP_A, seed, **{**both, **a_kw})
    b = Side(MAC_B, MAC_A, ADDR_A, IP_B, seed + 1000, **{**both, **b_kw})
    return a, b


def exchange(a: Side, b: Side, now: float = 0.0, rounds: int = 6, strict: bool = True) -> None:
    for _ in range(rounds):
        deliver(b, a.take(), ADDR_A, now, strict)
        deliver(a, b.take(), ADDR_B, now, strict)


def established_pair(seed: int = 1, **kw: object) -> tuple[Side, Side]:
    a, b = make_pair(seed, **kw)
    a.fp.peer_up(a.peer, 0.0)
    exchange(a, b)
    assert a.fp.active and b.fp.active
    return a, b


def tcp_super_frame(payload: bytes, src: bytes = IP_A, dst: bytes = IP_B, mss: int = 1448) -> bytes:
    eth = MAC_B + MAC_A + b"\x08\x00"
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 7, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack(">HHIIBBHHH", 1, 2, 3, 4, 0x50, 0x10, 5, 0, 0)
    gso = 1 if len(payload) > mss else 0
    return struct.pack("<BBHHHH", 1, gso, 54, mss if gso else 0, 34, 16) + eth + ip + tcp + payload


# ---------------------------------------------------------------- negotiation messages


def test_hello_round_trip_and_garbage() -> None:
    hello = Hello(HELLO_ACCEPT, MAC_A, MAC_B, 2, 1, 0xDEADBEEF, b"o" * 16, b"a" * 16)
    data = encode_hello(COMMUNITY20, hello)
    assert len(data) == HELLO_SIZE == 76
    assert data[0] == 3 and data[3] == 20 and data[4:24] == COMMUNITY20  # spec §2 header
    got = decode_hello(data + b"future fields")
    assert got is not None
    assert (got.kind, got.src, got.dst, got.aead, got.info, got.conn) == (
        2,
        MAC_A,
        MAC_B,
        2,
        1,
        0xDEADBEEF,
    )
    assert (got.offer_salt, got.accept_salt, got.version) == (b"o" * 16, b"a" * 16, 1)
    assert decode_hello(data[:-1]) is None
    assert decode_hello(data[:36] + b"\x09" + data[37:]) is None  # unknown kind
    assert decode_hello(data[:3] + b"\x03" + data[4:]) is None  # a PACKET


def test_aead_follows_the_transform() -> None:
    assert aead_for_transform(1) == AEAD_NONE
    assert aead_for_transform(4) == AEAD_CHACHA20POLY1305
    assert {aead_for_transform(t) for t in (2, 3, 5)} == {AEAD_AES256GCM}


# ---------------------------------------------------------------- negotiation


def test_negotiation_needs_an_answer_on_the_new_keys_both_ways() -> None:
    a, b = make_pair()
    a.fp.peer_up(a.peer, 0.0)
    (offer,) = a.take()
    assert offer[1] == ADDR_B and a.fp.status(MAC_B) == "offering"
    deliver(b, [offer], ADDR_A, 0.0)
    (accept,) = b.take()
    assert b.fp.status(MAC_A) == "answered" and not b.fp.active
    deliver(a, [accept], ADDR_B, 0.0)
    # A has the keys but waits for proof that B derived the same ones
    assert a.fp.status(MAC_B) == "confirming" and not a.fp.active
    (confirm,) = a.take()
    assert confirm[0][0] == FAST_MAGIC
    deliver(b, [confirm], ADDR_A, 0.0)
    assert b.fp.status(MAC_A) == "on (AES-256-GCM)"
    deliver(a, b.take(), ADDR_B, 0.0)
    assert a.fp.status(MAC_B) == "on (AES-256-GCM)"
    assert not a.drops and not b.drops


def test_simultaneous_offers_end_in_one_session() -> None:
    a, b = make_pair()
    a.fp.peer_up(a.peer, 0.0)
    b.fp.peer_up(b.peer, 0.0)
    exchange(a, b)
    assert a.fp.active and b.fp.active
    sa, sb = a.fp.tx[MAC_B], b.fp.tx[MAC_A]
    assert (sa.tx_conn, sa.rx_conn) == (sb.rx_conn, sb.tx_conn)
    assert sa.role == "offerer"  # the lower MAC's offer won
    assert b.drops["fast_glare"] == 0 and a.drops["fast_glare"] == 1


def test_a_peer_without_the_fast_path_refuses() -> None:
    a, b = make_pair(b_enabled=False)
    a.fp.peer_up(a.peer, 0.0)
    b.fp.peer_up(b.peer, 0.0)  # disabled: offers nothing
    exchange(a, b)
    assert not a.fp.active and not b.fp.active
    assert a.fp.status(MAC_B) == "refused: disabled by the peer (--no-fastpath)"
    assert b.fp.status(MAC_A) == "off (--no-fastpath)"
    assert not a.fp.send(tcp_super_frame(b"x" * 100), 1.0)


def test_different_aeads_refuse() -> None:
    a, b = make_pair(b_aead=AEAD_CHACHA20POLY1305)
    a.fp.peer_up(a.peer, 0.0)
    exchange(a, b)
    assert not a.fp.active
    assert a.fp.status(MAC_B) == "refused: the peer uses another AEAD or version"


def test_different_keys_never_establish() -> None:
    a, b = make_pair(b_passphrase="other")
    a.fp.peer_up(a.peer, 0.0)
    now = 0.0
    while now < 15:
        exchange(a, b, now)
        now += 0.25
        a.fp.handle_timer(now)
        b.fp.handle_timer(now)
    assert not a.fp.active and not b.fp.active
    assert a.drops["fast_auth"] == 0 and b.drops["fast_auth"] == OFFER_ATTEMPTS
    assert a.fp.status(MAC_B) == "keys differ"
    assert not a.fp.send(tcp_super_frame(b"x" * 100), now)


def test_an_accept_changed_on_the_way_establishes_nothing() -> None:
    a, b = make_pair()
    a.fp.peer_up(a.peer, 0.0)
    deliver(b, a.take(), ADDR_A, 0.0)
    (accept,) = b.take()
    forged = bytearray(accept[0])
    forged[40] ^= 1  # the connection id the answerer receives on
    deliver(a, [(bytes(forged), ADDR_A)], ADDR_B, 0.0)
    exchange(a, b, strict=False)  # A's CONFIRM goes to a connection id B never gave out
    assert not a.fp.active and not b.fp.active


def test_a_lost_accept_is_answered_again() -> None:
    a, b = make_pair()
    a.fp.peer_up(a.peer, 0.0)
    deliver(b, a.take(), ADDR_A, 0.0)
    (first,) = b.take()  # lost
    a.fp.handle_timer(1.0)
    (again,) = a.take()
    deliver(b, [again], ADDR_A, 1.0)
    (second,) = b.take()
    assert second == first  # the same session, not a new one
    deliver(a, [second], ADDR_B, 1.0)
    exchange(a, b, 1.0)
    assert a.fp.active and b.fp.active


def test_offers_from_strangers_and_others_are_dropped() -> None:
    a, b = make_pair()
    a.fp.peer_up(a.peer, 0.0)
    (offer,) = a.take()
    deliver(b, [offer], ("198.18.9.9", 9), 0.0)  # not where B knows A
    assert b.drops["fast_unknown_peer"] == 1 and not b.take()
    hello = decode_hello(offer[0])
    assert hello is not None
    hello.dst = bytes.fromhex("020000000009")
    b.fp.on_hello(encode_hello(COMMUNITY20, hello), ADDR_A, 0.0)
    assert b.drops["not_for_us"] == 1


def test_no_answer_gives_up_after_the_attempts() -> None:
    a, _ = make_pair()
    a.fp.peer_up(a.peer, 0.0)
    sent = len(a.take())
    now = 0.0
    while now < 30:
        now += 0.5
        a.fp.handle_timer(now)
        sent += len(a.take())
    assert sent == OFFER_ATTEMPTS
    assert a.fp.status(MAC_B) == "no answer to OFFER"


# ---------------------------------------------------------------- data


@pytest.mark.parametrize("aead", [AEAD_NONE, AEAD_AES256GCM, AEAD_CHACHA20POLY1305])
def test_a_super_frame_crosses_whole(aead: int) -> None:
    a, b = established_pair(aead=aead, passphrase=None if aead == AEAD_NONE else "k")
    frame = tcp_super_frame(bytes(range(256)) * 240)
    assert a.fp.send(frame, 1.0)
    datagrams = a.take()
    assert len(datagrams) == -(-(len(frame) + (16 if aead else 0)) // (DEFAULT_SEGMENT - 16))
    assert all(len(d) == DEFAULT_SEGMENT for d, _ in datagrams[:-1])
    deliver(b, datagrams, ADDR_A, 1.0)
    assert b.fp.frames == [frame]
    assert b.fp.rx_packets == frame_segments(frame) == a.fp.tx_packets
    assert b.peer.last_p2p == 1.0  # direct traffic keeps the standard path's view fresh


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_reassembly_takes_any_order_grouping_and_duplicates(data: st.DataObject) -> None:
    a, b = established_pair()
    frames = [tcp_super_frame(bytes([i]) * data.draw(st.integers(1, 30_000))) for i in range(3)]
    datagrams: list[bytes] = []
    for frame in frames:
        assert a.fp.send(frame, 1.0)
        datagrams += [d for d, _ in a.take()]
    order = data.draw(st.permutations(datagrams))
    dups = data.draw(st.lists(st.sampled_from(datagrams), max_size=5))
    stream = list(order) + dups
    # random UDP_GRO-like groupings: runs of equal-size datagrams merged into one read
    i = 0
    while i < len(stream):
        n = data.draw(st.integers(1, 8))
        group = [stream[i]]
        while len(group) < n and i + len(group) < len(stream):
            nxt = stream[i + len(group)]
            if len(group[-1]) != DEFAULT_SEGMENT:
                break  # GRO ends a merge after a short datagram
            group.append(nxt)
        i += len(group)
        if len(group) == 1:
            assert b.fp.receive(group[0], ADDR_A, 1.0)
        else:
            b.fp.receive_gro(b"".join(group), DEFAULT_SEGMENT, ADDR_A, 1.0, _no_other)
    assert sorted(b.fp.frames) == sorted(frames)
    assert b.drops["fast_auth"] == 0


def _no_other(data: bytes, addr: Addr, now: float) -> None:
    raise AssertionError("a fast datagram was handed to the standard path")


def test_gro_reads_hand_foreign_datagrams_on() -> None:
    a, b = established_pair()
    assert a.fp.send(tcp_super_frame(b"q" * 5000), 1.0)
    ours = b"".join(d for d, _ in a.take())
    foreign = b"\x03" + bytes(DEFAULT_SEGMENT - 1)  # an n2n datagram merged by GRO
    others: list[bytes] = []
    b.fp.receive_gro(
        foreign + ours, DEFAULT_SEGMENT, ADDR_A, 1.0, lambda d, _a, _n: others.append(d)
    )
    assert others == [foreign] and len(b.fp.frames) == 1
    unknown = bytes([FAST_MAGIC]) + bytes(40)  # no such connection id: maybe n2n with -H
    assert not b.fp.receive(unknown, ADDR_A, 1.0)


def test_a_lost_fragment_loses_the_packet_and_is_counted() -> None:
    a, b = established_pair()
    assert a.fp.send(tcp_super_frame(b"l" * 20_000), 1.0)
    datagrams = a.take()
    del datagrams[3]
    deliver(b, datagrams, ADDR_A, 1.0)
    assert b.fp.frames == []
    b.fp.handle_timer(1.0 + TICK)
    b.fp.handle_timer(1.0 + 2 * PARTIAL_AGE + TICK)
    assert b.drops["fast_incomplete"] == 1


def test_replayed_datagrams_are_dropped() -> None:
    a, b = established_pair()
    for size in (100, 9000):
        assert a.fp.send(tcp_super_frame(b"r" * size), 1.0)
    datagrams = a.take()
    deliver(b, datagrams, ADDR_A, 1.0)
    assert len(b.fp.frames) == 2
    deliver(b, datagrams, ADDR_A, 2.0)
    assert len(b.fp.frames) == 2
    assert b.drops["fast_replay"] >= 2


@pytest.mark.parametrize("aead", [AEAD_AES256GCM, AEAD_CHACHA20POLY1305])
@pytest.mark.parametrize("where", [2, 14, 15, 100, -1])
def test_tampering_is_detected_dropped_and_counted(aead: int, where: int) -> None:
    a, b = established_pair(aead=aead)
    frame = tcp_super_frame(b"t" * 3000)
    assert a.fp.send(frame, 1.0)
    datagrams = a.take()
    bad = bytearray(datagrams[1][0])
    bad[where] ^= 0x40
    datagrams[1] = (bytes(bad), datagrams[1][1])
    for data, _ in datagrams:
        b.fp.receive(data, ADDR_A, 1.0)  # a changed connection id is simply not ours
    assert b.fp.frames == []
    if where != 2:
        assert b.drops["fast_auth"] + b.drops["fast_decode"] >= 1
    # the real packet, sent again under a new packet number, still gets through
    assert a.fp.send(frame, 1.1)
    deliver(b, a.take(), ADDR_A, 1.1)
    assert b.fp.frames == [frame]


def test_nonces_never_repeat_and_sessions_get_fresh_keys() -> None:
    a, _ = established_pair()
    first = a.fp.tx[MAC_B]
    numbers = []
    for i in range(50):
        assert a.fp.send(tcp_super_frame(bytes([i]) * 50), 1.0)
    for data, _ in a.take():
        numbers.append(struct.unpack_from(">Q", data, 6)[0])
    assert numbers == sorted(set(numbers))
    # other sessions between the same two edges: other salts, so other keys
    sides = [a] + [established_pair(seed)[0] for seed in (2, 3)]
    same = tcp_super_frame(b"same")
    for side in sides:
        side.fp.tx[MAC_B].tx_pn = 1000
        assert side.fp.send(same, 2.0)
    sealed = {side.take()[0][0][16:] for side in sides}
    assert len(sealed) == 3  # same plaintext, same packet number, three different keys
    assert first.tx_pn == 1001


def test_frames_not_for_our_address_are_dropped_both_ways() -> None:
    a, b = established_pair()
    # from our TAP with another source address (no -r): not sent
    assert a.fp.send(tcp_super_frame(b"x" * 100, src=bytes([10, 0, 0, 1])), 1.0)
    assert a.drops["tap_routed"] == 1 and not a.take()
    # arriving for another address: not written
    assert a.fp.send(tcp_super_frame(b"x" * 100), 1.0)
    a.fp.ip4 = bytes([10, 0, 0, 1])  # (so A's own check passes for the next frame)
    assert a.fp.send(tcp_super_frame(b"y" * 100, src=a.fp.ip4, dst=bytes([10, 9, 9, 9])), 1.0)
    deliver(b, a.take(), ADDR_A, 1.0)
    assert len(b.fp.frames) == 1 and b.drops["routed"] == 1


def test_with_r_a_bridged_host_first_seen_on_the_fast_path_is_learned_and_answered() -> None:
    # -r: the host table is shared with the standard path (core/l2rules.py)
    a, b = established_pair(a_routing_hosts=HostTable(), b_routing_hosts=HostTable())
    host = bytes.fromhex("02000000beef")  # a machine bridged behind B
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes(4), bytes(4))
    udp = struct.pack(">HHHH", 1, 2, 8, 0)
    from_host = bytes(10) + MAC_A + host + b"\x08\x00" + ip + udp  # foreign IPv4: fine with -r
    assert b.fp.send(from_host, 1.0)
    deliver(a, b.take(), ADDR_B, 1.0)
    assert a.fp.frames == [from_host]
    assert (
        a.fp.hosts is not None and a.fp.hosts.edge_for(host) == MAC_B
    )  # learned, not only refreshed
    reply = bytes(10) + host + MAC_A + b"\x08\x00" + ip + udp
    assert a.fp.send(reply, 1.1)  # to B's session, not left to the standard path
    (datagram,) = a.take()
    assert datagram[1] == ADDR_B and datagram[0][0] == FAST_MAGIC
    deliver(b, [datagram], ADDR_A, 1.1)
    assert b.fp.frames == [reply] and not a.drops and not b.drops


# ---------------------------------------------------------------- life cycle


def test_sessions_end_with_the_direct_path() -> None:
    a, _ = established_pair()
    a.peers.set_known_sock(a.peer, ("198.18.7.7", 7))  # the peer moved: a new path to negotiate
    assert not a.fp.send(tcp_super_frame(b"x" * 100), 1.0)
    a.fp.handle_timer(1.0)
    assert not a.fp.active and a.fp.status(MAC_B) == "the direct path changed"


def test_keepalives_hold_an_idle_session_and_silence_ends_it() -> None:
    a, b = established_pair()
    now = 0.0
    for _ in range(60):  # 30 s of nothing but keep-alives
        now += TICK
        a.fp.handle_timer(now)
        b.fp.handle_timer(now)
        exchange(a, b, now, rounds=1)
    assert a.fp.active and b.fp.active
    for _ in range(30):  # B is gone
        now += TICK
        a.fp.handle_timer(now)
        a.take()
    assert not a.fp.active and a.fp.status(MAC_B) == "no answer on the fast path"


def test_a_renegotiated_session_replaces_the_old_one_seamlessly() -> None:
    a, b = established_pair()
    old = b.fp.tx[MAC_A]
    assert a.fp.send(tcp_super_frame(b"1" * 4000), 1.0)
    in_flight = a.take()
    # B re-learned A (a new REGISTER_ACK, so a new peer entry): it offers again
    b.peer = Peer(MAC_A, ADDR_A, 1.0)
    b.peers.add_known(b.peer)
    b.fp.peer_up(b.peer, 1.0)
    exchange(a, b, 1.0)
    assert b.fp.tx[MAC_A] is not old and b.fp.active and a.fp.active
    deliver(b, in_flight, ADDR_A, 1.2)  # stragglers of the old session still decrypt
    assert len(b.fp.frames) == 1


# ---------------------------------------------------------------- loss policy


class LossyLink:
    """A bulk flow from A to B over a link that drops each datagram with probability `loss`;
    A's TAP hands out super-frames while A wants TSO (`offload`), else single frames."""

    def __init__(self, seed: int = 5) -> None:
        self.a, self.b = established_pair()
        self.rnd = random.Random(seed)
        self.now = 1.0
        self.super_frames = 0  # super-frames A sent
        self.big = tcp_super_frame(b"z" * 60_000)
        self.small = tcp_super_frame(b"s" * 1_200)

    def run(self, loss: float, seconds: float) -> None:
        a, b = self.a, self.b
        end = self.now + seconds
        while self.now < end:
            self.now += 0.01
            if a.fp.offload or not a.fp.lossy:
                assert a.fp.send(self.big, self.now)
                self.super_frames += 1
            else:
                for _ in range(43):
                    assert a.fp.send(self.small, self.now)
            datagrams = [x for x in a.take() if self.rnd.random() >= loss]
            deliver(b, datagrams, ADDR_A, self.now)
            b.fp.frames.clear()
            a.fp.handle_timer(self.now)
            b.fp.handle_timer(self.now)
            exchange(a, b, self.now, rounds=1)


def test_heavy_loss_single_frames_until_a_clean_sample() -> None:
    link = LossyLink()
    a = link.a
    link.run(0.001, 3.0)  # little loss: whole super-frames keep going
    assert a.fp.offload and a.fp.status(MAC_B) == "on (AES-256-GCM)"
    link.run(0.05, 1.0)  # 5 %: most super-frames lose a datagram; found out within a second
    assert not a.fp.offload and a.fp.lossy and a.fp.active
    assert a.fp.status(MAC_B).startswith("on (AES-256-GCM), single frames: ")
    sent = link.super_frames
    link.run(0.02, 3 * HOLD_MIN)  # still lossy: single frames throughout, no super-frame probes
    assert link.super_frames == sent and not a.fp.offload
    assert 0.01 < a.fp.states[MAC_B].cur.loss < 0.03  # type: ignore[union-attr]
    link.run(0.0, 3.0)  # the loss is gone: a clean sample of single frames brings them back
    assert a.fp.offload and a.fp.status(MAC_B) == "on (AES-256-GCM)"
    assert link.super_frames > sent


def test_a_short_burst_of_loss_holds_single_frames_at_least_hold_min() -> None:
    link = LossyLink(seed=9)
    link.run(0.0, 1.0)
    link.run(0.05, 0.6)
    assert not link.a.fp.offload
    since = link.now
    link.run(0.0, 3 * HOLD_MIN)
    assert link.a.fp.offload
    sess = link.a.fp.states[MAC_B].cur
    assert sess is not None and sess.hold >= since  # not before HOLD_MIN after the fall-back


def test_heavy_loss_shows_on_the_single_frames_a_flow_starts_with() -> None:
    a, b = established_pair()
    rnd = random.Random(3)
    frame = tcp_super_frame(b"s" * 1_200)
    now = 1.0
    for _ in range(300):  # 5 % of datagrams lost, before any super-frame
        now += 0.001
        assert a.fp.send(frame, now)
        deliver(b, [x for x in a.take() if rnd.random() >= 0.05], ADDR_A, now)
        b.fp.frames.clear()
        exchange(a, b, now, rounds=1)
    assert a.fp.lossy  # so TSO never goes on for this flow
    assert a.fp.status(MAC_B).startswith("on (AES-256-GCM), single frames: ")


def test_loss_feedback_is_not_starved_by_heavy_loss() -> None:
    """Feedback counts the peer's packet numbers, lost packets included: under heavy loss it
    still comes every FEEDBACK_PACKETS packets sent, not only after that many arrived."""
    a, b = established_pair()
    frame = tcp_super_frame(b"p" * 100)
    now = 1.0
    for pn in range(4 * FEEDBACK_PACKETS):
        now += 0.01
        assert a.fp.send(frame, now)
        out = a.take()
        if pn % 8 == 0:  # 7 of 8 packets lost
            deliver(b, out, ADDR_A, now)
    assert len(b.take()) >= 3


def test_gro_is_wanted_only_while_packets_of_many_datagrams_arrive() -> None:
    a, b = established_pair()
    small = tcp_super_frame(b"s" * 200)
    for i in range(50):  # small frames only: one datagram each, no merged reads wanted
        assert a.fp.send(small, 1.0 + i * 0.01)
        deliver(b, a.take(), ADDR_A, 1.0 + i * 0.01)
        b.fp.handle_timer(1.0 + i * 0.01)
    assert not b.fp.gro
    assert a.fp.send(tcp_super_frame(b"S" * 30_000), 2.0)
    deliver(b, a.take(), ADDR_A, 2.0)  # datagram by datagram (no GRO yet)
    assert b.fp.gro and len(b.fp.frames) == 51
    b.fp.handle_timer(2.0 + TICK)
    assert b.fp.gro
    b.fp.handle_timer(2.0 + GRO_IDLE + TICK)
    assert not b.fp.gro  # bulk over: plain reads again


def test_tso_goes_on_for_a_flow_not_for_a_trickle() -> None:
    a, _b = established_pair()
    small = tcp_super_frame(b"t" * 100)
    now = 1.0
    for _ in range(40):  # pings: 100 a second
        now += 0.01
        assert a.fp.send(small, now)
        a.fp.handle_timer(now)
    assert not a.fp.offload  # idle pings measured faster without the TAP offloads
    for _ in range(BULK_FRAMES):  # a flow: on at once, before the next tick
        assert a.fp.send(small, now)
    assert a.fp.offload
    a.fp.handle_timer(now + TICK)
    assert a.fp.offload
    a.fp.handle_timer(now + BULK_HOLD + 2 * TICK)
    assert not a.fp.offload  # the flow ended


def test_loss_feedback_waits_for_enough_packets() -> None:
    a, b = established_pair()
    frame = tcp_super_frame(b"p" * 100)
    now = 1.0
    for _ in range(20):  # a trickle (a ping every 0.2 s): no control datagram per packet
        now += 0.2
        assert a.fp.send(frame, now)
        deliver(b, a.take(), ADDR_A, now)
        assert b.take() == []
    for _ in range(FEEDBACK_PACKETS):  # a flow: feedback once per interval
        now += 0.01
        assert a.fp.send(frame, now)
        deliver(b, a.take(), ADDR_A, now)
    assert len(b.take()) == 1
