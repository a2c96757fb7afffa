"""The PACKET header an edge keeps per destination (`wire.packet.packet_header`) plus the payload
is byte for byte what `encode_packet` builds (the header is built once, the wire stays
the same)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyn2n.constants import N2N_COMPRESSION_ID_NONE
from pyn2n.wire.messages import pad_community
from pyn2n.wire.packet import decode_packet_header, encode_packet, packet_header

macs = st.binary(min_size=6, max_size=6)


@given(st.binary(min_size=1, max_size=19), macs, macs, st.integers(0, 255), st.binary())
def test_header_plus_payload_is_the_encoded_packet(
    name: bytes, src: bytes, dst: bytes, tid: int, payload: bytes
) -> None:
    c20 = pad_community(name.replace(b"\0", b"x"))
    pkt = packet_header(c20, src, dst, tid) + payload
    assert pkt == encode_packet(c20, src, dst, N2N_COMPRESSION_ID_NONE, tid, payload)
    assert decode_packet_header(pkt) == (src, dst, None, N2N_COMPRESSION_ID_NONE, tid, 38)
