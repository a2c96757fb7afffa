"""The simulated network itself (tests/simnet.py), exercised with toy nodes."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar

import pytest

from pyn2n.core.api import Addr
from pyn2n.core.events import Event
from tests.simnet import (
    BROADCAST_MAC,
    ETH_P_ARP,
    ETH_P_IPV6,
    MAX_UDP_PAYLOAD,
    NatType,
    Probe,
    SimError,
    SimNet,
    arp_request,
    broadcast_udp_frame,
    ipv4_multicast_frame,
    ipv4_multicast_mac,
    ipv4_udp_frame,
    ipv6_multicast_frame,
    ipv6_multicast_mac,
    mac,
    udp_payload,
)


@dataclass(slots=True, frozen=True)
class Tick(Event):
    kind: ClassVar[str] = "tick"
    n: int


class Echo(Probe):
    """Sends every datagram back to where it came from."""

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        super().receive_datagram(data, addr, now)
        self._out.append((data, addr))


class Ticker(Probe):
    """Fires every `period` seconds and sends b"tick" to `target` each time."""

    def __init__(self, period: float, target: Addr | None = None) -> None:
        super().__init__()
        self.period = period
        self.target = target
        self.fired: list[float] = []
        self._next = period
        self._events: list[Event] = []

    def handle_timer(self, now: float) -> None:
        self.fired.append(now)
        self._next = now + self.period
        self._events.append(Tick(len(self.fired)))
        if self.target:
            self._out.append((b"tick", self.target))

    def get_timer(self) -> float | None:
        return self._next

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out


class FrameRelay(Probe):
    """A toy edge: frames from the 'TAP' go to `peer`, datagrams received come out as frames."""

    def __init__(self, peer: Addr | None = None) -> None:
        super().__init__()
        self.peer = peer
        self._frames: list[bytes] = []

    def receive_frame(self, frame: bytes, now: float) -> None:
        assert self.peer is not None
        self._out.append((frame, self.peer))

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        super().receive_datagram(data, addr, now)
        self._frames.append(data)

    def frames_to_write(self) -> list[bytes]:
        out, self._frames = self._frames, []
        return out


def _pair(net: SimNet, nat_a: str | None = None, nat_b: str | None = None) -> tuple[Probe, Probe]:
    net.add_host("ha", nat=nat_a)
    net.add_host("hb", nat=nat_b)
    a, b = Probe(), Probe()
    net.attach("a", a, "ha", 1000)
    net.attach("b", b, "hb", 2000)
    return a, b


# -- delivery, delay, loss, timers -----------------------------------------------------------


def test_delivery_after_link_delay_and_log() -> None:
    net = SimNet(delay=0.05)
    net.add_host("h1")
    net.add_host("h2")
    p, e = Probe(), Echo()
    pa = net.attach("p", p, "h1")
    ea = net.attach("echo", e, "h2", 7)
    assert ipaddress.IPv4Address(pa[0]) in ipaddress.IPv4Network("198.18.0.0/16")
    net.send_datagram("p", b"hello", ea)
    net.run_until(0.049)
    assert e.received == []
    net.run_until(0.2)
    assert e.received == [(pytest.approx(0.05), b"hello", pa)]
    assert p.received == [(pytest.approx(0.10), b"hello", ea)]
    out, back = net.log.records
    assert (out.src, out.dst, out.fate, out.sent_to) == ("p", "echo", "delivered", ea)
    assert (back.src, back.dst, back.t_arrived) == ("echo", "p", pytest.approx(0.10))
    assert net.log.count(src="p", dst="echo") == 1
    assert net.now == 0.2


def test_per_link_delay_overrides_default() -> None:
    net = SimNet(delay=0.01)
    for h in ("h1", "h2", "h3"):
        net.add_host(h)
    p = Probe()
    net.attach("p", p, "h1")
    net.attach("e2", Echo(), "h2", 7)
    net.attach("e3", Echo(), "h3", 7)
    net.set_link("h1", "h3", delay=0.3)
    net.send_datagram("p", b"x", net.addr("e2"))
    net.send_datagram("p", b"y", net.addr("e3"))
    net.run_for(1.0)
    assert [(round(t, 6), d) for t, d, _ in p.received] == [(0.02, b"x"), (0.6, b"y")]


def test_jitter_stays_within_bounds_and_can_reorder() -> None:
    net = SimNet(seed=3, delay=0.1, jitter=0.05)
    _, e = _pair(net)
    for i in range(200):
        net.send_datagram("a", bytes([i]), net.addr("b"))
    net.run_for(1.0)
    times = [t for t, _, _ in e.received]
    assert all(0.1 <= t <= 0.15 for t in times)
    order = [d[0] for _, d, _ in e.received]
    assert sorted(order) == list(range(200)) and order != list(range(200))


def test_loss_rate_matches_setting_and_is_seeded() -> None:
    def run(seed: int) -> list[str]:
        net = SimNet(seed=seed, loss=0.3)
        _pair(net)
        for _ in range(2000):
            net.send_datagram("a", b"x", net.addr("b"))
        net.run_for(1.0)
        return [r.fate for r in net.log]

    fates = run(7)
    lost = fates.count("lost") / len(fates)
    assert 0.26 < lost < 0.34
    assert set(fates) == {"lost", "delivered"}
    assert run(7) == fates
    assert run(8) != fates


def test_per_link_loss_only_on_that_link() -> None:
    net = SimNet(seed=1)
    for h in ("h1", "h2", "h3"):
        net.add_host(h)
    net.attach("p", Probe(), "h1")
    net.attach("q", Probe(), "h2")
    net.attach("r", Probe(), "h3")
    net.set_link("p", "q", loss=1.0)
    for _ in range(50):
        net.send_datagram("p", b"x", net.addr("q"))
        net.send_datagram("q", b"x", net.addr("p"))
        net.send_datagram("p", b"x", net.addr("r"))
    net.run_for(1)
    assert net.log.fates(src="p", dst="q") == {"lost": 50}
    assert net.log.fates(src="q") == {"lost": 50}
    assert net.log.select(src="q")[0].dst == "p"  # the intended receiver, even when lost
    assert net.log.fates(dst="r") == {"delivered": 50}


def test_timers_fire_at_deadlines_and_outputs_are_sent() -> None:
    net = SimNet(delay=0.01)
    net.add_host("h1")
    net.add_host("h2")
    sink = Probe()
    net.attach("sink", sink, "h2", 9)
    t = Ticker(1.5, net.addr("sink"))
    net.attach("t", t, "h1")
    net.run_until(4.505)
    assert t.fired == [1.5, 3.0, 4.5]
    assert [round(x, 6) for x, _, _ in sink.received] == [1.51, 3.01]  # 4.51 is still in flight
    assert [e.data()["n"] for e in net.events("t", "tick")] == [1, 2, 3]
    net.run_until(4.505)  # running to the present again is a no-op
    with pytest.raises(SimError):
        net.run_until(1.0)


def test_wait_for_stops_at_the_event_that_satisfies_it() -> None:
    net = SimNet()
    net.add_host("h")
    t = Ticker(2.0)
    net.attach("t", t, "h")
    assert net.wait_for(lambda: len(t.fired) == 3, timeout=100)
    assert net.now == 6.0
    assert not net.wait_for(lambda: len(t.fired) == 10, timeout=5)
    assert net.now == 11.0 and len(t.fired) == 5


def test_a_timer_that_never_advances_is_reported() -> None:
    class Stuck(Probe):
        def get_timer(self) -> float | None:
            return 1.0

    net = SimNet()
    net.add_host("h")
    net.attach("s", Stuck(), "h")
    with pytest.raises(SimError, match="does not advance"):
        net.run_until(2.0)


def test_a_deadline_missed_by_rounding_is_retried_and_counted() -> None:
    class Rounding(Probe):
        """Deadline `last + 30`, due check `now - last >= 30`: float rounding splits them."""

        def __init__(self) -> None:
            super().__init__()
            self.last = 6.02
            self.fired: list[float] = []

        def get_timer(self) -> float | None:
            return self.last + 30.0

        def handle_timer(self, now: float) -> None:
            if now - self.last >= 30.0:
                self.fired.append(now)
                self.last = now

    assert (6.02 + 30.0) - 6.02 < 30.0  # the premise
    net = SimNet()
    net.add_host("h")
    r = Rounding()
    net.attach("r", r, "h")
    net.run_until(40)
    assert len(r.fired) == 1 and 36.02 - 1e-9 < r.fired[0] < 36.02 + 1e-9
    assert net.timer_stalls["r"] >= 1


def test_node_exceptions_propagate_with_context() -> None:
    class Fragile(Probe):
        def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
            raise ValueError("boom")

    net = SimNet()
    net.add_host("h")
    net.attach("f", Fragile(), "h", 5)
    # inject delivers synchronously, so the exception surfaces there
    with pytest.raises(ValueError, match="boom") as info:
        net.inject("f", b"x", ("198.18.9.9", 1))
    assert any("node 'f'" in n for n in info.value.__notes__)


def test_kill_stops_delivery_and_timers_and_a_node_can_be_added_later() -> None:
    net = SimNet(delay=0.01)
    net.add_host("h1")
    net.add_host("h2")
    t = Ticker(1.0)
    net.attach("t", t, "h1", 5)
    net.attach("p", Probe(), "h2")
    net.run_until(2.5)
    net.kill("t")
    net.send_datagram("p", b"x", net.addr("t"))
    net.run_until(10)
    assert t.fired == [1.0, 2.0]
    assert net.log.select(src="p")[0].fate == "dead"
    assert not net.is_alive("t")
    # a new node (a restart) on the same address, added later
    t2 = Ticker(1.0)
    net.attach("t", t2, "h1", 5)
    net.send_datagram("p", b"y", ("198.18.0.1", 5))
    net.run_until(11.5)
    assert t2.received and t2.received[0][1] == b"y"
    assert t2.fired == [10.0, 11.0]  # its first deadline (1.0) is past, so it fires at once
    with pytest.raises(SimError):
        net.attach("t", Probe(), "h1")


def test_no_listener_and_unknown_address() -> None:
    net = SimNet()
    _pair(net)
    net.send_datagram("a", b"x", (net.addr("b")[0], 9999))
    net.send_datagram("a", b"x", ("198.18.200.1", 9))
    net.run_for(1)
    assert [r.fate for r in net.log] == ["no_listener", "no_route"]


def test_partition_blocks_both_ways_until_healed() -> None:
    net = SimNet()
    _, b = _pair(net)
    net.partition("a", "hb")
    net.send_datagram("a", b"1", net.addr("b"))
    net.send_datagram("b", b"2", net.addr("a"))
    net.run_for(1)
    assert [r.fate for r in net.log] == ["partitioned", "partitioned"]
    net.heal("ha", "b")
    net.send_datagram("a", b"3", net.addr("b"))
    net.run_for(1)
    assert [d for _, d, _ in b.received] == [b"3"]


def test_datagram_log_reads_plaintext_packet_codes() -> None:
    net = SimNet()
    _pair(net)
    register_super = bytes([3, 2, 0x00, 0x05]) + b"comm".ljust(20, b"\0") + b"\0" * 40
    relayed_packet = bytes([3, 1, 0x00, 0x63]) + b"comm".ljust(20, b"\0") + b"\0" * 30
    encrypted = bytes(range(64))
    for d in (register_super, relayed_packet, encrypted):
        net.send_datagram("a", d, net.addr("b"))
    assert [r.pc for r in net.log] == [5, 3, None]
    assert net.log.count(pc=3) == 1


# -- NATs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [NatType.FULL_CONE, NatType.ADDRESS_RESTRICTED, NatType.PORT_RESTRICTED]
)
def test_cone_nats_map_endpoint_independently(kind: NatType) -> None:
    net = SimNet()
    net.add_nat("nat", kind)
    net.add_host("inside", nat="nat")
    net.add_host("s1")
    net.add_host("s2")
    net.attach("a", Probe(), "inside", 1000)
    e1, e2 = Echo(), Echo()
    net.attach("e1", e1, "s1", 7)
    net.attach("e2", e2, "s2", 8)
    net.send_datagram("a", b"x", net.addr("e1"))
    net.send_datagram("a", b"y", net.addr("e2"))
    net.run_for(1)
    seen1, seen2 = e1.received[0][2], e2.received[0][2]
    assert seen1 == seen2
    assert seen1[0] == net.nats["nat"].public_ip != net.addr("a")[0]
    assert net.public_addr("a") == seen1
    # the replies were let in (each remote was contacted first)
    assert len(net.node("a").received) == 2


def test_symmetric_nat_gives_a_new_mapping_per_destination() -> None:
    net = SimNet()
    net.add_nat("nat", NatType.SYMMETRIC)
    net.add_host("inside", nat="nat")
    net.add_host("s1")
    net.attach("a", Probe(), "inside", 1000)
    e1, e2 = Echo(), Echo()
    net.attach("e1", e1, "s1", 7)
    net.attach("e2", e2, "s1", 8)
    for _ in range(2):
        net.send_datagram("a", b"x", net.addr("e1"))
        net.send_datagram("a", b"y", net.addr("e2"))
    net.run_for(1)
    p1 = {addr for _, _, addr in e1.received}
    p2 = {addr for _, _, addr in e2.received}
    assert len(p1) == len(p2) == 1 and p1 != p2  # stable per destination, distinct between them
    assert len(net.node("a").received) == 4  # replies from each contacted endpoint get in
    # e2 learned the mapping used towards e1 (as a server would tell it) and uses it: dropped
    net.send_datagram("e2", b"z", p1.pop())
    net.run_for(1)
    assert net.log.records[-1].fate == "nat_filtered"


def _filter_case(kind: NatType) -> dict[str, str]:
    """Which unsolicited senders get through a NAT after the inside host contacted s1:7."""
    net = SimNet()
    net.add_nat("nat", kind)
    net.add_host("inside", nat="nat")
    net.add_host("s1")
    net.add_host("s2")
    net.attach("a", Probe(), "inside", 1000)
    net.attach("s1_7", Probe(), "s1", 7)
    net.attach("s1_8", Probe(), "s1", 8)
    net.attach("s2_7", Probe(), "s2", 7)
    net.send_datagram("a", b"out", net.addr("s1_7"))
    net.run_for(1)
    public = net.node("s1_7").received[0][2]
    out = {}
    for sender in ("s1_7", "s1_8", "s2_7"):
        net.send_datagram(sender, b"in", public)
        net.run_for(1)
        out[sender] = net.log.records[-1].fate
    return out


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (NatType.FULL_CONE, ("delivered", "delivered", "delivered")),
        (NatType.ADDRESS_RESTRICTED, ("delivered", "delivered", "nat_filtered")),
        (NatType.PORT_RESTRICTED, ("delivered", "nat_filtered", "nat_filtered")),
        (NatType.SYMMETRIC, ("delivered", "nat_filtered", "nat_filtered")),
    ],
)
def test_nat_filtering_rfc4787(kind: NatType, expected: tuple[str, str, str]) -> None:
    # (the contacted endpoint, same address other port, other address)
    got = _filter_case(kind)
    assert (got["s1_7"], got["s1_8"], got["s2_7"]) == expected


@pytest.mark.parametrize("kind", list(NatType))
def test_nat_drops_inbound_without_mapping(kind: NatType) -> None:
    net = SimNet()
    net.add_nat("nat", kind)
    net.add_host("inside", nat="nat")
    net.add_host("s")
    net.attach("a", Probe(), "inside", 1000)
    net.attach("s", Probe(), "s", 7)
    for port in (1000, 20000):  # neither the private port nor the first public port is open
        net.send_datagram("s", b"x", (net.nats["nat"].public_ip, port))
    net.run_for(1)
    assert [r.fate for r in net.log] == ["nat_no_mapping"] * 2
    assert net.nats["nat"].drops["nat_no_mapping"] == 2
    # the private address is not routable from outside
    net.send_datagram("s", b"x", net.addr("a"))
    assert net.log.records[-1].fate == "no_route"


def test_nat_mapping_times_out_without_outbound_traffic() -> None:
    net = SimNet()
    net.add_nat("nat", NatType.FULL_CONE, timeout=30)
    net.add_host("inside", nat="nat")
    net.add_host("s")
    net.attach("a", Probe(), "inside", 1000)
    net.attach("s", Probe(), "s", 7)
    net.send_datagram("a", b"x", net.addr("s"))
    net.run_for(1)
    public = net.node("s").received[0][2]
    net.run_until(25)
    net.send_datagram("a", b"keepalive", net.addr("s"))  # refreshes the binding
    net.run_until(50)
    net.send_datagram("s", b"in", public)  # 25 s after the refresh: still open
    net.run_until(56)
    assert net.log.records[-1].fate == "delivered"
    # inbound traffic does not refresh it: 31 s after the last outbound it is gone
    net.send_datagram("s", b"in", public)
    net.run_for(1)
    assert net.log.records[-1].fate == "nat_no_mapping"
    assert net.public_addr("a") is None
    # a new outbound datagram gets a new binding (another public port)
    net.send_datagram("a", b"x", net.addr("s"))
    net.run_for(1)
    assert net.node("s").received[-1][2] != public


def test_hole_punching_through_two_port_restricted_nats() -> None:
    net = SimNet()
    net.add_nat("na", NatType.PORT_RESTRICTED)
    net.add_nat("nb", NatType.PORT_RESTRICTED)
    a, b = _pair(net, "na", "nb")
    net.add_host("hs")
    net.attach("s", Probe(), "hs", 7654)
    # both register with the "server", which learns their public addresses
    net.send_datagram("a", b"reg", net.addr("s"))
    net.send_datagram("b", b"reg", net.addr("s"))
    net.run_for(1)
    seen = {data_addr for _, _, data_addr in net.node("s").received}
    pub_a, pub_b = net.public_addr("a"), net.public_addr("b")
    assert seen == {pub_a, pub_b}
    assert pub_a is not None and pub_b is not None
    net.send_datagram("a", b"punch", pub_b)  # dropped by b's NAT, but opens a's
    net.run_for(1)
    assert net.log.records[-1].fate == "nat_filtered"
    net.send_datagram("b", b"punch", pub_a)  # gets in, and opens b's
    net.run_for(1)
    net.send_datagram("a", b"data", pub_b)
    net.run_for(1)
    assert [d for _, d, _ in b.received] == [b"data"]
    assert [(d, addr) for _, d, addr in a.received] == [(b"punch", pub_b)]


def test_no_hairpinning_but_the_lan_works() -> None:
    net = SimNet()
    net.add_nat("nat", NatType.FULL_CONE)
    net.add_host("h1", nat="nat")
    net.add_host("h2", nat="nat")
    net.add_host("s")
    a, b = Probe(), Probe()
    net.attach("a", a, "h1", 1000)
    net.attach("b", b, "h2", 1000)
    net.attach("s", Probe(), "s", 7)
    net.send_datagram("b", b"x", net.addr("s"))
    net.run_for(1)
    pub_b = net.public_addr("b")
    assert pub_b is not None
    net.send_datagram("a", b"hairpin", pub_b)
    assert net.log.records[-1].fate == "hairpin"
    net.send_datagram("a", b"lan", net.addr("b"))
    net.run_for(1)
    assert b.received == [(pytest.approx(1.01), b"lan", net.addr("a"))]
    assert net.nats["nat"].public_addr_of(net.addr("a"), net.now) is None  # no binding used


def test_nat_flush_forgets_bindings() -> None:
    net = SimNet()
    net.add_nat("nat", NatType.FULL_CONE)
    net.add_host("inside", nat="nat")
    net.add_host("s")
    net.attach("a", Probe(), "inside", 1000)
    net.attach("s", Probe(), "s", 7)
    net.send_datagram("a", b"x", net.addr("s"))
    net.run_for(1)
    public = net.public_addr("a")
    assert public is not None
    net.nats["nat"].flush()
    net.send_datagram("s", b"in", public)
    net.run_for(1)
    assert net.log.records[-1].fate == "nat_no_mapping"


# -- frames and injected sources ---------------------------------------------------------------


def test_frame_injection_and_capture() -> None:
    net = SimNet()
    net.add_host("h1")
    net.add_host("h2")
    e1, e2 = FrameRelay(), FrameRelay()
    net.attach("e1", e1, "h1", 1)
    net.attach("e2", e2, "h2", 2)
    e1.peer, e2.peer = net.addr("e2"), net.addr("e1")
    f = ipv4_udp_frame(
        mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02"), "198.19.0.1", "198.19.0.2", 1, 2, b"hi"
    )
    net.send_frame("e1", f)
    net.run_for(1)
    assert net.frames_received("e2") == [f]
    assert net.frames_received("e1") == []
    net.send_frame("e2", f)
    net.run_for(1)
    assert net.frames_received("e1", since=1.0) == [f]
    assert net.frames_received("e2", since=1.5) == []
    net.kill("e1")
    with pytest.raises(SimError):
        net.send_frame("e1", f)


def test_call_runs_a_node_method_and_sends_its_output() -> None:
    class Chatty(Probe):
        def shout(self, text: str, to: Addr) -> int:
            self._out.append((text.encode(), to))
            return len(text)

    net = SimNet()
    _, b = _pair(net)
    net.attach("c", Chatty(), "ha", 3000)
    assert net.call("c", "shout", "hey", net.addr("b")) == 3
    net.run_for(1)
    assert [d for _, d, _ in b.received] == [b"hey"]


class FastToy(Probe):
    """A toy fast edge: `gso` queues a UDP_SEGMENT buffer (and a plain datagram before it); a GRO
    run comes out as one frame behind a virtio_net_hdr, a plain datagram as a plain frame."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[tuple[float, bytes, int, Addr]] = []
        self._gso: list[tuple[bytes, int, Addr]] = []
        self._frames: list[bytes] = []
        self._vnet: list[bytes] = []

    def gso(self, buf: bytes, segment: int, to: Addr, plain: bytes = b"") -> None:
        self._gso.append((buf, segment, to))
        if plain:
            self._out.append((plain, to))

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        super().receive_datagram(data, addr, now)
        self._frames.append(data)

    def receive_gro(self, buf: bytes, segment: int, addr: Addr, now: float) -> None:
        self.runs.append((now, buf, segment, addr))
        self._vnet.append(bytes(10) + buf)

    def receive_frame(self, frame: bytes, now: float) -> None:
        pass

    def receive_vnet_frames(self, frames: list[bytes], now: float) -> None:
        self._vnet.extend(frames)  # straight back out: the "TAP" sees what it wrote

    def gso_datagrams_to_send(self) -> list[tuple[bytes, int, Addr]]:
        out, self._gso = self._gso, []
        return out

    def frames_to_write(self) -> list[bytes]:
        out, self._frames = self._frames, []
        return out

    def vnet_frames_to_write(self) -> list[bytes]:
        out, self._vnet = self._vnet, []
        return out


