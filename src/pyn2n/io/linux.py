"""Linux ABI numbers the io drivers need and Python's stdlib does not export (all in one place).

Values are from <linux/if_tun.h>, <linux/in.h>, <asm-generic/socket.h> and <linux/udp.h>;
docs/runtime-facts.md records which ones were exercised on these machines.
"""

from __future__ import annotations

from pyn2n.wire.vnet import VNET_HDR_LEN

# <linux/if_tun.h>: ioctls on a /dev/net/tun fd.
TUN_CLONE_DEVICE = "/dev/net/tun"
TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0  # argument passed by value
TUNSETVNETHDRSZ = 0x400454D8  # argument is a pointer to int
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_MULTI_QUEUE = 0x0100
TUNSETSTEERINGEBPF = 0x800454E0  # argument is a pointer to an int: a BPF program's fd
IFNAMSIZ = 16  # including the terminating NUL, so names have at most 15 characters
# struct ifreq is 40 bytes on 64-bit Linux: ifr_name[16] then a union whose first field we use.
IFREQ_FORMAT = "16sH22x"

# <linux/bpf.h>: the bpf(2) syscall (x86_64 and aarch64 numbers), BPF_PROG_LOAD of a socket
# filter, and the instruction opcodes io/steering.py uses.
SYS_BPF = {"x86_64": 321, "aarch64": 280}
BPF_PROG_LOAD = 5
BPF_PROG_TYPE_SOCKET_FILTER = 1
BPF_LDX_MEM_W = 0x61  # dst = *(u32 *)(src + off)
BPF_JGT_K = 0x25  # if dst > imm: skip off instructions
BPF_MOV64_K = 0xB7  # dst = imm
BPF_EXIT = 0x95  # return r0

# TUNSETOFFLOAD flags; the kernel refuses TSO without CSUM.
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08
TUN_F_UFO = 0x10

# Largest frame a TAP hands out: a 64 KiB GSO super-frame plus its virtio header (the header
# itself, struct virtio_net_hdr, is described once in pyn2n.wire.vnet).
TAP_MAX_READ = 65536 + VNET_HDR_LEN

# <linux/in.h>: per-socket path-MTU discovery; n2n sets DONT so the kernel may fragment.
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
# <linux/in6.h>: the same for IPv6 sockets (same DONT/DO values)
IPV6_MTU_DISCOVER = 23

# <asm-generic/socket.h>: buffer sizes above net.core.[rw]mem_max, allowed with CAP_NET_ADMIN.
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33

# <linux/udp.h>: segmentation offload (sender) and generic receive offload (receiver).
SOL_UDP = 17
UDP_SEGMENT = 103  # cmsg value: u16 segment size
UDP_GRO = 104  # cmsg value on merged reads: int segment size
UDP_MAX_SEGMENTS = 64  # per UDP_SEGMENT send (include/linux/udp.h; newer kernels allow 128)
UDP_MAX_PAYLOAD = 65507  # 65535 minus the IPv4 and UDP headers
# TAP offloads the fast path turns on while it has peers
TUN_F_FASTPATH = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6
