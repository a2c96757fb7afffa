"""The kernel path's netlink driver (pyroute2, never `ip`/`bridge`/`nft`): the interface users
see (`-d edge0`) becomes a Linux bridge with the edge's MAC, addresses and MTU; pyn2n's TAP and
one VXLAN device are its ports. Unicast to a kernel-path peer follows a static forwarding entry
to the VXLAN port (VXLAN entry: the peer's underlay IP) and never reaches pyn2n; flooding and
learning are off on the VXLAN port, so broadcast, multicast and unknown unicast still go
through the TAP. An nftables table drops VXLAN datagrams of our VNI from any address but the
current kernel-path peers'. Design and measurements: docs/kernel-path.md.

`KernelPathDriver.create` returns None (after one log line) when the kernel lacks bridge,
VXLAN or nftables support or netlink refuses; the edge then runs as before on a plain TAP.
"""

from __future__ import annotations

import errno
import logging
import queue
import socket
import struct
import threading
from collections.abc import Iterable

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nftsocket import NFT_MSG_NEWSET, nft_set_msg
from pyroute2.nftables.expressions import genex, verdict
from pyroute2.nftables.main import NFTables, NFTSet

from pyn2n.core.kernelpath import (
    KP_ACTIVATE,
    KP_DEACTIVATE,
    KP_PREPARE,
    KP_REMOVE,
    KernelCommand,
    probe_mac,
)
from pyn2n.io.netconf import mac_text

__all__ = ["KernelPathDriver", "KernelPathWorker", "in_use", "kernel_names", "remove_leftovers"]

log = logging.getLogger("pyn2n.kernelpath")

ALIAS = "pyn2n kernel path"  # marks the devices we made (leftovers are recognised by it)
NFPROTO_IPV4 = 2
NF_DROP = 0
NFT_PRIORITY = -200  # before the usual filter chains (0)
NFT_LOOKUP_F_INV = 1


def kernel_names(device: str) -> tuple[str, str] | None:
    """(TAP name, VXLAN name) for bridge `device`; None if the name leaves no room."""
    if "%" in device or len(device) > 13:
        return None
    return device + "-t", device + "-x"


def _table(device: str) -> str:
    return "pyn2n_" + device.replace("-", "_").replace(".", "_")