def test_gso_buffers_travel_as_one_record_and_arrive_as_one_gro_run() -> None:
    net = SimNet(delay=0.05)
    net.add_nat("nat1", NatType.PORT_RESTRICTED)
    net.add_host("ha", nat="nat1")
    net.add_host("hb")
    net.add_host("hc")
    a, b, probe = FastToy(), FastToy(), Probe()
    net.attach("a", a, "ha", 1000)
    net.attach("b", b, "hb", 2000)
    net.attach("p", probe, "hc", 3000)
    buf = b"A" * 10 + b"B" * 10 + b"C" * 4  # two 10-byte datagrams and a shorter last one
    net.call("a", "gso", buf, 10, net.addr("b"), b"first")
    net.run_for(0.049)
    assert b.runs == [] and b.received == []
    net.run_for(0.1)
    seen = net.public_addr("a")
    assert seen is not None and seen[0] == net.nats["nat1"].public_ip
    # the plain datagram is sent first (as the fast loop flushes), the buffer is one GRO run
    plain, run = net.log.select(src="a")
    assert (plain.segment, plain.fate, plain.datagrams) == (None, "delivered", [b"first"])
    assert (run.segment, run.fate, run.dst, run.seen_from) == (10, "delivered", "b", seen)
    assert run.datagrams == [b"A" * 10, b"B" * 10, b"C" * 4]
    assert b.runs == [(pytest.approx(0.05), buf, 10, seen)]
    assert b.received == [(pytest.approx(0.05), b"first", seen)]
    # plain and vnet frames stay apart
    assert net.frames_received("b") == [b"first"]
    assert net.vnet_frames_received("b") == [bytes(10) + buf]
    net.send_vnet_frames("a", [b"vnet frame"])
    assert net.vnet_frames_received("a") == [b"vnet frame"] and net.frames_received("a") == []
    # a node without receive_gro reads the datagrams one by one, as a socket without UDP_GRO
    net.call("b", "gso", buf, 10, net.addr("p"))
    net.run_for(0.1)
    assert [d for _, d, _ in probe.received] == [b"A" * 10, b"B" * 10, b"C" * 4]
    assert net.log.records[-1].fate == "delivered"


