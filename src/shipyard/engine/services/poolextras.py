"""Pool operations beyond create/get/resize/delete, and the account-level pool listings.

- update (PATCH): only the properties in the body change. ``startTask``, ``metadata``
  and ``applicationPackageReferences`` may change any time (nodes already in the pool
  keep what they started with, as on the service); the others only while the pool has no
  nodes. An empty list removes the property, which then disappears from the pool.
- replace properties (POST updateproperties): ``startTask``, ``metadata`` and
  ``applicationPackageReferences`` are replaced wholesale; a start task left out is
  removed (recorded: the next GET shows none).
- stop resize: ``allocationState`` goes to ``stopping``, then ``steady`` once the
  allocator has finished what it had started; nodes already created stay, the targets
  stay, and a shortfall shows as a ``ResizeStopped`` resize error (recorded). The eTag
  stays, as recorded.
- node counts per pool by state, the images the engine accepts, usage metrics.
Every refusal changes nothing; If-Match is honoured as on resize and delete.
"""

from __future__ import annotations

from typing import Any

from azure.batch import models

from shipyard.engine.allocation.allocator import NODE, POOL, Allocator
from shipyard.engine.model import docs, requests
from shipyard.engine.model.states import AllocationState, NodeState, PoolState
from shipyard.engine.services import poolchecks
from shipyard.engine.services.pools import PoolService, pool_being_deleted
from shipyard.engine.store import Json, Record, Store
from shipyard.errors import BatchError

#: PATCH properties the service takes only while the pool has no nodes.
EMPTY_POOL_ONLY = ("displayName", "vmSize", "enableInterNodeCommunication",
                   "virtualMachineConfiguration", "taskSlotsPerNode", "taskSchedulingPolicy",
                   "networkConfiguration", "userAccounts", "mountConfiguration",
                   "upgradePolicy")
_LISTS = ("metadata", "applicationPackageReferences")
#: Node states as node counts spell them (camelCase), in the order of the recorded response.
_COUNTED_STATES = ("creating", "deallocated", "deallocating", "idle", "leavingPool",
                   "offline", "preempted", "rebooting", "reimaging", "running", "starting",
                   "startTaskFailed", "unusable", "unknown", "upgradingOS",
                   "waitingForStartTask")
#: The count each node state goes to (a state the counts do not name counts as unknown).
_COUNT_OF: dict[str, str] = {NodeState(name.lower()): name for name in _COUNTED_STATES}

_UBUNTU = "batch.node.ubuntu 22.04"
#: Images the engine verifies: every node runs the same Linux userland on this machine,
#: so these are the Linux images Batch Shipyard recipes and the SDK samples name.
SUPPORTED_IMAGES: tuple[tuple[str, str, str, str], ...] = (
    ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", _UBUNTU),
    ("Canonical", "ubuntu-24_04-lts", "server", "batch.node.ubuntu 24.04"),
    ("microsoft-dsvm", "ubuntu-hpc", "2204", _UBUNTU),
    ("microsoft-azure-batch", "ubuntu-server-container", "20-04-lts",
     "batch.node.ubuntu 20.04"),
    ("Debian", "debian-12", "12", "batch.node.debian 12"),
    ("almalinux", "almalinux-hpc", "8_7-hpc-gen2", "batch.node.el 8"),
)


def operation_invalid(reason: str) -> BatchError:
    return BatchError(409, "OperationInvalidForCurrentState",
                      "The specified operation is not valid for the current state of the "
                      "resource.", [("Reason", reason)])


