"""Starting, stopping and inspecting a background engine from the command line.

``start`` is idempotent: an engine already answering for the data dir is reused. It
returns only once the engine answers a signed request, and on failure it says why, with
the tail of the engine's log. ``stop`` ends the engine by the pid it recorded, never by
name; pools and their nodes stay, and the next ``start`` re-adopts them.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

from shipyard.engine.api import auth
from shipyard.engine.settings import KEY_ENV, EngineSettings
from shipyard.errors import EngineError


@dataclass(frozen=True)
class EngineState:
    """What a running engine recorded about itself (the key included: keep it private)."""

    url: str
    account: str
    key: str
    pid: int
    data_dir: str
    port: int
    #: The engine's Azurite: ``blob_endpoint``, ``account`` and ``key`` (development ones).
    storage: dict[str, str] | None = None

    def public(self) -> dict[str, object]:
        return {"url": self.url, "account": self.account, "key": self.key, "pid": self.pid,
                "data_dir": self.data_dir, "port": self.port, "storage": self.storage}


def read_state(data_dir: Path) -> EngineState | None:
    """The state of a live engine for this data dir, or None."""
    try:
        raw = json.loads((data_dir / "engine.json").read_text())
        state = EngineState(raw["url"], raw["account"], raw["key"], int(raw["pid"]),
                            raw["data_dir"], int(raw["port"]), raw.get("storage"))
    except (OSError, ValueError, KeyError):
        return None
    return state if _alive(state.pid) else None


def check_readable(data_dir: Path) -> None:
    """Refuse when this user may not read the state: that says nothing of an engine.

    An engine started by root keeps its state 0600 in a 0700 data dir (it holds the
    account key), so "no state" would be a wrong answer for anyone else.
    """
    path = data_dir / "engine.json"
    try:
        path.stat()
        with path.open("rb"):
            pass
    except PermissionError as exc:
        raise EngineError(f"cannot read the local engine's state {path} (permission denied): "
                          "an engine started by root keeps it to root",
                          hint="run this as root (sudo)") from exc
    except OSError:
        return


def start(settings: EngineSettings, timeout: float = 60.0) -> tuple[EngineState, bool]:
    """A running engine for ``settings.data_dir``; True if this call started it."""
    current = read_state(settings.data_dir)
    if current is not None and answers(current):
        return current, False
    # Lazy: the CLI imports this module on every command, the node runtime only here.
    from shipyard.engine.nodes.daemon import check_data_dir

    check_data_dir(settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    process = _spawn(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineError(f"the engine exited with code {process.returncode}",
                              hint=_log_tail(settings))
        state = read_state(settings.data_dir)
        if state is not None and state.pid == process.pid and answers(state):
            return state, True
        time.sleep(0.2)
    _terminate(process.pid, 10)
    raise EngineError(f"the engine did not answer within {timeout:.0f} s",
                      hint=_log_tail(settings))


def stop(data_dir: Path, timeout: float = 30.0) -> int | None:
    """Stop the engine of ``data_dir``; the pid it had, or None if none was running."""
    check_readable(data_dir)
    state = read_state(data_dir)
    if state is None:
        return None
    if not _terminate(state.pid, timeout):
        raise EngineError(f"the engine (pid {state.pid}) did not stop within {timeout:.0f} s")
    (data_dir / "engine.json").unlink(missing_ok=True)
    return state.pid


def answers(state: EngineState, timeout: float = 2.0) -> bool:
    """True when the engine accepts a signed ``GET /pools``.

    Sent with http.client, which the CLI's SDK client loads anyway: urllib.request would
    add ~8 ms of imports to every command's start for this one request.
    """
    path, query = "/pools", [("api-version", "2025-06-01"), ("maxresults", "1")]
    headers = {"ocp-date": formatdate(usegmt=True)}
    headers["Authorization"] = auth.authorization(
        state.account, state.key, "GET", path, query, headers)
    where = urlsplit(state.url)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port,
                                      timeout=timeout)
    try:
        conn.request("GET", f"{path}?api-version=2025-06-01&maxresults=1", headers=headers)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _spawn(settings: EngineSettings) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "shipyard.engine", "--data-dir", str(settings.data_dir),
            "--host", settings.host, "--port", str(settings.port),
            "--account", settings.account, "--subnet-base", str(settings.subnet_base)]
    env = {**os.environ, KEY_ENV: settings.key}
    log = open(settings.log_file, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, start_new_session=True, close_fds=True)
    finally:
        log.close()


def _terminate(pid: int, timeout: float) -> bool:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with suppress(ChildProcessError):
        # A zombie child (we started it in this process) counts as gone.
        os.waitpid(pid, os.WNOHANG)
    return Path(f"/proc/{pid}").exists() and _state_char(pid) != "Z"


def _state_char(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def _log_tail(settings: EngineSettings, lines: int = 12) -> str:
    try:
        text = settings.log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no engine log was written"
    return f"engine log {settings.log_file}:\n" + "\n".join(text[-lines:])
