"""Supernode header handling (spec §6): which community a datagram belongs to, its time stamp.

A plaintext-looking header is looked up by community name; a community that encrypts headers
drops it ("he_plaintext": no downgrade). Anything else is trial-decrypted with the keys of every
community that may encrypt, most recently successful first. A community-file community of
unknown kind is locked by the first datagram that decodes. Replays and stale datagrams are
dropped by time stamp, per sender: the supernode for FROM_SUPERNODE datagrams, else the MAC.
Both header drops are also warnings for the log (a missing -H; a community not in the file).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pyn2n.core.events import OperatorWarning
from pyn2n.core.secure import STATIC_KEY_TYPES, is_plaintext_header, verify_stamp
from pyn2n.core.supernode.registry import Community, HeaderMode
from pyn2n.crypto.auth import SharedSecret
from pyn2n.crypto.timestamp import StampTracker, TimeStamper, time_stamp_verify
from pyn2n.wire import WireError, decode_common
from pyn2n.wire.types import NULL_MAC

if TYPE_CHECKING:
    from pyn2n.core.supernode.node import Rx, Supernode

# per datagram: a module global is ~10x cheaper than an enum class attribute on Python 3.11
_UNKNOWN, _PLAIN, _ENCRYPTED = HeaderMode.UNKNOWN, HeaderMode.PLAIN, HeaderMode.ENCRYPTED


class HeaderGuard:
    """Opens and seals headers for every community; checks time stamps."""

    __slots__ = ("_rng", "_sn", "_sn_stamps", "_stamper", "order")

    def __init__(
        self, sn: Supernode, fed: Community, max_supernodes: int, rng: Callable[[int], bytes]
    ) -> None:
        self._sn = sn
        self._rng = rng
        self._stamper = TimeStamper()
        self._sn_stamps = StampTracker(max(16, 2 * max_supernodes))
        self.order: list[Community] = [fed]  # trial-decryption order, most recent first

    def forget(self, comm: Community) -> None:
        if comm in self.order:
            self.order.remove(comm)

    def open(self, rx: Rx) -> bool:
        """Fill `rx.comm`, `rx.plain`, `rx.stamp`, `rx.static` and `rx.common`; False (dropped)
        if no key fits, a plaintext header claims an encrypting community, the common header
        does not decode or a user/password community's key does not fit the type."""
        data = rx.data
        if is_plaintext_header(data):
            comm = self._sn.registry.communities.get(data[4:24].split(b"\x00", 1)[0])
            if comm is not None and comm.he is _ENCRYPTED:
                self._sn.drop("he_plaintext")
                self._tell(
                    rx,
                    "he_plaintext",
                    f"sent a plaintext header for community {comm.display!r}, whose headers are"
                    " encrypted: start that edge with -H",
                )
                return False
            rx.comm = comm
            rx.plain = data
        elif not self._decrypt(rx):
            return False
        try:
            rx.common = decode_common(rx.plain)[0]
        except WireError:
            self._sn.drop("decode")
            return False
        comm = rx.comm
        # a plaintext datagram of a plaintext community (never one with users) changes nothing
        return comm is None or (rx.stamp is None and comm.he is _PLAIN) or self._lock(rx)

    def _decrypt(self, rx: Rx) -> bool:
        """Trial decryption, the community that worked last first."""
        data = rx.data
        for comm in self.order:
            assert comm.crypto is not None  # only communities that may encrypt are listed
            got = comm.crypto.open(data)
            if got is not None:
                rx.comm = comm
                rx.plain, rx.stamp, rx.static = got.packet, got.stamp, got.static
                return True
        self._sn.drop("he_no_key")
        self._tell(
            rx,
            "he_no_key",
            "sent a header no community key opens: an edge with -H needs its community in the"
            " community file, spelled alike",
        )
        return False

    def _tell(self, rx: Rx, code: str, what: str) -> None:
        """A warning about the sender, once a minute per socket and cause."""
        sn, addr = self._sn, rx.addr
        if sn.warned.due((code, addr), rx.now):
            sn.emit(OperatorWarning(code, f"{addr[0]}:{addr[1]} {what}"))

    def _lock(self, rx: Rx) -> bool:
        """After the common header decoded: lock a community of unknown kind, move it to the
        front of the trial order, and check the key a user/password community used."""
        comm = rx.comm
        assert comm is not None
        if comm.he is _UNKNOWN:
            # the first datagram that decodes decides (n2n locks on any first datagram)
            if rx.stamp is None:
                comm.he = HeaderMode.PLAIN
                comm.crypto = None
                self.order.remove(comm)
            else:
                comm.he = HeaderMode.ENCRYPTED
        if rx.stamp is not None and self.order[0] is not comm:
            self.order.remove(comm)
            self.order.insert(0, comm)
        # user/password communities: only the REGISTER_SUPER family uses the static key
        if comm.users and rx.static != (rx.common.pc in STATIC_KEY_TYPES):
            self._sn.drop("static_key")
            return False
        return True

    def stamp_ok(self, rx: Rx, mac: bytes, pc: int) -> bool:
        """Replay check for header-encrypted datagrams (§6): the sender is the supernode when
        the datagram is flagged FROM_SUPERNODE, else the edge's MAC. The null MAC of auto-IP
        requests is shared by all bootstrapping edges: only the ±16 s check for it."""
        comm, stamp = rx.comm, rx.stamp
        if comm is None or stamp is None or comm.he is not _ENCRYPTED:
            return True
        wall = self._sn.wall_now()
        if rx.sn is not None or comm.is_federation:
            ok = verify_stamp(self._sn_stamps, rx.addr, stamp, wall, pc, at_supernode=True)
        elif mac == NULL_MAC:
            ok = time_stamp_verify(stamp, wall, None, False)
        else:
            ok = verify_stamp(comm.stamps, mac, stamp, wall, pc, at_supernode=True)
        if not ok:
            self._sn.drop("replay")
        return ok

    def seal(self, comm: Community | None, plain: bytes, tag: SharedSecret | None = None) -> bytes:
        """Header-encrypt for `comm` when it encrypts headers, else `plain` as is."""
        if comm is None or comm.he is not _ENCRYPTED or comm.crypto is None:
            return plain
        return comm.crypto.seal(plain, self._stamper(self._sn.wall_now()), self._rng(4), tag)
