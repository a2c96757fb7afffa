"""The kernel path's control plane in memory (docs/kernel-path.md): the HELLO extension, which
peers qualify, probes before any traffic moves, keep-alive and tear-down, and the commands the
driver gets. Two fast-path sides negotiate for real; the bridges between them are modelled by
handing the probe frames across (or losing them)."""

from __future__ import annotations

import pytest

from pyn2n.cli.common import UsageError
from pyn2n.cli.edge_args import parse_edge_args
from pyn2n.constants import N2N_COMPRESSION_ID_LZO
from pyn2n.core.api import Addr, KernelCommand
from pyn2n.core.edge import Edge
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.kernelpath import (
    DEAD,
    KP_ACTIVATE,
    KP_DEACTIVATE,
    KP_PREPARE,
    KP_REMOVE,
    PROBE_ETHERTYPE,
    KernelPath,
    probe_mac,
    vni_for,
)
from pyn2n.wire.hello import (
    AEAD_NONE,
    HELLO_OFFER,
    Hello,
    KernelExt,
    decode_hello,
    decode_kernel_ext,
    encode_hello,
    encode_kernel_ext,
)
from tests.unit.test_fastpath import (
    ADDR_A,
    ADDR_B,
    COMMUNITY20,
    MAC_A,
    MAC_B,
    Side,
    exchange,
    make_pair,
    seeded,
)

COMMUNITY = b"mynet"
PORT = 4789


class KSide:
    """A fast-path side with a kernel path; `frames` are the probes it wrote to its TAP."""

    def __init__(self, side: Side, public: Addr, local: set[str], seed: int) -> None:
        self.side = side
        self.frames: list[bytes] = []
        self.public: Addr | None = public
        self.kp = KernelPath(
            mac=side.fp.mac,
            community=COMMUNITY,
            port=PORT,
            rng=seeded(seed),
            write_frame=self.frames.append,
            public_sock=lambda: self.public,
        )
        self.kp.local_ipv4 = frozenset(local)
        side.fp.kernel = self.kp

    def take_frames(self) -> list[bytes]:
        out, self.frames[:] = list(self.frames), []
        return out


def kernel_pair(
    a_local: set[str] | None = None, b_local: set[str] | None = None
) -> tuple[KSide, KSide]:
    a, b = make_pair(aead=AEAD_NONE, passphrase=None)
    ka = KSide(a, ADDR_A, {ADDR_A[0]} if a_local is None else a_local, 7)
    kb = KSide(b, ADDR_B, {ADDR_B[0]} if b_local is None else b_local, 8)
    a.fp.peer_up(a.peer, 0.0)
    exchange(a, b)
    assert a.fp.active and b.fp.active
    return ka, kb


def bridge(src: KSide, dst: KSide, now: float) -> int:
    """The kernel path carries `src`'s probes to `dst`'s TAP when its entry exists (the
    driver applied PREPARE for `dst`), as the two bridges would; how many crossed."""
    n = 0
    for frame in src.take_frames():
        assert frame[12:14] == PROBE_ETHERTYPE
        if frame[:6] == dst.kp.probe_mac:
            dst.kp.on_probe(frame, now)
            n += 1
    return n


def run(a: KSide, b: KSide, start: float, end: float, link: bool = True) -> None:
    t = start
    while t <= end:
        for s in (a, b):
            s.kp.handle_timer(t)
        if link:
            for _ in range(2):
                bridge(a, b, t)
                bridge(b, a, t)
        else:
            a.take_frames()
            b.take_frames()
        t += 0.25


def ops(k: KSide) -> list[tuple[str, bytes]]:
    return [(c.op, c.mac) for c in k.kp.drain()]


