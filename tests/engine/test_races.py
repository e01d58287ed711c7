"""Races with the process table and the file system never escape a scheduler pass.

A process may end between opening ``/proc/<pid>/stat`` and reading it (ESRCH, raised as
ProcessLookupError), a file may vanish or refuse a read while the scheduler looks. The
first tests churn the real process table under the readers; the last one runs a real
engine with a real node in this process and injects such errors into every exit check
of its scheduler passes: every task must still end with its true exit code, and no pass
may fail.
"""

from __future__ import annotations

import builtins
import errno
import logging
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.engine.agent import execution
from shipyard.engine.allocation.allocator import NODE, POOL
from shipyard.engine.nodes import launching, procs
from shipyard.engine.scheduling.jobflow import JOB, TASK
from shipyard.engine.server import Engine
from shipyard.engine.settings import EngineSettings
from tests.contract.conftest import free_port, leftovers, wait_for

_real_open = builtins.open
_real_read_text = Path.read_text


def _churn(stop: threading.Event, pids: list[int]) -> None:
    """Start and reap short-lived processes until ``stop``; their pids go to ``pids``."""
    while not stop.is_set():
        child = subprocess.Popen(["/bin/true"])
        pids.append(child.pid)
        child.wait()


def test_readers_of_the_process_table_survive_processes_ending_under_them() -> None:
    stop, pids = threading.Event(), [0]
    churner = threading.Thread(target=_churn, args=(stop, pids), daemon=True)
    churner.start()
    deadline = time.monotonic() + 3
    looked = 0
    try:
        while time.monotonic() < deadline:
            pid = pids[-1]
            execution.pid_alive(pid)
            procs.proc_stat(pid)
            procs.cmdline(pid)
            procs.gone(pid)
            procs.descendants({pid})
            looked += 1
    finally:
        stop.set()
        churner.join(5)
    assert looked > 100 and len(pids) > 50


class _RacyHandle:
    """A /proc file that was opened while its process lived and is read after it ended."""

    def __enter__(self) -> _RacyHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self, *args: object) -> str:
        raise ProcessLookupError(errno.ESRCH, "No such process")


def _racy_open(path: Any, *args: Any, **kwargs: Any) -> Any:
    if str(path).startswith("/proc/"):
        return _RacyHandle()
    return _real_open(path, *args, **kwargs)


def _racy_read_text(self: Path, *args: Any, **kwargs: Any) -> str:
    if str(self).startswith("/proc/"):
        raise ProcessLookupError(errno.ESRCH, "No such process")
    return _real_read_text(self, *args, **kwargs)


def test_a_process_ending_mid_read_counts_as_gone(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setattr(execution, "open", _racy_open, raising=False)
    monkeypatch.setattr(Path, "read_text", _racy_read_text)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert execution.pid_alive(sleeper.pid) is False
        assert procs.proc_stat(sleeper.pid) is None
        exit_file = tmp_path / "exit"
        exit_file.write_text("3\n")
        # Its exit file is the truth: observe reads it after the racy look.
        assert execution.observe(execution.Launched(sleeper.pid, str(exit_file))) == (True, 3)
    finally:
        sleeper.kill()
        sleeper.wait()


# ---- a whole engine under injected races ---------------------------------------------------

class Injector:
    """Makes a share of the scheduler's looks at exit files and /proc fail, truthfully:
    a /proc read fails only for a process that has in fact ended, an exit file read
    fails with a transient error (the next pass reads again)."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.random = random.Random(14)
        self.injected = 0
        self._read_exit = launching.read_exit

    def read_exit(self, exit_file: Path) -> int | None:
        if self.random.random() < self.share:
            self.injected += 1
            raise self.random.choice([PermissionError(errno.EACCES, "injected"),
                                      OSError(errno.EIO, "injected"),
                                      ProcessLookupError(errno.ESRCH, "injected")])
        return self._read_exit(exit_file)

    def open(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        name = str(path)
        if name.startswith("/proc/") and name.endswith("/stat"):
            pid = int(name.split("/")[2])
            if procs.gone(pid) and self.random.random() < 0.5:
                self.injected += 1
                return _RacyHandle()
        return _real_open(path, *args, **kwargs)


@pytest.fixture
def engine() -> Iterator[Engine]:
    data_dir = Path(tempfile.mkdtemp(prefix="shyr-", dir="/var/tmp"))
    made = Engine(EngineSettings(data_dir=data_dir, port=free_port()))
    made.recover()
    slots: set[int] = set()
    try:
        yield made
    finally:
        for pool in made.store.list(POOL):
            slots.add(int(pool.private["slot"]))
            made.pools.delete(pool.doc["id"])
        wait_for("pools deleted", lambda: not made.store.list(POOL), 120)
        made.close()
        # Other engines on this machine have shy* namespaces too: only ours must be gone.
        marks = [str(data_dir), *(f"shy{s}-" for s in slots), *(f"shybr{s}" for s in slots),
                 *(f"shyv{s}-" for s in slots)]
        wait_for("nothing of the engine left", lambda: not [
            x for x in leftovers(data_dir) if any(m in x for m in marks)], 30)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.root
def test_scheduler_passes_survive_injected_races(engine: Engine,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    engine.pools.create({"id": "racy", "vmSize": "standard_d2_v3",
                         "targetDedicatedNodes": 1, "taskSlotsPerNode": 4})
    wait_for("the node idle", lambda: [n for n in engine.store.list(NODE, "racy")
                                       if n.doc["state"] == "idle"], 120)
    injector = Injector(share=0.3)
    monkeypatch.setattr(launching, "read_exit", injector.read_exit)
    monkeypatch.setattr(execution.nodes, "read_exit", injector.read_exit)
    monkeypatch.setattr(execution, "open", injector.open, raising=False)
    caplog.set_level(logging.WARNING, logger="shipyard.engine.scheduling.scheduler")
    engine.jobs.create({"id": "racy-job", "poolInfo": {"poolId": "racy"}})
    for i in range(24):
        engine.tasks.create("racy-job", {"id": f"t{i}",
                                         "commandLine": f"/bin/sh -c 'exit {i % 3}'"})

    def ended() -> list[Any]:
        tasks = [engine.store.get(TASK, "racy-job", f"t{i}") for i in range(24)]
        return tasks if all(t and t.doc["state"] == "completed" for t in tasks) else []

    tasks = wait_for("every task completed", ended, 120)
    for i, task in enumerate(tasks):
        info = task.doc["executionInfo"]
        assert info["exitCode"] == i % 3, (task.doc["id"], info)
        assert not info.get("requeueCount") and not info.get("retryCount"), info
    assert injector.injected > 10
    assert "scheduler tick failed" not in caplog.text
    assert engine.store.get(JOB, "", "racy-job") is not None
