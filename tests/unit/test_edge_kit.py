"""Helpers for the edge tests: a fake clock, a seeded rng and supernode replies built with
pyn2n.wire (no simulator, no real supernode). Imported by the other test_edge*.py modules."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pyn2n.constants import N2N_FLAGS_FROM_SUPERNODE
from pyn2n.core.edge import Edge
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.wire import (
    Auth,
    Common,
    IpSubnet,
    Message,
    Packet,
    PeerInfo,
    Register,
    RegisterAck,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    Sock,
    SupernodeEntry,
    decode,
    encode,
)

COMMUNITY = "edgetest"
SN1 = ("198.18.0.1", 7654)
SN2 = ("198.18.0.2", 7654)
SN3 = ("198.18.0.3", 7654)
SN_MAC1 = bytes.fromhex("02aa00000001")
SN_MAC2 = bytes.fromhex("02aa00000002")
SN_MAC3 = bytes.fromhex("02aa00000003")
SN_MACS = {SN1: SN_MAC1, SN2: SN_MAC2, SN3: SN_MAC3}
MY_MAC = bytes.fromhex("02ee00000001")
MY_IP = "198.19.0.1"
PUBLIC = Sock("198.18.9.1", 40001)  # our public socket as the supernode sees it

PEER_MAC = bytes.fromhex("02ee00000002")
PEER_IP = "198.19.0.2"
PEER_ADDR = ("198.18.1.2", 50002)  # the peer's public socket
PEER_LAN = ("10.1.1.2", 50002)  # the peer's preferred (-e) socket
BCAST = b"\xff" * 6
NO_ADDR = IpSubnet(0, 0)
NO_AUTH = Auth()


class Clock:
    """A fake monotonic clock; `wall()` is UTC seconds for header-encryption stamps."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t

    def advance(self, dt: float) -> float:
        self.t += dt
        return self.t


def seeded(seed: int = 7) -> Callable[[int], bytes]:
    r = random.Random(seed)
    return lambda n: r.randbytes(n)


def config(**kw: Any) -> EdgeConfig:
    kw.setdefault("community", COMMUNITY)
    kw.setdefault("supernodes", [SN1])
    kw.setdefault("mac", MY_MAC)
    if "ip" not in kw:
        kw["ip"] = MY_IP
    return EdgeConfig(**kw)


def make_edge(clock: Clock | None = None, seed: int = 7, **kw: Any) -> tuple[Edge, Clock]:
    clock = clock or Clock()
    edge = Edge(config(**kw), seeded(seed), clock(), wall_clock=clock.wall)
    return edge, clock


def common(flags: int = 0, community: str = COMMUNITY) -> Common:
    return Common(0, 2, flags, community.encode())


def from_sn(msg: Message, community: str = COMMUNITY) -> bytes:
    return encode(common(N2N_FLAGS_FROM_SUPERNODE, community), msg)


def plain(msg: Message, community: str = COMMUNITY) -> bytes:
    return encode(common(0, community), msg)


def drain(edge: Edge) -> list[tuple[Common, Message, tuple[str, int]]]:
    """Decoded datagrams the edge wants to send (plaintext headers only)."""
    out = []
    for data, addr in edge.datagrams_to_send():
        c, m = decode(data)
        out.append((c, m, addr))
    return out


def of_type(sent: list[tuple[Common, Message, tuple[str, int]]], kind: type) -> list[Any]:
    return [(m, a) for _, m, a in sent if isinstance(m, kind)]


def super_ack(
    reg: RegisterSuper,
    sn_mac: bytes = SN_MAC1,
    dev: IpSubnet = NO_ADDR,
    supernodes: tuple[SupernodeEntry, ...] = (),
    public: Sock = PUBLIC,
    auth: Auth = NO_AUTH,
) -> RegisterSuperAck:
    return RegisterSuperAck(reg.cookie, sn_mac, dev, public, auth, supernodes)


def answer_register_super(
    edge: Edge, clock: Clock, sent: list[tuple[Common, Message, tuple[str, int]]] | None = None
) -> RegisterSuper:
    """Answer the last REGISTER_SUPER in `sent` (default: what the edge has queued) with an ACK
    from the supernode it was sent to."""
    if sent is None:
        sent = drain(edge)
    regs = of_type(sent, RegisterSuper)
    assert regs, f"no REGISTER_SUPER among {sent}"
    reg, addr = regs[-1]
    edge.receive_datagram(from_sn(super_ack(reg, SN_MACS[addr])), addr, clock())
    return reg