def test_gso_buffers_share_one_fate_and_each_segment_must_fit_a_datagram() -> None:
    net = SimNet()
    net.add_host("ha")
    net.add_host("hb")
    a, b = FastToy(), FastToy()
    net.attach("a", a, "ha", 1000)
    net.attach("b", b, "hb", 2000)
    to_b = net.addr("b")
    # a buffer longer than one datagram may hold is fine, a segment that long is not
    big = bytes(MAX_UDP_PAYLOAD) * 2
    net.call("a", "gso", big, MAX_UDP_PAYLOAD, to_b)
    net.call("a", "gso", bytes(MAX_UDP_PAYLOAD + 1), MAX_UDP_PAYLOAD + 1, to_b)
    net.run_for(1)
    assert [r.fate for r in net.log] == ["delivered", "too_big"]
    assert [(len(buf), seg) for _, buf, seg, _ in b.runs] == [(len(big), MAX_UDP_PAYLOAD)]
    # partitions and loss take the whole buffer: nothing of it arrives
    net.partition("a", "b")
    net.call("a", "gso", bytes(30), 10, to_b)
    net.run_for(1)
    net.heal()
    net.set_link("a", "b", loss=1.0)
    net.call("a", "gso", bytes(30), 10, to_b)
    net.run_for(1)
    assert [r.fate for r in net.log][2:] == ["partitioned", "lost"]
    assert len(b.runs) == 1
    with pytest.raises(SimError):
        net.call("a", "gso", b"", 10, to_b)
    with pytest.raises(SimError):
        net.call("a", "gso", b"x", 0, to_b)


