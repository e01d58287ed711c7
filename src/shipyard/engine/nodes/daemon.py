"""Starting, probing and stopping one compute node: namespaces, veth and its own dockerd.

A node is a named network namespace with a veth into the pool bridge (``eth0`` inside, no
default route), plus a private mount and UTS namespace created by ``unshare`` and set up by
``nodeinit.py``, which execs the node's dockerd. The dockerd pid is the node's handle: it
anchors its namespaces for ``launch`` and names the node's processes for ``stop_node``.
Once the daemon answers, the node's own sshd starts inside it (sshd.py), with the node's
accounts (users.py) bound over the host's. ``halt_node`` ends all of it but keeps the
home, the node's disk: a reboot or a deallocation.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from shipyard.engine.nodes import host, imagestore, procs, sshd, users
from shipyard.engine.nodes.images import DOCKER_ERRORS, docker_at, log_tail, ping, wait_answering
from shipyard.engine.nodes.model import NodeSpec, PoolNet
from shipyard.engine.nodes.nodeinit import HIDDEN_TREES, mounts, under
from shipyard.engine.settings import DEFAULT_DATA_DIR
from shipyard.errors import CommandError, ConfigError, NodeError

log = logging.getLogger(__name__)

NODEINIT = Path(__file__).with_name("nodeinit.py")

#: Paths a node sees differently from the host: a home under them would vanish for dockerd.
NODE_PRIVATE = ("/tmp", "/run", "/var/run", "/dev/shm", "/mnt/batch", "/home")

# `ip netns add` makes /var/run/netns a shared mount on first use; two racing first uses
# would stack two such mounts, so our threads take turns.
_netns_lock = threading.Lock()


def dockerd_argv(spec: NodeSpec) -> list[str]:
    """The node's dockerd command line; ``--data-root=<home>/docker`` identifies it."""
    return [
        "dockerd",
        f"--data-root={spec.home / 'docker'}",
        # /run is the node's private tmpfs: exec-root and containerd state are its own.
        "--exec-root=/run/docker",
        f"--pidfile={spec.home / 'docker.pid'}",
        f"--host=unix://{spec.docker_sock}",
        "--host=unix:///var/run/docker.sock",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
    ]


def is_node_dockerd(spec: NodeSpec, pid: int) -> bool:
    """Whether ``pid`` is a live dockerd started for ``spec`` (by its exact --data-root)."""
    argv = procs.cmdline(pid)
    return bool(argv) and Path(argv[0]).name == "dockerd" and dockerd_argv(spec)[1] in argv


def node_fault(spec: NodeSpec, pid: int) -> str | None:
    """Why the node cannot run commands now, or None; cheap (no daemon round trip).

    The one test of node health: the engine's health check and every launch ask this, so
    a node the scheduler may place on is a node a launch accepts. A killed daemon counts as
    gone at once, not when its zombie is reaped (``procs.gone``).
    """
    if procs.gone(pid) or not is_node_dockerd(spec, pid):
        return f"the node's Docker daemon (pid {pid}) is not running"
    if not host.netns_path(spec.netns).exists():
        return f"the node's network namespace {spec.netns} is gone"
    return None


def node_alive(spec: NodeSpec, pid: int) -> bool:
    """Whether ``pid`` is this node's running dockerd and its daemon answers."""
    return not procs.gone(pid) and is_node_dockerd(spec, pid) and ping(spec.docker_sock)


def start_node(spec: NodeSpec, net: PoolNet, timeout: float = 60,
               images: Sequence[str] = (), cache: Path | None = None) -> int:
    """Create the node and start its dockerd; return the dockerd pid once it answers.

    With ``images`` and the image ``cache``, a new data-root starts seeded with them (see
    imagestore.py; what cannot be seeded is left to ``preload_image``). On any failure all
    that was created is removed again and NodeError says why, with the daemon log's tail.
    """
    _check_home(spec)
    if host.netns_path(spec.netns).exists() or host.link_exists(spec.veth):
        raise NodeError(f"node {spec.node_id}: {spec.netns} or {spec.veth} already exists",
                        hint="stop the node (or sweep leftovers) before starting it again")
    pid: int | None = None
    try:
        _prepare_dirs(spec)
        _create_node_net(spec, net)
        _data_root(spec, images, cache)
        pid = _spawn_dockerd(spec)
        wait_answering(spec.docker_sock, pid, spec.log_file, f"node {spec.node_id}: dockerd",
                       timeout)
        sshd.start(spec, pid)
    except (NodeError, CommandError, OSError) as exc:
        tail = log_tail(spec.log_file)
        try:
            stop_node(spec, pid)
        except (NodeError, CommandError) as cleanup:
            log.error("node %s: cleanup after failed start: %s", spec.node_id, cleanup)
        if isinstance(exc, NodeError):
            raise
        raise NodeError(f"node {spec.node_id} failed to start: {exc}\n{tail}".rstrip()) from exc
    log.info("node %s up: %s on %s, dockerd pid %d", spec.node_id, spec.ip, net.bridge, pid)
    return pid


