"""The bench's outputs: medians of the runs, `results.json`, `results.md` and PNG plots.

`results.json` (version 1) is an object with:
- `started`, `finished` (ISO 8601, UTC), `seconds`, `command` (argv), `machine`, `source`
  (git commit of the measured tree, or null), `settings`,
  `repeats`, `reference` (the pyn2n path ratios are taken against), `underlay` ("eth"),
  `lab` ({run_id, namespaces});
- `paths`: name -> {label, family, description, status ("ok", "skipped", "failed"), reason,
  hosts, mtu, versions};
- `experiments`: name -> {title, metrics: [{key, label, higher_is_better}]};
- `runs`: one entry per (repeat, path, experiment): {at, repeat, order, path, experiment, status
  ("ok", "error", "skipped"), figures: {metric: value}, details, cpu (see CpuSample.to_dict),
  error, seconds};
- `summary`: path -> experiment -> {status, reason, errors, metrics: metric -> {median, min,
  max, n}, overlay_cpu_pct, machine_cpu_pct} (medians over the repeats that succeeded).
"""

from __future__ import annotations

import json
import math
import pathlib
import statistics
from collections.abc import Sequence
from typing import Any

PLOTS = {
    "transfer": "transfer.png",
    "zmq_msgs": "zmq_msgs.png",
    "zmq_bandwidth": "zmq_bandwidth.png",
    "zmq_sizes": "zmq_sizes.png",
    "latency": "latency.png",
    "iperf3": "iperf3.png",
    "multicast": "multicast.png",
}
FAMILY_COLOURS = {
    "eth": "#7f7f7f",
    "pyn2n": "#1f77b4",
    "n2n": "#ff7f0e",
    "ovpn": "#2ca02c",
    "tinc": "#9467bd",
    "vxlan": "#8c564b",
}


def _stats(values: Sequence[float]) -> dict[str, float | int]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """path -> experiment -> medians over the successful runs (see the module doc)."""
    summary: dict[str, Any] = {}
    for path in results["paths"]:
        per_exp: dict[str, Any] = {}
        for exp, info in results["experiments"].items():
            runs = [r for r in results["runs"] if r["path"] == path and r["experiment"] == exp]
            ok = [r for r in runs if r["status"] == "ok"]
            entry: dict[str, Any] = {
                "status": "ok" if ok else (runs[0]["status"] if runs else "not run"),
                "reason": next((r["error"] for r in runs if r["status"] == "skipped"), None),
                "errors": [r["error"] for r in runs if r["status"] == "error"],
                "metrics": {},
                "overlay_cpu_pct": None,
                "machine_cpu_pct": None,
            }
            for metric in info["metrics"]:
                values = [r["figures"][metric["key"]] for r in ok if metric["key"] in r["figures"]]
                if values:
                    entry["metrics"][metric["key"]] = _stats(values)
            overlay = [r["cpu"]["overlay_pct"] for r in ok if r.get("cpu")]
            if overlay and all(v is not None for v in overlay):
                entry["overlay_cpu_pct"] = statistics.median(overlay)
            machine = [r["cpu"]["machine_pct"] for r in ok if r.get("cpu")]
            if machine:
                entry["machine_cpu_pct"] = statistics.median(machine)
            per_exp[exp] = entry
        summary[path] = per_exp
    return summary


