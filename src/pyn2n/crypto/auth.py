"""User/password authentication of n2n (spec §7.3; n2n `src/auth.c`, `edge_utils.c`,
`sn_utils.c`, `doc/Authentication.md`).

Keys (32 bytes each):

* user:       priv = pearson256(pearson256(password)) XOR pearson256(username)
* federation: priv = pearson256(pearson256(federation name without its leading '*'))
* public key: X25519(priv, B) with n2n's base point B = 00…00 09 (not RFC 7748's 09 00…00)
* shared:     ss = pearson256(X25519(priv, other's public key)); SpeckECB key = ss[0:16]

Key text (n2n-keygen, community file `* user key`, edge `-P`): a big-endian stream of 6-bit
groups over the alphabet 0-9 A-Z a-z + -, zero-padded, no padding characters (43 characters
for 32 bytes, 22 for 16).

REGISTER_SUPER auth token (scheme 2, 48 bytes), edge → supernode:
    pub(32) ‖ E(challenge)
REGISTER_SUPER_ACK answer token, supernode → edge:
    E(E(challenge)) ‖ pub[16:32] ‖ E(challenge XOR dynamic_key XOR ss[0:16])
where E is Speck128/128-ECB under ss[0:16]. After header encryption with the static key both
messages get a 16-byte tag appended: E(pearson_hash_128(encrypted packet)).

Dynamic key (16 bytes): E_k(H3(LE32(key_time))) with k = H3(community[20]) XOR
H3(federation[20], including the '*'), H3 = pearson_hash_128 applied three times.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from pyn2n.crypto.header import HASH_TAG_SIZE, community_field
from pyn2n.crypto.pearson import pearson_hash_128, pearson_hash_256
from pyn2n.crypto.speck import Speck128

__all__ = [
    "AUTH_CHALLENGE_SIZE",
    "AUTH_PW_TOKEN_SIZE",
    "KEY_SIZE",
    "SharedSecret",
    "answer_token",
    "ascii_to_bin",
    "bin_to_ascii",
    "bind_private_key_to_username",
    "dynamic_key",
    "federation_private_key",
    "federation_public_key",
    "generate_private_key",
    "generate_public_key",
    "generate_shared_secret",
    "open_answer_token",
    "packet_tag",
    "register_super_token",
    "user_private_key",
    "verify_packet_tag",
]

KEY_SIZE = 32  # N2N_PRIVATE_PUBLIC_KEY_SIZE
AUTH_CHALLENGE_SIZE = 16  # N2N_AUTH_CHALLENGE_SIZE
AUTH_PW_TOKEN_SIZE = KEY_SIZE + AUTH_CHALLENGE_SIZE  # N2N_AUTH_PW_TOKEN_SIZE

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_BASE_POINT = bytes(31) + b"\x09"


def _text(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _xor(a: bytes, b: bytes) -> bytes:
    n = len(a)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b[:n], "big")).to_bytes(n, "big")


def bin_to_ascii(data: bytes) -> str:
    """n2n key text of `data`: 6-bit groups, most significant first, last group zero-padded."""
    bits = len(data) * 8
    chars = (bits + 5) // 6
    value = int.from_bytes(data, "big") << (chars * 6 - bits)
    return "".join(_ALPHABET[(value >> (6 * (chars - 1 - i))) & 0x3F] for i in range(chars))


def ascii_to_bin(text: str) -> bytes:
    """Bytes of n2n key text: floor(6·len/8) bytes, surplus low bits dropped.

    Raises ValueError for characters outside the alphabet (n2n warns and carries on with
    bits that depend on a table-indexing bug; such a key is a configuration error).
    """
    value = 0
    for c in text:
        v = _VALUE.get(c)
        if v is None:
            raise ValueError(f"invalid character {c!r} in n2n key text (allowed: {_ALPHABET})")
        value = (value << 6) | v
    bits = len(text) * 6
    nbytes = bits // 8
    return (value >> (bits - nbytes * 8)).to_bytes(nbytes, "big")


def generate_private_key(secret: str | bytes) -> bytes:
    """pearson256(pearson256(secret)) (n2n `generate_private_key`; secret without NUL)."""
    return pearson_hash_256(pearson_hash_256(_text(secret)))


def _x25519(private_key: bytes, public_key: bytes) -> bytes:
    if len(private_key) != KEY_SIZE or len(public_key) != KEY_SIZE:
        raise ValueError("X25519 keys are 32 bytes")
    priv = X25519PrivateKey.from_private_bytes(private_key)
    try:
        return priv.exchange(X25519PublicKey.from_public_bytes(public_key))
    except ValueError:
        # `cryptography` refuses low-order points, whose product is zero; n2n's
        # curve25519 just returns that zero, so a compatible peer must too
        return bytes(KEY_SIZE)


def generate_public_key(private_key: bytes) -> bytes:
    """X25519(priv, 00…09) (n2n `generate_public_key`)."""
    return _x25519(private_key, _BASE_POINT)


def generate_shared_secret(private_key: bytes, public_key: bytes) -> bytes:
    """pearson256(X25519(priv, pub)) (n2n `generate_shared_secret`)."""
    return pearson_hash_256(_x25519(private_key, public_key))


def bind_private_key_to_username(private_key: bytes, username: str | bytes) -> bytes:
    """priv XOR pearson256(username) (n2n `bind_private_key_to_username`).

    The edge binds to its dev_desc (`-I`), i.e. the username as cut to 15 bytes.
    """
    return _xor(private_key, pearson_hash_256(_text(username)))


def user_private_key(username: str | bytes, password: str | bytes) -> bytes:
    """An edge's private key for `-I username -J password`."""
    return bind_private_key_to_username(generate_private_key(password), username)


