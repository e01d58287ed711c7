"""The wire documents the engine serves: pools and nodes as the service spells them.

Documents are built once from the SDK's create-options and then changed only through the
small transition helpers here, so timestamps, eTags and counters move the way the real
service moves them (see shared/reference/recorded-responses.json).
"""

from __future__ import annotations

import hashlib
from typing import Any

from azure.batch import models

from shipyard.engine.model import requests, wire
from shipyard.engine.model.states import (
    AllocationState,
    JobScheduleState,
    JobState,
    NodeState,
    PoolState,
    SchedulingState,
    TaskState,
)
from shipyard.engine.store import Json


def now() -> str:
    return wire.format_datetime(wire.utcnow())


def new_pool_doc(options: models.BatchPoolCreateOptions, base_url: str) -> Json:
    """The pool document right after create: allocation starts in ``resizing``."""
    moment = wire.utcnow()
    stamp = wire.format_datetime(moment)
    doc: Json = options.as_dict()
    doc.update(
        url=f"{base_url}/pools/{options.id}",
        eTag=wire.new_etag(moment),
        lastModified=stamp,
        creationTime=stamp,
        state=PoolState.ACTIVE,
        stateTransitionTime=stamp,
        allocationState=AllocationState.RESIZING,
        allocationStateTransitionTime=stamp,
        currentDedicatedNodes=0,
        currentLowPriorityNodes=0,
        targetDedicatedNodes=options.target_dedicated_nodes or 0,
        targetLowPriorityNodes=options.target_low_priority_nodes or 0,
        enableAutoScale=bool(options.enable_auto_scale),
        enableInterNodeCommunication=bool(options.enable_inter_node_communication),
        taskSlotsPerNode=options.task_slots_per_node or 1,
    )
    doc.setdefault("resizeTimeout", requests.DEFAULT_RESIZE_TIMEOUT)
    policy = doc.setdefault("taskSchedulingPolicy", {"nodeFillType": "Spread"})
    policy["nodeFillType"] = str(policy.get("nodeFillType", "spread")).capitalize()
    policy.setdefault("jobDefaultOrder", "none")
    image = doc.get("virtualMachineConfiguration", {}).get("imageReference")
    # Only a marketplace image has versions to default; a gallery image id stands alone.
    if isinstance(image, dict) and "publisher" in image:
        image.setdefault("version", "latest")
    return doc


def touch(doc: Json) -> None:
    """A user-driven change: new eTag and lastModified (service-driven ones keep them)."""
    moment = wire.utcnow()
    doc["eTag"] = wire.new_etag(moment)
    doc["lastModified"] = wire.format_datetime(moment)


def set_pool_state(doc: Json, state: PoolState) -> None:
    if doc.get("state") != state:
        doc["state"] = state
        doc["stateTransitionTime"] = now()


def set_allocation_state(doc: Json, state: AllocationState) -> None:
    if doc.get("allocationState") != state:
        doc["allocationState"] = state
        doc["allocationStateTransitionTime"] = now()


def resize_stopped(doc: Json) -> None:
    """A stopped resize that fell short says so in ``resizeErrors``, as recorded."""
    errors = [{"code": "ResizeStopped",
               "message": f"Desired number of {kind} nodes could not be allocated due to a "
                          "stop resize operation"}
              for kind, target, current in (
                  ("dedicated", "targetDedicatedNodes", "currentDedicatedNodes"),
                  ("low priority", "targetLowPriorityNodes", "currentLowPriorityNodes"))
              if doc.get(current, 0) < doc.get(target, 0)]
    if errors:
        doc["resizeErrors"] = errors


def node_id_for(pool_id: str, slot: int, index: int, created: str, dedicated: bool) -> str:
    """An id of the service's form (``tvmps_<64 hex>_d``), unique per pool incarnation."""
    digest = hashlib.sha256(f"{pool_id}/{slot}/{index}/{created}".encode()).hexdigest()
    return f"tvmps_{digest}_{'d' if dedicated else 'p'}"


def new_node_doc(pool: Json, node_id: str, ip: str, dedicated: bool, base_url: str) -> Json:
    stamp = now()
    doc: Json = {
        "id": node_id,
        "url": f"{base_url}/pools/{pool['id']}/nodes/{node_id}",
        "state": NodeState.CREATING,
        "schedulingState": SchedulingState.ENABLED,
        "stateTransitionTime": stamp,
        "allocationTime": stamp,
        "ipAddress": ip,
        "affinityId": f"TVM:{node_id}",
        "vmSize": pool.get("vmSize", ""),
        "totalTasksRun": 0,
        "totalTasksSucceeded": 0,
        "runningTasksCount": 0,
        "runningTaskSlotsCount": 0,
        "isDedicated": dedicated,
    }
    image = pool.get("virtualMachineConfiguration", {}).get("imageReference")
    if isinstance(image, dict):
        doc["virtualMachineInfo"] = {"imageReference": {**image, "exactVersion": "latest"}}
    if "startTask" in pool:
        doc["startTask"] = pool["startTask"]
    return doc


