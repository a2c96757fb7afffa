"""pyn2n.bench: the benchmark experiments (docs/benchmarks.md) and the peers to compare pyn2n with.

- `run`: `pyn2n bench [run]`, one lab, every path, every experiment, repeats; writes --out.
- `paths`: how each compared path is set up on the lab (eth, pyn2n, OpenVPN, tinc, VXLAN, n2n).
- `experiments`: large transfer, ZeroMQ throughput and sizes, latency, multicast, iperf3.
- `peers`: the measuring ends run inside lab hosts (`python -m pyn2n.bench.peers`).
- `report`: medians, results.json, results.md and the PNG plots.
- `system`: Debian packages, CPU accounting.
- `transforms`: `pyn2n bench transforms`, the payload transforms' speed in memory.
"""
