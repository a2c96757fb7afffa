"""The sans-IO edge (spec §5, §6, §7.1–§7.5; n2n `edge.c`, `edge_utils.c`): the `Edge` facade
that the drivers see (contract: `core/api.py` `FastEdgeNode`). It builds the collaborators —
`Registration`, `Discovery`, `DataPath`, `Dispatcher` around one `EdgeState` — and owns the
timer schedule. It never touches a socket, the clock or a random source: `now` comes with every
input, randomness from the injected `rng`, wall-clock time (header-encryption stamps, management
time stamps) from the optional `wall_clock`. Where and why pyn2n differs from n2n:
docs/n2n-differences.md ("Edge"); how it works: docs/edge.md."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from ipaddress import ip_address

from pyn2n.constants import MSG_TYPE_PACKET, N2N_COMPRESSION_ID_NONE, N2N_TRANSFORM_ID_NULL
from pyn2n.core.api import Addr, FastEdgeNode, KernelCommand, KernelEdgeNode, Offload
from pyn2n.core.edge.datapath import DataPath
from pyn2n.core.edge.discovery import Discovery
from pyn2n.core.edge.dispatch import Dispatcher
from pyn2n.core.edge.registration import Registration
from pyn2n.core.edge.state import EdgeState, Phase, SnWait
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.events import Event
from pyn2n.core.fastpath import FAST_MAGIC, FastPath, aead_for_transform
from pyn2n.core.fastpath.framing import DEFAULT_SEGMENT, IPV6_SEGMENT
from pyn2n.core.kernelpath import KernelPath
from pyn2n.core.selection import KnownSupernode
from pyn2n.wire.errors import WireError


class Edge:
    """One edge of one community; see the module docstring."""

    # per-frame inputs go straight to the data path (bound in __init__: no extra call)
    receive_frame: Callable[[bytes, float], None]
    receive_vnet_frames: Callable[[list[bytes], float], None]
    receive_vnet_frame: Callable[[bytes, float], None]

    def __init__(
        self,
        config: EdgeConfig,
        rng: Callable[[int], bytes],
        now: float,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        st = self.st = EdgeState(config, rng, wall_clock)
        self.config = config
        self.mac = st.mac
        self.peers = st.peers
        self.sns = st.sns
        self.drops = st.drops
        self.start_time = now
        self.keep_running = True
        self.reg = Registration(st, now)
        self.disc = Discovery(st, now)
        self.data = DataPath(st, self.reg, self.disc, now)
        self.dispatch = Dispatcher(st, self.reg, self.disc, self.data.groups)
        self.reg.send_frame = self.data.send_frame
        self.hosts = self.data.hosts
        self.receive_frame = self.data.receive_frame
        self.receive_vnet_frames = self.data.receive_vnet_frames
        self.receive_vnet_frame = self.data.receive_vnet_frame
        self._rx_packet = self.data.rx_packet
        self._rx_control = self.dispatch.receive
        if config.fastpath:
            st.fast = FastPath(
                mac=st.mac,
                community20=st.community20,
                passphrase=config.key,
                aead=aead_for_transform(config.transform_id),
                peers=st.peers,
                rng=rng,
                send_hello=st.send_sealed,
                send_datagram=st.out_append,
                drops=st.drops,
                routing_hosts=self.hosts if config.allow_routing else None,
                segment=IPV6_SEGMENT if config.ipv6 else DEFAULT_SEGMENT,
            )
            st.fast.ip4 = st.ip4
            st.fast.local4 = st.local4
        self._fast = st.fast
        self._secure = st.secure
        self._deadline: float | None = None  # get_timer's answer until something moves it
        self.kernel: KernelPath | None = None  # enable_kernel_path() (docs/kernel-path.md)

    # -- read-only views of the collaborators' state (tests, management, the CLI) ------------

    @property
    def fastpath(self) -> FastPath | None:
        return self._fast

    @property
    def ip(self) -> str | None:
        return self.st.ip

    @property
    def prefix(self) -> int:
        return self.st.prefix

    @property
    def last_sup(self) -> float | None:
        """When the last real REGISTER_SUPER_ACK (or relayed PACKET) came (None: not yet)."""
        return self.st.last_sup

    @property
    def phase(self) -> Phase:
        return self.reg.phase

    @property
    def sn_wait(self) -> SnWait:
        return self.reg.sn_wait

    # -- contract: inputs ---------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        """A datagram from the edge's UDP socket (n2n `process_udp`)."""
        fast = self._fast
        if fast is not None and data and data[0] == FAST_MAGIC and fast.receive(data, addr, now):
            return
        try:
            secure = self._secure
            if secure is not None:
                opened = secure.open(data)
                if opened is None:
                    self.drops["he_decrypt"] += 1
                    return
                data, stamp, static = opened
                if not secure.key_ok(data[3] & 0x1F, static):
                    self.drops["wrong_key"] += 1
                    return
            else:
                stamp = None
            if len(data) > 3 and data[3] & 0x1F == MSG_TYPE_PACKET:
                self._rx_packet(data, addr, now, stamp)
            else:
                self.data.timers_moved = True
                self._rx_control(data, addr, now, stamp)
        except WireError:
            self.drops["decode"] += 1

    def receive_gro(self, buf: bytes, segment: int, addr: Addr, now: float) -> None:
        """A UDP_GRO read: datagrams of `segment` bytes from `addr` back to back."""
        if self._fast is not None:
            self._fast.receive_gro(buf, segment, addr, now, self.receive_datagram)
            return
        for off in range(0, len(buf), segment):
            self.receive_datagram(buf[off : off + segment], addr, now)

    def send_failed(self, count: int) -> None:
        """The driver could not send `count` datagrams (shown in management `drops`)."""
        self.drops["send_failed"] += count

    def shutdown(self, now: float) -> None:
        """Leaving: tell the current supernode (UNREGISTER_SUPER), as n2n does on exit."""
        self.reg.send_unregister_super()
        self.keep_running = False
        self.data.timers_moved = True

    def set_local_addresses(self, addrs: Iterable[bytes]) -> None:
        """The TAP's IPv4/IPv6 addresses (packed), all of them, each time they change: without
        -r they count as ours for the routing filter, like the edge's own address."""
        self.st.set_tap_addresses(addrs)

    @property
    def local_addresses(self) -> list[str]:
        """Every address the routing filter takes as ours (the views), as text."""
        st = self.st
        return sorted(str(ip_address(a)) for a in st.local4 | st.tap6 if a != bytes(4))

    def receive_local(self, data: bytes, addr: Addr, now: float) -> None:
        """A datagram from the LAN discovery socket (n2n's multicast group 224.0.0.68:1968)."""
        self.data.timers_moved = True
        self.disc.on_local(data, addr, now)

    def set_tap_address(self, ip: str | None, prefix: int) -> None:
        """DHCP mode: the address a DHCP client gave the TAP (sent in the next REGISTERs)."""
        self.st.set_ip(ip, prefix)

    def add_supernode(self, addr: Addr) -> None:
        """A `-l` supernode whose name resolved only after start-up (the CLI retries DNS): it
        joins the list as a configured one would, for selection and failover."""
        if self.sns.find_by_addr(addr) is None:
            self.sns.entries.append(KnownSupernode(addr))

    # -- the kernel path (docs/kernel-path.md) -------------------------------------------------

    def kernel_path_refusal(self) -> str:
        """Why this edge cannot use the kernel path ("" if it can)."""
        config = self.config
        if self._fast is None:
            return "it needs the fast path (drop --no-fastpath)"
        if config.key or config.transform_id != N2N_TRANSFORM_ID_NULL:
            return "the community encrypts (-A/-k); only unencrypted ones (-A1) use it"
        if config.header_encryption:
            return "-H asks for authenticated messages, which VXLAN frames are not"
        if config.compression != N2N_COMPRESSION_ID_NONE:
            return "-z compresses, and VXLAN frames are not compressed"
        return ""

    def enable_kernel_path(self, port: int) -> KernelPath:
        """Negotiate the kernel path with pyn2n peers from now on (its driver is in place)."""
        if self._fast is None or self.kernel_path_refusal():
            raise ValueError(self.kernel_path_refusal())
        data = self.data

        def write(frame: bytes) -> None:
            data.frames.append(frame)

        reg = self.reg
        kernel = KernelPath(
            mac=self.mac,
            community=self.config.community_bytes,
            port=port,
            rng=self.st.rng,
            write_frame=write,
            public_sock=lambda: reg.public_sock,
        )
        self.kernel = data.kernel = self._fast.kernel = kernel
        return kernel

    def kernel_addresses(self, local_ipv4: frozenset[str]) -> None:
        if self.kernel is not None:
            self.kernel.local_ipv4 = local_ipv4

    def kernel_commands(self) -> list[KernelCommand]:
        return _NO_COMMANDS if self.kernel is None else self.kernel.drain()

    # -- contract: timers ---------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next deadline, recomputed only after timers, control messages and frames that
        reached discovery (`DataPath.timers_moved`): a data frame moves no deadline."""
        data = self.data
        if not data.timers_moved:
            return self._deadline
        data.timers_moved = False
        self._deadline = t = self._next_deadline()
        return t

    def _next_deadline(self) -> float | None:
        reg = self.reg
        if reg.phase is not Phase.RUN:
            return reg.boot_deadline
        t = min(reg.next_register, reg.next_sweep, self.disc.next_purge_pending)
        if not reg.sn_wait:
            t = min(t, self.disc.next_purge_known, reg.next_probe)
        if self.data.routing:
            t = min(t, self.data.next_purge_hosts)
        groups_t = self.data.groups.deadline()
        if groups_t is not None:
            t = min(t, groups_t)
        if self._fast is not None:
            fast_t = self._fast.get_timer()
            if fast_t is not None:
                t = min(t, fast_t)
            kernel_t = None if self.kernel is None else self.kernel.get_timer()
            if kernel_t is not None:
                t = min(t, kernel_t)
        return t

    def handle_timer(self, now: float) -> None:
        reg = self.reg
        self.data.timers_moved = True
        if reg.phase is not Phase.RUN:
            reg.bootstrap_timer(now)
            return
        reg.register_timer(now)
        reg.probe_timer(now)
        self.disc.purge(now, sn_answers=not reg.sn_wait)
        self.data.purge_hosts(now)
        reg.sweep_timer(now)
        self.data.groups.tick(now)
        if self._fast is not None:
            self._fast.handle_timer(now)
        if self.kernel is not None:
            self.kernel.handle_timer(now)

    # -- contract: outputs --------------------------------------------------------------------

    # The drains hand back the queue and leave a new one, or the queue itself while it is empty
    # (no list made per wake-up for nothing; the drivers only read what they get).

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        st = self.st
        out = st.out
        if out:
            st.out = []
        return out

    def frames_to_write(self) -> list[bytes]:
        data = self.data
        out = data.frames
        if out:
            data.frames = []
        return out

    def events(self) -> list[Event]:
        st = self.st
        out = st.events
        if out:
            st.events = []
        return out

    def gso_datagrams_to_send(self) -> list[tuple[bytes, int, Addr]]:
        """(buffer, segment size, addr): datagrams of `segment size` bytes back to back, for one
        UDP_SEGMENT send each (the last datagram may be shorter)."""
        fast = self._fast
        if fast is None:
            return _NO_GSO
        out = fast.gso_out
        if out:
            fast.gso_out = []
        # (no typing.cast here: `list[tuple[...]]` would build alias objects on every call)
        return out  # type: ignore[return-value]

    def vnet_frames_to_write(self) -> list[bytes]:
        """Frames from fast-path peers, each behind its virtio_net_hdr (for a IFF_VNET_HDR TAP)."""
        fast = self._fast
        if fast is None:
            return _NO_FRAMES
        out = fast.frames
        if out:
            fast.frames = []
        return out

    def fast_outputs(self) -> tuple[list[bytes], list[tuple[bytes, int, Addr]], Offload]:
        """The three above in one call (one constant answer while the fast path has nothing)."""
        fast = self._fast
        if fast is None:
            return _FAST_IDLE
        frames = fast.frames
        gso = fast.gso_out
        if not (frames or gso or fast.bulk or fast.gro):
            return _FAST_IDLE
        if frames:
            fast.frames = []
        if gso:
            fast.gso_out = []
        want = _OFFLOADS[fast.offload][fast.gro] if fast.bulk or fast.gro else _NO_OFFLOAD
        return frames, gso, want  # type: ignore[return-value]

    def offload(self) -> Offload:
        """The offloads the fast path wants now (none without it): one of four answers made
        once (the fast loop asks `fast_outputs`, after every flush)."""
        fast = self._fast
        if fast is None or not (fast.bulk or fast.gro):  # (idle, or small frames only)
            return _NO_OFFLOAD
        return _OFFLOADS[fast.offload][fast.gro]


_NO_GSO: list[tuple[bytes, int, Addr]] = []  # (never appended to)
_NO_FRAMES: list[bytes] = []
_NO_COMMANDS: list[KernelCommand] = []
_OFFLOADS = (
    (Offload(False, False), Offload(False, True)),
    (Offload(True, False), Offload(True, True)),
)
_NO_OFFLOAD = _OFFLOADS[0][0]
_FAST_IDLE = (_NO_FRAMES, _NO_GSO, _NO_OFFLOAD)


def _kernel_contract(edge: Edge) -> KernelEdgeNode:
    return edge


def _contract(edge: Edge) -> FastEdgeNode:
    """mypy checks here that `Edge` offers the whole driver contract."""
    return edge
