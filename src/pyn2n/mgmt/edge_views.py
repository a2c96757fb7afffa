"""Management views of an edge (spec §8): the `mgmt_<method>(now)` rows and n2n's legacy text
status, read from the edge core's state. A view never changes the core."""

from __future__ import annotations

import ipaddress
from typing import Any

from pyn2n import __version__
from pyn2n.core.api import MgmtError
from pyn2n.core.edge import Edge
from pyn2n.core.edge.state import fmt
from pyn2n.core.peers import NO_SOCK, Peer
from pyn2n.core.selection import NULL_MAC
from pyn2n.wire.types import mac_to_str

_RULE = 109
TROUBLE_SHOWN = 60.0  # a peer whose packets did not open this recently: `peers` says why


class EdgeViews:
    """What `Management` asks an edge: one method per management command."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def _wall(self, t: float | None, now: float) -> int:
        """A monotonic time as management shows it: wall-clock seconds if we can, 0 = never."""
        if t is None:
            return 0
        wall_clock = self.edge.st.wall_clock
        if wall_clock is None:
            return int(t)
        return int(wall_clock() - now + t)

    def mgmt_communities(self, now: float) -> list[dict[str, Any]]:
        if self.edge.config.header_encryption:
            raise MgmtError("noaccess")
        return [{"community": self.edge.config.community}]

    def mgmt_edges(self, now: float) -> list[dict[str, Any]]:
        peers = self.edge.peers
        rows = [self._edge_row(p, "pSp", now) for p in peers.pending.values()]
        rows += [self._edge_row(p, "p2p", now) for p in peers.known.values()]
        return rows

    def _edge_row(self, peer: Peer, mode: str, now: float) -> dict[str, Any]:
        return {
            "mode": mode,
            "ip4addr": "" if peer.dev_addr is None else f"{peer.dev_addr[0]}/{peer.dev_addr[1]}",
            "purgeable": int(peer.purgeable),
            "local": int(peer.local),
            "macaddr": mac_to_str(peer.mac),
            "sockaddr": fmt(peer.sock),
            "desc": peer.desc,
            "last_p2p": self._wall(peer.last_p2p, now),
            "last_sent_query": self._wall(peer.last_sent_query, now),
            "last_seen": self._wall(peer.last_seen, now),
        }

    def mgmt_supernodes(self, now: float) -> list[dict[str, Any]]:
        edge = self.edge
        rows = []
        for sn in edge.sns:
            current = 0
            if sn is edge.sns.current:
                current = 2 if edge.reg.sn_wait else 1
            rows.append(
                {
                    "version": sn.version,
                    "purgeable": int(sn.purgeable),
                    "current": current,
                    "macaddr": "" if sn.mac == NULL_MAC else mac_to_str(sn.mac),
                    "sockaddr": fmt(sn.addr),
                    "selection": edge.sns.selection_text(sn),
                    "last_seen": self._wall(sn.last_seen, now),
                    "uptime": sn.uptime,
                }
            )
        return rows

    def mgmt_info(self, now: float) -> list[dict[str, Any]]:
        edge = self.edge
        netmask = "0.0.0.0"
        if edge.ip is not None:
            netmask = str(ipaddress.IPv4Network(f"0.0.0.0/{edge.prefix}").netmask)
        return [
            {
                "version": __version__,
                "macaddr": mac_to_str(edge.mac),
                "ip4addr": edge.ip or "0.0.0.0",
                "ip4netmask": netmask,
                "sockaddr": fmt(edge.reg.public_sock) or "0.0.0.0:0",
            }
        ]

    def mgmt_timestamps(self, now: float) -> list[dict[str, Any]]:
        edge = self.edge
        return [
            {
                "start_time": self._wall(edge.start_time, now),
                "last_super": self._wall(edge.last_sup, now),
                "last_p2p": self._wall(edge.data.last_p2p, now),
            }
        ]

    def mgmt_packetstats(self, now: float) -> list[dict[str, Any]]:
        # fast-path frames count as the wire frames they stand for (a super-frame: its segments)
        d = self.edge.data
        fast = self.edge.fastpath
        fast_tx = fast_rx = 0
        if fast is not None:
            fast_tx, fast_rx = fast.tx_packets, fast.rx_packets
        return [
            {"type": "transop", "tx_pkt": d.transop_tx + fast_tx, "rx_pkt": d.transop_rx + fast_rx},
            {"type": "p2p", "tx_pkt": d.tx_p2p + fast_tx, "rx_pkt": d.rx_p2p + fast_rx},
            {"type": "super", "tx_pkt": d.tx_sup, "rx_pkt": d.rx_sup},
            {"type": "super_broadcast", "tx_pkt": d.tx_sup_broadcast, "rx_pkt": d.rx_sup_broadcast},
        ]

    def mgmt_peers(self, now: float) -> list[dict[str, Any]]:
        """Per peer: does our traffic to it go direct or via the supernode, and why (pyn2n)."""
        peers = self.edge.peers
        rows = []
        for state, table in (("pending", peers.pending), ("known", peers.known)):
            rows += [self._peer_row(state, peer, now) for peer in table.values()]
        return rows

    def _peer_row(self, state: str, peer: Peer, now: float) -> dict[str, Any]:
        fresh = self.edge.st.p2p_fresh
        fast = self.edge.fastpath
        last = peer.last_p2p
        age = None if last is None else round(now - last, 3)
        direct = state == "known" and age is not None and age < fresh
        trouble = peer.trouble
        if trouble is not None and now - trouble[0] > TROUBLE_SHOWN:
            trouble = None
        if trouble is not None:
            # what goes wrong with this peer comes first: it is why nothing gets through
            reason = trouble[1]
        else:
            reason = "" if direct else self._why_relayed(state, peer)
        kernel = self.edge.kernel
        path = "direct" if direct else "relayed"
        if kernel is not None and kernel.active(peer.mac):
            path = "kernel"  # its unicast goes through the kernel's VXLAN (docs/kernel-path.md)
        return {
            "macaddr": mac_to_str(peer.mac),
            "ip4addr": "" if peer.dev_addr is None else peer.dev_addr[0],
            "desc": peer.desc,
            "state": state,
            "path": path,
            "reason": reason,
            "last_direct_age": age,
            "rtt_ms": None if peer.rtt is None else round(peer.rtt * 1000, 3),
            "sockaddr": fmt(peer.sock),
            "preferred_sockaddr": fmt(peer.preferred_sock),
            "last_seen_age": round(now - peer.last_seen, 3),
            "fastpath": "off" if fast is None else fast.status(peer.mac),
            "kernelpath": "off" if kernel is None else kernel.status(peer.mac),
        }

    def _why_relayed(self, state: str, peer: Peer) -> str:
        if not self.edge.st.allow_p2p:
            return "p2p disabled (-S1/-S2)"
        if state == "known":
            return f"no direct traffic for {self.edge.st.p2p_fresh:g} s"
        if peer.reg_sent is not None:
            return "no REGISTER_ACK to our REGISTER yet"
        if peer.sock == NO_SOCK:
            return "socket unknown: asked the supernode (QUERY_PEER)"
        return "not yet registered"

    def mgmt_drops(self, now: float) -> list[dict[str, Any]]:
        return [{"reason": r, "count": n} for r, n in sorted(self.edge.drops.items())]

    def status_text(self, now: float) -> str:
        """n2n's legacy text status (any non-command datagram on the management port)."""
        edge = self.edge
        config = edge.config
        lines = [
            "COMMUNITY '%s'\n"
            % ("-- header encrypted --" if config.header_encryption else config.community),
            " ### | TAP             | MAC               | EDGE                  | HINT            "
            "| LAST SEEN |     UPTIME",
            "=" * _RULE,
            "SUPERNODE FORWARD",
        ]
        for i, p in enumerate(edge.peers.pending.values(), 1):
            lines.append(_peer_line(i, p, now))
        lines += ["-" * _RULE, "PEER TO PEER"]
        for i, p in enumerate(edge.peers.known.values(), 1):
            lines.append(_peer_line(i, p, now))
        lines += ["-" * _RULE, "SUPERNODES"]
        lines += self._supernode_lines(now)
        d = edge.data
        lines += [
            "=" * _RULE,
            f"uptime {int(now - edge.start_time)} | pend_peers {len(edge.peers.pending)} | "
            f"known_peers {len(edge.peers.known)} | transop {d.transop_tx},{d.transop_rx}",
            f"super {d.tx_sup},{d.rx_sup} | p2p {d.tx_p2p},{d.rx_p2p}",
            f"last_super {_ago(edge.last_sup, now)} | last_p2p {_ago(d.last_p2p, now)}",
            "",
            'Type "help" to see more commands.',
            "",
        ]
        return "\n".join(lines) + "\n"

    def _supernode_lines(self, now: float) -> list[str]:
        edge = self.edge
        sns = edge.sns
        mark = "." if edge.reg.sn_wait else "*"
        lines = []
        for sn in sns:
            seen = "" if sn.last_seen is None else f"{int(now - sn.last_seen):9d}"
            lines.append(
                f"{sn.version:<19} {'' if sn.purgeable else 'l':1}"
                f"{mark if sn is sns.current else '':1} | "
                f"{'' if sn.mac == NULL_MAC else mac_to_str(sn.mac):<17} | {fmt(sn.addr):<21} | "
                f"{sns.selection_text(sn):<15} | {seen:>9} | {sn.uptime or '':>10}"
            )
        return lines


def _peer_line(i: int, p: Peer, now: float) -> str:
    tap = "" if p.dev_addr is None else p.dev_addr[0]
    return (
        f"{i:4d} | {tap:<15} | {mac_to_str(p.mac):<17} | {fmt(p.sock):<21} | "
        f"{p.desc:<15} | {int(now - p.last_seen):9d} |"
    )


def _ago(t: float | None, now: float) -> str:
    return "never" if t is None else f"{int(now - t)} sec ago"
