"""The same MPI binary without containers: the image's files, chrooted, in the node namespaces.

Debian's Open MPI is not on the host, so instead of the host's MPI the image's root file
system is exported once (``docker export``) and used as a chroot: the same ``ring`` binary
and the same Open MPI libraries, started as plain processes in each node's network, mount
and UTS namespaces (entered through its dockerd pid) with no cgroup, no overlay file system
and no container runtime in between. Each node runs that chroot's sshd on ``BARE_PORT``
(mpirun's launcher, as in the containers); the mounts a chroot needs (/dev, /proc, a
private /tmp, the keys) are made in a private mount namespace of each process and vanish
with it.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import docker

from bench.harness import NodeHandle
from bench.mi import RING_IMAGE, wait_port, write_keys
from shipyard.engine.agent.execution import SHARED_CORE_ENV

BARE_PORT = 2222
_LINE = re.compile(r"^pingpong: bytes=(\d+) iterations=\d+ (latency_usec|bandwidth_MBps)=([\d.]+)")


def export_rootfs(target: Path, image: str = RING_IMAGE) -> None:
    """Unpack ``image``'s file system into ``target`` through the host daemon."""
    target.mkdir(parents=True, exist_ok=True)
    client = docker.from_env(timeout=600)
    container = client.containers.create(image, command=["true"])
    try:
        tar = subprocess.Popen(["tar", "-x", "--numeric-owner", "-C", str(target)],
                               stdin=subprocess.PIPE)
        assert tar.stdin is not None
        with tar.stdin:
            for chunk in container.export(chunk_size=1 << 20):
                tar.stdin.write(cast(bytes, chunk))
        if tar.wait() != 0:
            raise RuntimeError(f"unpacking {image} into {target} failed")
    finally:
        container.remove(force=True)
        client.close()
    for sub in ("run/sshd", "root/.ssh", "proc", "dev", "tmp"):
        (target / sub).mkdir(parents=True, exist_ok=True)


def _in_node(handle: NodeHandle, rootfs: Path, keys: Path, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` chrooted in ``rootfs`` on the node, in a private mount ns."""
    r = shlex.quote(str(rootfs))
    script = (f"mount --bind /dev {r}/dev && mount -t proc proc {r}/proc && "
              f"mount -t tmpfs tmpfs {r}/tmp && "
              f"mount --bind {shlex.quote(str(keys))} {r}/root/.ssh && "
              f"exec chroot {r} {shlex.join(argv)}")
    return ["nsenter", f"--target={handle.pid}", "--net", "--mount", "--uts", "--",
            "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]


@contextmanager
def sshds(handles: list[NodeHandle], rootfs: Path, keys: Path) -> Iterator[None]:
    """The chroot's sshd on every node, stopped (by the pid started) on exit."""
    write_keys(keys, [h.ip for h in handles], BARE_PORT)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for h in handles:
            argv = _in_node(h, rootfs, keys, ["/usr/sbin/sshd", "-D", "-e", "-p",
                                              str(BARE_PORT)])
            # nsenter, unshare, sh and chroot each exec the next: the pid becomes sshd's.
            started.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        for h in handles:
            wait_port(h.ip, BARE_PORT, timeout=30)
        yield
    finally:
        for proc in started:
            proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def mca_args() -> list[str]:
    """The engine's Open MPI settings for nodes, each once, as ``--mca`` options."""
    params = {"btl_tcp_if_include": "eth0", "oob_tcp_if_include": "eth0"}
    params |= {name.removeprefix("OMPI_MCA_"): value for name, value in SHARED_CORE_ENV.items()
               if name.startswith("OMPI_MCA_")}
    return [arg for name, value in params.items() for arg in ("--mca", name, value)]


def run(handles: list[NodeHandle], rootfs: Path, keys: Path, command: list[str]) -> tuple[
        float, str]:
    """mpirun of ``command`` over ``handles`` from the first; seconds and its output."""
    mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe",
              "-host", ",".join(h.ip for h in handles), "-np", str(len(handles)),
              "--map-by", "ppr:1:node", *mca_args(), *command]
    argv = _in_node(handles[0], rootfs, keys, ["env", "-i", "HOME=/root",
                                               "PATH=/usr/local/bin:/usr/bin:/bin", *mpirun])
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"bare mpirun exited {done.returncode}: "
                           f"{done.stdout[-800:]}\n{done.stderr[-800:]}")
    return elapsed, done.stdout


def pingpong(output: str) -> tuple[float, float]:
    """(8-byte latency in µs, 1 MiB bandwidth in MB/s) from ring's output."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        m = _LINE.match(line.strip())
        if m:
            found[m[2]] = float(m[3])
    if set(found) != {"latency_usec", "bandwidth_MBps"}:
        raise ValueError(f"no ping-pong results in the output: {output[-400:]!r}")
    return found["latency_usec"], found["bandwidth_MBps"]