def federation_private_key(federation: str | bytes) -> bytes:
    """The supernodes' private key: hash of the federation name without its leading '*'."""
    name = _text(federation)
    return generate_private_key(name[1:] if name.startswith(b"*") else name)


def federation_public_key(federation: str | bytes) -> bytes:
    """What edges need via `-P` (default: that of "*Federation")."""
    return generate_public_key(federation_private_key(federation))


class SharedSecret:
    """An edge↔supernode shared secret and its Speck128/128 ECB cipher (key = first 16 bytes)."""

    __slots__ = ("cipher", "secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEY_SIZE:
            raise ValueError(f"shared secret must be {KEY_SIZE} bytes, got {len(secret)}")
        self.secret = bytes(secret)
        self.cipher = Speck128(self.secret[:16])

    @classmethod
    def derive(cls, private_key: bytes, public_key: bytes) -> SharedSecret:
        """Edge: (user priv, federation pub); supernode: (federation priv, user pub)."""
        return cls(generate_shared_secret(private_key, public_key))


def register_super_token(public_key: bytes, secret: SharedSecret, challenge: bytes) -> bytes:
    """Edge's 48-byte REGISTER_SUPER token: pub ‖ E(challenge); keep `challenge` for the ACK."""
    if len(public_key) != KEY_SIZE or len(challenge) != AUTH_CHALLENGE_SIZE:
        raise ValueError("public key is 32 bytes, challenge 16")
    return public_key + secret.cipher.encrypt_block(challenge)


def answer_token(token: bytes, secret: SharedSecret, dynamic: bytes) -> bytes:
    """Supernode's REGISTER_SUPER_ACK token for an edge's 48-byte `token` (n2n
    `handle_remote_auth`). The caller has found the user by `token[:32]` and derived `secret`.
    """
    if len(token) != AUTH_PW_TOKEN_SIZE or len(dynamic) != AUTH_CHALLENGE_SIZE:
        raise ValueError("token is 48 bytes, dynamic key 16")
    cipher = secret.cipher
    sealed = token[KEY_SIZE:]
    challenge = cipher.decrypt_block(sealed)
    wrapped = cipher.encrypt_block(_xor(_xor(challenge, dynamic), secret.secret))
    return cipher.encrypt_block(sealed) + token[16:KEY_SIZE] + wrapped


def open_answer_token(answer: bytes, secret: SharedSecret, challenge: bytes) -> bytes | None:
    """Edge: the dynamic key from a REGISTER_SUPER_ACK token, or None if the token does not
    answer `challenge` (stale ACK or wrong federation key). Never raises on `answer`.
    """
    if len(answer) != AUTH_PW_TOKEN_SIZE:
        return None
    cipher = secret.cipher
    echoed = cipher.decrypt_block(cipher.decrypt_block(answer[:16]))
    if not hmac.compare_digest(echoed, challenge):
        return None
    return _xor(_xor(cipher.decrypt_block(answer[KEY_SIZE:]), challenge), secret.secret)


def packet_tag(secret: SharedSecret, encrypted: bytes) -> bytes:
    """The 16 bytes appended to a header-encrypted REGISTER_SUPER/_ACK: E(pearson128(packet))."""
    return secret.cipher.encrypt_block(pearson_hash_128(encrypted))


def verify_packet_tag(secret: SharedSecret, datagram: bytes) -> bool:
    """Check the tag at the end of a received (still encrypted) datagram. Never raises."""
    if len(datagram) < HASH_TAG_SIZE:
        return False
    body, tag = datagram[:-HASH_TAG_SIZE], datagram[-HASH_TAG_SIZE:]
    return hmac.compare_digest(packet_tag(secret, bytes(body)), bytes(tag))


def dynamic_key(community: bytes, federation: bytes, key_time: int) -> bytes:
    """A community's 16-byte dynamic key for `key_time` (n2n `calculate_dynamic_key`).

    `federation` is the federation community name including its '*'. key_time is hashed as
    4 little-endian bytes (n2n hashes the host-order u32 of an x86 supernode).
    """

    def h3(data: bytes) -> bytes:
        return pearson_hash_128(pearson_hash_128(pearson_hash_128(data)))

    key = _xor(h3(community_field(community)), h3(community_field(federation)))
    return Speck128(key).encrypt_block(h3((key_time & 0xFFFFFFFF).to_bytes(4, "little")))
