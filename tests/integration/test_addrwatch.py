"""The address watch against the real kernel: addresses added and removed on an interface (as
keepalived does with a VIP) reach it over netlink, other interfaces' do not."""

from __future__ import annotations

from tests.integration.test_io import netns, pytestmark, run_in_ns

__all__ = ["pytestmark"]

CHILD = """
import ipaddress, json, select
from pyroute2 import IPRoute
from pyn2n.io.addrwatch import AddressWatch

def text(addrs):
    return sorted(str(ipaddress.ip_address(a)) for a in addrs or ())

ipr = IPRoute()
ipr.link("add", ifname="v0", kind="veth", peer="v1")
v0, v1 = ipr.link_lookup(ifname="v0")[0], ipr.link_lookup(ifname="v1")[0]
ipr.addr("add", index=v0, address="198.19.0.1", prefixlen=24)
watch = AddressWatch("v0")
out = {"start": text(watch.addresses)}

def changed():
    ready = select.select([watch], [], [], 5.0)[0]
    return text(watch.read()) if ready else "timeout"

ipr.addr("add", index=v0, address="198.19.0.100", prefixlen=24)
ipr.addr("add", index=v0, address="2001:db8::100", prefixlen=64)
out["added"] = changed()
ipr.addr("add", index=v1, address="198.19.0.200", prefixlen=24)
select.select([watch], [], [], 1.0)
out["other"] = watch.read()
ipr.addr("del", index=v0, address="198.19.0.100", prefixlen=24)
out["removed"] = changed()
watch.close()
print(json.dumps(out))
"""


def test_vips_come_and_go_over_netlink() -> None:
    with netns() as (ns,):
        got = run_in_ns(ns, CHILD)
    assert got["start"] == ["198.19.0.1"]
    assert "198.19.0.100" in got["added"] and "2001:db8::100" in got["added"]
    assert got["other"] is None  # v1's address is not ours
    assert "198.19.0.100" not in got["removed"] and "198.19.0.1" in got["removed"]
