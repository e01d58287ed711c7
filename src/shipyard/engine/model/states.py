"""The states and results of pools, nodes, jobs, schedules and tasks, as the service spells them.

Each is a ``StrEnum`` whose values are the wire values of the Batch REST API (the SDK's
``azure.batch.models`` enums of the same name, less the ``Batch`` prefix;
``tests/unit/test_states.py`` holds them to it). A member is a ``str``: it compares equal
to its value, hashes like it, goes into SQLite and JSON as it, so documents keep their
wire form whether they hold members or the strings read back from the store.

The sets below name the groups the engine's rules are written in (a task that holds
nodes, a job that takes no more tasks, a node that runs commands); a rule of one
operation alone (which nodes a reboot accepts) stays beside that operation.
"""

from __future__ import annotations

from enum import StrEnum


class PoolState(StrEnum):
    """A pool's ``state``."""

    ACTIVE = "active"
    """The pool can run tasks, subject to its nodes."""
    DELETING = "deleting"
    """A delete was asked for; the pool goes when its nodes have."""


class AllocationState(StrEnum):
    """A pool's ``allocationState``."""

    STEADY = "steady"
    """No change of the pool's node count is under way."""
    RESIZING = "resizing"
    """Nodes are being added to or removed from the pool."""
    STOPPING = "stopping"
    """A stop of the resize was asked for and is not yet done."""


class NodeState(StrEnum):
    """A compute node's ``state``."""

    IDLE = "idle"
    """Up, running no task."""
    REBOOTING = "rebooting"
    """Being rebooted."""
    REIMAGING = "reimaging"
    """Being reimaged."""
    RUNNING = "running"
    """Up, running one or more tasks."""
    UNUSABLE = "unusable"
    """Cannot run tasks because of errors (the node's ``errors`` say which)."""
    CREATING = "creating"
    """Allocated, not yet joining the pool."""
    STARTING = "starting"
    """Its agent is starting."""
    WAITING_FOR_START_TASK = "waitingforstarttask"
    """The start task runs and ``waitForSuccess`` holds tasks back until it ends."""
    START_TASK_FAILED = "starttaskfailed"
    """The start task failed (retries spent) and ``waitForSuccess`` was set."""
    UNKNOWN = "unknown"
    """Contact with the node is lost."""
    LEAVING_POOL = "leavingpool"
    """Being removed from the pool."""
    OFFLINE = "offline"
    """Up, running no task, scheduling disabled."""
    PREEMPTED = "preempted"
    """A spot node taken back (never, locally)."""
    UPGRADING_OS = "upgradingos"
    """Its OS is being upgraded (never, locally)."""
    DEALLOCATED = "deallocated"
    """Stopped, its disk kept."""
    DEALLOCATING = "deallocating"
    """Being deallocated."""


class SchedulingState(StrEnum):
    """A node's ``schedulingState``."""

    ENABLED = "enabled"
    """New tasks may be placed on the node."""
    DISABLED = "disabled"
    """No new task is placed on the node; running ones go on."""


class JobState(StrEnum):
    """A job's ``state``."""

    ACTIVE = "active"
    """Tasks are scheduled."""
    DISABLING = "disabling"
    """A disable waits for running tasks."""
    DISABLED = "disabled"
    """No task runs or is scheduled."""
    ENABLING = "enabling"
    """An enable is under way."""
    TERMINATING = "terminating"
    """Ending: tasks are stopped and release tasks run."""
    COMPLETED = "completed"
    """Ended; takes no more tasks or changes."""
    DELETING = "deleting"
    """Going away with its tasks."""


class JobScheduleState(StrEnum):
    """A job schedule's ``state``."""

    ACTIVE = "active"
    """Makes jobs by its schedule."""
    COMPLETED = "completed"
    """Ended: past its end, after its only run, or terminated."""
    DISABLED = "disabled"
    """Makes no new job; a running one goes on."""
    TERMINATING = "terminating"
    """Ending its jobs, then completes."""
    DELETING = "deleting"
    """Deleting its jobs, then goes."""


class TaskState(StrEnum):
    """A task's ``state``."""

    ACTIVE = "active"
    """Queued: waiting for nodes (new, retried, requeued or reactivated)."""
    PREPARING = "preparing"
    """Given its nodes, waiting for the job preparation task there."""
    RUNNING = "running"
    """Running on its node(s), uploads of its output files included."""
    COMPLETED = "completed"
    """Ended for good: succeeded, failed past its retries, or terminated."""


