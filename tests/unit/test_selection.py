"""KnownSupernode list and selection strategies (spec §7.2; n2n sn_selection.c)."""

from __future__ import annotations

import random

import pytest

from pyn2n.core.selection import (
    CRITERION_BAD,
    CRITERION_DEFAULT,
    CRITERION_GOOD,
    SupernodeList,
    load_from_wire,
)

A = ("198.18.0.1", 7654)
B = ("198.18.0.2", 7654)
C = ("198.18.0.3", 7654)
MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("020000000001")


def rng(seed: int = 1):
    r = random.Random(seed)
    return lambda n: r.randbytes(n)


def test_load_field_is_read_byte_swapped_like_a_c_edge() -> None:
    # a C supernode on a little-endian host sends (uint32)htobe64(n), i.e. 0 for small n;
    # a C edge applies be32toh to the already decoded value, i.e. swaps the bytes
    assert load_from_wire(0) == 0
    assert load_from_wire(0x05000000) == 5
    assert load_from_wire(0x00000005) == 0x05000000
    assert load_from_wire(0x12345678) == 0x78563412


def test_load_selection_with_common_data_and_stickiness() -> None:
    sns = SupernodeList([A, B], "load")
    sns.reset_criteria(pending_peers=4, header_encryption=True)  # 4*2 // 2 supernodes = 4
    assert sns.current.criterion == CRITERION_GOOD
    assert sns.entries[1].criterion == CRITERION_DEFAULT
    sns.on_pong(sns.entries[1], 0x06000000, now=1.0, peers=3)
    assert sns.entries[1].criterion == 6 + 4
    sns.on_pong(sns.current, 0x06000000, now=1.0, peers=3)
    assert sns.current.criterion == (6 + 4) * 3 // 4  # the current one is favoured
    assert sns.select_best().addr == A
    assert sns.selection_text(sns.current) == "load =        7"


def test_rtt_selection() -> None:
    sns = SupernodeList([A, B], "rtt")
    sns.reset_criteria(0, False)
    for sn in sns:
        sn.ping_sent = 10.0
    sns.on_pong(sns.entries[0], 0, now=10.080, peers=0)
    sns.on_pong(sns.entries[1], 0, now=10.020, peers=0)
    assert [sn.criterion for sn in sns] == [80, 20]
    assert sns.select_best().addr == B
    assert sns.selection_text(sns.current) == "rtt =     20 ms"


def test_mac_selection_prefers_the_lowest_mac() -> None:
    sns = SupernodeList([A, B], "mac")
    assert sns.find(A, MAC_A).mac == MAC_A  # found by address, learns the MAC
    assert sns.find(B, MAC_B).mac == MAC_B
    for sn in list(sns):
        sns.on_pong(sn, 0, now=1.0, peers=0)
    assert sns.select_best().addr == B
    assert sns.selection_text(sns.entries[0]) == "active"
    assert sns.selection_text(sns.entries[1]) == "standby"


def test_unknown_strategy_and_empty_list_are_refused() -> None:
    with pytest.raises(ValueError):
        SupernodeList([A], "fastest")
    with pytest.raises(ValueError):
        SupernodeList([], "load")


def test_give_up_moves_to_the_best_other() -> None:
    sns = SupernodeList([A, B, C], "load")
    sns.reset_criteria(0, False)
    assert sns.give_up_current().addr == B  # equal defaults keep their order
    assert sns.find_by_addr(A).criterion == CRITERION_BAD
    assert sns.entries[-1].addr == A


def test_learn_is_bounded_and_skips_known() -> None:
    sns = SupernodeList([A], "load", max_size=2)
    assert sns.learn(A, MAC_A) is None  # known by address
    learned = sns.learn(B, MAC_B)
    assert learned is not None and learned.purgeable
    assert sns.learn(("198.18.0.9", 1), MAC_A) is None  # known by MAC
    assert sns.learn(C, bytes.fromhex("02000000000c")) is None and sns.table_full == 1


def test_ping_targets_take_the_top_half_and_some_of_the_rest() -> None:
    addrs = [(f"198.18.0.{i}", 7654) for i in range(1, 11)]
    sns = SupernodeList(addrs, "load")
    for seed in range(20):
        chosen = sns.ping_targets(5, rng(seed))
        assert len(chosen) == 5 and len(set(map(id, chosen))) == 5
        assert chosen[:2] == sns.entries[:2]
    assert sns.ping_targets(15, rng()) == sns.entries  # fewer supernodes than pings: all


def test_sort_after_current_keeps_the_current_first() -> None:
    sns = SupernodeList([A, B, C], "load")
    sns.current = sns.entries[1]
    sns.entries[0].criterion, sns.entries[1].criterion, sns.entries[2].criterion = 1, 9, 0
    sns.sort_after_current()
    assert [sn.addr for sn in sns] == [A, B, C]
    assert sns.next_after_current().addr == C
    assert sns.next_after_current().addr == A
