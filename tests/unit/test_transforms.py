"""Payload transforms (spec §5): n2n's own vectors, ciphertext stealing, key rules, limits."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pyn2n.constants import COMMON_HEADER_SIZE, N2N_PKT_BUF_SIZE
from pyn2n.crypto.pearson import pearson_hash_256
from pyn2n.crypto.twofish import Twofish
from pyn2n.transforms import (
    TRANSFORM_NAMES,
    Transform,
    TransformConfigError,
    TransformError,
    make_transform,
)
from tests import vectors

TRANSFORM_FILE = "tests-transform.expected"
KEY = "SoMEVer!S$cUREPassWORD"  # 22 characters: AES-128
PACKET_HEADER_SIZE = 14  # srcMac, dstMac, compression, transform (spec §4 PACKET, no sock)
PAYLOAD_OFFSET = COMMON_HEADER_SIZE + PACKET_HEADER_SIZE
# n2n's test tool leaves the PACKET's compression and transform bytes zero, so the block
# label is what says which transform made the payload.
CIPHER_LABELS = {"null": 1, "tf": 2, "aes": 3, "cc20": 4, "speck": 5}
SIZES = (0, 1, 15, 16, 17, 31, 32, 33, 47, 60, 64, 100, 1400, N2N_PKT_BUF_SIZE)


def vector_payload(label: str) -> bytes:
    packet = vectors.find(TRANSFORM_FILE, label, "output size").data
    assert packet[0] == 3 and packet[3] & 0x1F == 3  # version 3, PACKET
    assert packet[4:20] == b"abc123def456\0\0\0\0"
    assert packet[COMMON_HEADER_SIZE + 12 : PAYLOAD_OFFSET] == b"\0\0"
    return packet[PAYLOAD_OFFSET:]


def fixed_rng(value: bytes) -> Callable[[int], bytes]:
    def rng(n: int) -> bytes:
        assert n == len(value)
        return value

    return rng


def _seq(values: list[bytes]) -> Callable[[int], bytes]:
    """An rng that hands out `values` in order."""
    it = iter(values)
    return lambda n: next(it)


def aes_ecb_block(key: bytes, block: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(block) + ctx.finalize()


def reference_cts(encrypt_block: Callable[[bytes], bytes], prefix: bytes, frame: bytes) -> bytes:
    """Spec §5 written out block by block: zero-pad prefix ‖ frame, CBC with a zero IV, and
    when padding was needed swap the last two blocks and cut to 16 + len(frame)."""
    plain = prefix + frame
    padded = plain + bytes(-len(plain) % 16)
    blocks, chain = [], bytes(16)
    for i in range(0, len(padded), 16):
        chain = encrypt_block(bytes(a ^ b for a, b in zip(padded[i : i + 16], chain, strict=True)))
        blocks.append(chain)
    if len(plain) % 16:
        blocks[-2], blocks[-1] = blocks[-1], blocks[-2]
    return b"".join(blocks)[: len(plain)]


# --- n2n's vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("label", CIPHER_LABELS)
def test_decodes_n2n_packets(label: str) -> None:
    transform = make_transform(CIPHER_LABELS[label], None if label == "null" else KEY, os.urandom)
    assert transform.decode(vector_payload(label)) == vectors.standard_input()


def _vector_prefix(label: str, payload: bytes) -> bytes:
    """The random bytes n2n drew for this payload: the IV, or the CBC-decrypted first block."""
    digest = pearson_hash_256(KEY.encode())
    if label == "aes":
        return aes_ecb_block(digest[-16:], payload[:16], decrypt=True)  # 22 chars: AES-128
    if label == "tf":
        return Twofish(digest).decrypt_block(payload[:16])
    return payload[:16]


@pytest.mark.parametrize("label", ["tf", "aes", "cc20", "speck"])
def test_reencodes_n2n_packets_with_their_random_bytes(label: str) -> None:
    payload = vector_payload(label)
    transform = make_transform(CIPHER_LABELS[label], KEY, fixed_rng(_vector_prefix(label, payload)))
    assert transform.encode(vectors.standard_input()) == payload
    # again on the same object: cipher state carried between frames must not show
    assert transform.encode(vectors.standard_input()) == payload


def test_null_reencodes_n2n_packet() -> None:
    assert make_transform(1, None, os.urandom).encode(vectors.standard_input()) == vector_payload(
        "null"
    )


# --- every transform -------------------------------------------------------------------------


def _all_transforms(rng: Callable[[int], bytes] = os.urandom) -> list[Transform]:
    return [make_transform(tid, None if tid == 1 else KEY, rng) for tid in TRANSFORM_NAMES]


@pytest.mark.parametrize("transform", _all_transforms(), ids=lambda t: t.name)
def test_round_trip_and_overhead(transform: Transform) -> None:
    for size in SIZES if transform.name != "Twofish" else SIZES[:-2]:  # pure-Python Twofish
        frame = os.urandom(size)
        payload = transform.encode(frame)
        assert len(payload) == size + (0 if transform.id == 1 else 16)
        assert transform.decode(payload) == frame


@pytest.mark.parametrize("transform_id", [2, 3, 4, 5])
def test_sequences_decode_on_another_object_and_do_not_depend_on_history(transform_id: int) -> None:
    prefixes = [bytes([i]) * 16 for i in range(6)]
    frames = [os.urandom(size) for size in (20, 64, 100, 16, 0, 300)]
    sender = make_transform(transform_id, KEY, _seq(prefixes))
    receiver = make_transform(transform_id, KEY, os.urandom)
    for prefix, frame in zip(prefixes, frames, strict=True):
        payload = sender.encode(frame)
        fresh = make_transform(transform_id, KEY, fixed_rng(prefix))
        assert payload == fresh.encode(frame)
        assert receiver.decode(payload) == frame


def test_random_bytes_come_from_the_rng() -> None:
    drawn: list[int] = []

    def rng(n: int) -> bytes:
        drawn.append(n)
        return bytes(n)

    for transform in _all_transforms(rng):
        transform.encode(b"frame")
    assert drawn == [16, 16, 16, 16]  # one 16-byte draw per cipher frame, none for null


@pytest.mark.parametrize("transform_id", [2, 3, 4, 5])
def test_decode_limits(transform_id: int) -> None:
    transform = make_transform(transform_id, KEY, os.urandom)
    for size in range(16):
        with pytest.raises(TransformError):
            transform.decode(bytes(size))
    with pytest.raises(TransformError):
        transform.decode(bytes(16 + N2N_PKT_BUF_SIZE + 1))
    assert len(transform.decode(bytes(16))) == 0
    if transform_id != 2:
        assert len(transform.decode(bytes(16 + N2N_PKT_BUF_SIZE))) == N2N_PKT_BUF_SIZE


def test_null_decode_limit() -> None:
    null = make_transform(1, None, os.urandom)
    assert null.decode(b"") == b""
    with pytest.raises(TransformError):
        null.decode(bytes(N2N_PKT_BUF_SIZE + 1))


@pytest.mark.parametrize("transform_id", [2, 3, 4, 5])
def test_wrong_key_gives_garbage_not_the_frame(transform_id: int) -> None:
    frame = bytes(range(100))
    payload = make_transform(transform_id, KEY, os.urandom).encode(frame)
    assert make_transform(transform_id, KEY + "x", os.urandom).decode(payload) != frame


# --- ciphertext stealing (the vectors only cover whole blocks) -------------------------------


def test_aes_cts_matches_the_spec_for_every_length() -> None:
    key = pearson_hash_256(KEY.encode())[-16:]
    transform = make_transform(3, KEY, _seq([bytes([n]) * 16 for n in range(256)]))
    for n, size in enumerate(itertools.chain(range(70), (1399, 1400, 2047, 2048))):
        frame = os.urandom(size)
        expected = reference_cts(lambda b: aes_ecb_block(key, b), bytes([n]) * 16, frame)
        assert transform.encode(frame) == expected, size


def test_twofish_cts_matches_the_spec() -> None:
    twofish = Twofish(pearson_hash_256(KEY.encode()))
    prefix = bytes(range(16))
    for size in (0, 1, 15, 16, 17, 33, 61, 100):
        frame = os.urandom(size)
        transform = make_transform(2, KEY, fixed_rng(prefix))
        assert transform.encode(frame) == reference_cts(twofish.encrypt_block, prefix, frame)


@pytest.mark.parametrize(
    ("passphrase", "key_bytes"),
    [
        ("a" * 1, 16),
        ("a" * 22, 16),
        ("a" * 23, 24),
        ("a" * 32, 24),
        ("a" * 33, 32),
        ("a" * 100, 32),
        ("é" * 12, 24),  # 24 UTF-8 bytes: n2n counts bytes (strlen)
        (b"\xff" * 40, 32),
    ],
)
def test_aes_key_size_follows_passphrase_length(passphrase: str | bytes, key_bytes: int) -> None:
    raw = passphrase.encode() if isinstance(passphrase, str) else passphrase
    key = pearson_hash_256(raw)[-key_bytes:]  # the LAST bytes of the hash
    prefix, frame = bytes(16), b"0123456789abcdef-and-a-tail"
    payload = make_transform(3, passphrase, fixed_rng(prefix)).encode(frame)
    assert payload == reference_cts(lambda b: aes_ecb_block(key, b), prefix, frame)


# --- registry and configuration errors -------------------------------------------------------


def test_names_and_ids() -> None:
    assert TRANSFORM_NAMES == {1: "null", 2: "Twofish", 3: "AES", 4: "ChaCha20", 5: "Speck"}
    for tid, name in TRANSFORM_NAMES.items():
        transform = make_transform(tid, None if tid == 1 else KEY, os.urandom)
        assert (transform.id, transform.name) == (tid, name)


def test_default_is_aes_with_a_key_and_null_without() -> None:
    assert make_transform(None, KEY, os.urandom).id == 3
    assert make_transform(None, None, os.urandom).id == 1


def test_key_as_bytes_or_str_is_the_same_key() -> None:
    frame = b"some frame bytes"
    a = make_transform(4, KEY, fixed_rng(bytes(16))).encode(frame)
    assert make_transform(4, KEY.encode(), fixed_rng(bytes(16))).encode(frame) == a


@pytest.mark.parametrize(
    ("transform_id", "key", "hint"),
    [
        (1, KEY, "drop the key"),
        (2, None, "-k"),
        (3, None, "-k"),
        (4, None, "-k"),
        (5, None, "-k"),
        (0, KEY, "-A3"),
        (6, KEY, "-A3"),
        (64, KEY, "-A3"),
        (3, "", "empty"),
        (None, b"", "empty"),
    ],
)
def test_config_errors_name_the_fix(transform_id: int | None, key: str | None, hint: str) -> None:
    with pytest.raises(TransformConfigError, match=hint) as info:
        make_transform(transform_id, key, os.urandom)
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, TransformError)  # the core must not swallow it


@pytest.mark.parametrize("transform_id", sorted(TRANSFORM_NAMES))
def test_accepts_receive_buffers_and_returns_bytes(transform_id: int) -> None:
    transform = make_transform(transform_id, None if transform_id == 1 else KEY, os.urandom)
    frame = os.urandom(100)
    payload = transform.encode(memoryview(bytearray(frame)))  # type: ignore[arg-type]
    decoded = transform.decode(memoryview(bytearray(payload)))  # type: ignore[arg-type]
    assert type(payload) is bytes and type(decoded) is bytes
    assert decoded == frame
