"""Small helpers shared by the job, task, scheduling and multi-instance contract tests.

Everything goes through the azure-batch SDK. Bodies are written with wire names and
wrapped in the SDK's own models, which sidesteps the attribute-name traps
(``onAllTasksComplete`` is ``all_tasks_complete_mode`` in Python, and so on).
"""

from __future__ import annotations

import http.server
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any
from urllib.parse import quote

from azure.batch import BatchClient, models
from azure.batch.models import _models  # BatchJobTerminateOptions is not exported
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from tests.realengine import (
    answers_404,
    delete_and_wait,
    delete_pool,
    pool_options,
    wait_for,
    wait_nodes,
)

NODE_ROOT = "/mnt/batch/tasks"
#: Environment values that break naive quoting: each must arrive exactly as written.
HOSTILE = {
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "DOLLAR": "$HOME ${PATH} $(id -u)",
    "BACKTICK": "`id -u`",
    "SPACES": "  two  spaces  ",
    "NEWLINES": "line one\nline two\n",
    "UNICODE": "héllo ✓ 日本",
    "EMPTYISH": " ",
}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def bash(script: str) -> str:
    """A command line that runs ``script`` under bash (the service itself runs no shell)."""
    return "/bin/bash -c " + shlex.quote(script)


def error_of(call: Callable[[], Any]) -> HttpResponseError:
    try:
        call()
    except HttpResponseError as exc:
        return exc
    raise AssertionError("the call succeeded")


def details(exc: HttpResponseError) -> dict[str, str]:
    return {d.code: d.message for d in (exc.error.details or [])} if exc.error else {}


def task_dir(job_id: str, task_id: str) -> str:
    """A task's directory relative to the node root, as node files and nodeInfo name it."""
    return f"workitems/{job_id}/job-1/{task_id}"


# ---- jobs ---------------------------------------------------------------------------------

def create_job(client: BatchClient, pool_id: str, job_id: str | None = None,
               **extra: Any) -> str:
    """A job on ``pool_id`` that does not end by itself (a zero-task job counts as complete)."""
    job_id = job_id or uid("job")
    body: dict[str, Any] = {"id": job_id, "poolInfo": {"poolId": pool_id},
                            "onAllTasksComplete": "noaction", **extra}
    client.create_job(models.BatchJobCreateOptions(body))
    return job_id


def delete_job(client: BatchClient, job_id: str, timeout: float = 90.0) -> None:
    """Delete a job, tolerating one already gone or being deleted, and wait for its 404."""
    delete_and_wait(f"job {job_id}", partial(client.begin_delete_job, job_id,
                                             polling_interval=0.5),
                    partial(client.get_job, job_id), "JobBeingDeleted", timeout)


def job_gone(client: BatchClient, job_id: str) -> bool:
    return answers_404(partial(client.get_job, job_id))


@contextmanager
def job(client: BatchClient, pool_id: str, **extra: Any) -> Iterator[str]:
    """A job that is deleted (and waited for) however the test ends."""
    job_id = create_job(client, pool_id, **extra)
    try:
        yield job_id
    finally:
        delete_job(client, job_id)


def terminate_job(client: BatchClient, job_id: str, reason: str | None = None) -> None:
    """Terminate a job, with the service's default reason unless ``reason`` is given.

    SDK 15.1 cannot send a terminate without a body: ``begin_terminate_job`` without
    options (or with empty ones) drops the Content-Type and fails before sending. So the
    reason-less call goes out as the SDK's own signed request, without a body.
    """
    if reason is not None:
        client.begin_terminate_job(job_id, _models.BatchJobTerminateOptions(
            termination_reason=reason), polling_interval=0.5)
        return
    request = HttpRequest("POST", f"/jobs/{quote(job_id, safe='')}/terminate"
                          "?api-version=2025-06-01")
    response = client.send_request(request)
    if response.status_code != 202:
        raise HttpResponseError(response=response)


def set_terminate_when_done(client: BatchClient, job_id: str) -> None:
    client.update_job(job_id, models.BatchJobUpdateOptions({"onAllTasksComplete":
                                                            "terminatejob"}))


def wait_job(client: BatchClient, job_id: str, state: str = "completed",
             timeout: float = 60.0) -> models.BatchJob:
    def reached() -> models.BatchJob | None:
        current = client.get_job(job_id)
        return current if current.state == state else None

    return wait_for(f"job {job_id} {state}", reached, timeout)


# ---- tasks --------------------------------------------------------------------------------

def task_body(task_id: str, command: str, **extra: Any) -> models.BatchTaskCreateOptions:
    return models.BatchTaskCreateOptions({"id": task_id, "commandLine": command, **extra})