def registered_edge(**kw: Any) -> tuple[Edge, Clock]:
    """An edge through its first real REGISTER_SUPER_ACK, outputs drained."""
    edge, clock = make_edge(**kw)
    edge.handle_timer(clock())
    if edge.phase == "ping":  # several supernodes: the first answers the PING
        drain(edge)
        first = edge.sns.entries[0].addr
        edge.receive_datagram(pong(sn_mac=SN_MACS[first]), first, clock())
    answer_register_super(edge, clock)
    if edge.last_sup is None:  # that was the auto-IP bootstrap; now the real one
        answer_register_super(edge, clock)
    assert edge.last_sup is not None
    edge.datagrams_to_send()
    edge.events()
    return edge, clock


def ipv4_frame(
    dst_mac: bytes,
    src_mac: bytes,
    src_ip: str,
    dst_ip: str,
    payload: bytes = b"x" * 32,
) -> bytes:
    """An Ethernet + IPv4 (UDP) frame; checksums are not needed anywhere here."""
    src = bytes(int(x) for x in src_ip.split("."))
    dst = bytes(int(x) for x in dst_ip.split("."))
    total = 20 + len(payload)
    ip = b"\x45\x00" + total.to_bytes(2, "big") + b"\x00\x00\x00\x00\x40\x11\x00\x00" + src + dst
    return dst_mac + src_mac + b"\x08\x00" + ip + payload


def packet(
    src: bytes,
    dst: bytes,
    frame: bytes,
    *,
    relayed: bool = False,
    sock: Sock | None = None,
    transform: int = 1,
    compression: int = 1,
    community: str = COMMUNITY,
) -> bytes:
    msg = Packet(src, dst, sock, compression, transform, frame)
    if relayed:
        return from_sn(msg, community)
    return plain(msg, community)


def register_msg(
    src: bytes = PEER_MAC,
    dst: bytes = MY_MAC,
    cookie: int = 0x10000,
    sock: Sock | None = None,
    ip: str = PEER_IP,
    desc: bytes = b"peer",
) -> Register:
    net = int.from_bytes(bytes(int(x) for x in ip.split(".")), "big")
    return Register(cookie, src, dst, sock, IpSubnet(net, 24), desc)


def make_known(
    edge: Edge, clock: Clock, mac: bytes = PEER_MAC, addr: tuple[str, int] = PEER_ADDR
) -> list[tuple[Common, Message, tuple[str, int]]]:
    """Run the hole-punching exchange with a peer at `addr`: its direct REGISTER, then its
    REGISTER_ACK to our REGISTER. Returns the decoded datagrams the edge sent meanwhile."""
    edge.receive_datagram(plain(register_msg(src=mac, dst=edge.mac)), addr, clock())
    sent = drain(edge)
    regs = [m for m, a in of_type(sent, Register) if a == addr]
    assert regs, sent
    edge.receive_datagram(plain(RegisterAck(regs[0].cookie, edge.mac, mac)), addr, clock())
    assert mac in edge.peers.known
    return sent


def pong(load: int = 0, sn_mac: bytes = SN_MAC1, version: bytes = b"sn-1") -> bytes:
    return from_sn(PeerInfo(0, sn_mac, bytes(6), PUBLIC, None, load, 77, version))


def nak(reg: RegisterSuper, mac: bytes = MY_MAC) -> bytes:
    return from_sn(RegisterSuperNak(reg.cookie, mac))


def run_until(
    edge: Edge, clock: Clock, until: float, answer: bool = True
) -> list[tuple[float, Message, tuple[str, int]]]:
    """Step the edge's timers up to `until`, answering each REGISTER_SUPER like a supernode
    would when `answer`; returns everything sent as (time, message, address). Fails if a timer
    fires without moving on (with no input in between)."""
    log: list[tuple[float, Message, tuple[str, int]]] = []
    fired_at = None
    while True:
        t = edge.get_timer()
        assert t is not None and t >= clock() - 1e-9
        if t > until:
            break
        assert t != fired_at, f"the timer does not move past {t}"
        fired_at = t
        edge.handle_timer(clock.advance(t - clock()))
        sent = drain(edge)
        log += [(clock(), m, a) for _, m, a in sent]
        if answer:
            for reg, addr in of_type(sent, RegisterSuper):
                edge.receive_datagram(from_sn(super_ack(reg, SN_MACS[addr])), addr, clock())
                fired_at = None  # an input may legitimately make something due right now
            log += [(clock(), m, a) for _, m, a in drain(edge)]
    clock.advance(until - clock())
    return log
