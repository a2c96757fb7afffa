"""The pieces of `pyn2n bench supernode` and `pyn2n bench --soak` that need no lab: the load
generator's datagrams, the comparison table, the soak's growth figures and report."""

from __future__ import annotations

from pyn2n.bench import soak, supernode
from pyn2n.bench.cli import main as bench_main
from pyn2n.bench.sngen import edge_mac, register_super
from pyn2n.wire import RegisterSuper, decode


def test_synthetic_edges_differ_in_mac_address_and_token() -> None:
    msgs = [decode(register_super(b"bench", i))[1] for i in (0, 1, 70_000)]
    assert all(isinstance(m, RegisterSuper) for m in msgs)
    assert len({m.edge_mac for m in msgs}) == 3 and msgs[2].edge_mac == edge_mac(70_000)
    assert len({m.dev_addr for m in msgs}) == 3 and len({m.auth.token for m in msgs}) == 3


def test_the_table_gives_medians_and_the_ratio_to_c() -> None:
    results = {
        "pyn2n": [{"reg_per_s": 100.0, "rtt_us": 300.0}, {"reg_per_s": 300.0, "rtt_us": 100.0}],
        "n2n": [{"reg_per_s": 100.0, "rtt_us": 400.0}, {"reg_per_s": 100.0, "rtt_us": 400.0}],
    }
    text = supernode.table(results, 1000)
    assert "| first registrations/s | 200.0 | 100.0 | 2.00× |" in text
    assert "| relay ping RTT p50 µs | 200.0 | 400.0 | 0.50× |" in text
    assert "Mbit/s" not in text  # a metric nobody measured is left out


def test_growth_counts_from_the_first_settled_sample() -> None:
    life = soak.Life("sn", 42, 0.0, [(10.0, 1, 5), (60.0, 2 << 20, 7), (600.0, 3 << 20, 7)])
    g = life.growth()
    assert (
        g is not None and g["rss_growth_kb"] == 1024 and (g["fds_first"], g["fds_last"]) == (7, 7)
    )
    assert soak.Life("e1", 7, 0.0, [(70.0, 1, 1)]).growth() is None
    report = {
        "minutes": 30.0, "ping_sent": 9000, "ping_loss_pct": 1.5, "transfer_bytes": 20_000_000,
        "transfers": {"ok": 100, "bad": 0, "failed": 1}, "supernode_restarts": 2,
        "edge_leaves_and_joins": 29, "registrations_lost": 0, "lost": [], "processes": [g],
    }  # fmt: skip
    text = soak.markdown(report, 0.01, 4)
    assert "registrations lost: 0" in text and "| sn | 42 |" in text and "1 % loss" in text


def test_bench_soak_flag_reaches_the_soak(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[list[str]] = []
    monkeypatch.setattr(soak, "main", lambda argv: seen.append(list(argv)) or 0)
    assert bench_main(["--soak", "3"]) == 0
    assert seen == [["3"]]
