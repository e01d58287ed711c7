"""Compute nodes on one Linux host: per-node namespaces, veth, private mounts and dockerd.

    model.py       value objects: a pool's network, a node's kernel objects and files
    host.py        the one chokepoint for subprocesses (ip, iptables, nsenter, umount)
    procs.py       finding and ending a node's processes through /proc, never by name
    network.py     one bridge per pool and the firewall rule it needs
    nodeinit.py    inside a fresh namespace: the node's view of the machine, then dockerd
    daemon.py      start, probe and stop one node (namespaces, veth, its dockerd)
    images.py      Docker clients for nodes and host; image preload onto a node
    imagestore.py  prepared image stores, so a pool's nodes share one unpack of an image
    launching.py   commands "on a node": detached, exec'd directly, with an exit file
    runner.py      the supervisor of one launched command (stdlib only, ``python -c``)
    sshd.py        each node's own sshd, for remote login
    users.py       node user accounts in the node's own passwd, group and shadow
    sweep.py       reclaiming what a crashed engine left: nodes, veths, bridges, rules

Knows nothing of Batch: called from the rooms above (storage, agent, allocation, services)
and from worker threads. Every function here either
completes, or raises ``NodeError`` / ``CommandError`` / ``CapacityError`` having undone its
partial work; a crashed engine's leftovers are reclaimed with ``sweep``.
"""

from shipyard.engine.nodes.daemon import halt_node, node_alive, node_fault, start_node, stop_node
from shipyard.engine.nodes.images import node_docker, preload_image
from shipyard.engine.nodes.launching import kill_launched, launch, read_exit
from shipyard.engine.nodes.model import NodeSpec, PoolNet, subnet_for_slot
from shipyard.engine.nodes.network import (
    claim_bridge,
    create_pool_network,
    delete_pool_network,
    slot_in_use,
    subnet_conflicts,
)
from shipyard.engine.nodes.sshd import ensure as ensure_sshd
from shipyard.engine.nodes.sweep import mark_bridge, sweep

__all__ = [
    "NodeSpec",
    "PoolNet",
    "claim_bridge",
    "create_pool_network",
    "delete_pool_network",
    "ensure_sshd",
    "halt_node",
    "kill_launched",
    "launch",
    "mark_bridge",
    "node_alive",
    "node_docker",
    "node_fault",
    "preload_image",
    "read_exit",
    "slot_in_use",
    "start_node",
    "stop_node",
    "subnet_conflicts",
    "subnet_for_slot",
    "sweep",
]
