"""Auto pools: the pool a job (or a job schedule) brings with it and takes away again.

A job whose ``poolInfo`` holds an ``autoPoolSpecification`` gets its own pool once it is
active, named as the service names it (``<autoPoolIdPrefix>_<GUID>``, or the bare GUID),
and its ``executionInfo.poolId`` says which. An ``autopool`` record remembers who owns the
pool (the job, or the schedule for ``poolLifetimeOption: jobschedule``); when the owner
completes or disappears the pool is deleted, unless ``keepAlive`` says otherwise.
The scheduler calls ``tick`` under its lock; nothing here runs commands on nodes.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from shipyard.engine.model import docs, requests
from shipyard.engine.model.states import JOB_TERMINAL, SCHEDULE_TERMINAL, JobState
from shipyard.engine.scheduling.jobflow import JOB
from shipyard.engine.services.pools import PoolService
from shipyard.engine.store import Json, Record, Store
from shipyard.errors import BatchError

log = logging.getLogger(__name__)

AUTOPOOL = "autopool"
SCHEDULE = "schedule"
LIFETIMES = ("job", "jobschedule")
MAX_PREFIX = 20
#: Owner states after which a pool of lifetime "job" or "jobschedule" is no longer needed.
_ENDED = JOB_TERMINAL | SCHEDULE_TERMINAL
_POOL_DEFAULTS: Json = {
    "taskSlotsPerNode": 1, "resizeTimeout": requests.DEFAULT_RESIZE_TIMEOUT,
    "targetDedicatedNodes": 0, "targetLowPriorityNodes": 0, "enableAutoScale": False,
    "enableInterNodeCommunication": False,
}


def auto_spec(pool_info: Json | None) -> Json | None:
    return (pool_info or {}).get("autoPoolSpecification")


def check_pool_info(pool_info: Any, where: str = "poolInfo", schedule: bool = False) -> None:
    """Refuse a ``poolInfo`` the service refuses; fill the service's defaults in place."""
    if not isinstance(pool_info, dict) or not pool_info:
        raise requests.missing(where)
    spec = pool_info.get("autoPoolSpecification")
    if spec is None:
        if not pool_info.get("poolId"):
            raise requests.missing(f"{where}.poolId")
        return
    if pool_info.get("poolId"):
        raise requests.bad_value(f"{where}.poolId", pool_info["poolId"],
                                 "specify either poolId or autoPoolSpecification, not both")
    _check_spec(spec, f"{where}.autoPoolSpecification", schedule)


def _check_spec(spec: Json, where: str, schedule: bool) -> None:
    lifetime = spec.get("poolLifetimeOption")
    if lifetime is None:
        raise requests.missing(f"{where}.poolLifetimeOption")
    if str(lifetime).lower() not in LIFETIMES:
        raise requests.bad_value(f"{where}.poolLifetimeOption", lifetime,
                                 "must be job or jobschedule")
    if str(lifetime).lower() == "jobschedule" and not schedule:
        raise requests.bad_value(f"{where}.poolLifetimeOption", lifetime,
                                 "jobschedule applies only to job schedules, not to jobs")
    prefix = spec.get("autoPoolIdPrefix")
    if prefix is not None and (len(str(prefix)) > MAX_PREFIX or
                               not requests.ID_PATTERN.match(str(prefix))):
        raise requests.bad_value(f"{where}.autoPoolIdPrefix", prefix,
                                 f"at most {MAX_PREFIX} letters, digits, hyphens or underscores")
    pool = spec.get("pool")
    if not isinstance(pool, dict):
        raise requests.missing(f"{where}.pool")
    if not pool.get("vmSize"):
        raise requests.missing(f"{where}.pool.vmSize")
    spec["poolLifetimeOption"] = str(lifetime).lower()
    spec.setdefault("keepAlive", False)
    for key, value in _POOL_DEFAULTS.items():
        pool.setdefault(key, value)
    policy = pool.setdefault("taskSchedulingPolicy", {"nodeFillType": "Spread"})
    policy.setdefault("jobDefaultOrder", "none")


def new_pool_id(spec: Json) -> str:
    """``<prefix>_<GUID>``: the service's form (a bare upper-case GUID without a prefix)."""
    guid = str(uuid.uuid4()).upper()
    prefix = spec.get("autoPoolIdPrefix")
    return f"{prefix}_{guid}" if prefix else guid