def hidden_root(path: Path) -> str | None:
    """The directory a node replaces or detaches that holds ``path``, if any.

    Node homes (and so the engine's data dir) must not lie there: the node's dockerd would
    see its own empty copy instead of the home the engine prepared.
    """
    real = str(path.resolve())
    for private in (*NODE_PRIVATE, *HIDDEN_TREES):
        if real == private or under(real, str(Path(private).resolve())):
            return private
    return None


def check_data_dir(data_dir: Path) -> None:
    """Refuse an engine data dir that its own nodes could not see (it holds their homes)."""
    private = hidden_root(data_dir)
    if private is not None:
        raise ConfigError(
            f"data dir {data_dir} lies under {private}, which every node replaces with its "
            "own: the nodes could not see their homes and would all turn unusable",
            hint=f"choose a data dir elsewhere, e.g. --data-dir {DEFAULT_DATA_DIR} "
                 "or SHIPYARD_DATA_DIR=/var/tmp/shipyard")


def _check_home(spec: NodeSpec) -> None:
    private = hidden_root(spec.home)
    if private is not None:
        raise NodeError(f"node home {spec.home} is under {private}, which the node "
                        "replaces with its own; choose a home elsewhere")


def _node_binds(spec: NodeSpec) -> list[tuple[Path, str]]:
    """Host paths (under home, then the spec's own) and where the node sees them."""
    return [
        (spec.batch_dir, "/mnt/batch"),
        (spec.home / "tmp", "/tmp"),
        (spec.home / "hosts", "/etc/hosts"),
        # Its own /etc/docker: no host daemon.json leaks in, and the daemon makes its own
        # key.json (the engine ID), instead of sharing the host daemon's identity.
        (spec.home / "etc-docker", "/etc/docker"),
        # The node's own accounts and homes: node users never touch the host's.
        *users.binds(spec.home),
        *spec.binds,
    ]


def _prepare_dirs(spec: NodeSpec) -> None:
    for d in (spec.batch_dir, spec.home / "tmp", spec.home / "etc-docker"):
        d.mkdir(parents=True, exist_ok=True)
    (spec.home / "tmp").chmod(0o1777)
    (spec.home / "hosts").write_text(f"127.0.0.1\tlocalhost\n{spec.ip}\t{spec.hostname}\n")
    users.prepare(spec.home)


def _data_root(spec: NodeSpec, images: Sequence[str], cache: Path | None) -> None:
    if cache is not None:
        imagestore.seed(spec.home / "docker", images, cache)
    (spec.home / "docker").mkdir(exist_ok=True)


def _create_node_net(spec: NodeSpec, net: PoolNet) -> None:
    with _netns_lock:
        host.run(["ip", "netns", "add", spec.netns])
    # Created straight into the namespace as eth0: no window with a stray host interface.
    # Its MAC follows from its address, so a rebooted node keeps it: neighbours' ARP
    # caches (the host's, other nodes') stay right instead of sending into the void.
    host.run(["ip", "link", "add", spec.veth, "type", "veth",
              "peer", "name", "eth0", "address", spec.mac, "netns", spec.netns])
    host.run(["ip", "link", "set", spec.veth, "master", net.bridge, "up"])
    # The host may still hold this address's MAC from an earlier node (another pool in the
    # same slot, another engine): until that entry ages out (up to ~45 s) the host's
    # packets to the new node would go nowhere. Forget it; the next packet asks again.
    host.run(["ip", "neigh", "flush", "to", str(spec.ip)], check=False)
    inside = ["ip", "-n", spec.netns]
    host.run([*inside, "addr", "add", f"{spec.ip}/{net.subnet.prefixlen}", "dev", "eth0"])
    host.run([*inside, "link", "set", "eth0", "up"])
    host.run([*inside, "link", "set", "lo", "up"])