class SubtaskState(StrEnum):
    """The ``state`` of one subtask (a non-primary instance of a multi-instance task)."""

    PREPARING = "preparing"
    """Waiting for the job preparation task on its node."""
    RUNNING = "running"
    """Running, or done and waiting for the primary to end the task."""
    COMPLETED = "completed"
    """Ended."""


class TaskResult(StrEnum):
    """``executionInfo.result`` of a task, subtask, start, preparation or release task
    (the SDK's ``BatchTaskExecutionResult``)."""

    SUCCESS = "success"
    """Exit code 0 and no failure."""
    FAILURE = "failure"
    """A failure before, while or after the process ran (``failureInfo`` says which)."""


class StartTaskState(StrEnum):
    """``startTaskInfo.state`` of a node."""

    RUNNING = "running"
    """The start task runs (retries included)."""
    COMPLETED = "completed"
    """The start task ended, with any result."""


class PrepReleaseState(StrEnum):
    """The ``state`` of a job preparation or release task on one node (the SDK's
    ``BatchJobPreparationTaskState`` and ``BatchJobReleaseTaskState``: the same values)."""

    RUNNING = "running"
    """It runs (retries included)."""
    COMPLETED = "completed"
    """It ended, with any result."""


class DependencyAction(StrEnum):
    """What a task's end means for the tasks that depend on it (``exitOptions``)."""

    SATISFY = "satisfy"
    """Dependent tasks may run."""
    BLOCK = "block"
    """Dependent tasks never run."""


class ErrorCategory(StrEnum):
    """``failureInfo.category``: whose fault a failure was."""

    USER_ERROR = "usererror"
    """The task's own (its command, its files, its settings)."""
    SERVER_ERROR = "servererror"
    """The service's or a node's (the task is requeued)."""


#: Tasks that hold nodes: placed and not yet ended.
TASK_LIVE: frozenset[TaskState] = frozenset({TaskState.PREPARING, TaskState.RUNNING})
#: Tasks that may still run: queued or live.
TASK_OPEN: frozenset[TaskState] = TASK_LIVE | {TaskState.ACTIVE}
TASK_TERMINAL: frozenset[TaskState] = frozenset({TaskState.COMPLETED})

JOB_TERMINAL: frozenset[JobState] = frozenset({JobState.COMPLETED})
#: Jobs on their way to an end: their tasks are being stopped.
JOB_ENDING: frozenset[JobState] = frozenset({JobState.TERMINATING, JobState.DELETING})
#: Jobs that take no new tasks and no changes: ended or ending.
JOB_CLOSED: frozenset[JobState] = JOB_TERMINAL | JOB_ENDING
#: Jobs neither ended nor ending (their tasks run unless the job is disabled).
JOB_OPEN: frozenset[JobState] = frozenset(JobState) - JOB_CLOSED

SCHEDULE_TERMINAL: frozenset[JobScheduleState] = frozenset({JobScheduleState.COMPLETED})
#: Schedules that take no changes: ended or ending.
SCHEDULE_CLOSED: frozenset[JobScheduleState] = SCHEDULE_TERMINAL | {
    JobScheduleState.TERMINATING, JobScheduleState.DELETING}

#: Nodes that are up and run commands (offline: up, with scheduling disabled).
NODE_UP: frozenset[NodeState] = frozenset({NodeState.IDLE, NodeState.RUNNING,
                                           NodeState.OFFLINE})
#: Nodes new tasks may be placed on (when their scheduling is enabled).
NODE_SCHEDULABLE: frozenset[NodeState] = frozenset({NodeState.IDLE, NodeState.RUNNING})
#: Nodes that hold no task and may go when a resize shrinks the pool.
NODE_REMOVABLE: frozenset[NodeState] = frozenset({
    NodeState.IDLE, NodeState.UNUSABLE, NodeState.START_TASK_FAILED, NodeState.CREATING,
    NodeState.STARTING, NodeState.WAITING_FOR_START_TASK, NodeState.UNKNOWN,
    NodeState.OFFLINE, NodeState.DEALLOCATED})
