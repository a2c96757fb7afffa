"""The TAP's IPv4/IPv6 addresses, kept current from rtnetlink (RTM_NEWADDR / RTM_DELADDR).

An edge without -r takes only its own addresses' traffic; a keepalived VIP or a secondary address
added to the TAP later is its own too. `AddressWatch` is a non-blocking netlink socket joined to
the address groups (the event loop polls it with the others: no thread); pyroute2 dumps the
addresses once and parses the notifications. The watch is opened before the dump, so no change
falls between them; a lost notification (ENOBUFS) makes it dump again.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

_RTM_NEWADDR = 20
_RTM_DELADDR = 21
_RECV = 1 << 16


def _packed(msg: Any) -> bytes | None:
    """The local address of an ifaddrmsg, packed (IFA_LOCAL; IFA_ADDRESS without one)."""
    text = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
    if not text:
        return None
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        return None


class AddressWatch:
    """The addresses of interface `name` (this namespace), as a set of packed addresses.

    `fileno()` for the event loop; `read()` after it is readable: the new set, or None when
    nothing of this interface changed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._sock = socket.socket(
            socket.AF_NETLINK,
            socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
            socket.NETLINK_ROUTE,
        )
        self._sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
        self._marshal = MarshalRtnl()
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=name)
            if not found:
                self._sock.close()
                raise LookupError(f"no network interface named {name!r} in this namespace")
            self.index = int(found[0])
        self.addresses: frozenset[bytes] = self._dump()

    def fileno(self) -> int:
        return self._sock.fileno()

    def _dump(self) -> frozenset[bytes]:
        with IPRoute() as ipr:
            msgs = ipr.get_addr(index=self.index)
        return frozenset(a for m in msgs if (a := _packed(m)) is not None)

    def read(self) -> frozenset[bytes] | None:
        """Drain the pending notifications; the new address set if it changed."""
        current = set(self.addresses)
        while True:
            try:
                data, (sender, _groups) = self._sock.recvfrom(_RECV)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                current = set(self._dump())  # notifications were lost: start again
                continue
            if sender != 0:
                continue  # only the kernel speaks for the addresses
            for msg in self._marshal.parse(data):
                self._apply(msg, current)
        if current == self.addresses:
            return None
        self.addresses = frozenset(current)
        return self.addresses

    def _apply(self, msg: Any, current: set[bytes]) -> None:
        if msg["index"] != self.index:
            return
        kind = msg["header"]["type"]
        addr = _packed(msg)
        if addr is None:
            return
        if kind == _RTM_NEWADDR:
            current.add(addr)
        elif kind == _RTM_DELADDR:
            current.discard(addr)

    def close(self) -> None:
        self._sock.close()