def _spawn_dockerd(spec: NodeSpec) -> int:
    argv = [
        "nsenter", f"--net={host.netns_path(spec.netns)}",
        "unshare", "--mount", "--uts", "--propagation", "private",
        sys.executable, "-I", "-S", str(NODEINIT),
        f"--hostname={spec.hostname}",
        *(f"--bind={src}:{dst}" for src, dst in _node_binds(spec)),
        "--", *dockerd_argv(spec),
    ]
    with open(spec.log_file, "ab") as logf:
        # nsenter, unshare and nodeinit each exec the next: this pid ends up as dockerd.
        return host.spawn_detached(argv, stdout=logf, stderr=logf).pid


def stop_node(spec: NodeSpec, pid: int | None) -> None:
    """Remove the node completely; idempotent, bounded in time.

    Containers first (through its daemon, if it answers), then dockerd by pid, then every
    other process of the node (see procs.node_pids), then veth, netns, mounts and home.
    ``pid`` is the dockerd pid the engine recorded; it is signalled only if it still is this
    node's dockerd, and a daemon whose pid was lost (None) is found by its command line.
    """
    stuck = _end_node(spec, pid)
    shutil.rmtree(spec.home, ignore_errors=True)
    if stuck or spec.home.exists():
        raise NodeError(f"node {spec.node_id} did not stop cleanly: processes "
                        f"{sorted(stuck)} survived SIGKILL or {spec.home} remains")


def halt_node(spec: NodeSpec, pid: int | None) -> None:
    """End every process, the veth and the netns of the node, but keep its home (disk).

    ``start_node`` on the same spec brings it back with its files, images, users and host
    key: what a reboot, or a deallocation and a later start, leave of a VM.
    """
    stuck = _end_node(spec, pid)
    # A stale pidfile naming a reused pid would keep the next dockerd from starting.
    (spec.home / "docker.pid").unlink(missing_ok=True)
    if stuck:
        raise NodeError(f"node {spec.node_id} did not stop cleanly: processes "
                        f"{sorted(stuck)} survived SIGKILL")


def _end_node(spec: NodeSpec, pid: int | None) -> set[int]:
    """Containers, dockerd, every other process, veth, netns, mounts; the pids that stay."""
    remove_containers(spec.docker_sock, f"node {spec.node_id}")
    anchors = _all_dockerds(spec)
    if pid is not None and is_node_dockerd(spec, pid):
        anchors.add(pid)
    ns_ino = _netns_inode(spec.netns)
    members = procs.node_pids(ns_ino, anchors)
    # dockerd first and alone: it shuts its containerd down in order.
    stuck = procs.terminate(anchors, grace=15)
    stuck |= procs.terminate(members | procs.node_pids(ns_ino, members), grace=5)
    remove_node_net(spec.netns, spec.veth)
    unmount_under(spec.home)
    return stuck


def _all_dockerds(spec: NodeSpec) -> set[int]:
    return {p.pid for p in procs.all_procs() if is_node_dockerd(spec, p.pid)}


def remove_containers(sock: Path, label: str) -> None:
    """Force-remove every container of the daemon on ``sock``, if it answers.

    Done before dockerd is stopped: on SIGTERM it would give each container 10 s to stop.
    """
    if not ping(sock):
        return
    try:
        client = docker_at(sock, label, timeout=30)
        try:
            for container in client.containers.list(all=True):
                container.remove(force=True)
        finally:
            client.close()
    except (NodeError, *DOCKER_ERRORS) as exc:
        # Their processes are killed below anyway; this only lets dockerd tidy up.
        log.warning("%s: could not remove containers: %s", label, exc)


def _netns_inode(name: str) -> int | None:
    try:
        return os.stat(host.netns_path(name)).st_ino
    except OSError:
        return None


def remove_node_net(netns: str, veth: str) -> None:
    """Delete the veth, then the netns (in that order: deleting the netns frees the veth
    asynchronously, and re-creating its name right away would fail with "File exists")."""
    if host.link_exists(veth):
        host.run(["ip", "link", "del", veth])
    if host.netns_path(netns).exists():
        with _netns_lock:
            host.run(["ip", "netns", "del", netns])


def unmount_under(path: Path) -> None:
    """Detach every host mount at or below ``path``, deepest first."""
    root = str(path.resolve())
    points = [p for p, _ in mounts() if p == root or under(p, root)]
    for point in sorted(set(points), key=lambda p: p.count("/"), reverse=True):
        host.run(["umount", "--lazy", point], check=False)
