"""The edge's security glue: header encryption (`-H`, spec §6) and user/password auth
(`-I`/`-J`/`-P`, §7.3), on top of `core.secure.HeaderCrypto` and `crypto.auth`."""

from __future__ import annotations

from collections.abc import Callable

from pyn2n.constants import (
    DEFAULT_FEDERATION,
    EDGE_MAX_PEERS,
    MSG_TYPE_REGISTER_SUPER_ACK,
    MSG_TYPE_REGISTER_SUPER_NAK,
    N2N_AUTH_USER_PASSWORD,
)
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.secure import HeaderCrypto, Received, verify_stamp
from pyn2n.crypto.auth import (
    AUTH_CHALLENGE_SIZE,
    SharedSecret,
    ascii_to_bin,
    federation_public_key,
    generate_public_key,
    open_answer_token,
    register_super_token,
    user_private_key,
    verify_packet_tag,
)
from pyn2n.crypto.timestamp import StampTracker, TimeStamper
from pyn2n.wire.messages import RegisterSuperAck
from pyn2n.wire.types import Auth


class Security:
    """Seals and opens datagrams, checks stamps, makes and checks the auth tokens."""

    def __init__(
        self,
        config: EdgeConfig,
        rng: Callable[[int], bytes],
        wall_clock: Callable[[], float],
        simple_auth: Auth,
    ) -> None:
        self.user_pw = config.user_password
        self.hc = HeaderCrypto(config.community.encode(), user_pw=self.user_pw)
        self._rng = rng
        self.wall = wall_clock
        self._stamper = TimeStamper()
        self.tracker = StampTracker(2 * EDGE_MAX_PEERS)
        self._simple_auth = simple_auth
        self.raw = b""  # the last datagram as received (the user/password tag covers it)
        self.secret: SharedSecret | None = None
        self._public = b""
        self._challenge = b""
        if self.user_pw:
            assert config.password is not None
            private = user_private_key(config.desc, config.password)
            self._public = generate_public_key(private)
            fed = (
                ascii_to_bin(config.federation_pubkey)
                if config.federation_pubkey
                else federation_public_key(DEFAULT_FEDERATION)
            )
            self.secret = SharedSecret.derive(private, fed)
            # until the supernode hands out the real one: a random dynamic key, so nothing
            # of a merely header-encrypted community with the same name gets through (n2n)
            self.hc.set_dynamic_key(rng(AUTH_CHALLENGE_SIZE))

    def open(self, data: bytes) -> Received | None:
        self.raw = data
        return self.hc.open(data)

    def key_ok(self, pc: int, static: bool) -> bool:
        """User/password: the static key only for REGISTER_SUPER_ACK/_NAK (n2n)."""
        if not self.user_pw:
            return True
        if pc in (MSG_TYPE_REGISTER_SUPER_ACK, MSG_TYPE_REGISTER_SUPER_NAK):
            return static
        return not static

    def check_stamp(self, sender: object, stamp: int, pc: int) -> bool:
        return verify_stamp(self.tracker, sender, stamp, self.wall(), pc, at_supernode=False)

    def seal(self, data: bytes) -> bytes:
        return self.hc.seal(data, self._stamper(self.wall()), self._rng(4), tag=self.secret)

    def local_auth(self) -> Auth:
        """n2n `get_local_auth`: user/password tokens carry a fresh challenge every time."""
        if self.secret is None:
            return self._simple_auth
        self._challenge = self._rng(AUTH_CHALLENGE_SIZE)
        return Auth(
            N2N_AUTH_USER_PASSWORD,
            register_super_token(self._public, self.secret, self._challenge),
        )

    def accept_ack(self, ack: RegisterSuperAck) -> bool:
        """User/password: check the tag and the answered challenge, install the dynamic key."""
        if self.secret is None:
            return True
        if not verify_packet_tag(self.secret, self.raw):
            return False
        key = open_answer_token(ack.auth.token, self.secret, self._challenge)
        if key is None:
            return False
        self.hc.set_dynamic_key(key)
        return True