def test_node_sources_are_deterministic() -> None:
    net = SimNet(seed=5)
    assert net.rng_for("x")(16) == SimNet(seed=5).rng_for("x")(16)
    assert net.rng_for("x")(16) != net.rng_for("y")(16)
    net.run_until(10)
    assert net.wall_clock() == net.wall_epoch + 10
    assert net.wall_clock_skewed(-20)() == net.wall_epoch - 10


# -- Ethernet helpers --------------------------------------------------------------------------

A = mac("02:00:00:00:00:0a")
B = mac("02:00:00:00:00:0b")


def _ones_complement_ok(data: bytes) -> bool:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def test_ipv4_udp_frame_layout() -> None:
    f = ipv4_udp_frame(A, B, "198.19.0.1", "198.19.0.2", 1234, 5678, b"payload")
    assert f[:6] == B and f[6:12] == A and f[12:14] == b"\x08\x00"
    ip = f[14:34]
    assert ip[0] == 0x45 and ip[9] == 17 and struct.unpack("!H", ip[2:4])[0] == 20 + 8 + 7
    assert ip[12:16] == bytes([198, 19, 0, 1]) and ip[16:20] == bytes([198, 19, 0, 2])
    assert _ones_complement_ok(ip)
    assert struct.unpack("!HHH", f[34:40]) == (1234, 5678, 15)
    assert udp_payload(f) == b"payload"