def _link(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _alias(ipr: IPRoute, idx: int) -> str | None:
    msg = ipr.get_links(idx)[0]
    alias = msg.get("ifalias")
    return None if alias is None else str(alias)


def in_use(device: str) -> bool:
    """Whether an edge runs on bridge `device` now: its TAP port exists only while a process
    holds it open (it is not persistent), so after a crash only the bridge and VXLAN remain."""
    names = kernel_names(device)
    if names is None:
        return False
    with IPRoute() as ipr:
        return _link(ipr, names[0]) is not None


def remove_leftovers(device: str) -> list[str]:
    """Remove our bridge, VXLAN device and nftables table left by an edge on `device` that
    did not clean up (SIGKILL, crash). Only devices carrying our alias are touched, and
    nothing while an edge still runs on it (`in_use`)."""
    names = kernel_names(device)
    removed: list[str] = []
    if names is None or in_use(device):
        return removed
    with IPRoute() as ipr:
        for name in (device, names[1]):
            idx = _link(ipr, name)
            if idx is not None and _alias(ipr, idx) == ALIAS:
                try:
                    ipr.link("del", index=idx)
                    removed.append(name)
                except NetlinkError as exc:
                    if exc.code != errno.ENODEV:
                        raise
    try:
        with NFTables(nfgen_family=NFPROTO_IPV4) as nft:
            nft.table("del", name=_table(device))
            removed.append("nftables table " + _table(device))
    except NetlinkError:
        pass  # none there (or no nftables: nothing to remove either)
    return removed


def _filter_rule(port: int, vni: int) -> list[list[dict[str, object]]]:
    """`udp dport PORT @th,96,24 VNI ip saddr != @peers counter drop` as nft expressions."""

    def load(base: int, offset: int, length: int) -> list[dict[str, object]]:
        return [genex("payload", {"dreg": 1, "base": base, "offset": offset, "len": length})]

    def equal(data: bytes) -> list[dict[str, object]]:
        return [genex("cmp", {"sreg": 1, "op": 0, "data": {"attrs": [("NFTA_DATA_VALUE", data)]}})]

    return [
        load(1, 9, 1),  # IPv4 protocol
        equal(b"\x11"),
        load(2, 2, 2),  # UDP destination port
        equal(struct.pack(">H", port)),
        load(2, 12, 3),  # the VNI in the VXLAN header
        equal(vni.to_bytes(3, "big")),
        load(1, 12, 4),  # source address
        [genex("lookup", {"set": "peers", "sreg": 1, "flags": {"NFT_LOOKUP_F_INV"}})],
        [genex("counter", {})],
        verdict(NF_DROP),
    ]


class KernelPathDriver:
    """The bridge, VXLAN port and source filter of one edge; `apply` carries out the core's
    commands (`core/kernelpath.py`), `close` removes everything."""

    def __init__(self, device: str, tap_name: str, vx_name: str, port: int, vni: int) -> None:
        self.device = device
        self.tap_name = tap_name
        self.vx_name = vx_name
        self.port = port
        self.vni = vni
        self.table = _table(device)
        self._allowed: dict[bytes, str] = {}  # peer MAC -> underlay IP in the nft set
        self.errors = 0

    @classmethod
    def create(
        cls, device: str, mac: bytes, mtu: int, port: int, vni: int
    ) -> KernelPathDriver | None:
        """Build the bridge `device`, its VXLAN port and the filter (the TAP is added by
        `attach_tap`); None, logged once, if the kernel or netlink refuses."""
        names = kernel_names(device)
        if names is None:
            log.warning(
                "kernel path off: -d %s leaves no room for its port names (at most 13 "
                "characters, no %%d); user-space paths only",
                device,
            )
            return None
        drv = cls(device, names[0], names[1], port, vni)
        try:
            remove_leftovers(device)
            drv._build(mac, mtu)
        except (NetlinkError, OSError) as exc:
            log.warning(
                "kernel path off: cannot set up the bridge, VXLAN device or nftables filter "
                "(%s); user-space paths only",
                exc,
            )
            drv.close()
            return None
        return drv

    def _build(self, mac: bytes, mtu: int) -> None:
        with IPRoute() as ipr:
            if _link(ipr, self.device) is not None:
                raise OSError(errno.EEXIST, f"a device named {self.device!r} exists")
            ipr.link("add", ifname=self.device, kind="bridge", br_mcast_snooping=0)
            br = _link(ipr, self.device)
            assert br is not None
            ipr.link("set", index=br, ifalias=ALIAS, address=mac_text(mac), mtu=mtu)
            ipr.link(
                "add",
                ifname=self.vx_name,
                kind="vxlan",
                vxlan_id=self.vni,
                vxlan_port=self.port,
                vxlan_learning=0,
            )
            vx = _link(ipr, self.vx_name)
            assert vx is not None
            ipr.link("set", index=vx, ifalias=ALIAS, mtu=mtu, master=br)
            ipr.brport("set", index=vx, learning=0, unicast_flood=0, mcast_flood=0, bcast_flood=0)
            ipr.link("set", index=vx, state="up")
        with NFTables(nfgen_family=NFPROTO_IPV4) as nft:
            nft.table("add", name=self.table)
            # (pyroute2 0.9.7's `sets("add")` fails on its own reply: the message by hand)
            nft._command(nft_set_msg, {"add": NFT_MSG_NEWSET}, "add", self._set().as_netlink())
            nft.chain(
                "add",
                table=self.table,
                name="vxlan_in",
                hook="input",
                type="filter",
                priority=NFT_PRIORITY,
            )
            nft.rule(
                "add",
                table=self.table,
                chain="vxlan_in",
                expressions=_filter_rule(self.port, self.vni),
            )

    def attach_tap(self, own_mac: bytes) -> None:
        """Make the TAP a port of the bridge (learning off: the kernel-path entries are
        static) and send frames to our probe MAC to it."""
        with IPRoute() as ipr:
            br = _link(ipr, self.device)
            tap = _link(ipr, self.tap_name)
            if br is None or tap is None:
                raise OSError(errno.ENODEV, "the bridge or the TAP is gone")
            ipr.link("set", index=tap, master=br)
            ipr.brport("set", index=tap, learning=0)
            ipr.link("set", index=tap, state="up")
            ipr.fdb(
                "add",
                ifindex=tap,
                lladdr=mac_text(probe_mac(own_mac)),
                flags=_MASTER,
                state=_STATIC,
            )

    # ------------------------------------------------------------- the core's commands

    def apply(self, commands: Iterable[KernelCommand]) -> None:
        """Carry out the core's commands; a failing one is counted and logged, never raised."""
        for cmd in commands:
            try:
                self._apply(cmd)
            except (NetlinkError, OSError) as exc:
                self.errors += 1
                log.warning("kernel path: %s %s failed (%s)", cmd.op, mac_text(cmd.mac), exc)

    def _apply(self, cmd: KernelCommand) -> None:
        if cmd.op == KP_PREPARE:
            self._allow(cmd.mac, cmd.ip)
            self._fdb("replace", probe_mac(cmd.mac), cmd.ip, cmd.port)
        elif cmd.op == KP_ACTIVATE:
            self._fdb("replace", cmd.mac, cmd.ip, cmd.port)
        elif cmd.op == KP_DEACTIVATE:
            self._fdb("del", cmd.mac)
        elif cmd.op == KP_REMOVE:
            self._fdb("del", cmd.mac)
            self._fdb("del", probe_mac(cmd.mac))
            self._disallow(cmd.mac)

    def _fdb(self, op: str, mac: bytes, ip: str = "", port: int = 0) -> None:
        """The VXLAN entry (MAC -> underlay IP) and the bridge's static entry (MAC -> port)."""
        with IPRoute() as ipr:
            vx = _link(ipr, self.vx_name)
            if vx is None:
                raise OSError(errno.ENODEV, f"{self.vx_name} is gone")
            lladdr = mac_text(mac)
            if op == "del":
                for flags in (_MASTER, _SELF):
                    try:
                        ipr.fdb("del", ifindex=vx, lladdr=lladdr, flags=flags)
                    except NetlinkError as exc:
                        if exc.code not in (errno.ENOENT, errno.ENODEV):
                            raise
                return
            ipr.fdb("replace", ifindex=vx, lladdr=lladdr, dst=ip, port=port, flags=_SELF)
            ipr.fdb("replace", ifindex=vx, lladdr=lladdr, flags=_MASTER, state=_STATIC)

    def _allow(self, mac: bytes, ip: str) -> None:
        old = self._allowed.get(mac)
        if old == ip:
            return
        if old is not None:
            self._disallow(mac)
        if ip not in self._allowed.values():
            with NFTables(nfgen_family=NFPROTO_IPV4) as nft:
                nft.set_elems("add", set=self._set(), elements={ip})
        self._allowed[mac] = ip

    def _disallow(self, mac: bytes) -> None:
        ip = self._allowed.pop(mac, None)
        if ip is None or ip in self._allowed.values():
            return
        with NFTables(nfgen_family=NFPROTO_IPV4) as nft:
            nft.set_elems("del", set=self._set(), elements={ip})

    def _set(self) -> NFTSet:
        return NFTSet(table=self.table, name="peers", key_type="ipv4_addr")

    def allowed(self) -> set[str]:
        """The underlay addresses the filter lets in now."""
        return set(self._allowed.values())

    # ------------------------------------------------------------- the host's addresses

    @staticmethod
    def local_ipv4() -> frozenset[str]:
        """This namespace's IPv4 addresses (the core checks its public socket against them)."""
        with IPRoute() as ipr:
            return frozenset(str(m.get("address")) for m in ipr.get_addr(family=socket.AF_INET))

    def close(self) -> None:
        """Remove the bridge, the VXLAN device and the filter (the TAP goes with its fd)."""
        try:
            remove_leftovers(self.device)
        except (NetlinkError, OSError) as exc:
            log.warning("kernel path: cleanup failed (%s)", exc)
        self._allowed.clear()


_SELF = 2  # NTF_SELF
_MASTER = 4  # NTF_MASTER
_STATIC = 0x40 | 0x02  # NUD_NOARP | NUD_REACHABLE: `static` (NUD_PERMANENT would be `local`)


class KernelPathWorker(threading.Thread):
    """Carries out the core's commands and lists this host's addresses off the event loop:
    netlink calls block (each opens a socket; pyroute2's nftables one also an asyncio loop),
    and a busy machine measured hundreds of ms for a batch, long enough to lose a ping."""

    ADDRESSES_EVERY = 5.0

    def __init__(self, driver: KernelPathDriver) -> None:
        super().__init__(name="pyn2n-kernel-path", daemon=True)
        self.driver = driver
        self.addresses = driver.local_ipv4()  # read by the loop (one reference, swapped whole)
        self._queue: queue.SimpleQueue[list[KernelCommand] | None] = queue.SimpleQueue()

    def submit(self, commands: list[KernelCommand]) -> None:
        self._queue.put(commands)

    def run(self) -> None:
        while True:
            try:
                commands = self._queue.get(timeout=self.ADDRESSES_EVERY)
            except queue.Empty:
                commands = []
            if commands is None:
                return
            if commands:
                self.driver.apply(commands)
            else:
                try:
                    self.addresses = self.driver.local_ipv4()
                except (NetlinkError, OSError) as exc:
                    log.debug("kernel path: cannot list addresses (%s)", exc)

    def stop(self) -> None:
        self._queue.put(None)
