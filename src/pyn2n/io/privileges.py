"""Dropping root after start-up (`-u USER -g GROUP`), keeping only the capabilities still needed.

Order (capabilities(7)): shrink the bounding set while CAP_SETPCAP is still there, set
PR_SET_KEEPCAPS so that the permitted set survives setuid, change groups, gid and uid, then
capset() the permitted and effective sets down to the kept ones, clear the ambient set and set
no_new_privs. prctl and capset are called through ctypes on glibc: the PyPI bindings
(python-prctl, prctl) are unmaintained and need libcap headers to build.

Capabilities belong to a thread: this must run while the process has a single thread.
"""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_NET_BIND_SERVICE = 10
CAP_NET_ADMIN = 12
CAP_NAMES = {
    CAP_SETGID: "CAP_SETGID",
    CAP_SETUID: "CAP_SETUID",
    CAP_SETPCAP: "CAP_SETPCAP",
    CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE",
    CAP_NET_ADMIN: "CAP_NET_ADMIN",
}

# prctl(2)
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


@dataclass(frozen=True)
class Identity:
    """Whom to become: uid, gid and the name used in messages."""

    uid: int
    gid: int
    name: str


def resolve_identity(user: str | None, group: str | None) -> Identity:
    """`-u` and `-g` as names or numbers; without `-g` the user's own group. ValueError names
    the unknown one."""
    if user is None:
        raise ValueError("-g needs -u USER as well (the group alone would leave root's uid)")
    if user.isdigit():
        uid, name = int(user), user
        entry = _pw_by_uid(uid)
        gid = entry.pw_gid if entry is not None else None
    else:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise ValueError(f"-u {user}: no such user (give a name or a number)") from None
        uid, gid, name = entry.pw_uid, entry.pw_gid, user
    if group is not None:
        gid = _group_id(group)
    if gid is None:
        raise ValueError(f"-u {user}: a number without a passwd entry needs -g GROUP")
    return Identity(uid, gid, name)


def _pw_by_uid(uid: int) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(uid)
    except KeyError:
        return None


def _group_id(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"-g {group}: no such group (give a name or a number)") from None


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(libc: ctypes.CDLL, option: int, arg: int = 0, arg3: int = 0) -> int:
    fn = libc.prctl
    fn.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    rc: int = fn(option, arg, arg3, 0, 0)
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
    return rc


def _last_cap() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


def _shrink_bounding_set(libc: ctypes.CDLL, keep: frozenset[int]) -> None:
    """Drop from the bounding set what is not kept; without CAP_SETPCAP (a service manager
    already limited the set) leave it as it is."""
    for cap in range(_last_cap() + 1):
        try:
            if cap in keep or _prctl(libc, PR_CAPBSET_READ, cap) != 1:
                continue
            _prctl(libc, PR_CAPBSET_DROP, cap)
        except PermissionError:
            return
        except OSError:  # EINVAL: past this kernel's last capability (no /proc/sys)
            return


def _capset(libc: ctypes.CDLL, caps: frozenset[int]) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for cap in caps:
        word, bit = divmod(cap, 32)
        data[word].effective |= 1 << bit
        data[word].permitted |= 1 << bit
    if libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def single_threaded() -> bool:
    return len(os.listdir("/proc/self/task")) == 1


def drop_privileges(who: Identity, keep: Iterable[int] = ()) -> None:
    """Become `who`, keeping only the capabilities in `keep` (permitted and effective)."""
    if not single_threaded():
        raise RuntimeError("drop privileges before starting threads: capabilities are per thread")
    kept = frozenset(keep)
    libc = _libc()
    _shrink_bounding_set(libc, kept)
    _prctl(libc, PR_SET_KEEPCAPS, 1)
    # already that user (`-u pyn2n` in a unit with User=pyn2n): nothing to switch
    if os.getresuid() != (who.uid,) * 3 or os.getresgid() != (who.gid,) * 3:
        os.setgroups([who.gid])
        os.setresgid(who.gid, who.gid, who.gid)
        os.setresuid(who.uid, who.uid, who.uid)
    _capset(libc, kept)
    _prctl(libc, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _prctl(libc, PR_SET_KEEPCAPS, 0)
    _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)


def cap_names(caps: Iterable[int]) -> str:
    return ",".join(CAP_NAMES.get(c, str(c)) for c in sorted(caps)) or "none"


def proc_status(pid: int | str = "self") -> dict[str, str]:
    """The Uid/Gid/Groups/Cap*/NoNewPrivs lines of /proc/PID/status."""
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups", "NoNewPrivs") or key.startswith("Cap"):
            out[key] = value.strip()
    return out