def test_arp_and_broadcast_frames() -> None:
    f = arp_request(A, "198.19.0.1", "198.19.0.2")
    assert f[:6] == BROADCAST_MAC and struct.unpack("!H", f[12:14])[0] == ETH_P_ARP
    assert len(f) == 14 + 28
    assert struct.unpack("!HHBBH", f[14:22]) == (1, 0x0800, 6, 4, 1)
    assert (
        f[22:28] == A and f[28:32] == bytes([198, 19, 0, 1]) and f[38:42] == bytes([198, 19, 0, 2])
    )
    b = broadcast_udp_frame(A, "198.19.0.1", 67, b"x")
    assert b[:6] == BROADCAST_MAC and b[30:34] == b"\xff" * 4


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("224.0.0.251", "01:00:5e:00:00:fb"),
        ("239.255.255.250", "01:00:5e:7f:ff:fa"),
        ("225.128.1.2", "01:00:5e:00:01:02"),  # the 24th bit is not mapped (RFC 1112)
    ],
)
def test_ipv4_multicast_mac(group: str, expected: str) -> None:
    assert ipv4_multicast_mac(group) == mac(expected)
    f = ipv4_multicast_frame(A, "198.19.0.1", group, 5353, b"q")
    assert f[:6] == mac(expected) and udp_payload(f) == b"q"