def test_the_extension_round_trips_inside_a_hello_and_old_decoders_ignore_it() -> None:
    ext = encode_kernel_ext(KernelExt(4789, "198.18.1.2", 0xABCDEF))
    assert decode_kernel_ext(ext) == KernelExt(4789, "198.18.1.2", 0xABCDEF)
    # unknown extensions before it are skipped; garbage and truncation give None
    assert decode_kernel_ext(b"\x09\x02zz" + ext) == KernelExt(4789, "198.18.1.2", 0xABCDEF)
    assert decode_kernel_ext(ext[:-1]) is None
    assert decode_kernel_ext(b"") is None
    assert decode_kernel_ext(encode_kernel_ext(KernelExt(4789, "127.0.0.1", 5))) is None
    hello = Hello(HELLO_OFFER, MAC_A, MAC_B, 0, 1, 5, b"s" * 16, ext=ext)
    data = encode_hello(COMMUNITY20, hello)
    got = decode_hello(data)
    assert got is not None and got.ext == ext
    assert decode_hello(data[:76]) is not None  # the fixed part alone: an older pyn2n's view


def test_probe_macs_and_vnis() -> None:
    p = probe_mac(MAC_A)
    assert p != MAC_A and not p[0] & 1 and p[0] & 2 and p[1:] == MAC_A[1:]
    assert probe_mac(MAC_B) != p
    assert vni_for(b"mynet") == vni_for(COMMUNITY20) != vni_for(b"other")
    assert 0 < vni_for(b"x") < 1 << 24


def test_peers_prepare_probe_and_only_then_activate() -> None:
    a, b = kernel_pair()
    # the established session prepared both sides: the filter and the probe entries first
    assert ops(a) == [(KP_PREPARE, MAC_B)] and ops(b) == [(KP_PREPARE, MAC_A)]
    assert a.kp.status(MAC_B) == "probing"
    # probes that get lost move no traffic
    run(a, b, 0.0, 3.0, link=False)
    assert ops(a) == [] and not a.kp.active(MAC_B)
    # probes that arrive (and are answered over the same path) do
    run(a, b, 3.25, 6.0)
    assert ops(a) == [(KP_ACTIVATE, MAC_B)] and ops(b) == [(KP_ACTIVATE, MAC_A)]
    assert a.kp.status(MAC_B) == "on" and b.kp.active(MAC_A)
    cmd = KernelCommand(KP_ACTIVATE, MAC_B, ADDR_B[0], PORT)
    assert cmd.ip == "198.18.2.2"


def test_silence_on_the_kernel_path_goes_back_and_probes_bring_it_back() -> None:
    a, b = kernel_pair()
    run(a, b, 0.0, 3.0)
    ops(a), ops(b)
    run(a, b, 3.25, 3.25 + DEAD + 1.5, link=False)  # e.g. the VXLAN port blocked on the way
    assert ops(a) == [(KP_DEACTIVATE, MAC_B)] and not a.kp.active(MAC_B)
    assert a.kp.status(MAC_B) == "probing (no answer on the kernel path)"
    run(a, b, 10.0, 25.0)  # slow probes on: the path comes back
    assert ops(a) == [(KP_ACTIVATE, MAC_B)]


def test_the_session_ending_removes_the_peer() -> None:
    a, b = kernel_pair()
    run(a, b, 0.0, 3.0)
    ops(a)
    a.side.peers.remove_known(MAC_B)  # the peer left (purged), or its socket moved
    a.side.fp.handle_timer(5.0)
    assert ops(a) == [(KP_REMOVE, MAC_B)]
    assert a.kp.status(MAC_B) == "the direct path changed"
    a.kp.handle_timer(6.0)
    assert a.kp.get_timer() is None  # nothing left to probe: no more ticks


def test_our_public_socket_changing_removes_everything() -> None:
    a, b = kernel_pair()
    run(a, b, 0.0, 3.0)
    ops(a)
    a.public = ("203.0.113.9", ADDR_A[1])  # the supernode now sees us elsewhere (a NAT)
    run(a, b, 3.25, 4.0)
    assert ops(a) == [(KP_REMOVE, MAC_B)]
    assert a.kp.status(MAC_B) == "our public socket changed"
    assert a.kp.hello_ext() == b""  # not local: not offered again


