"""Output-file uploads between a task's exit and its completion, off the scheduler's lock.

On the service a task whose process exited stays ``running`` while the node agent uploads
its ``outputFiles``, then completes: with the process's result, or failed with a
``FileUpload*`` failureInfo when an upload failed. The scheduler asks ``settle`` each tick
with the outcome its exit files gave; the first ask starts the upload on a worker thread
(a 100 MB file must not hold the lock every API call takes) and answers None until it is
done. A restarted engine simply asks again and uploads again: blobs are overwritten, so an
upload cut short by a crash is redone rather than lost.

The node agent's two upload logs, ``fileuploadout.txt`` and ``fileuploaderr.txt``, are
written beside ``stdout.txt`` in the task directory, as on a real node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from shipyard.engine.agent import runs
from shipyard.engine.agent.execution import Node
from shipyard.engine.agent.runs import Outcome
from shipyard.engine.agent.taskrun import Instance
from shipyard.engine.model.states import ErrorCategory
from shipyard.engine.storage import transfers
from shipyard.errors import StorageError

log = logging.getLogger(__name__)

WORKERS = 4
Key = tuple[str, str, str]
NodeLookup = Callable[[str, str], Node | None]


class Uploads:
    """The engine's output-file uploads in flight, by task run."""

    def __init__(self, done: Callable[[], None]) -> None:
        self._done = done  # wakes the scheduler the moment an upload ends
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="upload")
        self._runs: dict[Key, Future[Outcome]] = {}
        self._lock = threading.Lock()

    def settle(self, job_id: str, task: dict[str, Any], instances: list[Instance],
               outcome: Outcome | None, lookup: NodeLookup) -> Outcome | None:
        """The outcome to complete the task with, or None while it runs or uploads."""
        if outcome is None or not task.get("outputFiles") or outcome.exit_code is None \
                or outcome.requeue or not instances:
            return outcome
        key = (job_id, task["id"], instances[0].start)
        with self._lock:
            running = self._runs.get(key)
            if running is None:
                node = lookup(instances[0].pool_id, instances[0].node_id)
                if node is None:
                    return outcome
                future = self._pool.submit(_upload, node, job_id, task, instances[0], outcome)
                future.add_done_callback(lambda _: self._done())
                self._runs[key] = future
                return None
            if not running.done():
                return None
            del self._runs[key]
        return running.result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _upload(node: Node, job_id: str, task: dict[str, Any], primary: Instance,
            outcome: Outcome) -> Outcome:
    directory = runs.task_dir(job_id, task["id"])
    out = _Log(node.host_path(directory))
    code = outcome.exit_code if outcome.exit_code is not None else -1
    started = time.monotonic()
    try:
        count = transfers.upload_output_files(task["outputFiles"], code, directory / "wd",
                                              primary.env, node.host_path,
                                              out.say)
    except StorageError as exc:
        out.fail(f"{exc.code}: {exc.message} {dict(exc.details)}")
        return replace(outcome, failure_code=exc.code, message=exc.message, retry=False,
                       details=tuple(exc.details))
    except Exception as exc:  # a fault of ours must not leave the task running forever
        log.exception("output upload of %s/%s failed", job_id, task["id"])
        out.fail(f"FileUploadMiscError: {exc}")
        return replace(outcome, failure_code="FileUploadMiscError", retry=False,
                       message=f"Miscellaneous error encountered while uploading: {exc}",
                       category=ErrorCategory.SERVER_ERROR)
    out.say(f"uploaded {count} file(s) in {time.monotonic() - started:.3f} s")
    return outcome


class _Log:
    """The agent's upload logs in one task directory (host side)."""

    def __init__(self, task_dir: Path) -> None:
        self.out = task_dir / "fileuploadout.txt"
        self.err = task_dir / "fileuploaderr.txt"
        self.err.touch()

    def say(self, line: str) -> None:
        with open(self.out, "a") as handle:
            handle.write(line + "\n")

    def fail(self, line: str) -> None:
        with open(self.err, "a") as handle:
            handle.write(line + "\n")

