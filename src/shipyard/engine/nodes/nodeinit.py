"""Turns a fresh mount+UTS namespace into a node's view of the machine, then execs dockerd.

Run by path (``python -I -S nodeinit.py ...``), stdlib only, as the last link of
``nsenter --net=<ns> unshare --mount --uts --propagation private``. It replaces itself with
dockerd, so the pid the engine spawned IS the node's dockerd. Inside the new namespace it:

1. detaches the copies of host mounts a node must not hold: every nsfs mount (a copy of
   ``/run/netns/<other node>`` would keep that namespace alive after its deletion) and
   everything under ``/run`` and ``/var/lib/docker`` (copies of the host daemon's container
   mounts would keep the host daemon from removing them);
2. mounts a private tmpfs on ``/run`` (``/var/run`` is a symlink to it). That gives the node
   its own ``/var/run/docker.sock`` (so a plain ``docker`` on the node reaches the node's
   daemon, never the host's), its own dockerd exec-root and containerd state and shim
   sockets, and hides a system containerd socket that dockerd would otherwise adopt;
3. gives the node its own ``/dev/shm``, applies the ``--bind SRC:DST`` list (the node's
   ``/tmp``, since MPI and PMIx use fixed names there; ``/mnt/batch``; an ``/etc/hosts``
   that resolves the node's hostname; an ``/etc/docker`` so the daemon gets its own
   identity key instead of the host's) and sets the hostname.

With ``--die-with-parent=PID`` (a short-lived image-build daemon, see imagestore.py, not a
node) the daemon also gets SIGTERM when the engine thread that started it ends: a crashed
engine must not leave a build daemon running, where a node is meant to outlive it.

Mounts are done with mount(2)/umount2(2) directly: no shell, no quoting, exact errno.
Failures go to stderr (the daemon log) with exit status 1.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import socket
import sys

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MNT_DETACH = 0x2
PR_SET_PDEATHSIG = 1
SIGTERM = 15

#: Host mounts under these are detached in the node (see the module docstring).
HIDDEN_TREES = ("/run", "/var/lib/docker")

_libc = ctypes.CDLL(None, use_errno=True)


def mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount, in mount order."""
    out = []
    with open(mountinfo) as f:
        for line in f:
            left, right = line.split(" - ", 1)
            # Mount points escape space, tab, newline and backslash as \ooo octal.
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), left.split()[4])
            out.append((point, right.split()[0]))
    return out


def under(path: str, tree: str) -> bool:
    """Whether ``path`` is strictly below directory ``tree``."""
    return path.startswith(tree.rstrip("/") + "/")


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2)."""
    ret = _libc.mount(
        source.encode(), target.encode(), fstype.encode() if fstype else None,
        ctypes.c_ulong(flags), data.encode() if data else None,
    )
    _check(ret, f"mount {source} on {target}")


def detach(target: str) -> None:
    """umount2(2) with MNT_DETACH; a mount already gone with its parent is fine."""
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount (any more); ENOENT: path gone
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


def detach_foreign_mounts() -> None:
    """Step 1 of the module docstring; deepest first so parents are still reachable."""
    points = {p for p, fstype in mounts()
              if fstype == "nsfs" or any(under(p, t) for t in HIDDEN_TREES)}
    for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
        detach(point)


def die_with_parent(parent: int) -> None:
    """Ask for SIGTERM when our parent ends; fail if it already has (we were reparented)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        raise OSError(f"parent {parent} ended before the daemon started")


def setup(args: argparse.Namespace) -> None:
    """Steps 2 and 3 of the module docstring."""
    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64m")
    os.mkdir("/run/lock", 0o1777)
    os.chmod("/run/lock", 0o1777)
    # The node's sshd (sshd.py) refuses to start without its privilege separation dir.
    os.mkdir("/run/sshd", 0o755)
    os.symlink("/dev/shm", "/run/shm")
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for pair in args.bind:
        source, target = pair.rsplit(":", 1)
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        mount(source, target, None, MS_BIND)
    socket.sethostname(args.hostname)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nodeinit")
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--bind", action="append", default=[], metavar="SRC:DST")
    parser.add_argument("--die-with-parent", type=int, metavar="PID")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        if args.die_with_parent is not None:
            die_with_parent(args.die_with_parent)
        detach_foreign_mounts()
        setup(args)
        sys.stdout.flush()
        os.execvp(command[0], command)
    except (OSError, IndexError) as exc:
        print(f"nodeinit: {exc}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
