"""``auto_scratch: {setup: block}``: the job's scratch space exists before its tasks are added.

Batch Shipyard's client adds the setup task, waits until it completes and fails the
submission if it failed; only then are the job's tasks added (which also depend on it,
see ``factory/scratch.py``). ``setup: dependency`` adds everything at once.
"""

from __future__ import annotations

from azure.batch import BatchClient, models

from shipyard.batch import waiting
from shipyard.cli.app import console
from shipyard.config import JobSpec
from shipyard.errors import ShipyardError

#: How long the setup task may take before the submission gives up.
SETUP_TIMEOUT = 900.0


def add_setup_first(client: BatchClient, job: JobSpec,
                    tasks: list[models.BatchTaskCreateOptions]
                    ) -> list[models.BatchTaskCreateOptions]:
    """With ``setup: block``, add and await the setup task; the tasks still to add."""
    scratch = job.auto_scratch
    if scratch is None or scratch.setup != "block" or not tasks or tasks[0].id != scratch.task_id:
        return tasks
    client.create_task(job.id, tasks[0])

    def completed() -> models.BatchTask | None:
        task = client.get_task(job.id, scratch.task_id)
        return task if task.state == "completed" else None

    with console.status(f"setting up the auto scratch space of job {job.id}"):
        done = waiting.poll(f"auto scratch setup task {scratch.task_id}", completed,
                            SETUP_TIMEOUT)
    info = done.execution_info
    if info is None or info.result != "success":
        code = info.exit_code if info is not None else None
        raise ShipyardError(f"auto scratch setup failed for job {job.id} (task "
                            f"{scratch.task_id}, exit code {code})",
                            hint=f"see its stderr.txt: shipyard data files get --filespec "
                                 f"{job.id},{scratch.task_id},stderr.txt")
    return tasks[1:]
