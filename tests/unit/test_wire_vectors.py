"""The wire codec against n2n's own test outputs (tests-wire.expected, tests-transform.expected)."""

from __future__ import annotations

import pytest

from pyn2n.wire import (
    Auth,
    Common,
    IpSubnet,
    Packet,
    Register,
    RegisterSuper,
    UnregisterSuper,
    decode,
    decode_packet_header,
    decode_with_end,
    encode,
    encode_packet,
    pad_community,
)
from tests import vectors

WIRE = "tests-wire.expected"
TRANSFORM = "tests-transform.expected"


def _fields(name: str, label: str) -> dict[str, str]:
    """`label: key = value` lines of an .expected file as {key: value}."""
    out: dict[str, str] = {}
    for block in vectors.read_blocks(name):
        if block.label == label and " = " in block.text:
            key, _, value = block.text.partition(" = ")
            out[key.strip()] = value.strip()
    return out


def _int(text: str) -> int:
    return int(text, 0)


def _mac(text: str) -> bytes:
    """n2n's print_mac form: `0:1:2:3:4:5` (hex, no zero padding)."""
    return bytes(int(part, 16) for part in text.split(":"))


def _str(text: str) -> bytes:
    assert text.startswith('"') and text.endswith('"'), text
    return text[1:-1].encode()


def _common(label: str) -> Common:
    env = _fields(WIRE, "environment")
    return Common(
        pc=_int(_fields(WIRE, label)["common.pc"]),
        ttl=_int(env["common.ttl"]),
        flags=_int(env["common.flags"]),
        community=_str(env["common.community"]),
    )


def _wire(label: str) -> bytes:
    data = vectors.find(WIRE, label, "output idx").data
    assert len(data) == _int(_fields(WIRE, label)["output idx"])  # the hexdump is complete
    return data


def _check_token(auth: Auth, fields: dict[str, str], prefix: str) -> None:
    # the .expected file prints token[0] only; n2n's init_auth also sets token[4], [8], [15]
    assert auth.scheme == _int(fields[f"{prefix}.scheme"])
    assert len(auth.token) == _int(fields[f"{prefix}.token_size"])
    assert auth.token[0] == _int(fields[f"{prefix}.token[0]"])


def test_register_vector() -> None:  # spec §4 REGISTER
    f = _fields(WIRE, "REGISTER")
    data = _wire("REGISTER")
    expected = Register(
        cookie=_int(f["reg.cookie"]),
        src_mac=_mac(f["reg.srcMac[]"]),
        dst_mac=_mac(f["reg.dstMac[]"]),
        sock=None,
        dev_addr=IpSubnet(_int(f["reg.dev_addr.net_addr"]), _int(f["reg.dev_addr.net_bitlen"])),
        dev_desc=_str(f["reg.dev_desc"]),
    )
    common, msg, end = decode_with_end(data)
    assert common == _common("REGISTER")
    assert common.community == b"abc123def456z" and common.ttl == 2
    assert msg == expected
    assert end == len(data) == 61
    assert encode(common, msg) == data
    assert encode(_common("REGISTER"), expected) == data


def test_register_super_vector() -> None:  # spec §4 REGISTER_SUPER
    f = _fields(WIRE, "REGISTER_SUPER")
    data = _wire("REGISTER_SUPER")
    common, msg, end = decode_with_end(data)
    assert common == _common("REGISTER_SUPER")
    assert isinstance(msg, RegisterSuper)
    _check_token(msg.auth, f, "reg.auth")
    expected = RegisterSuper(
        cookie=_int(f["reg.cookie"]),
        edge_mac=_mac(f["reg.edgeMac[]"]),
        sock=None,
        dev_addr=IpSubnet(_int(f["reg.dev_addr.net_addr"]), _int(f["reg.dev_addr.net_bitlen"])),
        dev_desc=_str(f["reg.dev_desc"]),
        auth=Auth(_int(f["reg.auth.scheme"]), msg.auth.token),
        key_time=_int(f["reg.key_time"]),
    )
    assert msg == expected
    assert msg.auth.token == bytes.fromhex("fe000000fd000000fc000000000000fb")
    assert end == len(data) == 79
    assert encode(common, msg) == data
    assert encode(_common("REGISTER_SUPER"), expected) == data


def test_unregister_super_vector() -> None:  # spec §4 UNREGISTER_SUPER
    f = _fields(WIRE, "UNREGISTER_SUPER")
    data = _wire("UNREGISTER_SUPER")
    common, msg, end = decode_with_end(data)
    assert common == _common("UNREGISTER_SUPER")
    assert isinstance(msg, UnregisterSuper)
    _check_token(msg.auth, f, "unreg.auth")
    assert msg.src_mac == _mac(f["unreg.srcMac[]"])
    assert end == len(data)
    assert encode(common, msg) == data
    assert encode(common, UnregisterSuper(msg.auth, _mac(f["unreg.srcMac[]"]))) == data


def test_register_super_tolerates_auth_tag() -> None:  # spec §7.3: 16-byte tag after the message
    data = _wire("REGISTER_SUPER")
    tagged = data + bytes(range(16))
    common, msg, end = decode_with_end(tagged)
    assert end == len(data)
    assert decode(data) == (common, msg)


def _transform_community() -> bytes:
    return _str(_fields(TRANSFORM, "environment")["community_name"])


def test_null_transform_packet() -> None:  # spec §4 PACKET, §5 null transform
    block = vectors.find(TRANSFORM, "null", "output size")
    data = block.data
    assert len(data) == int(block.text.rpartition("=")[2], 0)
    mac = bytes([0, 1, 2, 3, 4, 5])
    common, msg = decode(data)
    assert common == Common(pc=3, ttl=2, flags=0, community=b"abc123def456")
    assert common.community == _transform_community()
    assert isinstance(msg, Packet)
    assert (msg.src_mac, msg.dst_mac, msg.sock) == (mac, mac, None)
    # n2n's tests-transform.c memsets the PACKET struct: compression and transform bytes are 0
    assert (msg.compression, msg.transform) == (0, 0)
    assert msg.payload == vectors.standard_input()
    assert encode(common, msg) == data
    assert decode_packet_header(data) == (mac, mac, None, 0, 0, 38)
    community20 = pad_community(_transform_community())
    assert encode_packet(community20, mac, mac, 0, 0, vectors.standard_input()) == data


@pytest.mark.parametrize("label", ["null", "tf", "aes", "cc20", "speck", "lzo", "zstd"])
def test_transform_outputs_are_packets(label: str) -> None:  # spec §4 PACKET header
    data = vectors.find(TRANSFORM, label, "output size").data
    mac = bytes([0, 1, 2, 3, 4, 5])
    common, msg = decode(data)
    assert isinstance(msg, Packet) and common.community == _transform_community()
    src, dst, sock, compression, transform, off = decode_packet_header(data)
    assert (src, dst, sock, compression, transform) == (mac, mac, None, 0, 0)
    assert data[off:] == msg.payload and off == 38
    assert encode(common, msg) == data
