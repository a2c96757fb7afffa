"""`pyn2n decode`: PACKETs (any cipher, compressed, relayed, header-encrypted) back to frames; what
is skipped and why; a pcap written and read back with scapy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapReader, wrpcap

from pyn2n.cli.decode import Decoder, main
from pyn2n.constants import (
    N2N_COMPRESSION_ID_NONE,
    N2N_COMPRESSION_ID_ZSTD,
    N2N_FLAGS_FROM_SUPERNODE,
)
from pyn2n.core.secure import HeaderCrypto
from pyn2n.transforms import make_compression, make_transform
from pyn2n.wire import QueryPeer, Sock
from pyn2n.wire.messages import Common, encode, pad_community
from pyn2n.wire.packet import encode_packet
from tests.simnet import ipv4_frame

A, B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
FRAME = ipv4_frame(B, A, "198.19.0.1", "198.19.0.2")
COMMUNITY = "mynet"
C20 = pad_community(COMMUNITY.encode())


def packet(tid: int, key: str | None, frame: bytes = FRAME, comp: int = 1, **kw: object) -> bytes:
    payload = frame
    if comp != N2N_COMPRESSION_ID_NONE:
        packed = make_compression(comp).compress(frame)
        assert packed is not None
        payload = packed
    body = make_transform(tid, key, os.urandom).encode(payload)
    return encode_packet(C20, A, B, comp, tid, body, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("tid", [1, 2, 3, 4, 5])
def test_every_cipher(tid: int) -> None:
    key = None if tid == 1 else "s3cret"
    dec = Decoder(COMMUNITY, make_transform(tid, key, os.urandom))
    assert dec.frame(packet(tid, key)) == FRAME
    assert dec.counts["frames"] == 1


def test_compressed_relayed_and_header_encrypted() -> None:
    dec = Decoder(COMMUNITY, make_transform(3, "k", os.urandom))
    relayed = packet(
        3,
        "k",
        comp=N2N_COMPRESSION_ID_ZSTD,
        flags=N2N_FLAGS_FROM_SUPERNODE,
        sock=Sock("1.2.3.4", 5),
    )
    assert dec.frame(relayed) == FRAME
    crypto = HeaderCrypto(COMMUNITY.encode())
    sealed = crypto.seal(packet(3, "k"), 12345 << 32, b"abcd")
    he = Decoder(COMMUNITY, make_transform(3, "k", os.urandom), crypto)
    assert he.frame(sealed) == FRAME
    assert he.frame(packet(3, "k")) is None and he.counts["other"] == 1


def test_skipped_and_counted() -> None:
    dec = Decoder(COMMUNITY, make_transform(3, "right", os.urandom))
    assert dec.frame(packet(3, "wrong")) is None  # garbage, not an error: caught by the check
    assert dec.frame(packet(5, "right")) is None
    other = encode_packet(pad_community(b"other"), A, B, 1, 1, FRAME)
    assert dec.frame(other) is None
    control = encode(Common(0, 2, 0, COMMUNITY.encode()), QueryPeer(A, B))
    assert dec.frame(control) is None
    assert dec.frame(b"\x03\x02\x00") is None and dec.frame(b"GET / HTTP/1.1\r\n" * 3) is None
    assert dec.counts == {
        "undecryptable": 1,
        "other_cipher": 1,
        "other_community": 1,
        "control": 1,
        "other": 2,
    }


def test_pcap_in_pcap_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dgram = packet(2, "s3cret")
    pkts = [
        Ether() / IP(src="198.18.1.2", dst="198.18.2.2") / UDP(sport=4000, dport=5000) / dgram,
        Ether() / IP(src="198.18.1.2", dst="198.18.2.2") / UDP(sport=4000, dport=53) / b"dns",
    ]
    pkts[0].time = 1700000000.25
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    wrpcap(str(src), pkts)
    assert main(["-c", COMMUNITY, "-k", "s3cret", "-A2", str(src), "-w", str(out)]) == 0
    assert "1 frames written" in capsys.readouterr().err
    assert out.read_bytes()[20:24] == (1).to_bytes(4, "little")
    with PcapReader(str(out)) as reader:
        got = list(reader)
    assert [bytes(p) for p in got] == [FRAME] and float(got[0].time) == pytest.approx(1700000000.25)
    assert main(["-c", COMMUNITY, "-k", "nope", "-A2", str(src), "-w", str(out)]) == 1
    assert "check -k and -A" in capsys.readouterr().err
    (tmp_path / "junk").write_bytes(b"not a capture")
    assert main(["-c", COMMUNITY, str(tmp_path / "junk"), "-w", str(out)]) == 2
    assert "cannot read it as pcap/pcapng" in capsys.readouterr().err