def set_node_state(doc: Json, state: NodeState) -> None:
    if doc.get("state") != state:
        doc["state"] = state
        doc["stateTransitionTime"] = now()


def node_booted(doc: Json, agent_version: str) -> None:
    stamp = now()
    doc["lastBootTime"] = stamp
    doc["nodeAgentInfo"] = {"lastUpdateTime": stamp, "version": agent_version}
    doc.pop("errors", None)


def node_error(doc: Json, code: str, message: str, **details: Any) -> None:
    """Mark a node unusable and say why, in the service's ``errors`` shape."""
    error: Json = {"code": code, "message": message}
    if details:
        error["errorDetails"] = [{"name": k, "value": str(v)} for k, v in details.items()]
    doc["errors"] = [error]
    set_node_state(doc, NodeState.UNUSABLE)


def container_images(pool: Json) -> list[str]:
    config = pool.get("virtualMachineConfiguration", {}).get("containerConfiguration") or {}
    return list(config.get("containerImageNames") or [])


# -- jobs and tasks ------------------------------------------------------------------------
def set_state(doc: Json, state: JobState | TaskState | JobScheduleState) -> None:
    """A job, task or schedule state change, keeping ``previousState`` as the service does."""
    if doc.get("state") == state:
        return
    stamp = now()
    if "state" in doc:
        doc["previousState"] = doc["state"]
        doc["previousStateTransitionTime"] = doc.get("stateTransitionTime", stamp)
    doc["state"] = state
    doc["stateTransitionTime"] = stamp


def _created(body: Json, url: str, state: JobState | TaskState) -> Json:
    """A new resource in ``state``: the request body plus url, eTag and creation times."""
    moment = wire.utcnow()
    stamp = wire.format_datetime(moment)
    doc: Json = dict(body)
    doc.update(url=url, eTag=wire.new_etag(moment), lastModified=stamp, creationTime=stamp,
               state=state, stateTransitionTime=stamp)
    return doc


def new_job_doc(body: Json, base_url: str) -> Json:
    """The job document right after create, with the service's defaults filled in."""
    doc = _created(body, f"{base_url}/jobs/{body['id']}", JobState.ACTIVE)
    doc.setdefault("priority", 0)
    doc.setdefault("maxParallelTasks", -1)
    doc.setdefault("usesTaskDependencies", False)
    doc.setdefault("allowTaskPreemption", False)
    doc.setdefault("onAllTasksComplete", "noaction")
    doc.setdefault("onTaskFailure", "noaction")
    constraints = doc.setdefault("constraints", {})
    constraints.setdefault("maxWallClockTime", wire.INFINITE_WIRE)
    constraints.setdefault("maxTaskRetryCount", 0)
    if "jobPreparationTask" in doc:
        prep = doc["jobPreparationTask"]
        prep.setdefault("id", "jobpreparation")
        prep.setdefault("waitForSuccess", True)
        prep.setdefault("constraints", {}).setdefault("maxTaskRetryCount", 0)
    if "jobReleaseTask" in doc:
        doc["jobReleaseTask"].setdefault("id", "jobrelease")
        doc["jobReleaseTask"].setdefault("maxWallClockTime", "PT15M")
    doc["executionInfo"] = {"startTime": doc["creationTime"]}
    if (body.get("poolInfo") or {}).get("poolId"):  # an auto pool's id comes when it exists
        doc["executionInfo"]["poolId"] = body["poolInfo"]["poolId"]
    return doc


def pool_id_of(job: Json) -> str:
    """The pool a job's tasks run on: its own auto pool once made, else ``poolInfo.poolId``."""
    made = (job.get("executionInfo") or {}).get("poolId")
    return str(made or (job.get("poolInfo") or {}).get("poolId") or "")


def new_task_doc(body: Json, job_id: str, base_url: str, job_constraints: Json) -> Json:
    doc = _created(body, f"{base_url}/jobs/{job_id}/tasks/{body['id']}", TaskState.ACTIVE)
    constraints = doc.setdefault("constraints", {})
    constraints.setdefault("maxWallClockTime", wire.INFINITE_WIRE)
    constraints.setdefault("retentionTime", "P7D")
    constraints.setdefault("maxTaskRetryCount", job_constraints.get("maxTaskRetryCount", 0))
    doc.setdefault("requiredSlots", 1)
    doc["executionInfo"] = {"retryCount": 0, "requeueCount": 0}
    return doc