def test_nat_on_either_side_or_no_offer_means_no_kernel_path() -> None:
    # a's socket as the supernode saw it is not one of its addresses: a NAT in front of a
    a, b = kernel_pair(a_local={"10.0.0.5"})
    assert ops(a) == [] and ops(b) == []
    assert b.kp.status(MAC_A) == "not offered by the peer"
    assert a.kp.status(MAC_B).startswith("not offered by us")


def test_a_peer_advertising_an_address_other_than_its_socket_is_refused() -> None:
    a, b = make_pair(aead=AEAD_NONE, passphrase=None)
    ka = KSide(a, ("198.18.9.9", ADDR_A[1]), {"198.18.9.9"}, 7)  # claims another address
    kb = KSide(b, ADDR_B, {ADDR_B[0]}, 8)
    a.fp.peer_up(a.peer, 0.0)
    exchange(a, b)
    assert ops(kb) == [] and kb.kp.status(MAC_A) == "NAT between us"
    assert ka.kp.status(MAC_B) == "no" or ops(ka) in ([], [(KP_PREPARE, MAC_B)])


def test_probes_from_strangers_and_garbage_are_ignored() -> None:
    a, _b = kernel_pair()
    ops(a)
    stranger = bytes.fromhex("020000000009")
    frame = a.kp.probe_mac + probe_mac(stranger) + PROBE_ETHERTYPE + b"pyKP\x01" + stranger
    a.kp.on_probe(frame + bytes(8), 1.0)
    a.kp.on_probe(b"short", 1.0)
    a.kp.on_probe(a.kp.probe_mac + bytes(54), 1.0)
    assert a.take_frames() == [] and ops(a) == [] and a.kp.probes_rx == 0
    # an answer with a nonce we never sent activates nothing
    fake_ack = a.kp.probe_mac + probe_mac(MAC_B) + PROBE_ETHERTYPE + b"pyKP\x02" + MAC_B
    a.kp.on_probe(fake_ack + b"n" * 8 + bytes(27), 1.0)
    assert ops(a) == [] and not a.kp.active(MAC_B)


def _edge(**kw: object) -> Edge:
    args: dict[str, object] = {
        "community": "mynet",
        "supernodes": [("198.18.0.2", 7654)],
        "ip": "198.19.0.1",
        "fastpath": True,
    }
    args.update(kw)
    config = EdgeConfig(**args)  # type: ignore[arg-type]
    return Edge(config, rng=seeded(3), now=0.0, wall_clock=lambda: 1.7e9)


def test_only_unencrypted_uncompressed_fast_path_edges_may_use_it() -> None:
    assert _edge().kernel_path_refusal() == ""
    assert "encrypts" in _edge(key="k", transform=3).kernel_path_refusal()
    assert "-H" in _edge(header_encryption=True).kernel_path_refusal()
    assert "-z" in _edge(compression=N2N_COMPRESSION_ID_LZO).kernel_path_refusal()
    assert "--no-fastpath" in _edge(fastpath=False).kernel_path_refusal()
    edge = _edge()
    kernel = edge.enable_kernel_path(4789)
    assert edge.kernel is kernel and kernel.vni == vni_for(b"mynet")
    assert edge.kernel_commands() == []
    edge.kernel_addresses(frozenset({"198.18.1.2"}))
    assert kernel.local_ipv4 == {"198.18.1.2"}
    assert kernel.hello_ext() == b""  # no REGISTER_SUPER_ACK yet: no public socket to offer


def test_the_flags() -> None:
    base = ["-c", "mynet", "-l", "198.18.0.2:7654"]
    assert parse_edge_args(base).kernel_path and parse_edge_args(base).kernel_path_port == 4789
    args = parse_edge_args([*base, "--no-kernel-path", "--kernel-path-port", "4790"])
    assert not args.kernel_path and args.kernel_path_port == 4790
    with pytest.raises(UsageError, match="--kernel-path-port 0"):
        parse_edge_args([*base, "--kernel-path-port", "0"])
