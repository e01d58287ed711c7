"""What each dashboard page shows, as JSON-ready dicts built from SDK objects.

Every function takes the CLI's ``BatchClient`` and nothing else, so the page is the same
for an Azure account and for the local engine. Times are ISO 8601 strings; durations are
seconds, computed by ``batch.figures``.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from azure.batch import BatchClient, models

from shipyard.batch import figures, observe

Json = dict[str, Any]

#: The overview polls every job's task counts: an account with thousands of jobs would
#: cost thousands of requests per refresh, so it shows this many (the service's order).
JOBS_SHOWN = 100
#: Likewise, the job page lists the subtasks of this many multi-instance tasks.
SUBTASKS_SHOWN = 20


def when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def overview(client: BatchClient) -> Json:
    """Pools with their node grids, and jobs with their task counts."""
    jobs = list(itertools.islice(client.list_jobs(), JOBS_SHOWN + 1))
    return {"pools": [pool_summary(client, p) for p in client.list_pools()],
            "jobs": [job_summary(client, j) for j in jobs[:JOBS_SHOWN]],
            "more_jobs": len(jobs) > JOBS_SHOWN}


def pool_summary(client: BatchClient, pool: models.BatchPool) -> Json:
    nodes = list(client.list_nodes(pool.id)) if pool.id else []
    return {"id": pool.id, "state": figures.state_name(pool.state),
            "allocation_state": figures.state_name(pool.allocation_state),
            "vm_size": pool.vm_size, "target": pool.target_dedicated_nodes or 0,
            "current": pool.current_dedicated_nodes or 0,
            "counts": {k: v for k, v in figures.node_state_counts(nodes).items() if v},
            "nodes": [{"id": n.id, "state": figures.state_name(n.state)} for n in nodes]}


def job_summary(client: BatchClient, job: models.BatchJob) -> Json:
    counts = client.get_job_task_counts(job.id).task_counts
    return {"id": job.id, "state": figures.state_name(job.state),
            "pool": job.pool_info.pool_id if job.pool_info else None,
            "created": when(job.creation_time),
            "counts": {"active": counts.active, "running": counts.running,
                       "completed": counts.completed, "succeeded": counts.succeeded,
                       "failed": counts.failed}}


def pool_page(client: BatchClient, pool_id: str) -> Json:
    """A pool, its stats and every node (state, IP, running tasks, start task result)."""
    pool = client.get_pool(pool_id)
    nodes = list(client.list_nodes(pool_id))
    return {**pool_summary(client, pool), "stats": figures.pool_stats(pool, nodes),
            "nodes": [node_row(n) for n in nodes]}


def node_row(node: models.BatchNode) -> Json:
    start = node.start_task_info
    return {"id": node.id, "state": figures.state_name(node.state), "ip": node.ip_address,
            "running_tasks": node.running_tasks_count or 0,
            "tasks_run": node.total_tasks_run or 0,
            "start_task": None if start is None else {
                "state": figures.state_name(start.state), "exit_code": start.exit_code,
                "result": figures.state_name(start.result) if start.result else None,
                "seconds": figures.seconds_between(start.start_time, start.end_time)},
            "errors": [e.message or e.code for e in node.errors or []],
            "recent": [{"job": t.job_id, "task": t.task_id, "subtask": t.subtask_id,
                        "state": figures.state_name(t.task_state)}
                       for t in node.recent_tasks or []]}


def node_page(client: BatchClient, pool_id: str, node_id: str) -> Json:
    return {"pool": pool_id, **node_row(client.get_node(pool_id, node_id))}


def job_page(client: BatchClient, job_id: str) -> Json:
    """A job, its figures and every task (state, exit code, retries, durations).

    Multi-instance tasks that started carry their subtasks and nodes, for the first
    ``SUBTASKS_SHOWN`` of them (one more request each per refresh).
    """
    job = client.get_job(job_id)
    tasks = list(client.list_tasks(job_id))
    rows = [task_row(t) for t in tasks]
    started = [(row, t) for row, t in zip(rows, tasks, strict=True)
               if t.multi_instance_settings is not None and t.execution_info is not None]
    for row, task in started[:SUBTASKS_SHOWN]:
        row["subtasks"] = [subtask_row(s) for s in client.list_subtasks(job_id, task.id)]
    return {**job_summary(client, job), "stats": figures.job_stats(tasks), "tasks": rows}


def subtask_row(sub: models.BatchSubtask) -> Json:
    info = sub.node_info
    return {"instance": sub.id, "node": info.node_id if info else None,
            "pool": info.pool_id if info else None, "state": figures.state_name(sub.state),
            "exit_code": sub.exit_code, "start": when(sub.start_time),
            "end": when(sub.end_time)}


def task_row(task: models.BatchTask) -> Json:
    info = task.execution_info
    multi = task.multi_instance_settings
    return {"id": task.id, "state": figures.state_name(task.state),
            "exit_code": info.exit_code if info else None,
            "result": figures.task_result(task),
            "retries": info.retry_count if info else 0,
            "created": when(task.creation_time),
            "start": when(info.start_time if info else None),
            "end": when(info.end_time if info else None),
            "wait_seconds": figures.task_wait_seconds(task),
            "run_seconds": figures.task_run_seconds(task),
            "instances": multi.number_of_instances if multi else 1,
            "node": task.node_info.node_id if task.node_info else None,
            "pool": task.node_info.pool_id if task.node_info else None,
            "failure": info.failure_info.message if info and info.failure_info else None}


def task_page(client: BatchClient, job_id: str, task_id: str) -> Json:
    """A task with one entry per instance (the primary, then its subtasks) and their nodes."""
    task, subtasks = observe.instance_places(client, job_id, task_id)
    row = task_row(task)
    instances = [{"instance": 0, "node": row["node"], "pool": row["pool"], "state": row["state"],
                  "exit_code": row["exit_code"], "start": row["start"], "end": row["end"]}]
    instances += [subtask_row(sub) for sub in subtasks]
    return {**row, "job": job_id, "command": task.command_line,
            "multi": task.multi_instance_settings is not None, "instance_list": instances}
