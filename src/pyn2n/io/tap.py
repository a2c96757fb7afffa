"""A Linux TAP device on a non-blocking /dev/net/tun fd.

Each `read()` returns one Ethernet frame (no packet-info prefix: IFF_NO_PI). With `vnet_hdr=True`
every frame read or written starts with a 10-byte struct virtio_net_hdr, which lets the kernel hand
out and accept 64 KiB GSO super-frames once `set_offload()` enables them
(docs/runtime-facts.md); `write_batch` then puts a zero header (no offload work) in front of plain frames and
`write_vnet_batch` writes frames that carry their own. The device exists while the fd is open:
`close()` removes it.
"""

from __future__ import annotations

import fcntl
import os
import struct

from pyn2n.io.linux import (
    IFF_NO_PI,
    IFF_TAP,
    IFF_VNET_HDR,
    IFNAMSIZ,
    IFREQ_FORMAT,
    TAP_MAX_READ,
    TUN_CLONE_DEVICE,
    TUNSETIFF,
    TUNSETOFFLOAD,
    TUNSETVNETHDRSZ,
)
from pyn2n.wire.vnet import VNET_HDR_LEN, ZERO_VNET_HDR


class TapDevice:
    """An open TAP interface. Build it with `TapDevice.open()`."""

    __slots__ = ("_fd", "bufsize", "name", "offload", "vnet_hdr", "write_errors")

    def __init__(self, fd: int, name: str, vnet_hdr: bool, bufsize: int) -> None:
        self._fd = fd
        self.name = name
        self.vnet_hdr = vnet_hdr
        # One read never returns more than this; a larger frame would be truncated by the kernel.
        self.bufsize = bufsize
        self.write_errors = 0
        self.offload = 0  # TUN_F_* flags in force

    @classmethod
    def open(
        cls, name: str = "edge0", vnet_hdr: bool = False, bufsize: int = TAP_MAX_READ
    ) -> TapDevice:
        """Create (or attach to a persistent) TAP `name`; `name` may hold `%d` for the kernel to fill.

        The interface starts DOWN and unconfigured; see `pyn2n.io.netconf.configure_tap`.
        """
        raw = name.encode()
        if not raw or len(raw) >= IFNAMSIZ:
            raise ValueError(f"TAP name {name!r} must have 1 to {IFNAMSIZ - 1} bytes")
        flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        try:
            fd = os.open(TUN_CLONE_DEVICE, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot open {TUN_CLONE_DEVICE} ({exc.strerror}): needs root or CAP_NET_ADMIN "
                "and the tun module",
            ) from exc
        try:
            ifr = fcntl.ioctl(fd, TUNSETIFF, struct.pack(IFREQ_FORMAT, raw, flags))
        except OSError as exc:
            os.close(fd)
            raise OSError(exc.errno, f"TUNSETIFF for TAP {name!r} failed ({exc.strerror})") from exc
        actual = struct.unpack(IFREQ_FORMAT, ifr)[0].rstrip(b"\0").decode()
        return cls(fd, actual, vnet_hdr, bufsize)

    def set_offload(self, flags: int, vnet_hdr_size: int = VNET_HDR_LEN) -> None:
        """Let the kernel pass checksum/TSO work through this TAP (TUN_F_* flags, 0 turns it off).

        Only meaningful on a device opened with `vnet_hdr=True`, whose frames carry the
        virtio_net_hdr describing the pending work.
        """
        if not self.vnet_hdr:
            raise ValueError("offloads need a TAP opened with vnet_hdr=True")
        fcntl.ioctl(self._fd, TUNSETVNETHDRSZ, struct.pack("i", vnet_hdr_size))
        fcntl.ioctl(self._fd, TUNSETOFFLOAD, flags)
        self.offload = flags

    def fileno(self) -> int:
        return self._fd

    def read(self) -> bytes | None:
        """One frame, or None when none is waiting."""
        try:
            return os.read(self._fd, self.bufsize)
        except BlockingIOError:
            return None

    def read_batch(self, max_n: int = 64) -> list[bytes]:
        """Up to `max_n` frames, fewer when the queue empties."""
        read, fd, size = os.read, self._fd, self.bufsize
        out: list[bytes] = []
        append = out.append
        for _ in range(max_n):
            try:
                append(read(fd, size))
            except BlockingIOError:
                break
        return out

    def write(self, frame: bytes) -> bool:
        """Hand one frame to the kernel; False (and counted) if it refused, e.g. while DOWN."""
        try:
            os.write(self._fd, frame)
        except OSError:
            self.write_errors += 1
            return False
        return True

    def write_batch(self, frames: list[bytes]) -> None:
        """Plain Ethernet frames (on a vnet_hdr TAP each gets a zero virtio header)."""
        write, fd = os.write, self._fd
        zero = ZERO_VNET_HDR if self.vnet_hdr else None
        for frame in frames:
            try:
                write(fd, frame if zero is None else zero + frame)
            except OSError:
                self.write_errors += 1

    def write_vnet_batch(self, frames: list[bytes]) -> None:
        """Frames that start with their own virtio_net_hdr (a vnet_hdr TAP only)."""
        write, fd = os.write, self._fd
        for frame in frames:
            try:
                write(fd, frame)
            except OSError:
                self.write_errors += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TapDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
