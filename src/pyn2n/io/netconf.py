"""Interface configuration over rtnetlink (pyroute2), never by running `ip`.

Every call opens an `IPRoute` socket of the calling process's current network namespace, so it
works unchanged in a process started by `ip netns exec NS ...`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pyn2n.constants import DEFAULT_MTU

IFF_UP = 0x1


@dataclass(frozen=True, slots=True)
class LinkInfo:
    index: int
    name: str
    mac: bytes
    mtu: int
    up: bool  # administratively up (IFF_UP)


def mac_text(mac: bytes) -> str:
    if len(mac) != 6:
        raise ValueError(f"a MAC address has 6 bytes, got {len(mac)}")
    return ":".join(f"{b:02x}" for b in mac)


def _index(ipr: IPRoute, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise LookupError(f"no network interface named {name!r} in this namespace")
    return int(found[0])


def configure_tap(
    name: str,
    mac: bytes | None = None,
    ipv4: str | None = None,
    mtu: int = DEFAULT_MTU,
    up: bool = True,
    gso_max_size: int | None = None,
    replace: bool = False,
) -> None:
    """Set MAC, MTU, an IPv4 address ("198.19.0.1/24") and bring `name` up; `gso_max_size`
    bounds the GSO super-frames the kernel hands out (the fast path keeps them in one send).

    Adding an address the interface already has is not an error, so this can be called again;
    `replace` removes its other IPv4 addresses (a new auto-IP address).
    """
    iface = ipaddress.IPv4Interface(ipv4) if ipv4 is not None else None
    with IPRoute() as ipr:
        idx = _index(ipr, name)
        settings: dict[str, object] = {"mtu": mtu}
        if mac is not None:
            settings["address"] = mac_text(mac)
        if gso_max_size is not None:
            settings["gso_max_size"] = gso_max_size
        ipr.link("set", index=idx, **settings)
        if iface is not None:
            for m in ipr.get_addr(family=socket.AF_INET, index=idx) if replace else ():
                if m.get("address") != str(iface.ip):
                    ipr.addr("del", index=idx, address=m.get("address"), prefixlen=m["prefixlen"])
            try:
                ipr.addr(
                    "add",
                    index=idx,
                    address=str(iface.ip),
                    prefixlen=iface.network.prefixlen,
                    broadcast=str(iface.network.broadcast_address),
                )
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise
        if up:
            ipr.link("set", index=idx, state="up")


def get_link(name: str) -> LinkInfo:
    with IPRoute() as ipr:
        msg = ipr.get_links(_index(ipr, name))[0]
    return LinkInfo(
        index=msg["index"],
        name=msg.get("ifname"),
        mac=bytes.fromhex(msg.get("address").replace(":", "")),
        mtu=msg.get("mtu"),
        up=bool(msg["flags"] & IFF_UP),
    )


def get_mac(name: str) -> bytes:
    return get_link(name).mac


def get_addresses(name: str, family: int = socket.AF_INET) -> list[str]:
    """Addresses of `name` as "address/prefixlen" text, in kernel order."""
    with IPRoute() as ipr:
        msgs = ipr.get_addr(family=family, index=_index(ipr, name))
    return [f"{m.get('address')}/{m['prefixlen']}" for m in msgs]


def delete_link(name: str) -> bool:
    """Remove `name`; False if it did not exist."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return False
        try:
            ipr.link("del", index=found[0])
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return False
            raise
    return True
