"""A Linux TAP device on a non-blocking /dev/net/tun fd.

Each `read()` returns one Ethernet frame (no packet-info prefix: IFF_NO_PI). With `vnet_hdr=True`
every frame read or written starts with a 10-byte struct virtio_net_hdr, which lets the kernel hand
out and accept 64 KiB GSO super-frames once `set_offload()` enables them
(docs/runtime-facts.md); `write_batch` then puts a zero header (no offload work) in front of plain frames and
`write_vnet_batch` writes frames that carry their own. The device exists while the fd is open:
`close()` removes it. With `interactive=N` the device gets a second queue, `priority`, that
receives the frames of at most N bytes (io/steering.py); writes all go through the first.
"""

from __future__ import annotations

import fcntl
import os
import struct

from pyn2n.io.linux import (
    IFF_MULTI_QUEUE,
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
from pyn2n.io.steering import TURN_BYTES, steer_short_frames
from pyn2n.wire.vnet import VNET_HDR_LEN, ZERO_VNET_HDR


class TapDevice:
    """An open TAP interface. Build it with `TapDevice.open()`."""

    __slots__ = (
        "_fd",
        "bufsize",
        "name",
        "offload",
        "priority",
        "priority_off",
        "vnet_hdr",
        "write_errors",
    )

    def __init__(self, fd: int, name: str, vnet_hdr: bool, bufsize: int) -> None:
        self._fd = fd
        self.name = name
        self.vnet_hdr = vnet_hdr
        # One read never returns more than this; a larger frame would be truncated by the kernel.
        self.bufsize = bufsize
        self.write_errors = 0
        self.offload = 0  # TUN_F_* flags in force
        # the queue of short frames (`open(interactive=...)`), or why there is none
        self.priority: TapDevice | None = None
        self.priority_off = "not asked for"

    @classmethod
    def open(
        cls,
        name: str = "edge0",
        vnet_hdr: bool = False,
        bufsize: int = TAP_MAX_READ,
        interactive: int = 0,
    ) -> TapDevice:
        """Create (or attach to a persistent) TAP `name`; `name` may hold `%d` for the kernel to fill.

        The interface starts DOWN and unconfigured; see `pyn2n.io.netconf.configure_tap`.
        `interactive` > 0 asks for the `priority` queue of frames up to that many bytes; where
        the kernel refuses, the device has one queue and `priority_off` says why.
        """
        raw = name.encode()
        if not raw or len(raw) >= IFNAMSIZ:
            raise ValueError(f"TAP name {name!r} must have 1 to {IFNAMSIZ - 1} bytes")
        flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        if interactive > 0:
            try:
                fd, actual = _attach(raw, flags | IFF_MULTI_QUEUE)
            except OSError as exc:  # e.g. a persistent single-queue TAP of that name
                why = f"no second queue on TAP {name!r} ({exc.strerror})"
            else:
                tap = cls(fd, actual, vnet_hdr, bufsize)
                tap._add_priority(flags, interactive)
                return tap
        else:
            why = "not asked for"
        fd, actual = _attach(raw, flags)
        tap = cls(fd, actual, vnet_hdr, bufsize)
        tap.priority_off = why
        return tap

    def _add_priority(self, flags: int, limit: int) -> None:
        """Attach the second queue and steer the short frames to it."""
        try:
            fd, _ = _attach(self.name.encode(), flags | IFF_MULTI_QUEUE)
        except OSError as exc:
            self.priority_off = f"no second queue on TAP {self.name!r} ({exc.strerror})"
            return
        try:
            steer_short_frames(self._fd, limit)
        except OSError as exc:
            os.close(fd)  # the device goes back to one queue
            self.priority_off = f"the kernel refused the steering program ({exc.strerror})"
            return
        # its frames are short: reads need no 64 KiB buffer
        self.priority = TapDevice(fd, self.name, self.vnet_hdr, min(self.bufsize, 2048))
        self.priority_off = ""

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
        """Up to `max_n` frames, fewer when the queue empties or TURN_BYTES have been read (a
        turn of 64 super-frames kept the loop from the interactive queue for milliseconds)."""
        read, fd, size = os.read, self._fd, self.bufsize
        out: list[bytes] = []
        append = out.append
        total = 0
        for _ in range(max_n):
            try:
                frame = read(fd, size)
            except BlockingIOError:
                break
            append(frame)
            total += len(frame)
            if total >= TURN_BYTES:
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
        if self.priority is not None:
            self.priority.close()
            self.priority = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TapDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attach(raw: bytes, flags: int) -> tuple[int, str]:
    """A /dev/net/tun fd attached to TAP `raw` (created if need be), and the device's name."""
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
        name = raw.decode(errors="replace")
        raise OSError(exc.errno, f"TUNSETIFF for TAP {name!r} failed ({exc.strerror})") from exc
    return fd, struct.unpack(IFREQ_FORMAT, ifr)[0].rstrip(b"\0").decode()