def test_ipv6_multicast_frame() -> None:
    assert ipv6_multicast_mac("ff02::1") == mac("33:33:00:00:00:01")
    assert ipv6_multicast_mac("ff02::1:ff12:3456") == mac("33:33:ff:12:34:56")
    f = ipv6_multicast_frame(A, "fd00::1", "ff02::fb", 5353, b"mdns")
    assert f[:6] == mac("33:33:00:00:00:fb") and struct.unpack("!H", f[12:14])[0] == ETH_P_IPV6
    assert udp_payload(f) == b"mdns"
    pseudo = f[22:54] + struct.pack("!I3xB", 8 + 4, 17)
    assert _ones_complement_ok(pseudo + f[54:])
    with pytest.raises(ValueError):
        ipv6_multicast_mac("fd00::1")


def test_frames_agree_with_pyn2n_wire_eth_peeks() -> None:
    from pyn2n.wire import eth  # a broken module fails this test, never skips it

    arp = eth.arp_peek(arp_request(A, "198.19.0.1", "198.19.0.2"))
    assert arp is not None
    assert (arp.op, arp.sender_mac, arp.sender_ip, arp.target_ip) == (1, A, 0xC6130001, 0xC6130002)
    assert eth.is_broadcast(broadcast_udp_frame(A, "198.19.0.1", 67, b"x"))
    m4 = ipv4_multicast_frame(A, "198.19.0.1", "239.1.2.3", 5000, b"x")
    assert eth.is_ipv4_multicast(m4) and not eth.is_ipv6_multicast(m4)
    assert eth.ipv4_addrs(m4) == (0xC6130001, 0xEF010203)
    m6 = ipv6_multicast_frame(A, "fd00::1", "ff02::1", 5000, b"x")
    assert eth.is_ipv6_multicast(m6) and eth.ethertype(m6) == ETH_P_IPV6
    uni = ipv4_udp_frame(A, B, "198.19.0.1", "198.19.0.2", 1, 2, b"")
    assert not (eth.is_broadcast(uni) or eth.is_ipv4_multicast(uni) or eth.is_ipv6_multicast(uni))
