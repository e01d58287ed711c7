"""The Azurite process of one engine: its blob service on loopback, data in the data dir.

Azurite is a child of the engine in the same way node daemons are: started in its own
session so a ``kill -9`` of the engine leaves it serving, found again by the next engine
through its command line (``--location`` is this engine's ``storage`` dir, so two engines
on one machine never adopt each other's), and stopped by pid with the engine. Its port is
picked free at first start (below the ephemeral range, so no outgoing connection takes it
while Azurite is down), reused by later starts and read back from the command line on
adoption, so the blob URLs a job was given stay valid across engine restarts.

Telemetry is switched off: Azurite would otherwise phone home from a machine whose
engine is meant to be self-contained.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import time
from pathlib import Path

from shipyard.engine.nodes import host, procs
from shipyard.engine.storage.link import StorageLink
from shipyard.errors import EngineError

log = logging.getLogger(__name__)

#: Where scripts/setup installs Azurite; ``SHIPYARD_AZURITE`` names another azurite-blob.
DEFAULT_BINARY = Path("/opt/shipyard/azurite/node_modules/.bin/azurite-blob")
BINARY_ENV = "SHIPYARD_AZURITE"
START_TIMEOUT = 30.0
HOST = "127.0.0.1"
#: Azurite's own default is 10000; engines of one machine spread over the next 20,000.
PORT_BASE = 10000
PORT_SPAN = 20000


def binary() -> Path:
    """The azurite-blob launcher to run, or an error saying how to get one."""
    path = Path(os.environ.get(BINARY_ENV, str(DEFAULT_BINARY)))
    if not os.access(path, os.X_OK):
        raise EngineError(f"Azurite is not installed ({path} is missing)",
                          hint="run scripts/setup, which installs it with npm")
    return path


class Azurite:
    """Start, adopt and stop the Azurite of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.location = data_dir / "storage"
        self.log_file = data_dir / "azurite.log"
        self.port_file = data_dir / "azurite.port"
        self.pid: int | None = None
        self.port: int | None = None

    @property
    def link(self) -> StorageLink:
        if self.port is None:
            raise EngineError("Azurite has not been started")
        return StorageLink.local(self.port, HOST)

    def ensure(self) -> StorageLink:
        """A serving Azurite for this data dir: the one found running, else a new one."""
        found = self.find()
        if found is not None:
            self.pid, self.port = found
            if _answers(self.port):
                log.info("adopted Azurite pid %d on port %d", self.pid, self.port)
                return self.link
            self.stop()  # alive but deaf: start over rather than hand out a dead endpoint
        return self._start()

    def find(self) -> tuple[int, int] | None:
        """(pid, port) of a live Azurite serving this data dir's location."""
        for proc in procs.all_procs():
            argv = procs.cmdline(proc.pid)
            port = _port_if_ours(argv, self.location)
            if port is not None:
                return proc.pid, port
        return None

    def stop(self) -> None:
        """End this data dir's Azurite (the adopted one or any other found); idempotent."""
        pids = {self.pid} if self.pid is not None else set()
        found = self.find()
        if found is not None:
            pids.add(found[0])
        pids = {p for p in pids if _port_if_ours(procs.cmdline(p), self.location) is not None}
        stuck = procs.terminate(pids, grace=5)
        if stuck:
            raise EngineError(f"Azurite (pids {sorted(stuck)}) would not stop")
        self.pid = None

    def _last_port(self) -> int | None:
        """The port of the previous run if it is free: URLs handed out before stay valid."""
        try:
            port = int(self.port_file.read_text())
        except (OSError, ValueError):
            return None
        return port if _bindable(port) else None

    def _start(self) -> StorageLink:
        self.location.mkdir(parents=True, exist_ok=True)
        port = self._last_port() or _free_port(self.location)
        self.port_file.write_text(str(port))
        argv = [str(binary()), "--blobHost", HOST, "--blobPort", str(port),
                "--location", str(self.location), "--silent", "--skipApiVersionCheck",
                "--disableTelemetry"]
        env = {**host.CLEAN_ENV, "HOME": str(self.location)}
        with open(self.log_file, "ab") as out:
            proc = host.spawn_detached(argv, stdout=out, stderr=out, env=env)
        self.pid, self.port = proc.pid, port
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if _answers(port):
                log.info("started Azurite pid %d on port %d", proc.pid, port)
                return self.link
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise EngineError(f"Azurite did not start on {HOST}:{port}", hint=_tail(self.log_file))


def _port_if_ours(argv: list[str], location: Path) -> int | None:
    """The ``--blobPort`` of an azurite-blob argv whose ``--location`` is ``location``."""
    if not any(a.endswith("azurite-blob") for a in argv[:2]):
        return None
    options = dict(itertools.pairwise(argv))
    if options.get("--location") != str(location):
        return None
    try:
        return int(options.get("--blobPort", ""))
    except ValueError:
        return None


def _answers(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _free_port(location: Path) -> int:
    """A free port below the kernel's ephemeral range, first try derived from ``location``.

    Outgoing connections take their local ports from the ephemeral range (32768 and up), so
    a port there may be taken while Azurite is down and the job's URLs would go stale.
    """
    start = int(hashlib.sha256(str(location).encode()).hexdigest(), 16) % PORT_SPAN
    for offset in range(PORT_SPAN):
        port = PORT_BASE + (start + offset) % PORT_SPAN
        if _bindable(port):
            return port
    raise EngineError(f"no free port for Azurite in {PORT_BASE}-{PORT_BASE + PORT_SPAN - 1}")


def _bindable(port: int) -> bool:
    """Whether Azurite could listen on ``port``: Node sets SO_REUSEADDR, so TIME_WAIT is fine."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 10) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no Azurite log was written"
    return f"Azurite log {path}:\n" + "\n".join(text[-lines:])
