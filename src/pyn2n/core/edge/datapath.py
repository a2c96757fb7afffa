"""The edge's data path (spec §5, §7.4, §7.5; n2n `edge_send_packet2net`, `handle_PACKET`):
frames from the TAP (plain, or behind a virtio_net_hdr for the fast path) to PACKETs, and
PACKETs from the network to frames; compression, the transform, the layer-2 rules of
`core/l2rules.py` and the n2n packet counters. Hot path: no dataclass, log line or event per
frame, only plain counters. PACKETs that do not open (another cipher, or a group frame whose
decrypted destination is not the one in the header: another key) mark the peer and warn."""

from __future__ import annotations

from pyn2n.constants import (
    MAC_LEARNING_EXPIRE,
    MSG_TYPE_PACKET,
    N2N_COMPRESSION_ID_NONE,
    N2N_FLAGS_FROM_SUPERNODE,
    N2N_REGULAR_REG_COOKIE,
    SWEEP_TIME,
)
from pyn2n.core.api import Addr
from pyn2n.core.edge.discovery import Discovery
from pyn2n.core.edge.groups import Multicast
from pyn2n.core.edge.registration import Registration
from pyn2n.core.edge.state import EdgeState, peer_addr
from pyn2n.core.events import PeerAction
from pyn2n.core.kernelpath import KernelPath
from pyn2n.core.l2rules import HostTable, foreign_destination, foreign_source, is_multicast
from pyn2n.core.peers import KEYS_DIFFER, NO_SOCK
from pyn2n.core.rules import TrafficFilter
from pyn2n.core.selection import NULL_MAC, KnownSupernode
from pyn2n.transforms import (
    TRANSFORM_NAMES,
    Compression,
    TransformError,
    make_compression,
    make_transform,
)
from pyn2n.wire.membership import mark_packet
from pyn2n.wire.packet import decode_packet_header, encode_packet, packet_header
from pyn2n.wire.types import mac_to_str
from pyn2n.wire.vnet import frame_segments, to_plain_frames


