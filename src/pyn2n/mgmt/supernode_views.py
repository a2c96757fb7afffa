"""The supernode's management views (spec §8): read-only rows and texts built from its core.

`Management` calls `mgmt_<method>(now)` and `status_text(now)` on this object; the CLI logs
`registrations_text` on SIGHUP. Nothing here changes the core: times are shown as UTC seconds
through `Supernode.wall_at(now)`. Writes (reload_communities) are commands on the core.
"""

from __future__ import annotations

from pyn2n.constants import N2N_DESC_SIZE
from pyn2n.core.supernode import Supernode
from pyn2n.wire.types import NULL_MAC, IpSubnet, endpoint_text, mac_to_str

Row = dict[str, object]
_STATUS_HEAD = (
    " ### | TAP                 | MAC               | EDGE                      | HINT            "
    "| LAST SEEN"
)


class SupernodeViews:
    """Management rows of one supernode (`r <tag> <method>`), the text console and SIGHUP dump."""

    def __init__(self, sn: Supernode) -> None:
        self.sn = sn

    def _wall_of(self, t: float | None, now: float) -> int:
        """A monotonic time as UTC seconds (0 for never)."""
        if t is None:
            return 0
        return int(self.sn.wall_at(now) - (now - t))

    def mgmt_communities(self, now: float) -> list[Row]:
        return [
            {
                "community": comm.display,
                "purgeable": int(comm.purgeable),
                "is_federation": int(comm.is_federation),
                "ip4addr": "" if comm.subnet is None else str(IpSubnet(*comm.subnet)),
            }
            for comm in self.sn.registry.communities.values()
        ]

    def mgmt_edges(self, now: float) -> list[Row]:
        rows: list[Row] = []
        for comm in self.sn.registry.communities.values():
            if comm.is_federation:
                rows += [
                    {
                        "community": comm.display,
                        "ip4addr": "",
                        "purgeable": int(not m.anchor),
                        "macaddr": _mac(m.mac),
                        "sockaddr": endpoint_text(m.addr),
                        "proto": "UDP",
                        "desc": "",
                        "last_seen": self._wall_of(m.last_seen, now),
                    }
                    for m in self.sn.federation
                ]
                continue
            rows += [
                {
                    "community": comm.display,
                    "ip4addr": "" if edge.dev_addr.net_addr == 0 else str(edge.dev_addr),
                    "purgeable": 1,
                    "macaddr": _mac(edge.mac),
                    "sockaddr": endpoint_text(edge.addr),
                    "proto": "UDP",
                    "desc": _desc(edge.desc),
                    "last_seen": self._wall_of(edge.last_seen, now),
                }
                for edge in comm.edges.values()
            ]
        return rows

    def mgmt_timestamps(self, now: float) -> list[Row]:
        s = self.sn.stats
        return [
            {
                "start_time": self._wall_of(self.sn.start_time, now),
                "last_fwd": self._wall_of(s.last_fwd, now),
                "last_reg_super": self._wall_of(s.last_reg_super, now),
            }
        ]

    def mgmt_packetstats(self, now: float) -> list[Row]:
        s = self.sn.stats
        return [
            {"type": "forward", "tx_pkt": s.fwd},
            {"type": "broadcast", "tx_pkt": s.broadcast},
            {"type": "reg_super", "rx_pkt": s.reg_super, "nak": s.reg_super_nak},
            {"type": "errors", "tx_pkt": s.errors},
        ]

    def mgmt_supernodes(self, now: float) -> list[Row]:
        """Ours (n2n leaves it unimplemented on the supernode): the federation members."""
        return [
            {
                "macaddr": _mac(m.mac),
                "sockaddr": endpoint_text(m.addr),
                "purgeable": int(not m.anchor),
                "active": int(m.active(now)),
                "last_seen": self._wall_of(m.last_seen, now),
            }
            for m in self.sn.federation
        ]

    def mgmt_drops(self, now: float) -> list[Row]:
        return [{"reason": r, "count": n} for r, n in sorted(self.sn.drops.items())]

    def _status_rows(self, now: float) -> tuple[list[str], int]:
        lines: list[str] = []
        n_edges = 0
        for i, comm in enumerate(self.sn.registry.communities.values()):
            if i:
                lines.append("-" * 104)
            if comm.is_federation:
                kind = "FEDERATION"
                rows = [
                    ("-l" if m.anchor else "", m.mac, m.addr, b"", m.last_seen)
                    for m in self.sn.federation
                ]
            else:
                kind = "COMMUNITY" if comm.purgeable else "FIXED NAME COMMUNITY"
                rows = [
                    (
                        "" if e.dev_addr.net_addr == 0 else str(e.dev_addr),
                        e.mac,
                        e.addr,
                        e.desc,
                        e.last_seen,
                    )
                    for e in comm.edges.values()
                ]
                n_edges += len(rows)
            lines.append(f"{kind} '{comm.display}'")
            for num, (tap, mac, addr, desc, seen) in enumerate(rows, 1):
                ago = "" if seen is None else f"{int(now - seen):9d}"
                lines.append(
                    f"{num:4d} | {tap:<19} | {_mac(mac):<17} | "
                    f"{addr[0] + ':' + str(addr[1]):<21} {'':<3} | {_desc(desc):<15} | {ago:>9}"
                )
        return lines, n_edges

    def status_text(self, now: float) -> str:
        """The legacy text console's status table (n2n `process_mgmt`)."""
        sn, s = self.sn, self.sn.stats
        rows, n_edges = self._status_rows(now)
        lines = [_STATUS_HEAD, "=" * 104, *rows, "=" * 104]
        lines.append(
            f"uptime {int(now - sn.start_time)} | edges {n_edges} | reg_sup {s.reg_super} | "
            f"reg_nak {s.reg_super_nak} | errors {s.errors} "
        )
        lines.append(
            f"fwd {s.fwd} | broadcast {s.broadcast} | cur_cmnts {len(sn.registry.communities)}"
        )
        lines.append(f"last_fwd  {_ago(now, s.last_fwd)} | last reg  {_ago(now, s.last_reg_super)}")
        return "\n".join(lines) + "\n\n"

    def registrations_text(self, now: float) -> str:
        """The SIGHUP dump of n2n's supernode: every registered edge per community."""
        lines = ["===================================="]
        num = 0
        for comm in self.sn.registry.communities.values():
            lines.append(f"dumping community: {comm.display}")
            for edge in comm.edges.values():
                num += 1
                lines.append(
                    f"[id: {num}][MAC: {mac_to_str(edge.mac)}][edge: {edge.addr[0]}:{edge.addr[1]}]"
                    f"[last seen: {int(now - edge.last_seen)} sec ago]"
                )
        lines.append("====================================")
        return "\n".join(lines) + "\n"


def _mac(mac: bytes) -> str:
    return "" if mac == NULL_MAC else mac_to_str(mac)


def _desc(desc: bytes) -> str:
    return desc[:N2N_DESC_SIZE].split(b"\x00", 1)[0].decode("utf-8", "replace")


def _ago(now: float, t: float | None) -> str:
    return "never" if t is None else f"{int(now - t)} sec ago"
