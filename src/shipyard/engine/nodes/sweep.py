"""Reclaiming what a crashed engine left behind: nodes, veths, bridges, rules, daemons.

Only objects named like ours (``shy<slot>-<i>``, ``shyv<slot>-<i>``, ``shybr<slot>``, our
exact accept rule) that belong to THIS engine's data dir are considered, and of those only
the ones the engine does not know. Several engines may share a machine (a developer's and
a test run's): a node belongs to the data dir that holds its home (``<dir>/<slot>-<i>``),
a bridge to the one that holds its marker (``<dir>/bridge-<slot>``, see ``mark_bridge``).

A node's dockerd is told by its data-root, ``<node home>/docker`` under the data dir. The
short-lived daemons that prepare image stores (imagestore.py) run with ``.../root`` outside
the nodes' dir and are never taken for nodes here; they die with the engine thread that
started them, and ``imagestore.sweep_builds`` reclaims what such a build left on disk.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from shipyard.engine.nodes import host, procs
from shipyard.engine.nodes.daemon import remove_containers, remove_node_net, unmount_under
from shipyard.engine.nodes.model import BRIDGE_RE, NETNS_RE, VETH_RE
from shipyard.engine.nodes.network import bridges_with_rules, delete_bridge_rules

log = logging.getLogger(__name__)


def mark_bridge(data_dir: Path, slot: int, present: bool) -> None:
    """Record (or forget) that this data dir's engine owns the bridge of ``slot``."""
    marker = data_dir / f"bridge-{slot}"
    if present:
        data_dir.mkdir(parents=True, exist_ok=True)
        marker.touch()
    else:
        marker.unlink(missing_ok=True)


def sweep(known_netns: set[str], known_slots: set[int], data_dir: Path) -> list[str]:
    """Remove every leftover of this data dir not in the known sets; say what, for humans."""
    removed: list[str] = []
    for name in _owned_netns(data_dir) - known_netns:
        removed.append(_sweep_netns(name, data_dir))
    known_inodes = {host_netns_inode(n) for n in known_netns} - {None}
    for pid in node_dockerds_under(data_dir):
        if procs.ns_inode(pid, "net") not in known_inodes:
            removed.append(_sweep_daemon(pid, data_dir))
    for veth in _names(Path("/sys/class/net"), VETH_RE):
        node = veth[len("shyv"):]
        owned = (data_dir / node).exists()
        if owned and "shy" + node not in known_netns and host.link_exists(veth):
            host.run(["ip", "link", "del", veth])
            removed.append(f"veth {veth}")
    removed += _sweep_bridges(_owned_slots(data_dir) - known_slots, data_dir)
    for line in removed:
        log.info("swept %s", line)
    return removed


def _owned_netns(data_dir: Path) -> set[str]:
    """Namespaces named like ours whose node home is under this data dir."""
    owned = set()
    for name in _names(Path("/var/run/netns"), NETNS_RE):
        m = NETNS_RE.match(name)
        if m is not None and (data_dir / f"{m[1]}-{m[2]}").exists():
            owned.add(name)
    return owned


def _owned_slots(data_dir: Path) -> set[int]:
    try:
        markers = [p.name for p in data_dir.iterdir() if p.name.startswith("bridge-")]
    except FileNotFoundError:
        return set()
    return {int(m.split("-", 1)[1]) for m in markers if m.split("-", 1)[1].isdigit()}


def _names(directory: Path, pattern: re.Pattern[str]) -> set[str]:
    """Entries of ``directory`` (a kernel listing such as /sys/class/net) named like ours."""
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return set()
    return {e for e in entries if pattern.match(e)}


def host_netns_inode(name: str) -> int | None:
    try:
        return os.stat(host.netns_path(name)).st_ino
    except OSError:
        return None


def _sweep_netns(name: str, data_dir: Path) -> str:
    members = procs.node_pids(host_netns_inode(name))
    homes = _end(members, data_dir)
    m = NETNS_RE.match(name)
    assert m is not None
    remove_node_net(name, f"shyv{m[1]}-{m[2]}")
    # The home of a node whose daemon never started (a crash mid-creation) goes too.
    home = data_dir / f"{m[1]}-{m[2]}"
    if home.exists() and home not in homes:
        unmount_under(home)
        shutil.rmtree(home, ignore_errors=True)
        homes.append(home)
    extra = f", home {', '.join(map(str, homes))}" if homes else ""
    return f"node netns {name} with {len(members)} processes{extra}"


def _sweep_daemon(pid: int, data_dir: Path) -> str:
    members = procs.node_pids(procs.ns_inode(pid, "net"), {pid})
    homes = _end(members, data_dir)
    return f"orphan node dockerd {pid} with {len(members)} processes, home {homes}"


def _end(members: set[int], data_dir: Path) -> list[Path]:
    """End a node's processes (dockerds first) and remove their homes under ``data_dir``."""
    daemons = {pid for pid in members if _data_root(pid) is not None}
    homes = [h for h in (_home_under(pid, data_dir) for pid in daemons) if h is not None]
    for home in homes:
        remove_containers(home / "docker.sock", f"leftover node {home}")
    procs.terminate(daemons, grace=15)
    procs.terminate(members | procs.descendants(members), grace=5)
    for home in homes:
        unmount_under(home)
        shutil.rmtree(home, ignore_errors=True)
    return homes


def _data_root(pid: int) -> Path | None:
    argv = procs.cmdline(pid)
    if not argv or Path(argv[0]).name != "dockerd":
        return None
    for arg in argv:
        if arg.startswith("--data-root="):
            return Path(arg.split("=", 1)[1])
    return None


def _home_under(pid: int, data_dir: Path) -> Path | None:
    root = _data_root(pid)
    # Only ``<home>/docker`` is a node's: an image build daemon's data-root is ``.../root``.
    if root is None or root.name != "docker":
        return None
    home = root.parent.resolve()
    return home if home.is_relative_to(data_dir.resolve()) and home != data_dir else None


def node_dockerds_under(data_dir: Path) -> list[int]:
    """Pids of live node daemons whose home is under ``data_dir``."""
    return [p.pid for p in procs.all_procs()
            if p.state not in "ZX" and _home_under(p.pid, data_dir) is not None]


def _sweep_bridges(slots: set[int], data_dir: Path) -> list[str]:
    """Remove the bridges (and their rules) of slots this data dir owns but no pool uses."""
    removed = []
    bridges = {f"shybr{slot}" for slot in slots}
    for bridge in bridges_with_rules() & bridges:
        delete_bridge_rules(bridge)
        removed.append(f"firewall rule for {bridge}")
    for bridge in _names(Path("/sys/class/net"), BRIDGE_RE) & bridges:
        if host.link_exists(bridge):
            host.run(["ip", "link", "del", bridge])
            removed.append(f"bridge {bridge}")
    for slot in slots:
        mark_bridge(data_dir, slot, present=False)
    return removed
