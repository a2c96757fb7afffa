"""Loss on the underlay for `pyn2n bench`: the router drops a share of the forwarded datagrams
one by one (an iptables `statistic` rule, no netem needed), and the hosts' GSO batches are split
(`gso_max_segs 1` on their eth0) so that a loss takes one datagram, as on a real wire, not a
whole UDP_SEGMENT batch. `--loss PCT` applies it to a whole run; the `loss` experiment measures
iperf3 TCP at each of LEVELS in turn (docs/benchmarks.md, "Loss")."""

from __future__ import annotations

from collections.abc import Sequence

from pyn2n.bench.experiments import Context, Metric, Outcome, Settings, _iperf
from pyn2n.bench.paths import NetPath
from pyn2n.lab import Lab
from pyn2n.lab.topology import HOST_IF

LEVELS = (1.0, 5.0)  # percent of datagrams dropped, measured in this order
GSO_DEFAULT = 65535  # the veth default


def segmenting(lab: Lab, on: bool, hosts: Sequence[str] | None = None) -> None:
    """Split (or stop splitting) the hosts' GSO batches at their underlay interface."""
    segs = "1" if on else str(GSO_DEFAULT)
    for host in lab.hosts if hosts is None else hosts:
        lab.run(host, ["ip", "link", "set", "dev", HOST_IF, "gso_max_segs", segs], check=True)


def apply(lab: Lab, percent: float) -> None:
    """Per-datagram loss of `percent` on the lab's router (0: none, and GSO batches whole)."""
    lab.set_loss(percent / 100)
    segmenting(lab, percent > 0)


def metrics(settings: Settings) -> list[Metric]:
    return [Metric(f"mbit_s@{pct:g}%", f"TCP Mbit/s at {pct:g} % loss") for pct in LEVELS]


def loss_tcp(ctx: Context, path: NetPath) -> Outcome:
    """iperf3 TCP, one stream, `iperf_seconds` long, at each loss level of LEVELS."""
    lab = ctx.lab
    base = lab.loss * 100
    figures: dict[str, float] = {}
    details: dict[str, object] = {}
    cpu = None
    try:
        for pct in LEVELS:
            apply(lab, pct)
            end, cpu = _iperf(ctx, path, [], f"iperf3-loss{pct:g}")
            figures[f"mbit_s@{pct:g}%"] = end["sum_received"]["bits_per_second"] / 1e6
            details[f"retransmits@{pct:g}%"] = end["sum_sent"].get("retransmits")
    finally:
        apply(lab, base)
    return Outcome(figures=figures, details=details, cpu=cpu)
