"""Autoscale on pools: the REST operations, the sampling clock and the resize that follows.

- ``enable`` checks the formula (a formula that does not parse is refused with the
  service's 400 ``AutoScalingFormulaSyntaxError``) and the interval (5 minutes to 168
  hours, default 15 minutes), turns autoscale on with a new eTag and evaluates at once,
  as the service does: the pool is ``resizing`` towards the formula's targets when the
  call returns.
- ``evaluate`` runs a formula on an autoscale pool without applying it and answers the
  ``AutoScaleRun``: ``results`` or, for a formula that fails while running, ``error``.
- ``disable`` turns it off; the pool keeps its targets and nodes.
- A clock thread records every pool's samples every 30 seconds and evaluates each
  autoscale pool on its interval (a pool created with ``enableAutoScale`` at once).
  Evaluations record a fresh sample first. A successful evaluation sets the pool's targets
  and hands the change to the allocator; a failed one only sets ``autoScaleRun.error``.
  Both are service-driven: the eTag stays.
- A shrink below the busy nodes honours the formula's ``$NodeDeallocationOption``
  (requeue, terminate, taskcompletion, retaineddata) the way removenodes does: the
  engine hands those nodes to ``NodeOps.shed_busy`` (``shed``); idle ones simply go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from azure.batch import models

from shipyard.engine.allocation.allocator import POOL, Allocator
from shipyard.engine.model import docs, requests, wire
from shipyard.engine.model.states import AllocationState, PoolState
from shipyard.engine.services.autoscale import metrics
from shipyard.engine.services.autoscale.evaluator import Outcome, Snapshot, evaluate
from shipyard.engine.services.autoscale.lexer import ErrorKind, FormulaError
from shipyard.engine.services.autoscale.samples import SAMPLE_PERIOD, Histories
from shipyard.engine.services.autoscale.settings import check_formula, check_interval
from shipyard.engine.services.pools import (
    MAX_NODES_PER_POOL,
    POOLS,
    Shed,
    pool_being_deleted,
    pool_being_resized,
    shed_busy_nodes,
)
from shipyard.engine.store import Json, Record, RecordMissing, Store
from shipyard.errors import BatchError

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
#: The service takes one enable per pool every 30 seconds (documented on the operation).
ENABLE_SPACING_SECONDS = 30.0
#: Checks a resize to ``n`` more nodes fits the machine; raises ``BatchError`` if not.
CapacityCheck = Callable[[int], None]


def run_error(exc: FormulaError) -> Json:
    """``autoScaleRun.error`` for a formula that failed while running."""
    if exc.kind is ErrorKind.SAMPLES:
        code, message = ("InsufficientSampleData",
                         "Autoscale evaluation failed due to insufficient sample data")
    else:
        code, message = ("FormulaEvaluationError",
                         "Autoscale evaluation failed due to an error in the formula")
    return {"code": code, "message": message, "values": [{"name": "Message", "value": str(exc)}]}


class AutoscaleService:
    """Enable, evaluate and disable autoscale; sample and evaluate on the clock."""

    def __init__(self, store: Store, allocator: Allocator, capacity: CapacityCheck,
                 histories: Histories | None = None, shed: Shed | None = None) -> None:
        self.store = store
        self.allocator = allocator
        self.capacity = capacity
        self.shed = shed
        self.histories = histories or Histories()
        self.cpu = metrics.CpuMeter()
        self._next_sample = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one evaluation of a pool at a time

    # -- REST ------------------------------------------------------------------------------
    def enable(self, pool_id: str, body: dict[str, Any], if_match: str | None) -> Json:
        requests.parse(models.BatchPoolEnableAutoScaleOptions, body)
        formula, interval = body.get("autoScaleFormula"), body.get("autoScaleEvaluationInterval")
        current = self._pool(pool_id)
        # An enabled pool may change either setting; a disabled one needs a formula.
        if not current.doc.get("enableAutoScale") or formula is not None or interval is None:
            formula = check_formula(formula)
        interval = check_interval(interval) if interval is not None else None

        def apply(record: Record) -> None:
            requests.check_etag(record.doc, if_match)
            _refuse_deleting(record)
            if record.doc["allocationState"] != AllocationState.STEADY:
                raise pool_being_resized()  # documented: not while a resize runs
            _limit_enables(record)
            record.doc["enableAutoScale"] = True
            record.doc["autoScaleFormula"] = formula or record.doc["autoScaleFormula"]
            record.doc["autoScaleEvaluationInterval"] = (
                interval or record.doc.get("autoScaleEvaluationInterval")
                or check_interval(None))
            docs.touch(record.doc)

        self.store.mutate(POOL, "", pool_id, apply)
        self.run_pool(pool_id)
        return self._pool(pool_id).doc

    def evaluate(self, pool_id: str, body: dict[str, Any]) -> Json:
        requests.parse(models.BatchPoolEvaluateAutoScaleOptions, body)
        formula = check_formula(body.get("autoScaleFormula"))
        pool = self._pool(pool_id)
        _refuse_deleting(pool)
        if not pool.doc.get("enableAutoScale"):
            raise BatchError(409, "OperationInvalidForCurrentState",
                             "The specified operation is not valid for the current state of "
                             "the resource.",
                             [("Reason", "autoscale is not enabled on the pool: enable it "
                                         "before evaluating a formula")])
        self._sample(pool)
        run, _ = self._run(pool, formula)
        return run

    def disable(self, pool_id: str) -> Json:
        def apply(record: Record) -> None:
            _refuse_deleting(record)
            record.doc["enableAutoScale"] = False
            record.doc.pop("autoScaleFormula", None)
            record.doc.pop("autoScaleEvaluationInterval", None)
            record.private.pop("autoscale_next", None)
            docs.touch(record.doc)

        self._pool(pool_id)
        return self.store.mutate(POOL, "", pool_id, apply).doc

    # -- the clock -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="autoscale", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _loop(self) -> None:
        while not self._stopping.wait(TICK_SECONDS):
            try:
                self.tick(time.time())
            except Exception:
                log.exception("autoscale tick failed")

    def tick(self, now: float) -> None:
        """Record samples when a period has passed, then evaluate the pools that are due."""
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_PERIOD.total_seconds()
            pools = metrics.pools_with_nodes(self.store)
            cpu = self.cpu.read()
            for pool in pools:
                self.histories.record(pool.doc["id"], wire.utcnow(),
                                      metrics.sample(self.store, pool, cpu))
            self.histories.keep({p.doc["id"] for p in pools})
        for _, pool in self.store.due(POOL, "autoscale_next", now):
            self.run_pool(pool.doc["id"], now)

    def run_pool(self, pool_id: str, now: float | None = None) -> None:
        """Evaluate the pool's own formula now, apply it, and schedule the next run."""
        with self._lock:
            try:
                pool = self._pool(pool_id)
            except BatchError:
                return
            if pool.doc.get("state") == PoolState.DELETING or not pool.doc.get("enableAutoScale"):
                return
            self._sample(pool)
            run, outcome = self._run(pool, pool.doc["autoScaleFormula"])
            interval = wire.parse_duration(pool.doc["autoScaleEvaluationInterval"])
            next_at = (time.time() if now is None else now) + interval.total_seconds()
            resized = self._apply(pool_id, run, outcome, next_at)
        if resized and outcome is not None:
            # Busy nodes first, so the allocator's pass counts them out and removes only
            # the idle surplus.
            if self.shed is not None:
                self._shed(pool_id, outcome.deallocation)
            self.allocator.kick(pool_id)

    # -- helpers ---------------------------------------------------------------------------
    def _shed(self, pool_id: str, option: str) -> None:
        assert self.shed is not None
        shed_busy_nodes(self.shed, self.store, pool_id, option)

    def _sample(self, pool: Record) -> None:
        self.histories.record(pool.doc["id"], wire.utcnow(),
                              metrics.sample(self.store, pool, None))

    def _run(self, pool: Record, formula: str) -> tuple[Json, Outcome | None]:
        now = wire.utcnow()
        snapshot = Snapshot(int(pool.doc.get("targetDedicatedNodes", 0)),
                            int(pool.doc.get("targetLowPriorityNodes", 0)),
                            metrics.counts(self.store, pool),
                            self.histories.metrics(pool.doc["id"], now), now)
        stamp = wire.format_datetime(now)
        try:
            outcome = evaluate(formula, snapshot)
        except FormulaError as exc:
            return {"timestamp": stamp, "error": run_error(exc)}, None
        return {"timestamp": stamp, "results": outcome.results}, outcome

    def _apply(self, pool_id: str, run: Json, outcome: Outcome | None, next_at: float) -> bool:
        """Store the run; set new targets when it succeeded. Whether a resize started."""
        resize: list[bool] = []

        def apply(record: Record) -> None:
            record.doc["autoScaleRun"] = run
            record.private["autoscale_next"] = next_at
            if outcome is not None and record.doc.get("enableAutoScale"):
                # Kick also when the pool is off its unchanged targets: nodes that were
                # busy at the last shrink may be idle now.
                resize.append(self._retarget(record, outcome) or _off_target(record))

        try:
            self.store.mutate(POOL, "", pool_id, apply)
        except RecordMissing:
            return False
        return any(resize)

    def _retarget(self, record: Record, outcome: Outcome) -> bool:
        doc = record.doc
        if (doc["targetDedicatedNodes"], doc["targetLowPriorityNodes"]) == (
                outcome.dedicated, outcome.low_priority):
            return False
        more = (outcome.dedicated + outcome.low_priority
                - doc["currentDedicatedNodes"] - doc["currentLowPriorityNodes"])
        try:
            if outcome.dedicated + outcome.low_priority > MAX_NODES_PER_POOL:
                raise requests.bad_value("targetDedicatedNodes", outcome.dedicated,
                                         f"a local pool holds at most {MAX_NODES_PER_POOL} nodes")
            self.capacity(more)
        except BatchError as exc:
            doc["resizeErrors"] = [{"code": "AllocationFailed", "message": exc.detail,
                                    "values": [{"name": k, "value": v} for k, v in exc.values]}]
            return False
        doc["targetDedicatedNodes"] = outcome.dedicated
        doc["targetLowPriorityNodes"] = outcome.low_priority
        doc.pop("resizeErrors", None)
        record.private.pop("resize_stopped", None)
        docs.set_allocation_state(doc, AllocationState.RESIZING)
        return True

    def _pool(self, pool_id: str) -> Record:
        return POOLS.get(self.store, "", pool_id)


def _limit_enables(record: Record) -> None:
    now = time.time()
    last = record.private.get("autoscale_enabled_at", 0.0)
    if now - last < ENABLE_SPACING_SECONDS:
        raise BatchError(503, "TooManyEnableAutoScaleRequests",
                         "Too many Enable Pool AutoScale requests are issued on the pool.",
                         [("Reason", f"enable autoscale on a pool at most once every "
                                     f"{ENABLE_SPACING_SECONDS:.0f} seconds; the last was "
                                     f"{now - last:.0f} seconds ago")])
    record.private["autoscale_enabled_at"] = now


def _off_target(record: Record) -> bool:
    doc = record.doc
    return not record.private.get("resize_stopped") and (
        doc["currentDedicatedNodes"] != doc["targetDedicatedNodes"]
        or doc["currentLowPriorityNodes"] != doc["targetLowPriorityNodes"])


def _refuse_deleting(record: Record) -> None:
    if record.doc.get("state") == PoolState.DELETING:
        raise pool_being_deleted()
