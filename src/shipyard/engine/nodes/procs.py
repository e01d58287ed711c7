"""Finding and ending a node's processes through /proc, never by name.

A node's processes are those in its network namespace (dockerd, containerd, shims, tasks,
``--net=host`` containers), those sharing the mount namespace of such a process (a task that
unshared its network), and all their descendants (containers with their own network
namespace hang below their shim). Pids are only ever signalled after being found this way
or because we started them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shipyard.engine.nodes import host

log = logging.getLogger(__name__)

POLL = 0.05


@dataclass(frozen=True)
class Proc:
    """A snapshot of one process: what we need to decide whether it is ours."""

    pid: int
    ppid: int
    pgrp: int
    state: str


def proc_stat(pid: int) -> Proc | None:
    """Parse /proc/<pid>/stat; None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        # comm (field 2) may contain spaces and parentheses: split after the last ')'.
        fields = raw[raw.rindex(")") + 2 :].split()
        return Proc(pid=pid, ppid=int(fields[1]), pgrp=int(fields[2]), state=fields[0])
    except (OSError, ValueError, IndexError):
        # Gone, or going while read (ESRCH, an empty read): gone either way.
        return None


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid``; empty for a gone process, a zombie or a kernel thread."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return argv_of(raw)


def argv_of(raw: bytes) -> list[str]:
    """The words of a ``/proc/<pid>/cmdline``. Each ends in a NUL, but a process that
    rewrote its title (sshd, nginx) may leave the last one without: only the empty tail
    after the final NUL is dropped, never a word."""
    if not raw:
        return []
    return [part.decode(errors="replace") for part in raw.removesuffix(b"\0").split(b"\0")]


def all_procs() -> list[Proc]:
    """Every live process on the host."""
    procs = (proc_stat(int(d)) for d in os.listdir("/proc") if d.isdigit())  # races: None
    return [p for p in procs if p is not None]


def ns_inode(pid: int | str, kind: str) -> int | None:
    """Inode of namespace ``kind`` ('net', 'mnt') of ``pid`` ('self' allowed)."""
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def pids_in_ns(kind: str, inodes: set[int]) -> set[int]:
    """Pids whose namespace ``kind`` is one of ``inodes``."""
    return {p.pid for p in all_procs() if ns_inode(p.pid, kind) in inodes}


def node_pids(netns_inode: int | None, anchors: Iterable[int] = ()) -> set[int]:
    """All processes belonging to one node: see the module docstring.

    ``anchors`` are pids known to be the node's (e.g. its dockerd) even if its network
    namespace is no longer named.
    """
    found = set(anchors) & {p.pid for p in all_procs()}
    if netns_inode is not None:
        found |= pids_in_ns("net", {netns_inode})
    # The host's mount namespace is never a node's: a process caught between entering the
    # node's network and unsharing its mounts (nsenter) shares it with every host process.
    # Pid 1's may be unreadable (a sandbox's init), so the engine's own counts as the host's.
    host_mnts = {ns_inode(1, "mnt"), ns_inode("self", "mnt"), None}
    mnts = {ns_inode(pid, "mnt") for pid in found} - host_mnts
    found |= pids_in_ns("mnt", {m for m in mnts if m is not None})
    found |= descendants(found)
    return found - {1, os.getpid()}


def descendants(roots: set[int]) -> set[int]:
    """All processes below ``roots`` in the parent tree."""
    children: dict[int, list[int]] = {}
    for p in all_procs():
        children.setdefault(p.ppid, []).append(p.pid)
    out: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie counts as exited, and is reaped if ours)."""
    host.reap(pid)
    st = proc_stat(pid)
    return st is None or st.state in ("Z", "X")


def wait_gone(pids: Iterable[int], timeout: float) -> set[int]:
    """Poll until all ``pids`` exited or ``timeout`` passed; return those still alive."""
    left = set(pids)
    deadline = time.monotonic() + timeout
    while True:
        left = {pid for pid in left if not gone(pid)}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(POLL)


def signal_all(pids: Iterable[int], sig: signal.Signals) -> None:
    """Send ``sig`` to each pid, ignoring those that already exited."""
    for pid in pids:
        if pid <= 1 or pid == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def terminate(pids: Iterable[int], grace: float, kill_wait: float = 5) -> set[int]:
    """SIGTERM, wait up to ``grace``, SIGKILL the rest; return pids that still would not die."""
    left = wait_gone(pids, 0)
    signal_all(left, signal.SIGTERM)
    left = wait_gone(left, grace)
    if left:
        log.debug("SIGKILL after %.1fs grace: %s", grace, sorted(left))
        signal_all(left, signal.SIGKILL)
        left = wait_gone(left, kill_wait)
    return left
