"""Every transform (-A1..-A5 with -k), compression (-z1 LZO, -z2 zstd) and header encryption (-H)
end to end through real pyn2n processes in a lab: ping both ways and a 1 MB TCP transfer whose
SHA-256 must match. Each configuration runs as its own community (one pair of edges each) on one
supernode, all at once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pyn2n.lab import Lab
from pyn2n.lab.overlay import Overlay
from pyn2n.lab.tcpcheck import expected
from pyn2n.lab.tcpcheck import transfer as tcp_transfer

pytestmark = pytest.mark.root

TRANSFER_BYTES = 1 << 20
TCP_PORT = 5201


def transfer(lab: Lab, src: str, dst: str, n: int = TRANSFER_BYTES) -> dict[str, Any]:
    # "text": compressible, so -z1/-z2 really compress
    return tcp_transfer(lab, src, dst, n, port=TCP_PORT, kind="text")


# community name -> edge flags (both edges of the pair use them)
CONFIGS: dict[str, list[str]] = {
    "null": ["-A1", "--no-kernel-path"],  # the null transform itself, not the kernel path
    "twofish": ["-A2", "-k", "key-twofish"],
    "aes": ["-A3", "-k", "key-aes"],
    "chacha20": ["-A4", "-k", "key-chacha20"],
    "speck": ["-A5", "-k", "key-speck"],
    "lzo": ["-z1"],
    "zstd-aes": ["-z2", "-A3", "-k", "key-zstd"],
}
HE_CONFIGS: dict[str, list[str]] = {
    "hidden-aes": ["-H", "-A3", "-k", "key-he-aes"],
    "hidden-speck-lzo": ["-H", "-A5", "-k", "key-he-speck", "-z1"],
}


def start_pairs(
    ov: Overlay, configs: dict[str, list[str]], first: int = 1
) -> dict[str, tuple[str, str]]:
    """One community per configuration, two edges each (e<first>, e<first+1>, ...)."""
    pairs = {}
    for i, (community, flags) in enumerate(configs.items()):
        a, b = f"e{first + 2 * i}", f"e{first + 2 * i + 1}"
        ov.start_edge(a, flags, community=community)
        ov.start_edge(b, flags, community=community)
        pairs[community] = (a, b)
    return pairs


def check_pair(ov: Overlay, a: str, b: str) -> tuple[int, int, dict[str, Any]]:
    # 60 s: up to 18 Python processes start together on 2 cores
    ov.wait_ping(a, b, timeout=60)
    ov.wait_ping(b, a, timeout=60)
    return (
        ov.ping(a, b, count=3, interval=0.05),
        ov.ping(b, a, count=3, interval=0.05),
        transfer(ov.lab, a, b),
    )


def run_pairs(
    ov: Overlay, pairs: dict[str, tuple[str, str]]
) -> dict[str, tuple[int, int, dict[str, Any]]]:
    with ThreadPoolExecutor(len(pairs)) as pool:
        futures = {name: pool.submit(check_pair, ov, a, b) for name, (a, b) in pairs.items()}
        return {name: f.result() for name, f in futures.items()}


def assert_transfers(results: dict[str, tuple[int, int, dict[str, Any]]]) -> None:
    want = expected(TRANSFER_BYTES, "text")
    for name, (there, back, got) in results.items():
        assert (there, back) == (3, 3), f"{name}: echo replies {there}/3 and {back}/3"
        assert got == want, f"{name}: the 1 MB transfer arrived as {got}"


def test_every_transform_and_compression_end_to_end(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(2 * len(CONFIGS) + 2)
    ov = Overlay(lab, log_dir=tmp_path).start(edges=[])
    pairs = start_pairs(ov, CONFIGS)
    # a pair whose keys differ: both registered, datagrams arrive and are deciphered (to garbage,
    # or recognised as another key's), nothing gets through
    wa, wb = f"e{2 * len(CONFIGS) + 1}", f"e{2 * len(CONFIGS) + 2}"
    ov.start_edge(wa, ["-A3", "-k", "right-key"], community="wrongkey")
    ov.start_edge(wb, ["-A3", "-k", "wrong-key"], community="wrongkey")

    assert_transfers(run_pairs(ov, pairs))
    for name, (a, _) in pairs.items():
        transop = {r["type"]: r for r in ov.ctl(a, "packetstats")}["transop"]
        # 1 MB in frames of at most the MTU (1290) went through the transform
        assert transop["tx_pkt"] > TRANSFER_BYTES // 1290 and transop["rx_pkt"] > 0, (name, transop)

    ov.wait_registered([wa, wb], community="wrongkey")
    rx_before = deciphered(ov, wb)
    assert ov.ping(wa, wb, count=3, interval=0.2) == 0
    assert deciphered(ov, wb) > rx_before
    ov.check_alive()


def transop_rx(ov: Overlay, edge: str) -> int:
    return int({r["type"]: r for r in ov.ctl(edge, "packetstats")}["transop"]["rx_pkt"])


def deciphered(ov: Overlay, edge: str) -> int:
    """PACKETs that went through the transform: delivered (as garbage, with a wrong key), or
    recognised as another key's (a group frame whose decrypted destination does not match its
    header) and counted under the `transform` drop."""
    drops = {r["reason"]: r["count"] for r in ov.ctl(edge, "drops")}
    return transop_rx(ov, edge) + int(drops.get("transform", 0))


def test_header_encryption_with_a_community_file(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(2 * len(HE_CONFIGS) + 1)
    ov = Overlay(lab, communities=list(HE_CONFIGS), community_file=True, log_dir=tmp_path).start(
        edges=[]
    )
    pairs = start_pairs(ov, HE_CONFIGS)
    community, (a, b) = next(iter(pairs.items()))
    ov.wait_registered([a, b], supernode="sn", community=community)
    # The community is now locked to header encryption (the first decodable datagram decides,
    # as in n2n): an edge with the right key but without -H must not get in.
    plain = f"e{2 * len(HE_CONFIGS) + 1}"
    ov.start_edge(plain, [f for f in HE_CONFIGS[community] if f != "-H"], community=community)

    assert_transfers(run_pairs(ov, pairs))
    for name, (x, y) in pairs.items():
        assert {x, y} <= set(ov.registered("sn", name)), name
    # the plain edge has been trying (REGISTER_SUPER every 2 s while unanswered) all along
    ov.wait(lambda: ov.drops("sn").get("he_plaintext", 0) > 0, "he_plaintext drops")
    assert plain not in ov.registered("sn", community)
    assert ov.ping(plain, a, count=2) == 0
    ov.check_alive()
