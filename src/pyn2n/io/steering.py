"""A TAP queue for interactive frames: a BPF program steers short frames to a second queue.

A TAP's ring is one FIFO that a bulk TCP flow keeps full (the TAP orphans its frames, so TCP
small queues never hold the flow back), and a ping waited behind every super-frame in it. On a
TAP with two queues (IFF_MULTI_QUEUE), the kernel asks a steering program (TUNSETSTEERINGEBPF)
which queue each frame goes to: this one answers 1 for frames of at most `limit` bytes (pings,
ACKs, VRRP adverts, requests) and 0 for the rest, and the loop serves queue 1 between turns of
queue 0 (docs/performance.md).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import struct

from pyn2n.io.linux import (
    BPF_EXIT,
    BPF_JGT_K,
    BPF_LDX_MEM_W,
    BPF_MOV64_K,
    BPF_PROG_LOAD,
    BPF_PROG_TYPE_SOCKET_FILTER,
    SYS_BPF,
    TUNSETSTEERINGEBPF,
)

# frames up to this many bytes take the TAP's interactive queue (a ping is 98, a TCP ACK 66, a VRRP
# advert 60); a full-size frame of a bulk flow never does
INTERACTIVE_BYTES = 512
# a batch read from the TAP or the socket stops after this many bytes, so a turn of the loop
# lasts well under a millisecond and the interactive queue is served between two turns (a turn
# of 64 super-frames kept it waiting for milliseconds)
TURN_BYTES = 512 << 10
_ATTR_SIZE = 128  # bytes of union bpf_attr passed (the kernel reads what it knows, zeros after)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def short_frame_program(limit: int) -> bytes:
    """r0 = skb->len (struct __sk_buff's first field); return 1 if r0 <= limit else 0."""
    return b"".join(
        (
            _insn(BPF_LDX_MEM_W, dst=0, src=1),
            _insn(BPF_JGT_K, dst=0, off=2, imm=limit),
            _insn(BPF_MOV64_K, dst=0, imm=1),
            _insn(BPF_EXIT),
            _insn(BPF_MOV64_K, dst=0, imm=0),
            _insn(BPF_EXIT),
        )
    )


def load_program(code: bytes) -> int:
    """Load a socket-filter BPF program; its fd (OSError when the kernel or the sandbox refuses:
    bpf(2) needs CAP_BPF or CAP_SYS_ADMIN)."""
    nr = SYS_BPF.get(platform.machine())
    if nr is None:
        raise OSError(0, f"no bpf(2) number known for {platform.machine()}")
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"GPL")
    attr = struct.pack(
        "<IIQQ",
        BPF_PROG_TYPE_SOCKET_FILTER,
        len(code) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_),
    )
    buf = ctypes.create_string_buffer(attr, _ATTR_SIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    fd: int = libc.syscall(nr, BPF_PROG_LOAD, buf, _ATTR_SIZE)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf(BPF_PROG_LOAD): {os.strerror(err)}")
    return fd


def steer_short_frames(tap_fd: int, limit: int) -> None:
    """Make the multi-queue TAP behind `tap_fd` put frames of at most `limit` bytes on its queue
    1. The device keeps the program; our fd for it is closed again."""
    prog = load_program(short_frame_program(limit))
    try:
        fcntl.ioctl(tap_fd, TUNSETSTEERINGEBPF, struct.pack("i", prog))
    finally:
        os.close(prog)
