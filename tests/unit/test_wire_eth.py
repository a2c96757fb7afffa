"""Ethernet helpers used by the edge's data path filters (spec §7.5) and gratuitous ARP (§7.1)."""

from __future__ import annotations

import struct

import pytest

from pyn2n.wire import eth

ME = bytes.fromhex("02aabbccdd01")
PEER = bytes.fromhex("02aabbccdd02")
IP_ME = 0xC6130001  # 198.19.0.1
IP_PEER = 0xC6130002


def ipv4_frame(
    proto: int,
    l4: bytes,
    dst_mac: bytes = PEER,
    options: bytes = b"",
    frag: int = 0,
    vlan: bool = False,
    src: int = IP_ME,
    dst: int = IP_PEER,
) -> bytes:
    ihl = 5 + len(options) // 4
    ip = struct.pack(
        ">BBHHHBBHII", 0x40 | ihl, 0, 20 + len(options) + len(l4), 1, frag, 1, proto, 0, src, dst
    )
    tag = struct.pack(">HH", 0x8100, 7) if vlan else b""
    return dst_mac + ME + tag + b"\x08\x00" + ip + options + l4


def test_macs_and_ethertype() -> None:
    frame = ipv4_frame(17, b"\0" * 8)
    assert eth.dst_mac(frame) == PEER and eth.src_mac(frame) == ME
    assert eth.ethertype(frame) == eth.ETH_P_IPV4
    assert eth.l3(frame) == (eth.ETH_P_IPV4, 14)
    tagged = ipv4_frame(17, b"\0" * 8, vlan=True)
    assert eth.l3(tagged) == (eth.ETH_P_IPV4, 18)
    assert eth.ipv4_addrs(tagged) == (IP_ME, IP_PEER)
    qinq = PEER + ME + b"\x88\xa8\x00\x07\x86\xdd" + b"\0" * 40
    assert eth.ethertype(qinq) == eth.ETH_P_IPV6
    assert eth.ethertype(frame[:13]) is None
    assert eth.ethertype(tagged[:17]) is None
    assert eth.dst_mac(memoryview(frame)) == PEER


def test_broadcast_and_multicast_classes() -> None:
    pad = ME + b"\x08\x00"
    assert eth.is_broadcast(b"\xff" * 6 + pad)
    assert not eth.is_broadcast(b"\xff" * 5 + b"\xfe" + pad)
    assert eth.is_ipv4_multicast(bytes.fromhex("01005e000001") + pad)
    assert eth.is_ipv4_multicast(bytes.fromhex("01005e7fffff") + pad)
    assert not eth.is_ipv4_multicast(bytes.fromhex("01005e800001") + pad)  # n2n is_ethMulticast
    assert eth.is_ipv6_multicast(bytes.fromhex("333300000001") + pad)
    assert not eth.is_ipv6_multicast(bytes.fromhex("3334ff000001") + pad)
    for short in (b"", b"\xff" * 6, bytes.fromhex("01005e000001")):
        assert not (
            eth.is_broadcast(short) or eth.is_ipv4_multicast(short) or eth.is_ipv6_multicast(short)
        )


def test_gratuitous_arp_request() -> None:
    frame = eth.gratuitous_arp(ME, IP_ME)
    assert len(frame) == 42
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == ME and frame[12:14] == b"\x08\x06"
    # htype 1, ptype IPv4, hlen 6, plen 4, op 1 (request)
    assert frame[14:22] == bytes.fromhex("0001080006040001")
    assert frame[22:28] == ME and frame[28:32] == bytes([198, 19, 0, 1])
    assert frame[32:38] == b"\0" * 6 and frame[38:42] == bytes([198, 19, 0, 1])
    info = eth.arp_peek(frame)
    assert info == eth.ArpInfo(eth.ARP_REQUEST, ME, IP_ME, b"\0" * 6, IP_ME)


def test_gratuitous_arp_reply_matches_n2n() -> None:
    # n2n edge_utils.c gratuitous_arp[] template with MAC at 6 and 22, IP at 28 and 38
    template = bytearray.fromhex(
        "ffffffffffff 000000000000 0806 0001 0800 06 04 0002 000000000000 00000000 ffffffffffff 00000000"
    )
    template[6:12] = template[22:28] = ME
    template[28:32] = template[38:42] = IP_ME.to_bytes(4, "big")
    assert eth.gratuitous_arp(ME, IP_ME, reply=True) == bytes(template)
    with pytest.raises(ValueError):
        eth.gratuitous_arp(ME[:5], IP_ME)
    with pytest.raises(ValueError):
        eth.gratuitous_arp(ME, 1 << 32)


def test_arp_peek_rejects_other_frames() -> None:
    frame = eth.gratuitous_arp(ME, IP_ME)
    assert eth.arp_peek(frame[:41]) is None
    assert eth.arp_peek(frame[:14] + b"\x00\x06" + frame[16:]) is None  # htype 6
    assert eth.arp_peek(ipv4_frame(17, b"\0" * 28)) is None
    tagged = frame[:12] + b"\x81\x00\x00\x05" + frame[12:]
    assert eth.arp_peek(tagged) == eth.arp_peek(frame)


def test_ipv4_addrs() -> None:
    assert eth.ipv4_addrs(ipv4_frame(6, b"", src=1, dst=0xFFFFFFFF)) == (1, 0xFFFFFFFF)
    frame = ipv4_frame(6, b"")
    assert eth.ipv4_addrs(frame[:33]) is None  # header cut
    assert eth.ipv4_addrs(frame[:14] + b"\x65" + frame[15:]) is None  # version 6 nibble
    assert eth.ipv4_addrs(frame[:14] + b"\x44" + frame[15:]) is None  # IHL 4
    assert eth.ipv4_addrs(eth.gratuitous_arp(ME, IP_ME)) is None


def test_igmp_type() -> None:
    report = bytes([0x16, 0, 0, 0]) + bytes([239, 1, 2, 3])
    assert eth.igmp_type(ipv4_frame(2, report, bytes.fromhex("01005e010203"))) == 0x16
    router_alert = bytes.fromhex("94040000")
    frame = ipv4_frame(2, bytes([0x22]) + b"\0" * 7, options=router_alert)
    assert eth.igmp_type(frame) == 0x22
    assert eth.igmp_type(frame[:38]) is None  # options present, IGMP byte missing
    assert eth.igmp_type(ipv4_frame(17, report)) is None  # UDP
    assert eth.igmp_type(ipv4_frame(2, report, frag=0x0001)) is None  # non-first fragment
    assert eth.igmp_type(ipv4_frame(2, report, frag=0x2000)) == 0x16  # MF only: first fragment
