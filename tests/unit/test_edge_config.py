"""EdgeConfig checks and defaults (n2n-v3-features.md §B)."""

from __future__ import annotations

import pytest

from pyn2n.constants import (
    DEFAULT_MTU,
    N2N_COMPRESSION_ID_NONE,
    N2N_TRANSFORM_ID_AES,
    N2N_TRANSFORM_ID_CHACHA20,
    N2N_TRANSFORM_ID_NULL,
)
from pyn2n.core.config import ConfigError
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.crypto.auth import bin_to_ascii, federation_public_key

SN = [("198.18.0.1", 7654)]


def test_defaults_follow_n2n() -> None:
    cfg = EdgeConfig(community="net", supernodes=SN)
    assert cfg.auto_ip and cfg.mac is None and cfg.mtu == DEFAULT_MTU
    assert cfg.transform_id == N2N_TRANSFORM_ID_NULL
    assert cfg.compression == N2N_COMPRESSION_ID_NONE
    assert cfg.register_interval == 20 and cfg.selection == "load"
    assert cfg.drop_multicast is False  # pyn2n carries multicast by default
    assert cfg.community_bytes == b"net" + bytes(17)
    assert EdgeConfig(community="net", supernodes=SN, key="k").transform_id == N2N_TRANSFORM_ID_AES


def test_mac_text_is_parsed() -> None:
    cfg = EdgeConfig(community="net", supernodes=SN, mac="02-00-00-00-00-2A")
    assert cfg.mac == bytes.fromhex("02000000002a")


def test_user_password_forces_header_encryption_and_username() -> None:
    cfg = EdgeConfig(
        community="net",
        supernodes=SN,
        username="alice",
        password="pw",
        key="k",
        transform=N2N_TRANSFORM_ID_CHACHA20,
        federation_pubkey=bin_to_ascii(federation_public_key("*Federation")),
    )
    assert cfg.header_encryption and cfg.desc == "alice" and cfg.user_password


def test_long_hostname_is_cut_like_n2n() -> None:
    cfg = EdgeConfig(community="net", supernodes=SN, desc="a-very-long-host-name.example")
    assert cfg.desc == "a-very-long-hos" and len(cfg.desc_bytes) == 16


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"community": ""}, "-c"),
        ({"community": "x" * 20}, "at most 19"),
        ({"supernodes": []}, "-l"),
        ({"supernodes": [("sn.example", 7654)]}, "resolved"),
        ({"supernodes": [("198.18.0.1", 0)]}, "1..65535"),
        ({"ip": "300.1.1.1"}, "-a"),
        ({"ip": "198.19.0.1", "prefix": 33}, "prefix"),
        ({"static": True}, "static:"),
        ({"mac": "zz:00:00:00:00:00"}, "-m"),
        ({"mac": "01:00:00:00:00:01"}, "multicast"),
        ({"transform": 3}, "-k"),
        ({"transform": 1, "key": "k"}, "-A1"),
        ({"transform": 9, "key": "k"}, "-A1 .. -A5"),
        ({"compression": 7}, "-z"),
        ({"password": "pw", "username": "u", "key": "k"}, "-A4"),
        ({"password": "pw", "key": "k", "transform": 4}, "-I"),
        ({"username": "u"}, "-J"),
        ({"password": "pw", "username": "u", "desc": "v", "key": "k", "transform": 4}, "differ"),
        ({"federation_pubkey": "abc"}, "-J"),
        (
            {
                "password": "p",
                "username": "u",
                "key": "k",
                "transform": 4,
                "federation_pubkey": "#" * 43,
            },
            "43 characters",
        ),
        ({"mtu": 100}, "-M"),
        ({"register_interval": 0}, "-i"),
        ({"selection": "fastest"}, "--select-rtt"),
        ({"sn_probe": 0.1}, "--sn-probe 0.1: give 0"),
        ({"sn_probe": -1}, "--sn-probe -1: give 0"),
    ],
)
def test_mistakes_name_the_fix(kw: dict, words: str) -> None:
    args = {"community": "net", "supernodes": SN, **kw}
    with pytest.raises(ConfigError, match=words.replace(".", r"\.").replace("*", r"\*")):
        EdgeConfig(**args)
