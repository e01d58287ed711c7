"""Compute nodes on one Linux host: per-node namespaces, veth, private mounts and dockerd,
and each node's own sshd (sshd.py) and user accounts (users.py).

Called by the engine's pool manager, from worker threads. Every function here either
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
