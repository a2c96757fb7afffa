"""The contract between a sans-IO node (edge, supernode) and its drivers — aioquic's, in short.

Inputs: datagrams (plain, or GRO-merged runs of equal segments), TAP frames (plain, or behind a
virtio_net_hdr), timer ticks, and the driver's own send failures. Outputs, drained by the driver
after each input: datagrams (plain, and GSO buffers of equal segments), frames (plain, and behind
a virtio_net_hdr), events, the next deadline (same clock as `now`) and the offloads the node
wants. A node never raises on remote input: it drops and counts. Every method a driver calls is
declared here; `io/` uses nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

from pyn2n.core.events import Event

Addr = tuple[str, int]  # (IPv4 address text, UDP port)


class MgmtError(Exception):
    """Raised by a management view to answer with an n2n error word, e.g. "noaccess"."""


class Offload(NamedTuple):
    """What the fast path wants from the drivers now: TSO/checksum offloads on the TAP (super-
    frames), UDP_GRO on the socket (merged reads)."""

    tso: bool
    gro: bool


class Node(Protocol):
    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None: ...

    def handle_timer(self, now: float) -> None: ...

    def get_timer(self) -> float | None: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]: ...

    def events(self) -> list[Event]: ...

    def send_failed(self, count: int) -> None:
        """The driver could not send `count` datagrams (counted, shown by management)."""
        ...

    def shutdown(self, now: float) -> None: ...


class EdgeNode(Node, Protocol):
    def receive_frame(self, frame: bytes, now: float) -> None: ...

    def frames_to_write(self) -> list[bytes]: ...

    def set_local_addresses(self, addrs: Iterable[bytes]) -> None:
        """Every IPv4/IPv6 address now on the TAP, packed (4 or 16 bytes), whenever they change
        (a keepalived VIP added or removed): the routing filter takes them as the edge's own."""
        ...


class FastEdgeNode(EdgeNode, Protocol):
    """An edge whose TAP hands out frames behind a virtio_net_hdr (IFF_VNET_HDR) and whose socket
    may merge datagrams (UDP_GRO): the fast path's drivers."""

    def receive_vnet_frames(self, frames: list[bytes], now: float) -> None: ...

    def receive_vnet_frame(self, frame: bytes, now: float) -> None:
        """One frame of such a TAP: the same as a batch of one, without the batch."""
        ...

    def receive_gro(self, buf: bytes, segment: int, addr: Addr, now: float) -> None: ...

    def gso_datagrams_to_send(self) -> list[tuple[bytes, int, Addr]]:
        """(buffer, segment size, addr): equal datagrams back to back for one UDP_SEGMENT send
        (the last may be shorter). Plain datagrams stay in `datagrams_to_send`, which the driver
        sends in one sendmmsg batch."""
        ...

    def vnet_frames_to_write(self) -> list[bytes]: ...

    def offload(self) -> Offload: ...

    def fast_outputs(self) -> tuple[list[bytes], list[tuple[bytes, int, Addr]], Offload]:
        """`vnet_frames_to_write()`, `gso_datagrams_to_send()` and `offload()` in one call: the
        fast loop's flush, which small frames must not pay three calls for."""
        ...


class KernelCommand(NamedTuple):
    """A kernel-path decision for its driver (`io/kernelpath.py`): `op` is one of
    `core/kernelpath.py`'s KP_* (prepare, activate, deactivate, remove) for the peer `mac`,
    whose VXLAN endpoint is `ip`:`port`."""

    op: str
    mac: bytes
    ip: str
    port: int


class KernelEdgeNode(FastEdgeNode, Protocol):
    """An edge whose unicast to some pyn2n peers may go through the kernel's VXLAN (the
    kernel path, docs/kernel-path.md): the driver reports this host's IPv4 addresses and
    carries out the node's commands."""

    def kernel_addresses(self, local_ipv4: frozenset[str]) -> None:
        """This host's IPv4 addresses now (the kernel path needs our public socket's)."""
        ...

    def kernel_commands(self) -> list[KernelCommand]: ...
