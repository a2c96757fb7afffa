"""Property tests: every message type survives encode→decode, and decode→encode reproduces the
bytes (spec §2–§4)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyn2n.constants import N2N_FLAGS_SOCKET
from pyn2n.wire import (
    Auth,
    Common,
    Deregister,
    Federation,
    IpSubnet,
    Message,
    Packet,
    PeerInfo,
    QueryPeer,
    Register,
    RegisterAck,
    RegisterSuper,
    RegisterSuperAck,
    RegisterSuperNak,
    ReRegisterSuper,
    Sock,
    SupernodeEntry,
    UnregisterSuper,
    decode,
    decode_common,
    decode_packet_header,
    decode_with_end,
    encode,
    encode_packet,
    pad_community,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
macs = st.binary(min_size=6, max_size=6)
ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), u32)
ipv6 = st.builds(lambda b: ipaddress.IPv6Address(b).compressed, st.binary(min_size=16, max_size=16))
socks = st.builds(Sock, st.one_of(ipv4, ipv6), u16, st.booleans())
opt_socks = st.none() | socks
subnets = st.builds(IpSubnet, u32, u8)
# NUL-padded fields decode without their trailing NULs
descs = st.binary(max_size=16).map(lambda b: b.rstrip(b"\0"))
versions = st.binary(max_size=20).map(lambda b: b.rstrip(b"\0"))
auths = st.builds(Auth, u16, st.binary(max_size=48))
sn_entries = st.builds(SupernodeEntry, st.builds(Sock, st.one_of(ipv4, ipv6), u16), macs)

MESSAGES: dict[str, st.SearchStrategy[Message]] = {
    "register": st.builds(Register, u32, macs, macs, opt_socks, subnets, descs),
    "deregister": st.builds(Deregister, st.binary(max_size=64)),
    "packet": st.builds(Packet, macs, macs, opt_socks, u8, u8, st.binary(max_size=1600)),
    "register_ack": st.builds(RegisterAck, u32, macs, macs, opt_socks),
    "register_super": st.builds(RegisterSuper, u32, macs, opt_socks, subnets, descs, auths, u32),
    "unregister_super": st.builds(UnregisterSuper, auths, macs),
    "register_super_ack": st.builds(
        RegisterSuperAck,
        u32,
        macs,
        subnets,
        socks,
        auths,
        st.lists(sn_entries, max_size=44).map(tuple),
        u16,
        u32,
    ),
    "register_super_nak": st.builds(RegisterSuperNak, u32, macs, auths),
    "federation": st.builds(Federation, st.binary(max_size=64)),
    "peer_info": st.builds(PeerInfo, u16, macs, macs, socks, opt_socks, u32, u32, versions),
    "query_peer": st.builds(QueryPeer, macs, macs, u16),
    "re_register_super": st.just(ReRegisterSuper()),
}

commons = st.builds(
    Common,
    st.just(0),
    u8,
    st.integers(0, 0x7FF).map(lambda f: f << 5),
    st.binary(max_size=19).filter(lambda b: b"\0" not in b),
)


def _expected_flags(msg: Message, flags: int) -> int:
    """encode derives SOCKET from the optional sock (spec §4), other flags pass through."""
    if isinstance(msg, Register | Packet | RegisterAck | RegisterSuper):
        sock = msg.sock
    elif isinstance(msg, PeerInfo):
        sock = msg.preferred_sock
    else:
        return flags
    return (flags & ~N2N_FLAGS_SOCKET) | (0 if sock is None else N2N_FLAGS_SOCKET)


@pytest.mark.parametrize("kind", sorted(MESSAGES))
@settings(max_examples=150, deadline=None)
@given(data=st.data(), common=commons, trailer=st.binary(max_size=20))
def test_roundtrip(kind: str, data: st.DataObject, common: Common, trailer: bytes) -> None:
    msg = data.draw(MESSAGES[kind])
    wire = encode(common, msg)

    got_common, got_msg, end = decode_with_end(wire)
    assert got_msg == msg
    assert got_common == Common(
        msg.PC, common.ttl, _expected_flags(msg, common.flags), common.community
    )
    assert end == len(wire)
    assert decode_common(wire) == (got_common, 24)

    # decode→encode gives back the same bytes
    assert encode(got_common, got_msg) == wire

    # trailing bytes (e.g. the §7.3 auth tag) are ignored except by raw-body messages
    got_common2, got_msg2, end2 = decode_with_end(wire + trailer)
    if isinstance(msg, Packet | Deregister | Federation):
        assert end2 == len(wire) + len(trailer)
    else:
        assert (got_common2, got_msg2, end2) == (got_common, got_msg, end)


@settings(max_examples=300, deadline=None)
@given(common=commons, msg=MESSAGES["packet"])
def test_packet_fast_path_matches_generic(common: Common, msg: Packet) -> None:
    wire = encode(common, msg)
    fast = encode_packet(
        pad_community(common.community),
        msg.src_mac,
        msg.dst_mac,
        msg.compression,
        msg.transform,
        msg.payload,
        ttl=common.ttl,
        flags=common.flags,
        sock=msg.sock,
    )
    assert fast == wire
    src, dst, sock, compression, transform, off = decode_packet_header(wire)
    assert (src, dst, sock, compression, transform) == (
        msg.src_mac,
        msg.dst_mac,
        msg.sock,
        msg.compression,
        msg.transform,
    )
    assert wire[off:] == msg.payload
    assert decode(wire)[1] == msg