class DataPath:
    """TAP frames out as PACKETs, PACKETs in as TAP frames (see the module docstring)."""

    def __init__(self, st: EdgeState, reg: Registration, disc: Discovery, now: float) -> None:
        config = st.config
        self.st = st
        self.reg = reg
        self.disc = disc
        # fixed for the edge's life: copied here so the per-frame code reads them in one step
        self.mac = st.mac
        self.peers = st.peers
        self.sns = st.sns
        self.drops = st.drops
        self.secure = st.secure
        self.community20 = st.community20
        self.p2p_fresh = st.p2p_fresh
        self.tid = config.transform_id
        self.transform = make_transform(self.tid, config.key, st.rng)
        self.compression = (
            make_compression(config.compression)
            if config.compression != N2N_COMPRESSION_ID_NONE
            else None
        )
        self.decompressors: dict[int, Compression] = {}
        self.drop_multicast = config.drop_multicast
        self.rules = TrafficFilter.parse(config.rules)
        if self.rules is not None:
            # -R: the filtering variants shadow the methods, so without rules nothing is paid
            self.receive_frame = self._receive_frame_filtered  # type: ignore[method-assign]
            self._open = self._open_filtered  # type: ignore[method-assign]
        self.routing = config.allow_routing
        self.hosts = HostTable()  # -r: bridged hosts behind other edges
        self.next_purge_hosts = now + SWEEP_TIME
        # counters (n2n packetstats)
        self.transop_tx = 0
        self.transop_rx = 0
        self.tx_p2p = 0
        self.rx_p2p = 0
        self.tx_sup = 0
        self.rx_sup = 0
        self.tx_sup_broadcast = 0
        self.rx_sup_broadcast = 0
        # payload bytes (the frames as transformed, after the PACKET header), for the metrics
        self.tx_p2p_bytes = 0
        self.rx_p2p_bytes = 0
        self.tx_sup_bytes = 0
        self.rx_sup_bytes = 0
        self.last_p2p: float | None = None
        self.frames: list[bytes] = []  # to the TAP (drained by `Edge.frames_to_write`)
        # set where a frame reaches discovery (which may move a deadline): `Edge.get_timer`
        # recomputes only then, after timers, and after control messages
        self.timers_moved = True
        # PACKET headers by destination MAC (no compression): all but the payload is fixed
        self._headers: dict[bytes, bytes] = {}
        # broadcast and multicast straight to pyn2n peers, pruned to their groups
        self.groups = Multicast(st, self.frames_append, now)
        self.kernel: KernelPath | None = None  # the kernel path's probes come out of the TAP

    def frames_append(self, frame: bytes) -> None:
        self.frames.append(frame)

    def purge_hosts(self, now: float) -> None:
        if self.routing and now >= self.next_purge_hosts:
            self.hosts.purge(now - MAC_LEARNING_EXPIRE)
            self.next_purge_hosts = now + SWEEP_TIME

    # ================================================================ TAP -> network

    def receive_frame(self, frame: bytes, now: float) -> None:
        """An Ethernet frame read from the TAP device (n2n `edge_read_from_tap`)."""
        if len(frame) < 14:
            self.drops["tap_short"] += 1
            return
        group = frame[0] & 1
        # maybe an IGMP (IPv4 protocol 2) or MLD (IPv6 hop-by-hop or ICMPv6) report
        if (
            group
            and len(frame) >= 34
            and (frame[23] == 2 or frame[20] in (0, 58))
            and self.groups.snoop(frame, now)
        ):
            self.timers_moved = True
        if group and self.drop_multicast and is_multicast(frame):
            self.drops["tap_multicast"] += 1
            return
        if self.st.last_sup is None:
            self.drops["tap_not_registered"] += 1
            return
        self.send_frame(frame, group, now)

    def _receive_frame_filtered(self, frame: bytes, now: float) -> None:
        """`receive_frame` with -R rules (n2n filters TAP frames before sending them)."""
        assert self.rules is not None
        if len(frame) >= 14 and not self.rules.allows(frame):
            self.drops["tap_filtered"] += 1
            return
        DataPath.receive_frame(self, frame, now)

    def receive_vnet_frames(self, frames: list[bytes], now: float) -> None:
        """A batch read from a TAP opened with IFF_VNET_HDR (10-byte virtio_net_hdr + frame).

        Hot path: finished plain frames go straight to the fast path's `send` (peers with a fast
        session) or to the standard path (the others); super-frames and frames still needing a
        checksum take `receive_vnet_frame`."""
        receive_vnet_frame = self.receive_vnet_frame
        receive_frame = self.receive_frame
        fast = self.st.fast
        if fast is not None and fast.tx and fast.hosts is None:
            tx = fast.tx
            std = 0
            send_frame = self.send_frame
            fast_send = fast.send
            registered = self.st.last_sup is not None
            for data in frames:
                if data[1] or data[0] & 1:
                    receive_vnet_frame(data, now)  # super-frames, frames needing a checksum
                elif data[10:16] in tx:
                    # a plain frame to a fast peer (a flow under loss, in single frames) straight
                    # to `send`; a short one or a stale session: the checks of the slow way
                    if len(data) < 24 or not fast_send(data, now):
                        receive_vnet_frame(data, now)
                elif data[10] & 1 or not registered or len(data) < 24:
                    receive_frame(data[10:], now)  # group, short, or not yet registered
                else:
                    std += 1
                    send_frame(data[10:], 0, now)  # (receive_frame's checks, done above)
            if std:
                fast.count_standard(std, now)  # (many such frames turn the TAP offloads off)
        elif fast is not None and fast.tx:  # -r: bridged hosts, MACs are mapped per frame
            for data in frames:
                receive_vnet_frame(data, now)
        else:
            for data in frames:
                if data[0] & 1 or data[1]:  # NEEDS_CSUM or GSO: cut into plain frames
                    receive_vnet_frame(data, now)
                else:
                    receive_frame(data[10:], now)

    def receive_vnet_frame(self, data: bytes, now: float) -> None:
        """A frame read from a TAP opened with IFF_VNET_HDR: virtio_net_hdr + Ethernet frame,
        maybe a GSO super-frame or one whose checksum is still to be filled in."""
        fast = self.st.fast
        if fast is not None and not data[10] & 1:
            if fast.tx and len(data) >= 24 and fast.send(data, now):
                return
            # many such frames turn the TAP offloads off: a super-frame counts as its segments,
            # so a bulk flow to a standard-path peer stops being cut in Python within a few
            fast.count_standard(frame_segments(data) if data[1] else 1, now)
        if data[0] & 1 or data[1]:
            # NEEDS_CSUM or GSO: the standard path carries finished frames only
            try:
                frames = to_plain_frames(data)
            except ValueError:
                self.drops["tap_offload"] += 1
                return
            for frame in frames:
                self.receive_frame(frame, now)
        else:
            self.receive_frame(data[10:], now)

    def send_frame(self, frame: bytes, group: int, now: float) -> None:
        """n2n `edge_send_packet2net` + `send_packet`."""
        dst = frame[:6]
        if not self.routing:
            if foreign_source(frame, 0, self.st.ip4, self.st.local4):
                self.drops["tap_routed"] += 1
                return
        elif not group:
            dst = self.hosts.edge_for(dst)
        compression = self.compression
        if compression is not None and (packed := compression.compress(frame)) is not None:
            payload = self.transform.encode(packed)
            pkt = encode_packet(self.community20, self.mac, dst, compression.id, self.tid, payload)
        else:
            head = self._headers.get(dst)
            if head is None:
                head = self._header(dst)
            pkt = head + self.transform.encode(frame)
        self.transop_tx += 1
        if group:
            self._send_group(pkt, frame, now)
            return
        if self.secure is not None:
            pkt = self.secure.seal(pkt)
        out = self.st.out
        peer = self.peers.known.get(dst)
        if peer is not None:
            last = peer.last_p2p
            if (last is not None and now - last < self.p2p_fresh) or self.reg.sn_unreachable(now):
                # fresh path; or no supernode to relay through, so the last direct path is the
                # only one left (n2n would drop the peer here and lose it for good)
                self.tx_p2p += 1
                self.tx_p2p_bytes += len(frame)
                out.append((pkt, peer.sock))
                return
            # too long without direct traffic: the path may be gone (n2n find_peer_destination)
            self.peers.remove_known(dst)
            self.st.peer_event(PeerAction.DEL_P2P, peer)
            stale_sock = peer.sock
        else:
            kernel = self.kernel
            if kernel is not None and dst == kernel.probe_mac:
                self.transop_tx -= 1  # a kernel-path probe, not traffic (docs/kernel-path.md)
                kernel.on_probe(frame, now)
                return
            stale_sock = NO_SOCK
        self.tx_sup += 1
        self.tx_sup_bytes += len(frame)
        out.append((pkt, self.sns.current.addr))
        self.timers_moved = True
        self.disc.query_peer(dst, now, stale_sock)

    def _header(self, dst: bytes) -> bytes:
        """The PACKET header to `dst` without compression, built once per destination."""
        headers = self._headers
        if len(headers) >= 1024:  # bound: MACs come from the TAP
            headers.clear()
        head = headers[dst] = packet_header(self.community20, self.mac, dst, self.tid)
        return head

    def _send_group(self, pkt: bytes, frame: bytes, now: float) -> None:
        """Broadcast and multicast (docs/multicast.md): straight to the pyn2n peers on a fresh
        direct path that want it; the rest through the supernode (a pyn2n one skips the peers
        served here), or, while no supernode answers, to every other known peer."""
        out = self.st.out
        secure = self.secure
        sealed = pkt if secure is None else secure.seal(pkt)
        gone = self.reg.sn_unreachable(now)
        groups = self.groups
        served: list[bytes] = []
        if groups.direct:
            addrs, served = groups.targets(frame, now, gone)
            for addr in addrs:
                out.append((sealed, addr))
            self.tx_p2p += len(addrs)
            self.tx_p2p_bytes += len(frame) * len(addrs)
        if gone:
            # no supernode answers: straight to every other known peer (n2n send_packet)
            for mac, peer in self.peers.known.items():
                if mac not in served:
                    out.append((sealed, peer.sock))
            return
        self.tx_sup += 1
        self.tx_sup_bytes += len(frame)
        self.tx_sup_broadcast += 1
        sn = self.sns.current.addr
        if served and groups.sn_skips(sn, now):
            marked = mark_packet(pkt, served)
            out.append((marked if secure is None else secure.seal(marked), sn))
        else:
            out.append((sealed, sn))

    # ================================================================ network -> TAP

    def rx_packet(self, data: bytes, addr: Addr, now: float, stamp: int | None) -> None:
        """A PACKET (n2n `handle_PACKET`); the lean branch of `Edge.receive_datagram`."""
        src, dst, sock, comp, tid, off = decode_packet_header(data)
        drops = self.drops
        if data[4:24] != self.community20:
            drops["unknown_community"] += 1
            return
        from_sn = data[3] & N2N_FLAGS_FROM_SUPERNODE
        sn = None
        if from_sn:
            sn = self.sns.current
            if sn.addr != addr and (sn := self._other_sn(addr)) is None:
                return
        if stamp is not None and not self._stamp_ok(sn if from_sn else src, stamp):
            return
        if self.st.last_sup is None:
            drops["not_registered"] += 1
            return
        if src[0] & 1 or src == self.mac or src == NULL_MAC:
            drops["bad_mac"] += 1
            return
        if from_sn:
            self.rx_sup_bytes += len(data) - off
            self._seen_relayed(src, peer_addr(sock, self.st.ipv6) or addr, dst, now)
        else:
            # n2n check_peer_registration_needed: direct traffic, so not "pending" any more
            peers = self.peers
            peers.pending.pop(src, None)
            peer = peers.known.get(src)
            if peer is None:
                self.timers_moved = True
                self.disc.unknown_sender(False, src, None, None, addr, now)
            else:
                peer.last_p2p = now
                if peer.sock == addr:
                    peer.last_seen = now
                elif now - peer.last_seen >= 1.0 or peer.last_cookie < N2N_REGULAR_REG_COOKIE:
                    self.timers_moved = True
                    self.disc.known_sock_changed(peer, addr, None, None, now)
            self.rx_p2p += 1
            self.rx_p2p_bytes += len(data) - off
            self.last_p2p = now
        if (
            dst[0] & 1
            and src in self.groups.direct
            and self._duplicate(data, off, src, from_sn, now)
        ):
            return
        self._open(data, off, comp, tid, src, now)

    def _duplicate(self, data: bytes, off: int, src: bytes, from_sn: int, now: float) -> bool:
        """A group frame from a pyn2n peer that came both directly and relayed: the second."""
        if self.groups.duplicate(src, data[off:], bool(from_sn), now):
            self.drops["group_duplicate"] += 1
            return True
        return False

    def _other_sn(self, addr: Addr) -> KnownSupernode | None:
        """The supernode at `addr` when not the current one (None: counted as unknown)."""
        sn = self.sns.find_by_addr(addr)
        if sn is None:
            self.drops["unknown_supernode"] += 1
        return sn

    def _stamp_ok(self, sender: object, stamp: int) -> bool:
        """-H: the PACKET's stamp is fresh for its sender (supernode or edge)."""
        if self.secure is not None and self.secure.check_stamp(sender, stamp, MSG_TYPE_PACKET):
            return True
        self.drops["replay"] += 1
        return False

    def _seen_relayed(self, src: bytes, orig: Addr, dst: bytes, now: float) -> None:
        """n2n check_peer_registration_needed + counters, for a PACKET the supernode relayed."""
        peer = self.peers.known.get(src)
        if peer is None:
            self.timers_moved = True
            self.disc.unknown_sender(True, src, None, None, orig, now)
        elif peer.sock == orig:
            peer.last_seen = now
        if dst[0] & 1:
            self.rx_sup_broadcast += 1
        self.rx_sup += 1
        self.st.last_sup = now

    def _open(self, data: bytes, off: int, comp: int, tid: int, src: bytes, now: float) -> None:
        """The payload: transform, decompression, then the layer-2 rules, out to the TAP."""
        drops = self.drops
        if tid != self.tid:
            self._other_cipher(src, tid, now)
            return
        try:
            frame = self.transform.decode(data[off:])
        except TransformError:
            self._undecryptable(src, now)
            return
        self.transop_rx += 1
        if comp != N2N_COMPRESSION_ID_NONE:
            frame = self._decompress(comp, frame)  # type: ignore[assignment]
            if frame is None:
                return
        if len(frame) < 14:
            drops["short_frame"] += 1
            return
        if frame[0] & 1:
            if not self._group_ok(frame, data, src, now):
                return
        elif not self.routing and foreign_destination(frame, 0, self.st.ip4, self.st.local4):
            # only IPv4 unicast addressed to us passes, and broadcast (n2n without -r)
            drops["routed"] += 1
            return
        if self.routing and not self.hosts.learn(frame, 0, src, now):
            drops["hosts_full"] += 1
        self.frames.append(frame)

    def _open_filtered(
        self, data: bytes, off: int, comp: int, tid: int, src: bytes, now: float
    ) -> None:
        """`_open` with -R rules: a frame it delivered is taken back if a rule drops it (n2n
        filters after learning bridged hosts, as here)."""
        assert self.rules is not None
        frames = self.frames
        n = len(frames)
        DataPath._open(self, data, off, comp, tid, src, now)
        if len(frames) > n and not self.rules.allows(frames[-1]):
            frames.pop()
            self.drops["filtered"] += 1

    def _group_ok(self, frame: bytes, data: bytes, src: bytes, now: float) -> bool:
        """A received broadcast or multicast frame: ours to deliver?"""
        if frame[:6] != data[30:36]:
            # a group frame names its destination in the PACKET header too (n2n): anything
            # else means the payload was decrypted with another key
            self.transop_rx -= 1
            self._undecryptable(src, now)
            return False
        if is_multicast(frame):
            if self.drop_multicast:
                self.drops["multicast"] += 1
                return False
            if self.groups.pruning(now) and not self.groups.wanted(frame):
                # a group our host did not join, relayed by a supernode that relays to all
                self.drops["group_not_joined"] += 1
                return False
        elif not self.routing and foreign_destination(frame, 0, self.st.ip4, self.st.local4):
            self.drops["routed"] += 1
            return False
        return True

    def _trouble(self, src: bytes, now: float, why: str) -> None:
        peers = self.peers
        peer = peers.known.get(src) or peers.pending.get(src)
        if peer is not None:
            peer.trouble = (now, why)

    def _undecryptable(self, src: bytes, now: float) -> None:
        """A PACKET from `src` whose payload does not decrypt with our key."""
        self.drops["transform"] += 1
        self._trouble(src, now, KEYS_DIFFER)
        self.st.warn(
            "peer_key",
            src,
            now,
            f"peer {mac_to_str(src)}: its packets do not decrypt with our key"
            " — check -k and -A on both edges",
        )

    def _other_cipher(self, src: bytes, tid: int, now: float) -> None:
        """A PACKET from `src` under another transform (cipher) than ours."""
        self.drops["transform_id"] += 1
        theirs, ours = _cipher(tid), _cipher(self.tid)
        self._trouble(src, now, f"ciphers differ: it sends {theirs}, we use {ours}")
        self.st.warn(
            "peer_cipher",
            src,
            now,
            f"peer {mac_to_str(src)}: it encrypts with {theirs}, we use {ours}"
            " — use the same -A on both edges",
        )

    def _decompress(self, comp: int, data: bytes) -> bytes | None:
        """Everyone decompresses whatever a peer chose (n2n), so one decompressor per id."""
        method = self.decompressors.get(comp)
        if method is None:
            try:
                method = make_compression(comp)
            except ValueError:  # unknown id, 0 included
                self.drops["compression"] += 1
                return None
            self.decompressors[comp] = method
        try:
            return method.decompress(data)
        except TransformError:
            self.drops["decompress"] += 1
            return None


def _cipher(tid: int) -> str:
    return f"{TRANSFORM_NAMES.get(tid, 'transform ' + str(tid))} (-A{tid})"