class PoolExtras:
    """Update, replace properties, stop resize; node counts and account listings."""

    def __init__(self, store: Store, allocator: Allocator, pools: PoolService) -> None:
        self.store = store
        self.allocator = allocator
        self.pools = pools

    def update(self, pool_id: str, body: dict[str, Any], if_match: str | None) -> Json:
        requests.parse(models.BatchPoolUpdateOptions, body)
        _check_start_task(body)
        poolchecks.check_subnet(body.get("networkConfiguration"), self.pools.settings.account)
        poolchecks.check_image(body.get("virtualMachineConfiguration"))
        poolchecks.check_packages(body.get("applicationPackageReferences"))
        has_nodes = bool(self.store.list(NODE, self.pools.get(pool_id).doc["id"]))

        def apply(record: Record) -> None:
            _check_writable(record, if_match)
            locked = [name for name in EMPTY_POOL_ONLY if name in body]
            if locked and (has_nodes or record.doc.get("currentDedicatedNodes")):
                raise operation_invalid(f"{locked[0]} can be updated only when the pool "
                                        "has no nodes")
            for name, value in body.items():
                _set(record.doc, name, value)
            docs.touch(record.doc)

        return self.store.mutate(POOL, "", pool_id, apply).doc

    def replace(self, pool_id: str, body: dict[str, Any], if_match: str | None) -> Json:
        requests.parse(models.BatchPoolReplaceOptions, body)
        for name in _LISTS:
            if body.get(name) is None:
                raise requests.missing(name)
        _check_start_task(body)
        poolchecks.check_packages(body.get("applicationPackageReferences"))
        self.pools.get(pool_id)

        def apply(record: Record) -> None:
            _check_writable(record, if_match)
            for name in ("startTask", *_LISTS):
                _set(record.doc, name, body.get(name))
            docs.touch(record.doc)

        return self.store.mutate(POOL, "", pool_id, apply).doc

    def stop_resize(self, pool_id: str, if_match: str | None) -> Json:
        self.pools.get(pool_id)

        def apply(record: Record) -> None:
            _check_writable(record, if_match)
            if record.doc["allocationState"] != AllocationState.RESIZING:
                raise operation_invalid(
                    f"the pool's allocationState is {record.doc['allocationState']}: only a "
                    "resizing pool can stop resizing")
            record.private["resize_stopped"] = True
            docs.set_allocation_state(record.doc, AllocationState.STOPPING)

        doc = self.store.mutate(POOL, "", pool_id, apply).doc
        self.allocator.kick(pool_id)
        return doc

    def node_counts(self) -> list[Json]:
        counted = []
        for pool in self.store.list(POOL):
            tallies = {kind: dict.fromkeys(_COUNTED_STATES, 0) for kind in (True, False)}
            for node in self.store.list(NODE, pool.doc["id"]):
                state = _count_key(node.doc["state"])
                tallies[bool(node.doc["isDedicated"])][state] += 1
            counted.append({"poolId": pool.doc["id"],
                            "dedicated": {**tallies[True], "total": sum(tallies[True].values())},
                            "lowPriority": {**tallies[False],
                                            "total": sum(tallies[False].values())}})
        return counted


def supported_images() -> list[Json]:
    return [{"nodeAgentSKUId": sku,
             "imageReference": {"publisher": publisher, "offer": offer, "sku": image_sku,
                                "version": "latest"},
             "verificationType": "verified", "capabilities": ["DockerCompatible"],
             "osType": "linux"}
            for publisher, offer, image_sku, sku in SUPPORTED_IMAGES]


def _count_key(state: str) -> str:
    return _COUNT_OF.get(state.lower(), _COUNT_OF[NodeState.UNKNOWN])


def _check_writable(record: Record, if_match: str | None) -> None:
    requests.check_etag(record.doc, if_match)
    if record.doc["state"] == PoolState.DELETING:
        raise pool_being_deleted()


def _check_start_task(body: dict[str, Any]) -> None:
    start_task = body.get("startTask")
    if start_task is not None and not start_task.get("commandLine"):
        raise requests.missing("startTask.commandLine")


def _set(doc: Json, name: str, value: Any) -> None:
    """Set one property; an absent value or an empty list removes it, as the service shows."""
    if value is None or (name in _LISTS and not value):
        doc.pop(name, None)
    else:
        doc[name] = value
