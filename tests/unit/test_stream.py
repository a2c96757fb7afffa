"""n2n's TCP framing (`-S2`): packets cut from a byte stream however it arrives; a bad length
ends the stream as n2n ends the connection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyn2n.wire.stream import MAX_PACKET, StreamDecoder, frame


def test_frame_prefixes_the_length_big_endian() -> None:
    assert frame(b"abc") == b"\x00\x03abc"
    assert frame(bytes(300))[:2] == b"\x01\x2c"


@given(
    st.lists(st.binary(min_size=1, max_size=MAX_PACKET), min_size=1, max_size=8),
    st.lists(st.integers(min_value=1, max_value=5000), max_size=20),
)
def test_packets_survive_any_cut_of_the_stream(packets: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(p) for p in packets)
    decoder = StreamDecoder()
    got: list[bytes] = []
    off = 0
    for cut in cuts:
        got += decoder.feed(stream[off : off + cut])
        off += cut
    got += decoder.feed(stream[off:])
    assert got == packets
    assert not decoder.broken


def test_a_packet_longer_than_n2n_allows_breaks_the_stream() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(frame(b"ok") + (MAX_PACKET + 1).to_bytes(2, "big") + b"x") == [b"ok"]
    assert decoder.broken
    assert decoder.feed(frame(b"later")) == []  # nothing more from a broken stream


def test_an_empty_packet_breaks_the_stream() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(b"\x00\x00" + frame(b"x")) == []
    assert decoder.broken


def test_the_decoder_holds_at_most_one_partial_packet() -> None:
    decoder = StreamDecoder()
    assert decoder.feed(MAX_PACKET.to_bytes(2, "big") + bytes(MAX_PACKET - 1)) == []
    assert len(decoder._buf) == MAX_PACKET + 1
    assert decoder.feed(b"\x01") == [bytes(MAX_PACKET - 1) + b"\x01"]
    assert decoder._buf == b""
