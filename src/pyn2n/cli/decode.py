"""`pyn2n decode` — n2n-decode's job: the Ethernet frames inside captured n2n traffic.

    pyn2n decode -c mynet -k secret -A3 capture.pcap -w frames.pcap

Reads a pcap or pcapng capture of the underlay (Ethernet, Linux cooked or raw IP link types),
takes every UDP datagram that is an n2n v3 PACKET of the community (header-decrypted with `-H`),
undoes the transform (`-A`, `-k`) and the compression, and writes each inner frame, with the
capture's time stamp, to a pcap of link type Ethernet that Wireshark and tcpdump open. Control
messages, other communities, pyn2n fast-path datagrams and PACKETs that do not decrypt are
counted and skipped. A relayed frame is captured twice on a router (edge to supernode, supernode
to edge) and written twice. n2n's ciphers carry no MAC, so a wrong key yields garbage, not an
error: frames neither addressed to the PACKET's destination MAC nor of a known ethertype are
counted as undecryptable. Files are read and written with scapy (maintained, pure Python,
reads both capture formats and every common link type).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyn2n import constants as C
from pyn2n.cli.common import Parser, UsageError, run_main
from pyn2n.core.secure import HeaderCrypto
from pyn2n.transforms import (
    Compression,
    Transform,
    TransformError,
    make_compression,
    make_transform,
)
from pyn2n.wire import WireError
from pyn2n.wire.messages import pad_community
from pyn2n.wire.packet import decode_packet_header

LINKTYPE_ETHERNET = 1
# IPv4, ARP, IPv6, VLAN, QinQ, RARP, LLDP
_ETHERTYPES = frozenset(
    t.to_bytes(2, "big") for t in (0x0800, 0x0806, 0x86DD, 0x8100, 0x88A8, 0x8035, 0x88CC)
)


@dataclass
class Decoder:
    """Datagrams in, inner frames out (sans-IO); `counts` says what was skipped and why."""

    community: str
    transform: Transform
    header_crypto: HeaderCrypto | None = None
    counts: Counter[str] = field(default_factory=Counter)
    _community20: bytes = b""
    _decompressors: dict[int, Compression] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._community20 = pad_community(self.community.encode())

    def frame(self, datagram: bytes) -> bytes | None:
        """The Ethernet frame a PACKET datagram carries, or None (counted by reason)."""
        if self.header_crypto is not None:
            opened = self.header_crypto.open(datagram)
            if opened is None:
                self.counts["other"] += 1  # another community's, or not n2n
                return None
            datagram = opened.packet
        if len(datagram) < 24 or datagram[0] != C.N2N_PKT_VERSION:
            self.counts["other"] += 1
            return None
        if datagram[4:24] != self._community20:
            self.counts["other_community"] += 1
            return None
        if datagram[3] & C.N2N_FLAGS_TYPE_MASK != C.MSG_TYPE_PACKET:
            self.counts["control"] += 1
            return None
        try:
            _, dst, _, comp, tid, off = decode_packet_header(datagram)
        except WireError:
            self.counts["malformed"] += 1
            return None
        frame = self._open(datagram[off:], comp, tid)
        # a wrong key gives garbage rather than an error (no MAC in n2n's ciphers): keep frames
        # sent to the PACKET's destination MAC, or bridged (-r) ones of a known ethertype
        if frame is None:
            return None
        if frame[:6] != dst and frame[12:14] not in _ETHERTYPES:
            self.counts["undecryptable"] += 1
            return None
        self.counts["frames"] += 1
        return frame

    def _open(self, payload: bytes, comp: int, tid: int) -> bytes | None:
        if tid != self.transform_id:
            self.counts["other_cipher"] += 1
            return None
        try:
            frame = self.transform.decode(payload)
            if comp != C.N2N_COMPRESSION_ID_NONE:
                method = self._decompressors.get(comp)
                if method is None:
                    method = self._decompressors[comp] = make_compression(comp)
                frame = method.decompress(frame)
        except (TransformError, ValueError):
            self.counts["undecryptable"] += 1
            return None
        if len(frame) < 14:
            self.counts["undecryptable"] += 1
            return None
        return bytes(frame)

    @property
    def transform_id(self) -> int:
        return self.transform.id


def udp_payloads(path: str) -> list[tuple[float, bytes]]:
    """(time stamp, UDP payload) of every IPv4 UDP datagram in a pcap/pcapng file."""
    from scapy.layers.inet import IP, UDP
    from scapy.utils import PcapReader

    out = []
    with PcapReader(path) as reader:
        for pkt in reader:
            ip = pkt.getlayer(IP)
            if ip is None or ip.flags.MF or ip.frag:  # fragments: n2n datagrams fit the MTU
                continue
            udp = ip.getlayer(UDP)
            if udp is not None:
                out.append((float(pkt.time), bytes(udp.payload)))
    return out


def write_frames(path: str, frames: list[tuple[float, bytes]]) -> None:
    from scapy.utils import PcapWriter

    writer = PcapWriter(path, linktype=LINKTYPE_ETHERNET, sync=False)
    try:
        writer.write_header(None)  # also for an empty result: a valid file with no frames
        for stamp, frame in frames:
            sec = int(stamp)
            writer.write_packet(frame, sec=sec, usec=round((stamp - sec) * 1e6))
    finally:
        writer.close()


def main(argv: Sequence[str]) -> int:
    return run_main(_main, argv)


def _parser() -> Parser:
    p = Parser(
        prog="pyn2n decode",
        description="Decode captured n2n traffic (pcap/pcapng) with the community's key and "
        "write the inner Ethernet frames as a pcap (n2n-decode's job).",
        epilog="example: pyn2n decode -c mynet -k secret -A3 underlay.pcap -w frames.pcap",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file of the underlay")
    p.add_argument("-c", dest="community", required=True, help="community name")
    p.add_argument("-k", dest="key", help="the community's key (-k of the edges); env N2N_KEY")
    p.add_argument("-A", dest="transform", metavar="N", help="cipher: 1 none .. 5 Speck")
    p.add_argument("-H", dest="header", action="store_true", help="headers are encrypted (-H)")
    p.add_argument("-w", dest="out", required=True, metavar="FILE", help="pcap to write")
    return p


def _main(argv: list[str]) -> int:
    ns = _parser().parse_args(argv)
    key = ns.key if ns.key is not None else os.environ.get("N2N_KEY")
    tid = None
    if ns.transform is not None:
        try:
            tid = int(ns.transform)
        except ValueError:
            tid = -1
    try:
        transform = make_transform(tid, key, os.urandom)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if len(ns.community.encode()) > C.N2N_COMMUNITY_SIZE - 1:
        raise UsageError(f"-c {ns.community!r}: a community name has at most 19 characters")
    crypto = HeaderCrypto(ns.community.encode()) if ns.header else None
    decoder = Decoder(ns.community, transform, crypto)
    try:
        datagrams = udp_payloads(ns.capture)
    except Exception as exc:  # OSError, or scapy's Scapy_Exception for a file of another kind
        raise UsageError(f"{ns.capture}: cannot read it as pcap/pcapng ({exc})") from None
    frames = [(t, f) for t, d in datagrams if (f := decoder.frame(d)) is not None]
    write_frames(ns.out, frames)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(decoder.counts.items()) if k != "frames")
    print(
        f"{len(frames)} frames written to {ns.out} from {len(datagrams)} UDP datagrams"
        + (f" (skipped: {counts})" if counts else ""),
        file=sys.stderr,
    )
    if decoder.counts["undecryptable"] and not frames:
        print("no PACKET decrypted: check -k and -A", file=sys.stderr)
        return 1
    return 0
