"""`pyn2n edge`: parse n2n's flags, build the sans-IO edge, bind it to a TAP and a UDP socket.

Start-up follows n2n (§7.1): the TAP is created at once with the edge's MAC and MTU (frames are
dropped by the core until the first registration); its address is set now (`-a`) or when the
supernode assigns one (auto-IP). SIGINT/SIGTERM: UNREGISTER_SUPER, TAP removed, exit 0.
Unless `--no-fastpath`, the TAP is opened with virtio headers for the fast path (docs/fastpath.md).
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pyn2n.cli.common import UsageError, run_main, trace_to_logging
from pyn2n.cli.edge_args import EdgeArgs, parse_edge_args
from pyn2n.cli.service import prepare_service, setup_service_logging
from pyn2n.cli.watch import RESOLVE_RETRY, Addr, DecisionLog, Resolver, resolve_once
from pyn2n.core.config import ConfigError
from pyn2n.core.edge import Edge
from pyn2n.core.edge.discovery import ReopenSocket, TtlDatagrams
from pyn2n.core.edge_config import EdgeConfig
from pyn2n.core.events import Event, IpAssigned
from pyn2n.mgmt.protocol import Control
from pyn2n.wire.types import endpoint_text

if TYPE_CHECKING:
    from pyn2n.cli.runtime import EdgeRuntime
    from pyn2n.io.addrwatch import AddressWatch
    from pyn2n.io.kernelpath import KernelPathDriver
    from pyn2n.io.mcastroute import Route
    from pyn2n.io.tap import TapDevice
    from pyn2n.io.udp import UdpSocket
    from pyn2n.mgmt.edge_views import EdgeViews

log = logging.getLogger("pyn2n.edge")


def resolve(host: str, port: int, flag: str = "-l") -> tuple[str, int]:
    addr, why = resolve_once(host, port)
    if addr is None:
        raise UsageError(f"{flag} {host}:{port}: cannot resolve {host!r} ({why})")
    return addr


def resolve_supernodes(
    names: list[tuple[str, int]],
    *,
    retry: float = RESOLVE_RETRY,
    sleep: Callable[[float], None] = time.sleep,
    resolve: Callable[[str, int], tuple[Addr | None, str]] = resolve_once,
) -> tuple[list[Addr], list[tuple[str, int]]]:
    """The `-l` names that resolve now, and the others (warned once each, retried later by the
    runtime). While none resolves (DNS not up yet at boot) this keeps trying."""
    resolved: list[Addr] = []
    pending: list[tuple[str, int]] = []
    waiting = False
    while True:
        for host, port in [*names] if not waiting else list(pending):
            addr, why = resolve(host, port)
            if addr is not None:
                resolved.append(addr)
                if waiting:
                    pending.remove((host, port))
                    log.info("-l %s:%d resolved to %s:%d", host, port, *addr)
            elif not waiting:
                pending.append((host, port))
                log.warning(
                    "-l %s:%d: cannot resolve %r (%s); retrying every %g s",
                    host,
                    port,
                    host,
                    why,
                    retry,
                )
        if resolved:
            return resolved, pending
        if not waiting:
            log.warning("no -l supernode name resolves yet (is DNS up?); waiting for one")
            waiting = True
        sleep(retry)


def build_config(args: EdgeArgs, supernodes: list[Addr]) -> EdgeConfig:
    try:
        return EdgeConfig(
            community=args.community,
            supernodes=supernodes,
            ip=args.ip if args.ip_mode != "auto" else None,
            prefix=args.prefix,
            static=args.ip_mode == "static",
            mac=args.mac,
            mtu=args.mtu,
            key=args.key,
            transform=args.transform,
            compression=args.compression,
            header_encryption=args.header_encryption,
            username=args.username,
            password=args.password,
            federation_pubkey=args.federation_pubkey,
            register_interval=args.register_interval,
            allow_routing=args.allow_routing,
            drop_multicast=args.drop_multicast,
            no_p2p=args.no_p2p,
            selection=args.selection,
            desc=(args.desc or socket.gethostname())[:15],
            mgmt_password=args.mgmt_password,
            fastpath=args.fastpath,
            ipv6=any(":" in host for host, _port in supernodes),
            rules=args.rules,
            register_ttl=args.register_ttl,
            dhcp=args.ip_mode == "dhcp",
            local_discovery=args.local_discovery,
            sn_probe=args.sn_probe,
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def tap_error(device: str, exc: OSError) -> str:
    """Why the TAP could not be opened, and the fix that matches the errno."""
    if exc.errno == errno.EBUSY:
        return (
            f"-d {device}: the TAP device is busy (another edge or program has it open); "
            "give another name with -d"
        )
    if exc.errno in (errno.EPERM, errno.EACCES):
        return (
            f"-d {device}: not allowed to create the TAP device ({exc.strerror}); "
            "run as root or with CAP_NET_ADMIN"
        )
    return f"-d {device}: cannot create the TAP device ({exc.strerror}); is /dev/net/tun present?"


def main(argv: Sequence[str]) -> int:
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    args = parse_edge_args(argv)
    setup_service_logging(args.verbosity, args.service, "pyn2n-edge")
    supernodes, unresolved = resolve_supernodes(args.supernodes)
    config = build_config(args, supernodes)
    # imported late so `pyn2n edge -h` and flag errors work without Linux privileges
    from pyn2n.cli.observe import attach_observers
    from pyn2n.cli.runtime import EdgeRuntime, open_management
    from pyn2n.core.fastpath.framing import tap_gso_max_size
    from pyn2n.io.linux import UDP_MAX_PAYLOAD, UDP_MAX_SEGMENTS
    from pyn2n.io.netconf import configure_tap, mac_text
    from pyn2n.mgmt.edge_views import EdgeViews

    udp, config = open_underlay(args, config)
    node = Edge(config, rng=os.urandom, now=time.monotonic(), wall_clock=time.time)
    mgmt_sock = open_management(args.mgmt_port)
    address = f"{config.ip}/{config.prefix}" if config.ip else None
    gso_max = None
    if node.fastpath is not None:
        gso_max = tap_gso_max_size(
            node.fastpath.segment, min(UDP_MAX_SEGMENTS, UDP_MAX_PAYLOAD // node.fastpath.segment)
        )
    # the kernel path: -d names a bridge (the edge's MAC and addresses) with the TAP as a port
    tap, kernel = open_kernel_path(args, node, config.mtu, gso_max)
    if kernel is None:
        tap = open_tap(args.device, config.fastpath)
        configure_tap(tap.name, mac=node.mac, ipv4=address, mtu=config.mtu, gso_max_size=gso_max)
    else:
        configure_tap(
            kernel.device, mac=node.mac, ipv4=address, mtu=config.mtu, gso_max_size=gso_max
        )
    assert tap is not None
    iface = tap.name if kernel is None else kernel.device
    log.info(
        "edge %s: community %r, TAP %s mac %s %s, UDP port %d, supernodes %s",
        config.desc,
        config.community,
        tap.name,
        mac_text(node.mac),
        address or "(address from the supernode)",
        udp.local_port,
        ", ".join(endpoint_text(addr) for addr in config.supernodes),
    )

    def on_event(event: Event) -> bool:
        if isinstance(event, TtlDatagrams):
            failed = udp.send_with_ttl(event.datagrams, event.ttl)  # -L
            if failed:
                node.send_failed(failed)
            return True
        if isinstance(event, ReopenSocket):
            reopen_socket(udp, runtime, node, args.local_port)
            return True
        if not isinstance(event, IpAssigned):
            return False
        ip = f"{event.ip4addr}/{event.prefix}"
        configure_tap(iface, mac=node.mac, ipv4=ip, mtu=config.mtu, replace=True)
        log.info("address %s assigned by %s", ip, event.supernode)
        return True

    control = Control(trace_level=args.verbosity, on_verbose=trace_to_logging)
    views = EdgeViews(node)
    runtime = EdgeRuntime(
        node,
        udp,
        mgmt_sock,
        control,
        config.mgmt_password,
        log,
        tap,
        on_event=on_event,
        views=views,
    )
    runtime.mgmt.open_verbosity = args.mgmt_open_verbosity
    watch_runtime(runtime, node, views, unresolved)
    attach_observers(runtime, views, metrics=args.metrics, http=args.http, tap=iface)
    prepare_service(runtime, args.service, keep=edge_capabilities(args, kernel is not None))
    add_parity_hooks(runtime, node, config, iface)
    return serve(runtime, node, args, iface, kernel)


def serve(
    runtime: EdgeRuntime,
    node: Edge,
    args: EdgeArgs,
    iface: str,
    kernel: KernelPathDriver | None,
) -> int:
    """Run the edge with what follows the device users see (`iface`: the TAP, or the kernel
    path's bridge): its addresses, the multicast routes, the kernel path; undone at the end."""
    addresses = watch_addresses(runtime, node, iface)
    routes = multicast_routes(iface) if args.multicast_route else []
    if kernel is not None:
        drive_kernel_path(runtime, node, kernel)
    try:
        return runtime.run()
    finally:
        if addresses is not None:
            addresses.close()
        if routes:
            from pyn2n.io.mcastroute import remove_routes

            remove_routes(routes)
        if kernel is not None:
            kernel.close()


def open_underlay(args: EdgeArgs, config: EdgeConfig) -> tuple[UdpSocket, EdgeConfig]:
    """The UDP socket (with an IPv6 one for an IPv6 supernode, TCP links with -S2), its -T and
    -D options, and the configuration with the -e socket, which needs the bound port."""
    from pyn2n.cli.runtime import bind_udp

    udp = bind_udp(
        args.bind,
        args.local_port,
        ipv6="::" if config.ipv6 else None,
        tcp="dial" if args.tcp else None,
    )
    if args.preferred is not None:
        config = with_preferred(config, args.preferred, udp.local_port)
    if args.tos is not None:
        udp.set_tos(args.tos)
    if args.pmtu_discovery:
        udp.set_pmtu_discovery(True)
    return udp, config


def multicast_routes(device: str) -> list[Route]:
    """--multicast-route: multicast without a chosen interface leaves through the TAP."""
    from pyn2n.io.mcastroute import add_multicast_routes

    added, problems = add_multicast_routes(device)
    for line in problems:
        log.warning("%s", line)
    if added:
        log.info("multicast routes %s via %s", ", ".join(map(str, added)), device)
    return added


def watch_addresses(runtime: EdgeRuntime, node: Edge, device: str) -> AddressWatch | None:
    """Every address on the TAP (a keepalived VIP too) counts as the edge's own, kept current
    from netlink; without the watch only the edge's own address does (n2n's rule)."""
    from pyn2n.io.addrwatch import AddressWatch

    try:
        watch = AddressWatch(device)
    except (OSError, LookupError) as exc:
        log.warning(
            "cannot watch the addresses of %s (%s): only %s counts as ours",
            device,
            exc,
            node.ip or "the edge's address",
        )
        return None
    runtime.loop.watch_addresses(node, watch)
    return watch


def edge_capabilities(args: EdgeArgs, kernel_path: bool) -> set[int]:
    """What a running edge still needs after `-u`: CAP_NET_ADMIN to set the address the
    supernode assigns (auto-IP), to remove its multicast routes at exit, or to program the
    kernel path's forwarding entries and filter; a static address needs nothing (offloads are
    ioctls on the TAP's own descriptor)."""
    from pyn2n.io.privileges import CAP_NET_ADMIN

    needed = args.ip_mode == "auto" or args.multicast_route or kernel_path
    return {CAP_NET_ADMIN} if needed else set()


def add_parity_hooks(runtime: EdgeRuntime, node: Edge, config: EdgeConfig, device: str) -> None:
    """DHCP mode follows the TAP's address; LAN discovery listens on n2n's group."""
    if config.dhcp:
        runtime.add_wake_hook(dhcp_watch(node, device), tick=True)
    if config.local_discovery:
        listen_on_lan(runtime, node)


def listen_on_lan(runtime: EdgeRuntime, node: Edge) -> None:
    """n2n's LAN discovery: other edges' multicast REGISTERs on 224.0.0.68:1968."""
    from pyn2n.constants import N2N_MULTICAST_GROUP, N2N_MULTICAST_PORT
    from pyn2n.io.udp import open_group_listener

    try:
        sock = open_group_listener(N2N_MULTICAST_GROUP, N2N_MULTICAST_PORT)
    except OSError as exc:
        log.warning(
            "no LAN discovery: cannot join %s:%d (%s)",
            N2N_MULTICAST_GROUP,
            N2N_MULTICAST_PORT,
            exc.strerror,
        )
        return

    def on_lan() -> None:
        while True:
            try:
                data, addr = sock.recvfrom(2048)
            except OSError:  # EAGAIN: drained (an ICMP error: the next read goes on)
                return
            node.receive_local(data, addr, time.monotonic())

    runtime.loop.add_reader(sock, on_lan)


def reopen_socket(udp: UdpSocket, runtime: EdgeRuntime, node: Edge, port: int) -> None:
    """n2n: no supernode answered for 15 rounds and no peer talks to us directly: a fresh UDP
    socket (a new port unless -p gave one), in case the old one's NAT mappings are stuck. A
    privileged -p port is kept as it is (re-binding it may need rights we dropped), as n2n."""
    if 0 < port <= 1024:
        return
    try:
        new_port = udp.reopen()[1]
    except OSError as exc:
        log.warning("could not re-open the UDP socket (%s); keeping the old one", exc.strerror)
        return
    runtime.loop.rewatch(udp.fileno())
    pref = node.config.preferred_sock
    if pref is not None:  # -e: the advertised port follows the socket (n2n)
        node.config.preferred_sock = (pref[0], new_port)
    log.warning("no supernode answers: re-opened the UDP socket, now port %d", new_port)


def with_preferred(config: EdgeConfig, preferred: str, port: int) -> EdgeConfig:
    """-e IP or -e auto: the socket peers on our LAN should use, sent in REGISTER_SUPER."""
    from pyn2n.io.udp import local_address_towards

    host = preferred
    if preferred == "auto":
        found = local_address_towards(config.supernodes[0])
        if found is None:
            raise UsageError(
                f"-e auto: no route to the supernode {config.supernodes[0][0]}; "
                "give the LAN address with -e IP"
            )
        host = found
        log.info("-e auto: advertising %s:%d to peers on the LAN", host, port)
    try:
        return dataclasses.replace(config, preferred_sock=(host, port))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


DHCP_CHECK = 5.0  # seconds between looks at the TAP's address in DHCP mode (n2n: 30)


def dhcp_watch(node: Edge, device: str) -> Callable[[], None]:
    """DHCP mode: follow the address a DHCP client put on the TAP (n2n re-reads it too), so
    REGISTERs and the supernode show it."""
    from pyn2n.io.netconf import get_addresses

    checked = 0.0
    seen = ""

    def check() -> None:
        nonlocal checked, seen
        now = time.monotonic()
        if now - checked < DHCP_CHECK:
            return
        checked = now
        try:
            found = get_addresses(device)
        except OSError:
            return
        text = found[0] if found else ""
        if text != seen:
            seen = text
            ip, _, prefix = text.partition("/")
            node.set_tap_address(ip or None, int(prefix) if prefix else 0)
            log.info("DHCP mode: TAP address now %s", text or "none")

    return check


def open_tap(device: str, vnet_hdr: bool) -> TapDevice:
    from pyn2n.io.steering import INTERACTIVE_BYTES
    from pyn2n.io.tap import TapDevice

    try:
        # the fast path reads and writes frames with virtio headers (TSO super-frames); short
        # frames get a queue of their own, ahead of a bulk flow's
        tap = TapDevice.open(device, vnet_hdr=vnet_hdr, interactive=INTERACTIVE_BYTES)
    except OSError as exc:
        raise UsageError(tap_error(device, exc)) from None
    if tap.priority is None:
        log.info("interactive queue off: %s", tap.priority_off)
    return tap


def open_kernel_path(
    args: EdgeArgs, node: Edge, mtu: int, gso_max: int | None
) -> tuple[TapDevice | None, KernelPathDriver | None]:
    """The bridge, VXLAN port, filter and TAP of the kernel path (docs/kernel-path.md); (None,
    None) when it is off or the kernel cannot (said in one log line)."""
    from pyn2n.core.kernelpath import vni_for
    from pyn2n.io.kernelpath import KernelPathDriver, in_use, remove_leftovers
    from pyn2n.io.netconf import configure_tap

    try:
        if in_use(args.device):  # another edge runs on this bridge (its TAP port is open)
            raise UsageError(tap_error(args.device, OSError(errno.EBUSY, "busy")))
        removed = remove_leftovers(args.device)  # after a SIGKILL: ours, by their alias
    except OSError as exc:
        removed = []
        log.warning("kernel path: cannot look for leftovers of -d %s (%s)", args.device, exc)
    if removed:
        log.info("removed leftovers of an earlier edge: %s", ", ".join(removed))
    if not args.kernel_path:
        return None, None
    why = node.kernel_path_refusal()
    if why:
        log.info("kernel path off: %s", why)
        return None, None
    port = args.kernel_path_port
    driver = KernelPathDriver.create(
        args.device, node.mac, mtu, port, vni_for(node.config.community_bytes)
    )
    if driver is None:
        return None, None
    try:
        tap = open_tap(driver.tap_name, vnet_hdr=True)
    except UsageError:
        driver.close()
        raise
    try:
        configure_tap(tap.name, mtu=mtu, gso_max_size=gso_max)
        driver.attach_tap(node.mac)
    except OSError as exc:
        log.warning("kernel path off: cannot make the TAP a bridge port (%s)", exc)
        tap.close()
        driver.close()
        return None, None
    node.enable_kernel_path(port)
    node.kernel_addresses(driver.local_ipv4())
    log.info(
        "kernel path: bridge %s with TAP %s and VXLAN %s (VNI %d, UDP port %d)",
        driver.device,
        driver.tap_name,
        driver.vx_name,
        driver.vni,
        port,
    )
    return tap, driver


def drive_kernel_path(runtime: EdgeRuntime, node: Edge, driver: KernelPathDriver) -> None:
    """Once a second hand the core's kernel-path commands to a worker thread (netlink calls
    block) and tell the core this host's addresses (it offers the kernel path only while its
    public socket is local)."""
    from pyn2n.io.kernelpath import KernelPathWorker

    worker = KernelPathWorker(driver)

    def tick() -> None:
        node.kernel_addresses(worker.addresses)
        commands = node.kernel_commands()
        if commands:
            worker.submit(commands)

    runtime.add_wake_hook(tick, tick=True)
    runtime.add_thread(worker)


def watch_runtime(
    runtime: EdgeRuntime, node: Edge, views: EdgeViews, unresolved: list[tuple[str, int]]
) -> None:
    """-v: log pyn2n's decisions once a second; retry the `-l` names that did not resolve."""
    decisions = DecisionLog(views, log)
    runtime.add_wake_hook(lambda: decisions.tick(time.monotonic()), tick=True)
    if not unresolved:
        return
    resolver = Resolver(unresolved, runtime.loop.wake)

    def add_resolved() -> None:
        for (host, port), addr in resolver.drain():
            node.add_supernode(addr)
            log.info("-l %s:%d resolved to %s:%d; supernode added", host, port, *addr)

    runtime.add_wake_hook(add_resolved)
    runtime.add_thread(resolver)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