class AutoPools:
    """Creates the auto pools of active jobs and deletes those whose lifetime ended."""

    def __init__(self, store: Store, pools: PoolService) -> None:
        self.store = store
        self.pools = pools

    def tick(self) -> None:
        for job in self.store.in_states(JOB, "", JobState.ACTIVE):
            spec = auto_spec(job.doc.get("poolInfo"))
            if spec and not docs.pool_id_of(job.doc) and not job.private.get("autopool_failed"):
                self._give_pool(job, spec)
        for record in self.store.list(AUTOPOOL):
            self._reap(record)

    def create(self, spec: Json, owner_kind: str, owner_id: str) -> str:
        """Create the pool of ``spec`` for its owner; the new pool's id."""
        pool_id = new_pool_id(spec)
        body = {**spec["pool"], "id": pool_id}
        self.pools.create(body)
        self.store.insert(AUTOPOOL, "", pool_id, Record(
            {"poolId": pool_id}, {"owner": [owner_kind, owner_id],
                                  "keepAlive": bool(spec.get("keepAlive"))}))
        log.info("auto pool %s created for %s %s", pool_id, owner_kind, owner_id)
        return pool_id

    def _give_pool(self, job: Record, spec: Json) -> None:
        try:
            pool_id = self.create(spec, JOB, job.doc["id"])
        except BatchError as exc:
            self._note_failure(job, exc)
            return

        def made(record: Record) -> None:
            record.doc.setdefault("executionInfo", {})["poolId"] = pool_id

        self.store.mutate(JOB, "", job.doc["id"], made)

    def _note_failure(self, job: Record, exc: BatchError) -> None:
        """The pool could not be made: say why in the job, as the service does."""
        def failed(record: Record) -> None:
            record.private["autopool_failed"] = True
            note_scheduling_error(record.doc, exc)

        self.store.mutate(JOB, "", job.doc["id"], failed)

    def _reap(self, record: Record) -> None:
        kind, owner_id = record.private["owner"]
        owner = self.store.get(kind, "", owner_id)
        if owner is not None and owner.doc["state"] not in _ENDED:
            return
        keep = record.private.get("keepAlive", False)
        if owner is not None:
            spec = auto_spec(_owner_pool_info(kind, owner.doc)) or {}
            keep = bool(spec.get("keepAlive", keep))
        pool_id = record.doc["poolId"]
        if not keep:
            try:
                self.pools.delete(pool_id)
            except BatchError as exc:  # gone already, or being deleted: nothing left to do
                log.info("auto pool %s: %s", pool_id, exc.code)
        self.store.delete(AUTOPOOL, "", pool_id)
        log.info("auto pool %s released by %s %s (keepAlive %s)", pool_id, kind, owner_id,
                 keep)


def note_scheduling_error(job: Json, exc: BatchError) -> None:
    """Why the service could not do something for the job, in the job's executionInfo."""
    job.setdefault("executionInfo", {})["schedulingError"] = {
        "category": "usererror", "code": exc.code, "message": exc.detail,
        "details": [{"name": k, "value": v} for k, v in exc.values]}


def _owner_pool_info(kind: str, owner: Json) -> Json | None:
    if kind == SCHEDULE:
        return (owner.get("jobSpecification") or {}).get("poolInfo")
    return owner.get("poolInfo")


def check_pool_change(job: Json, new_info: Json | None) -> None:
    """A job's pool changes only while it is disabled (what ``jobs migrate`` relies on).

    The same ``poolInfo`` again is no change (Batch Shipyard sends it with every update);
    an auto pool of lifetime job may change only its ``keepAlive``.
    """
    if new_info is None:
        return
    old = job.get("poolInfo") or {}
    if _same_pool(old, new_info):
        return
    if job["state"] != JobState.DISABLED:
        raise BatchError(409, "OperationInvalidForCurrentState",
                         "The specified operation is not valid for the current state of the "
                         "resource.",
                         [("Reason", "the pool of a job can be changed only while the job is "
                                     "disabled")])


def _same_pool(old: Json, new: Json) -> bool:
    old_spec, new_spec = auto_spec(old), auto_spec(new)
    if old_spec and new_spec:
        return _without_keep_alive(old_spec) == _without_keep_alive(new_spec)
    return bool(old.get("poolId") and str(old.get("poolId")).lower() ==
                str(new.get("poolId") or "").lower())


def _without_keep_alive(spec: Json) -> Json:
    return {k: v for k, v in spec.items() if k != "keepAlive"}


def apply_pool_change(job: Json, new_info: Json) -> None:
    """Point the job at ``new_info``: its tasks are placed there from now on."""
    same = _same_pool(job.get("poolInfo") or {}, new_info)
    job["poolInfo"] = new_info
    info = job.setdefault("executionInfo", {})
    if new_info.get("poolId"):
        info["poolId"] = new_info["poolId"]
    elif not same:
        info.pop("poolId", None)  # a new auto pool is made for it on the next tick