# --- formatting --------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    """A figure for a table: thousands separators from 100 up, three significant digits below."""
    if value is None or math.isnan(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def short(value: float) -> str:
    """An axis tick: 1.5k, 20k, 3M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


def ratio(value: float | None, ref: float | None) -> str:
    if value is None or ref is None or ref == 0:
        return "—"
    r = value / ref
    return f"{r:.2g}" if 0 < abs(r) < 0.01 else f"{r:.2f}"


def _median(summary: dict[str, Any], path: str, exp: str, key: str) -> float | None:
    m = summary.get(path, {}).get(exp, {}).get("metrics", {}).get(key)
    return None if m is None else float(m["median"])


def _shown_paths(results: dict[str, Any]) -> list[str]:
    return [name for name, p in results["paths"].items() if p["status"] != "skipped"]


def _cell(summary: dict[str, Any], path: str, exp: str, key: str) -> str:
    entry = summary.get(path, {}).get(exp, {})
    value = _median(summary, path, exp, key)
    if value is not None:
        return fmt(value)
    if entry.get("status") == "skipped":
        return "n/a"
    if entry.get("errors"):
        return "failed"
    return "—"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows)]


def markdown(results: dict[str, Any], plots: Sequence[str] = ()) -> str:
    """The report: run facts, paths, a summary table, then each experiment's table with each
    figure's ratio to the underlay and to the reference pyn2n path, and CPU."""
    summary = results["summary"]
    under, ref = results["underlay"], results["reference"]
    ref_ok = ref in results["paths"] and results["paths"][ref]["status"] == "ok"
    paths = _shown_paths(results)
    label = {p: results["paths"][p]["label"] for p in results["paths"]}
    s = results["settings"]
    m = results["machine"]
    out = [
        "# pyn2n bench",
        "",
        f"Run {results['started']} ({results['seconds'] / 60:.1f} min): "
        f"`{' '.join(results['command'])}`",
        "",
        *(
            [f"pyn2n tree: commit {results['source'][:10]} (edits on top of it not tracked).", ""]
            if results.get("source")
            else []
        ),
        f"Machine: {m['cpus']} CPUs, Linux {m['kernel']}, Python {m['python']}, load average "
        f"{m['loadavg']} at the start. Every figure is the median of {results['repeats']} "
        "repeat(s); the order of the paths is reversed every other repeat. CPU % is the "
        "overlay's own processes over the measured window, summed over the hosts "
        "(100 = one core); kernel paths (eth, VXLAN) have none, their cost is in softirq.",
        "",
        "## Paths",
        "",
    ]
    rows = []
    for name, p in results["paths"].items():
        state = p["status"] if p["status"] == "ok" else f"{p['status']}: {p['reason']}"
        version = ", ".join(p.get("versions", {}).values()) or "—"
        mtu = str(p.get("mtu") or "—")
        rows.append([f"{p['label']} (`{name}`)", f"`{p['description']}`", version, mtu, state])
    out += _table(["path", "set-up", "version", "MTU", "status"], rows)
    out += ["", "## Summary (medians)", ""]
    headline = [
        ("transfer", "mb_s", "transfer MB/s"),
        ("zmq_thr", "msgs_s", f"ZeroMQ {s['zmq_size']} B msgs/s"),
        ("zmq_thr", "mbit_s", "ZeroMQ Mbit/s"),
        ("latency", "ping_ms", "ping ms"),
        ("latency", "ping_load_ms", "ping ms loaded"),
        ("latency", "zmq_rtt_us", "ZeroMQ RTT µs"),
        ("latency", "zmq_load_us", "ZeroMQ RTT µs loaded"),
        ("multicast", "recv_pps", "multicast pkts/s"),
        ("multicast", "delivered_pct", "multicast % delivered"),
        ("iperf_tcp", "mbit_s", "iperf3 TCP Mbit/s"),
        ("iperf_udp", "pps", f"iperf3 UDP {s['udp_size']} B pkts/s"),
    ]
    headline = [h for h in headline if h[0] in results["experiments"]]
    out += _table(
        ["path", *(h[2] for h in headline)],
        [[label[p], *(_cell(summary, p, e, k) for e, k, _ in headline)] for p in paths],
    )
    refs = [under, *([ref] if ref_ok else [])]
    names = " / ".join(f"÷ {r}" for r in refs)
    missing = "" if ref_ok else f" (`{ref}` was not measured: no ratio to pyn2n)"
    out += ["", f"### Ratios ({names}){missing}", ""]
    rows = []
    for p in paths:
        row = [label[p]]
        for e, k, _ in headline:
            value = _median(summary, p, e, k)
            cells = [ratio(value, _median(summary, r, e, k)) for r in refs]
            row.append("—" if value is None else " / ".join(cells))
        rows.append(row)
    out += _table(["path", *(h[2] for h in headline)], rows)
    out += [
        "",
        "Each figure divided by the same figure of the reference. For latency lower is better, "
        "so a ratio above 1 is slower. Latency figures are medians (p50); loaded: while a bulk "
        "TCP flow runs between the same hosts.",
        "",
        "### CPU of the overlay processes (%, 100 = one core)",
        "",
    ]
    exps = list(results["experiments"])
    out += _table(
        ["path", *exps],
        [[label[p], *(fmt(summary[p][e]["overlay_cpu_pct"]) for e in exps)] for p in paths],
    )
    for exp, info in results["experiments"].items():
        out += ["", f"## {info['title']}", "", _experiment_note(exp, s), ""]
        metrics = info["metrics"]
        if exp == "zmq_sizes":
            out += _sizes_tables(results, paths, label, under, ref if ref_ok else None)
            continue
        if exp == "latency":
            out += _latency_tables(results, paths, label, under, ref if ref_ok else None)
            out += _failure_notes(summary, paths, label, exp)
            continue
        # a ratio column only where its reference has the figure (eth has no multicast)
        refs_of = {
            metric["key"]: [
                r
                for r in (under, ref if ref_ok else None)
                if r is not None and _median(summary, r, exp, metric["key"]) is not None
            ]
            for metric in metrics
        }
        header = ["path"]
        for metric in metrics:
            header += [metric["label"], *(f"÷ {r}" for r in refs_of[metric["key"]])]
        header += ["overlay CPU %", "machine CPU %"]
        rows = []
        for p in paths:
            row = [label[p]]
            for metric in metrics:
                key = metric["key"]
                value = _median(summary, p, exp, key)
                row.append(_cell(summary, p, exp, key))
                row += [ratio(value, _median(summary, r, exp, key)) for r in refs_of[key]]
            entry = summary[p][exp]
            row += [fmt(entry["overlay_cpu_pct"]), fmt(entry["machine_cpu_pct"])]
            rows.append(row)
        out += _table(header, rows)
        out += _failure_notes(summary, paths, label, exp)
    if plots:
        out += ["", "## Plots", ""]
        out += [f"![{pathlib.Path(p).stem}]({p})" for p in plots]
    return "\n".join(out) + "\n"


def _failure_notes(
    summary: dict[str, Any], paths: Sequence[str], label: dict[str, str], exp: str
) -> list[str]:
    notes = [
        f"- {label[p]}: {summary[p][exp]['reason']}"
        for p in paths
        if summary[p][exp]["status"] == "skipped"
    ]
    notes += [f"- {label[p]} failed: {err}" for p in paths for err in summary[p][exp]["errors"]]
    return ["", *notes] if notes else []


# (name in the tables, unit, idle p50, idle p99, loaded p50, loaded p99) of the latency experiment
LATENCY_KINDS = [
    ("ping", "ms", "ping_ms", "ping_p99_ms", "ping_load_ms", "ping_load_p99_ms"),
    ("ZeroMQ REQ/REP", "µs", "zmq_rtt_us", "zmq_p99_us", "zmq_load_us", "zmq_load_p99_us"),
]


def rise(summary: dict[str, Any], path: str, idle_key: str, loaded_key: str) -> float | None:
    """Loaded p50 minus idle p50 (medians over the repeats) of a path, or None."""
    idle = _median(summary, path, "latency", idle_key)
    loaded = _median(summary, path, "latency", loaded_key)
    return None if idle is None or loaded is None else loaded - idle


def signed(value: float | None) -> str:
    """`fmt` with an explicit sign: a rise of latency can be negative (noise, or a busy CPU
    that no longer sleeps between packets)."""
    if value is None:
        return "—"
    return ("+" if value > 0 else "−" if value < 0 else "") + fmt(abs(value))


def _latency_tables(
    results: dict[str, Any],
    paths: Sequence[str],
    label: dict[str, str],
    under: str,
    ref: str | None,
) -> list[str]:
    """Per kind (ping, ZeroMQ): p50/p99 idle and loaded, the rise of p50 and the ratios to the
    underlay and the reference; then the bulk flow's rate and the CPU."""
    summary = results["summary"]
    refs = [under, *([ref] if ref else [])]
    names = " / ".join(f"÷ {r}" for r in refs)
    out: list[str] = []
    for kind, unit, *keys in LATENCY_KINDS:
        cols = ["p50", "p99", "p50 loaded", "p99 loaded"]
        header = ["path", *(f"{c} {unit}" for c in cols), f"rise {unit}"]
        header += [f"{c} {names}" for c in cols]
        rows = []
        for p in paths:
            row = [label[p], *(_cell(summary, p, "latency", k) for k in keys)]
            row.append(signed(rise(summary, p, keys[0], keys[2])))
            for k in keys:
                value = _median(summary, p, "latency", k)
                cells = [ratio(value, _median(summary, r, "latency", k)) for r in refs]
                row.append("—" if value is None else " / ".join(cells))
            rows.append(row)
        out += [f"### {kind}", "", *_table(header, rows), ""]
    out += _table(
        ["path", "bulk flow Mbit/s", "overlay CPU % (idle)", "machine CPU % (idle)"],
        [
            [
                label[p],
                _cell(summary, p, "latency", "load_mbit_s"),
                fmt(summary[p]["latency"]["overlay_cpu_pct"]),
                fmt(summary[p]["latency"]["machine_cpu_pct"]),
            ]
            for p in paths
        ],
    )
    return out


def _experiment_note(exp: str, s: dict[str, Any]) -> str:
    notes = {
        "transfer": f"{s['transfer_bytes']:,} bytes of incompressible data over one TCP "
        "connection, timed at the receiver from the first byte to the end (MB = 10^6 bytes).",
        "zmq_thr": f"PUSH → PULL over TCP, {s['zmq_size']} B × {s['zmq_count']:,} zero-filled "
        "messages, timed at the receiver like libzmq's local_thr (pyzmq).",
        "zmq_sizes": "The same test for each message size; the count is "
        f"{s['size_bytes']:,} bytes ÷ size, kept within {s['size_min_count']:,}.."
        f"{s['size_max_count']:,}.",
        "latency": f"p50 and p99 of {s['ping_count']} pings ({s['ping_interval']} s apart) and of "
        f"{s['lat_count']:,} ZeroMQ REQ/REP round trips of {s['lat_size']} B, from the first host "
        "to the second: idle, then again (loaded) while one iperf3 TCP stream runs from the "
        f"first to the second for {s.get('load_seconds', '?')} s (after 1 s of it; the round "
        "trips stop early when the stream nears its end). Rise: loaded p50 − idle p50. "
        "Ratios: each figure ÷ the same figure of the reference paths.",
        "multicast": f"A UDP stream of {s['mcast_size']} B datagrams paced at "
        f"{s['mcast_rate']:,}/s for {s['mcast_seconds']} s from the first host to a group "
        "joined by every other host; the figures are those of the receiver that got least.",
        "iperf_tcp": f"One TCP stream for {s['iperf_seconds']} s (iperf3 -J), received rate.",
        "iperf_udp": f"iperf3 -u -l {s['udp_size']} -b 0 for {s['iperf_seconds']} s: "
        "packets per second that arrived.",
    }
    return notes.get(exp, "")


def _sizes_tables(
    results: dict[str, Any],
    paths: Sequence[str],
    label: dict[str, str],
    under: str,
    ref: str | None,
) -> list[str]:
    summary = results["summary"]
    sizes = results["settings"]["sizes"]
    out = _table(
        ["path", *(f"{n} B msgs/s" for n in sizes), "overlay CPU %"],
        [
            [
                label[p],
                *(_cell(summary, p, "zmq_sizes", f"msgs_s@{n}") for n in sizes),
                fmt(summary[p]["zmq_sizes"]["overlay_cpu_pct"]),
            ]
            for p in paths
        ],
    )
    refs = f"÷ {under}" + (f" / ÷ {ref}" if ref else "")
    out += ["", f"Ratios ({refs}):", ""]
    rows = []
    for p in paths:
        row = [label[p]]
        for n in sizes:
            key = f"msgs_s@{n}"
            value = _median(summary, p, "zmq_sizes", key)
            cell = ratio(value, _median(summary, under, "zmq_sizes", key))
            if ref:
                cell += " / " + ratio(value, _median(summary, ref, "zmq_sizes", key))
            row.append(cell)
        rows.append(row)
    out += _table(["path", *(f"{n} B" for n in sizes)], rows)
    return out


# --- plots -------------------------------------------------------------------------------------


def plot_all(results: dict[str, Any], out: pathlib.Path) -> list[str]:
    """Write the PNGs (matplotlib, Agg); return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    summary = results["summary"]
    paths = [p for p in _shown_paths(results) if results["paths"][p]["status"] == "ok"]
    written = []

    def bars(
        name: str, panels: Sequence[tuple[str, str, str]], title: str, log: bool | None = None
    ) -> None:
        panels = [pn for pn in panels if pn[0] in results["experiments"]]
        if not panels or not paths:
            return
        _bar_figure(results, summary, paths, panels, title, out / PLOTS[name], log)
        written.append(PLOTS[name])

    bars("transfer", [("transfer", "mb_s", "MB/s")], "Transfer rate, large file over TCP")
    s = results["settings"]
    bars(
        "zmq_msgs",
        [("zmq_thr", "msgs_s", "messages/s")],
        f"ZeroMQ messages per second ({s['zmq_size']} B × {s['zmq_count']:,})",
    )
    bars(
        "zmq_bandwidth",
        [("zmq_thr", "mbit_s", "Mbit/s")],
        f"ZeroMQ bandwidth ({s['zmq_size']} B messages)",
    )
    if "zmq_sizes" in results["experiments"] and paths:
        _sizes_figure(results, summary, paths, out / PLOTS["zmq_sizes"])
        written.append(PLOTS["zmq_sizes"])
    if "latency" in results["experiments"] and paths:
        _latency_figure(results, summary, paths, out / PLOTS["latency"])
        written.append(PLOTS["latency"])
    bars(
        "iperf3",
        [
            ("iperf_tcp", "mbit_s", "TCP Mbit/s"),
            ("iperf_udp", "pps", f"UDP {s['udp_size']} B pkts/s"),
        ],
        "iperf3",
    )
    bars(
        "multicast",
        [
            ("multicast", "recv_pps", "pkts/s, worst receiver"),
            ("multicast", "delivered_pct", "% delivered, worst receiver"),
        ],
        f"Multicast stream ({s['mcast_size']} B at {s['mcast_rate']:,}/s offered)",
        log=False,
    )
    return written


def _colour(results: dict[str, Any], path: str) -> str:
    return FAMILY_COLOURS.get(results["paths"][path]["family"], "#17becf")


def _bar_figure(
    results: dict[str, Any],
    summary: dict[str, Any],
    paths: Sequence[str],
    panels: Sequence[tuple[str, str, str]],
    title: str,
    target: pathlib.Path,
    log: bool | None,
) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    height = 0.9 + 0.38 * len(paths)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.2 * len(panels), height), squeeze=False, sharey=True
    )
    labels = [results["paths"][p]["label"] for p in paths]
    for ax, (exp, key, xlabel) in zip(axes[0], panels, strict=True):
        stats = [summary[p][exp]["metrics"].get(key) for p in paths]
        values = [st["median"] if st else 0.0 for st in stats]
        lo = [st["median"] - st["min"] if st else 0.0 for st in stats]
        hi = [st["max"] - st["median"] if st else 0.0 for st in stats]
        y = list(range(len(paths)))
        ax.barh(
            y,
            values,
            xerr=[lo, hi],
            color=[_colour(results, p) for p in paths],
            error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"},
        )
        positive = [v for v in values if v > 0]
        use_log = log if log is not None else bool(positive and max(positive) / min(positive) > 30)
        if use_log:
            ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: short(x)))
        if not use_log:
            ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_yticks(y, labels)
        if not ax.yaxis_inverted():  # the panels share their y axis: invert it once
            ax.invert_yaxis()
        ax.set_xlabel(xlabel + (" (log scale)" if use_log else ""))
        ax.grid(axis="x", alpha=0.3, which="both" if use_log else "major")
        ends = [st["max"] for st in stats if st]
        top = max(ends) if ends else 1.0
        ax.set_xlim(right=top * (4 if use_log else 1.25))
        # labels: each median just past its error bar; "n/a"/"failed" at the left edge
        at_left = ax.get_yaxis_transform()  # x in axes fractions, y in data
        for yi, (v, st, p) in enumerate(zip(values, stats, paths, strict=True)):
            if st:
                x = st["max"] * 1.08 if use_log else st["max"] + top * 0.015
                ax.text(x, yi, fmt(v), va="center", fontsize=8)
            else:
                why = "n/a" if summary[p][exp]["status"] == "skipped" else "failed"
                ax.text(0.01, yi, why, va="center", fontsize=8, color="#888888", transform=at_left)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)


def _latency_figure(
    results: dict[str, Any], summary: dict[str, Any], paths: Sequence[str], target: pathlib.Path
) -> None:
    """Per path four bars: p50 and p99 (paler), idle (plain) and loaded (hatched)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    height = 1.3 + 0.62 * len(paths)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, height), squeeze=False, sharey=True)
    bars = [("p50 idle", 2, 1.0, ""), ("p99 idle", 3, 0.45, ""), ("p50 loaded", 4, 1.0, "///")]
    bars.append(("p99 loaded", 5, 0.45, "///"))
    labels = [results["paths"][p]["label"] for p in paths]
    for ax, (kind, unit, *_keys) in zip(axes[0], LATENCY_KINDS, strict=True):
        keys = list(_keys)
        values: list[float] = []
        for i, (_, k, alpha, hatch) in enumerate(bars):
            key = keys[k - 2]
            for yi, p in enumerate(paths):
                v = _median(summary, p, "latency", key)
                if v is None or v <= 0:
                    continue
                values.append(v)
                y = yi + (i - 1.5) * 0.2
                ax.text(v * 1.05, y, fmt(v), va="center", fontsize=6.5)
                ax.barh(
                    y,
                    v,
                    height=0.2,
                    color=_colour(results, p),
                    alpha=alpha,
                    hatch=hatch,
                    edgecolor="#333333",
                    linewidth=0.4,
                )
        log = bool(values and max(values) / min(values) > 30)
        if log:
            ax.set_xscale("log")
        if values:  # room for the labels past the longest bar
            ax.set_xlim(right=max(values) * (3 if log else 1.2))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: short(x)))
        ax.set_yticks(range(len(paths)), labels)
        if not ax.yaxis_inverted():
            ax.invert_yaxis()
        ax.set_xlabel(f"{kind} RTT, {unit}" + (" (log scale)" if log else ""))
        ax.grid(axis="x", alpha=0.3, which="both")
    legend = [
        Patch(facecolor="#7f7f7f", alpha=alpha, hatch=hatch, edgecolor="#333333", label=name)
        for name, _, alpha, hatch in bars
    ]
    fig.legend(handles=legend, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Latency, idle and under a bulk TCP flow (p50 and p99; lower is better)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(target, dpi=110)
    plt.close(fig)


def _sizes_figure(
    results: dict[str, Any], summary: dict[str, Any], paths: Sequence[str], target: pathlib.Path
) -> None:
    import matplotlib.pyplot as plt

    sizes = results["settings"]["sizes"]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.8))
    # a family shares a colour; its variants differ by line style and marker
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v")]
    family_seen: dict[str, int] = {}
    for p in paths:
        fam = results["paths"][p]["family"]
        style, marker = styles[family_seen.get(fam, 0) % len(styles)]
        family_seen[fam] = family_seen.get(fam, 0) + 1
        for ax, prefix in zip(axes, ("msgs_s", "mbit_s"), strict=True):
            points = [
                (n, m["median"])
                for n in sizes
                if (m := summary[p]["zmq_sizes"]["metrics"].get(f"{prefix}@{n}"))
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(
                    xs,
                    ys,
                    linestyle=style,
                    marker=marker,
                    markersize=3.5,
                    color=_colour(results, p),
                    label=results["paths"][p]["label"],
                )
    for ax, ylabel in zip(axes, ("messages/s", "Mbit/s"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{n}" if n < 1024 else f"{n // 1024}K" for n in sizes])
        ax.set_xlabel("message size, bytes")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("ZeroMQ messages per second by message size")
    axes[1].set_title("ZeroMQ bandwidth by message size")
    handles, labels = axes[0].get_legend_handles_labels()
    ncol = min(len(labels), 6)
    rows = -(-len(labels) // ncol)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.045 * rows + 0.02, 1, 1))
    fig.savefig(target, dpi=110)
    plt.close(fig)


def write_outputs(results: dict[str, Any], out: pathlib.Path) -> list[pathlib.Path]:
    """Summarise, then write results.json, the plots and results.md into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    results["summary"] = summarise(results)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    plots = plot_all(results, out)
    (out / "results.md").write_text(markdown(results, plots))
    return [out / "results.json", out / "results.md", *(out / p for p in plots)]
