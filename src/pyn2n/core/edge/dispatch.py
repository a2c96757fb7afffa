"""Control-message dispatch for the edge: one table from message type to handler and signer
rule. The dispatcher decodes the datagram, checks the community and the claimed supernode,
checks the time stamp once (header encryption, spec §6) against the signer the rule names, and
hands the handler a `RxContext` and the message. PACKETs do not come here (`DataPath.rx_packet`
is their lean branch); the fast path's HELLO has its own codec and comes here before decoding."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, NamedTuple, Protocol, cast

from pyn2n.constants import (
    MSG_TYPE_PEER_INFO,
    MSG_TYPE_PYN2N_FASTPATH,
    MSG_TYPE_PYN2N_GROUPS,
    MSG_TYPE_RE_REGISTER_SUPER,
    MSG_TYPE_REGISTER,
    MSG_TYPE_REGISTER_ACK,
    MSG_TYPE_REGISTER_SUPER_ACK,
    MSG_TYPE_REGISTER_SUPER_NAK,
    N2N_FLAGS_FROM_SUPERNODE,
)
from pyn2n.core.api import Addr
from pyn2n.core.edge.discovery import Discovery
from pyn2n.core.edge.groups import Multicast
from pyn2n.core.edge.registration import Registration
from pyn2n.core.edge.state import EdgeState, RxContext
from pyn2n.core.selection import NULL_MAC
from pyn2n.wire.hello import HELLO_OFFER, REFUSE_DISABLED, decode_hello, refusal
from pyn2n.wire.messages import PeerInfo, decode_with_end


class Signer(Enum):
    """Whose time stamp a message carries (the sender the replay tracker files it under)."""

    SN_OR_SRC = 1  # the supernode if it came from one, else the sending edge (src_mac)
    SN = 2  # only accepted from a supernode in our list (FROM_SUPERNODE set)
    SN_OR_NULL = 3  # the supernode if it came from one, else "nobody" (the null MAC)


class _Signed(Protocol):
    src_mac: bytes


class Route(NamedTuple):
    handler: Callable[[RxContext, Any], None]
    signer: Signer
    solicited: bool = False  # only while a REGISTER_SUPER is outstanding ("unsolicited")


class Dispatcher:
    """Routes control datagrams to registration and discovery (see the module docstring)."""

    def __init__(
        self, st: EdgeState, reg: Registration, disc: Discovery, groups: Multicast
    ) -> None:
        self.st = st
        self.reg = reg
        self.groups = groups
        self.table: dict[int, Route] = {
            MSG_TYPE_REGISTER: Route(disc.on_register, Signer.SN_OR_SRC),
            MSG_TYPE_REGISTER_ACK: Route(disc.on_register_ack, Signer.SN_OR_SRC),
            MSG_TYPE_REGISTER_SUPER_ACK: Route(reg.on_super_ack, Signer.SN_OR_SRC, True),
            MSG_TYPE_REGISTER_SUPER_NAK: Route(reg.on_super_nak, Signer.SN_OR_SRC, True),
            MSG_TYPE_PEER_INFO: Route(self._peer_info, Signer.SN),
        }
        if st.config.user_password:
            # only user/password communities change keys on the fly (n2n)
            self.table[MSG_TYPE_RE_REGISTER_SUPER] = Route(reg.on_re_register, Signer.SN_OR_NULL)
        self._disc = disc

    def receive(self, data: bytes, addr: Addr, now: float, stamp: int | None) -> None:
        """One control datagram (already opened with -H); WireError goes to the caller."""
        st = self.st
        if self.groups.next_tick < now:
            self.groups.next_tick = now  # (peers may change here: no deadline in the past)
        if len(data) > 3 and data[3] & 0x1F == MSG_TYPE_PYN2N_FASTPATH:
            self._hello(data, addr, now, stamp)
            return
        if len(data) > 3 and data[3] & 0x1F == MSG_TYPE_PYN2N_GROUPS:
            self._groups(data, addr, now, stamp)
            return
        common, msg, _end = decode_with_end(data)
        if data[4:24] != st.community20:
            st.drops["unknown_community"] += 1
            return
        sn = None
        if common.flags & N2N_FLAGS_FROM_SUPERNODE:
            sn = st.sns.find_by_addr(addr)
            if sn is None:
                st.drops["unknown_supernode"] += 1
                return
        route = self.table.get(common.pc)
        if route is None:
            st.drops["unexpected_type"] += 1
            return
        if route.solicited and not self.reg.sn_wait:
            st.drops["unsolicited"] += 1
            return
        if sn is not None:
            sender: object = sn
        elif route.signer is Signer.SN:
            st.drops["not_from_supernode"] += 1
            return
        else:
            sender = cast(_Signed, msg).src_mac if route.signer is Signer.SN_OR_SRC else NULL_MAC
        if not self.stamp_ok(sender, stamp, common.pc):
            return
        route.handler(RxContext(common, addr, sn, stamp, sender, now), msg)

    def stamp_ok(self, sender: object, stamp: int | None, pc: int) -> bool:
        """Header encryption: the stamp is fresh and newer than the sender's last (§6)."""
        if stamp is None or self.st.secure.check_stamp(sender, stamp, pc):  # type: ignore[union-attr]
            return True
        self.st.drops["replay"] += 1
        return False

    def _peer_info(self, ctx: RxContext, info: PeerInfo) -> None:
        """PEER_INFO with a null target is a PONG (registration), else a peer's socket."""
        if info.mac == NULL_MAC:
            self.reg.on_pong(ctx, info)
        elif info.mac == self.st.mac:
            self.groups.on_self_info(ctx.addr, info, ctx.now)  # our own: see groups._probe_sn
        else:
            self._disc.on_peer_info(ctx, info)

    def _hello(self, data: bytes, addr: Addr, now: float, stamp: int | None) -> None:
        """Fast-path negotiation from another pyn2n edge (core/fastpath/)."""
        st = self.st
        if data[4:24] != st.community20:
            st.drops["unknown_community"] += 1
            return
        hello = decode_hello(data)
        if hello is None:
            st.drops["decode"] += 1
            return
        if not self.stamp_ok(hello.src, stamp, MSG_TYPE_PYN2N_FASTPATH):
            return
        if st.last_sup is None:
            st.drops["not_registered"] += 1
            return
        if st.fast is not None:
            st.fast.on_hello(data, addr, now)
        elif hello.kind == HELLO_OFFER and hello.dst == st.mac and st.allow_p2p:
            st.send_sealed(refusal(st.community20, st.mac, hello, REFUSE_DISABLED), addr)
        else:
            st.drops["unexpected_type"] += 1

    def _groups(self, data: bytes, addr: Addr, now: float, stamp: int | None) -> None:
        """Multicast membership from another pyn2n edge (core/edge/groups.py)."""
        st = self.st
        if data[4:24] != st.community20:
            st.drops["unknown_community"] += 1
            return
        if len(data) < 30 or not self.stamp_ok(data[24:30], stamp, MSG_TYPE_PYN2N_GROUPS):
            if len(data) < 30:
                st.drops["decode"] += 1
            return
        if st.last_sup is None:
            st.drops["not_registered"] += 1
            return
        self.groups.on_groups(data, addr, now)