def add_task(client: BatchClient, job_id: str, task_id: str, command: str,
             **extra: Any) -> str:
    client.create_task(job_id, task_body(task_id, command, **extra))
    return task_id


def wait_task(client: BatchClient, job_id: str, task_id: str,
              states: tuple[str, ...] = ("completed",), timeout: float = 60.0
              ) -> models.BatchTask:
    def reached() -> models.BatchTask | None:
        task = client.get_task(job_id, task_id)
        return task if task.state in states else None

    return wait_for(f"task {job_id}/{task_id} in {states}", reached, timeout, 0.25)


def holds_for(what: str, check: Callable[[], Any], seconds: float,
              interval: float = 0.5) -> None:
    """Poll ``check`` for ``seconds``; fail as soon as it does not hold."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        assert value, f"{what} stopped holding: {value!r}"
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def task_file(client: BatchClient, job_id: str, task_id: str, path: str) -> bytes:
    return b"".join(client.download_task_file(job_id, task_id, path))


def task_pid(client: BatchClient, job_id: str, task_id: str, timeout: float = 60.0) -> int:
    """The pid a running task wrote to ``wd/pid`` as its first act (``echo $$ > pid``)."""
    def read() -> int | None:
        with suppress(ResourceNotFoundError):
            text = task_file(client, job_id, task_id, "wd/pid").strip()
            return int(text) if text else None
        return None

    return int(wait_for(f"{task_id}'s pid file", read, timeout, 0.25))


def node_file(client: BatchClient, pool_id: str, node_id: str, path: str) -> bytes | None:
    """A node file's bytes, or None when it does not exist."""
    try:
        return b"".join(client.download_node_file(pool_id, node_id, path))
    except ResourceNotFoundError:
        return None


def wait_node_file(client: BatchClient, pool_id: str, node_id: str, path: str,
                   timeout: float = 30.0) -> bytes:
    return wait_for(f"{path} on {node_id}",
                    lambda: node_file(client, pool_id, node_id, path), timeout, 0.25)


def parse_env(data: bytes) -> dict[str, str]:
    """The output of ``env -0``: exact values, newlines included."""
    pairs = (item.split("=", 1) for item in data.decode().split("\0") if "=" in item)
    return {name: value for name, value in pairs}


def node_ips(client: BatchClient, pool_id: str) -> dict[str, str]:
    return {n.id: n.ip_address for n in client.list_nodes(pool_id)}


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # A zombie has ended already; only its parent has not reaped it yet.
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def release_runs(client: BatchClient, pool_id: str, name: str) -> dict[str, int]:
    """How many lines ``shared/<name>`` holds on each node of the pool (0 when absent)."""
    counts = {}
    for node_id in node_ips(client, pool_id):
        data = node_file(client, pool_id, node_id, f"shared/{name}")
        counts[node_id] = len(data.splitlines()) if data else 0
    return counts


def append_line(name: str, sleep_first: int = 0) -> str:
    """A command that appends the node id to ``$AZ_BATCH_NODE_SHARED_DIR/<name>`` (after
    sleeping ``sleep_first`` seconds)."""
    wait = f"sleep {sleep_first}; " if sleep_first else ""
    return bash(f'{wait}echo "$AZ_BATCH_NODE_ID" >> "$AZ_BATCH_NODE_SHARED_DIR/{name}"')


@contextmanager
def release_counting_job(client: BatchClient, pool_id: str, prefix: str,
                         sleep_first: int = 0) -> Iterator[tuple[str, str]]:
    """A job whose release task appends its node's id to ``shared/release-<job id>.txt``
    (``release_runs`` counts the lines), deleted however the test ends: (job id, file)."""
    job_id = uid(prefix)
    release = f"release-{job_id}.txt"
    with job(client, pool_id, job_id=job_id,
             jobReleaseTask={"commandLine": append_line(release, sleep_first)}):
        yield job_id, release


# ---- pools and files ----------------------------------------------------------------------

@contextmanager
def small_pool(client: BatchClient, nodes: int, **extra: Any) -> Iterator[str]:
    """A pool of ``nodes`` idle nodes without a start task, deleted however the test ends."""
    pool_id = uid("jp")
    client.create_pool(pool_options(pool_id, nodes, command=None, **extra))
    try:
        if nodes:
            wait_nodes(client, pool_id, nodes, timeout=90)
        yield pool_id
    finally:
        delete_pool(client, pool_id)


@contextmanager
def serve_files(files: dict[str, bytes]) -> Iterator[str]:
    """A throwaway HTTP server on 127.0.0.1 serving ``files``; yields its base URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            body = files.get(name)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        with suppress(RuntimeError):
            thread.join(5)
