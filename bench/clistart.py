"""CLI start: how long the ``shipyard`` process takes before its requests reach the service.

Measured from outside, as a user pays it. The harness notes the monotonic clock just
before it spawns the CLI (fork and exec included) and a timestamping proxy in front of the
benchmark's engine notes when each request's first bytes arrive, together with the CPU the
CLI process had used by then (``/proc/<pid>/stat``; 10 ms ticks). The CLI finds the proxy
the way it finds any local engine: through ``engine.json`` in its data dir, here a copy of
the engine's own with the proxy's URL (the engine's pid is real, so ``read_state`` accepts
it). Nothing else of the CLI's path changes: same config, same requests, same engine.

Per ``jobs add --tail`` run: the first request (the engine probe of ``control.start``), the
first request of the command itself (``GET /pools/<id>``), the task-create request, the
exit, and the exit's lag behind the task's ``endTime`` (the engine's wall clock).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from azure.batch import BatchClient

from bench import mi
from bench.harness import BenchEngine, free_port
from bench.stats import Figure, Stat, Target

log = logging.getLogger("bench")

#: Request lines start with one of these; a chunk that does not is a body or a header tail.
METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ")
TICK = os.sysconf("SC_CLK_TCK")
#: The request lines that mark the SDK's first request and the task's creation.
SDK_FIRST = "GET /pools/"
CREATE = "POST /jobs/"  # .../addtaskcollection: the only POST under a job before it


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass(frozen=True)
class Arrival:
    """One request as the proxy saw it arrive."""

    at: float  # time.monotonic()
    line: str  # "GET /pools/mi?api-version=..."
    cpu: float  # the watched process's CPU seconds at that moment


@dataclass
class Proxy:
    """A TCP proxy on 127.0.0.1 that notes each request's arrival; use as a context manager.

    Requests are told apart by a chunk from the client starting with an HTTP method, which
    holds for the SDK and urllib (headers and JSON bodies go in separate writes).
    """

    upstream: tuple[str, int]
    port: int = field(default_factory=free_port)
    watched: int = 0  # the pid whose CPU each arrival records
    arrivals: list[Arrival] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Proxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()

    def take(self) -> list[Arrival]:
        """The arrivals so far, emptied for the next run."""
        with self._lock:
            found, self.arrivals = self.arrivals, []
        return found

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.upstream)
            for args in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if requests and chunk.startswith(METHODS):
                    self._note(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _note(self, chunk: bytes) -> None:
        at = time.monotonic()
        line = chunk.split(b"\r\n", 1)[0].decode(errors="replace")
        with self._lock:
            self.arrivals.append(Arrival(at, line, cpu_seconds(self.watched)))


def view_dir(engine_dir: Path, proxy_url: str, dest: Path) -> Path:
    """A data dir whose ``engine.json`` is the engine's, but with the proxy's URL."""
    state = json.loads((engine_dir / "engine.json").read_text())
    state["url"] = proxy_url
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = dest / "engine.json"
    path.write_text(json.dumps(state))
    path.chmod(0o600)
    return dest


@dataclass(frozen=True)
class Exit:
    """A finished CLI process: its start, its end, its CPU, what it printed."""

    started: float  # time.monotonic() just before the spawn
    started_wall: float  # time.time() at the same moment
    ended: float
    cpu: float
    code: int
    output: str

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, proxy: Proxy | None = None,
            timeout: float = 600) -> Exit:
    """Spawn ``argv``, wait for it, and time it from just before the spawn to its reaping."""
    with tempfile.TemporaryFile() as out:
        wall, started = time.time(), time.monotonic()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if proxy is not None:
            proxy.watched = process.pid
        status, usage = _reap(process, timeout)
        ended = time.monotonic()
        out.seek(0)
        output = out.read().decode(errors="replace")
    return Exit(started, wall, ended, usage.ru_utime + usage.ru_stime,
                os.waitstatus_to_exitcode(status), output)


def _reap(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, resource.struct_rusage]:
    """wait4 (for the child's own CPU), bounded: a timer kills the child past ``timeout``."""
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return status, usage


@dataclass(frozen=True)
class AddRun:
    """One ``jobs add --tail``: its process and the arrivals that mark its timeline."""

    exit: Exit
    arrivals: list[Arrival]
    #: CLI exit minus the task's endTime (the engine's wall clock, the same machine's).
    end_lag: float

    def first(self, prefix: str = "") -> Arrival:
        """The first request whose line starts with ``prefix`` (any request if empty)."""
        for arrival in self.arrivals:
            if arrival.line.startswith(prefix):
                return arrival
        raise LookupError(f"no request {prefix!r} among {[a.line for a in self.arrivals]}")

    def since_start(self, prefix: str = "") -> float:
        return self.first(prefix).at - self.exit.started


def jobs_add(config: Path, view: Path, proxy: Proxy, client: BatchClient, job_id: str,
             instances: int, command: str) -> AddRun:
    """``shipyard jobs add --tail stdout.txt`` through the proxy; its timeline."""
    mi.write_job(config, job_id, instances, command)
    env = {**os.environ, "SHIPYARD_DATA_DIR": str(view), "NO_COLOR": "1", "COLUMNS": "200"}
    proxy.take()
    done = run_cli([str(mi.SHIPYARD), "--configdir", str(config), "jobs", "add", "--tail",
                    "stdout.txt"], env, view, proxy)
    arrivals = proxy.take()
    if done.code != 0:
        raise RuntimeError(f"jobs add exited {done.code}:\n{done.output[-1500:]}")
    (task,) = list(client.list_tasks(job_id))
    info = task.execution_info
    if info is None or info.end_time is None:
        raise RuntimeError(f"task of job {job_id} has not completed: {task.state}")
    exit_wall = done.started_wall + done.seconds
    return AddRun(done, arrivals, exit_wall - info.end_time.timestamp())


def help_run(view: Path) -> Exit:
    """``shipyard --help`` to its exit."""
    env = {**os.environ, "SHIPYARD_DATA_DIR": str(view), "NO_COLOR": "1", "COLUMNS": "200"}
    done = run_cli([str(mi.SHIPYARD), "--help"], env, view)
    if done.code != 0 or "Usage:" not in done.output:
        raise RuntimeError(f"shipyard --help exited {done.code}:\n{done.output[-800:]}")
    return done


def figures(eng: BenchEngine, config: Path, reps: int, command: str) -> list[Figure]:
    """The CLI-start figures: ``--help``, and ``jobs add --tail``'s timeline at the engine.

    ``config`` is a config dir of the engine's 4-node MPI pool (``mi.write_config``).
    """
    host, port = eng.settings.host, eng.settings.port
    bare: list[float] = []
    helps: list[Exit] = []
    runs: list[AddRun] = []
    with Proxy((host, port)) as proxy:
        view = view_dir(eng.data_dir, proxy.url, eng.data_dir / "view-cli")
        for rep in range(reps):
            log.info("cli start rep %d", rep)
            bare.append(run_cli([sys.executable, "-c", "pass"], dict(os.environ), view).seconds)
            helps.append(help_run(view))
            runs.append(jobs_add(config, view, proxy, eng.batch, f"cli-{rep}", 4, command))
    return _figures(bare, helps, runs)


def _figures(bare: list[float], helps: list[Exit], runs: list[AddRun]) -> list[Figure]:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    probe = [r.since_start() for r in runs]
    sdk = [r.since_start(SDK_FIRST) for r in runs]
    create = [r.since_start(CREATE) for r in runs]
    return [
        Figure("cli_help_s", "shipyard --help, exec to exit", "s",
               Stat.of([h.seconds for h in helps]), target=Target("<=", 0.15),
               note=f"CPU {med([h.cpu for h in helps]):.3f} s; the interpreter alone "
                    f"(`python -c pass`) {med(bare):.3f} s"),
        Figure("cli_first_request_s", "jobs add: exec to its first request at the engine",
               "s", Stat.of(probe), target=Target("<=", 0.15),
               note="through a timestamping proxy (bench/clistart.py); the first request is "
                    "the engine probe of `control.start`, after the config is loaded; CPU "
                    f"then {med([r.first().cpu for r in runs]):.2f} s. The SDK's first "
                    f"request (`GET /pools/mi`) at {med(sdk):.3f} s (CPU "
                    f"{med([r.first(SDK_FIRST).cpu for r in runs]):.2f} s), the task's "
                    f"creation (`addtaskcollection`) at {med(create):.3f} s, "
                    f"{med([len(r.arrivals) for r in runs]):.0f} requests in all",
               extra={"get_pool_s": med(sdk), "task_create_s": med(create)}),
        Figure("cli_task_created_s", "jobs add: exec to the task-create request", "s",
               Stat.of(create), note="the same runs; what `mi_overhead_ratio` pays before "
                                     "the engine has a task to run"),
        Figure("cli_exit_after_end_s", "jobs add --tail: task end to CLI exit", "s",
               Stat.of([r.end_lag for r in runs]),
               note="the same runs: the CLI's exit minus the task's endTime (engine clock)"),
    ]
