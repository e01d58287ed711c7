"""The engine process: wire the rooms together, re-adopt what exists, then serve HTTP.

Started in the background by ``shipyard local start`` (see ``control``); runs in the
foreground with ``python -m shipyard.engine``. The account key comes from the environment,
never from argv, so it does not show in the process list.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import signal
import socket

import uvicorn

from shipyard.engine import jobwiring
from shipyard.engine.allocation.allocator import Allocator
from shipyard.engine.api.app import BatchApp, Router
from shipyard.engine.api.routes_jobs import register as register_jobs
from shipyard.engine.api.routes_nodes import register as register_nodes
from shipyard.engine.api.routes_pools import register as register_pools
from shipyard.engine.api.routes_pools_extra import register as register_pools_extra
from shipyard.engine.api.routes_storage import register as register_storage
from shipyard.engine.nodes.daemon import check_data_dir
from shipyard.engine.scheduling.scheduler import Scheduler
from shipyard.engine.services.autoscale.service import AutoscaleService
from shipyard.engine.services.jobs import JobService
from shipyard.engine.services.nodeops import NodeOps
from shipyard.engine.services.nodeusers import NodeUserService
from shipyard.engine.services.poolextras import PoolExtras
from shipyard.engine.services.pools import PoolService
from shipyard.engine.services.tasks import TaskService
from shipyard.engine.settings import EngineSettings
from shipyard.engine.storage.azurite import Azurite
from shipyard.engine.store import Store
from shipyard.errors import EngineError, NotRootError

log = logging.getLogger(__name__)


def check_host() -> None:
    """Refuse early, with what to do, on a machine that cannot host nodes."""
    if platform.system() != "Linux" or os.geteuid() != 0:
        raise NotRootError(
            "the local engine needs root on Linux: its nodes are network namespaces "
            "with their own Docker daemons", hint="run it as root, e.g. sudo shipyard local start")
    for tool in ("dockerd", "ip", "iptables", "nsenter", "unshare"):
        if shutil.which(tool) is None:
            raise EngineError(f"{tool} is not installed", hint="run scripts/setup")


class Engine:
    """One engine: store, allocator, services and the HTTP app over them."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)
        self.store = Store(settings.db_path)
        self.azurite = Azurite(settings.data_dir)
        self.allocator = Allocator(settings, self.store)
        self.pools = PoolService(settings, self.store, self.allocator)
        self.scheduler = Scheduler(settings, self.store, self.allocator)
        self.jobs = JobService(settings, self.store, self.scheduler)
        self.tasks = TaskService(self.store, self.scheduler, self.jobs)
        self.node_ops = NodeOps(self.store, self.pools, self.allocator, self.scheduler)
        # A resize and an autoscale shrink take out busy nodes the way removenodes does.
        self.pools.shed = self.node_ops.shed_busy
        self.autoscale = AutoscaleService(self.store, self.allocator, self.pools.check_capacity,
                                          shed=self.node_ops.shed_busy)
        router = Router()
        register_pools(router, self.pools)
        register_pools_extra(router, PoolExtras(self.store, self.allocator, self.pools),
                             self.autoscale)
        register_jobs(router, self.jobs, self.tasks)
        jobwiring.install(router, self.pools, self.jobs, self.tasks)
        register_nodes(router, self.node_ops, NodeUserService(self.pools, self.allocator))
        register_storage(router, self.pools, settings.account, settings.log_file)
        self.app = BatchApp(router, settings.account, settings.key, settings.url)

    def recover(self) -> None:
        """Start or re-adopt Azurite, re-adopt pools and nodes, then resume task runs."""
        self.allocator.auto_storage = self.azurite.ensure()
        for line in self.allocator.recover():
            log.warning("reclaimed leftover: %s", line)
        self.scheduler.start()
        self.autoscale.start()

    def close(self) -> None:
        self.autoscale.stop()
        self.scheduler.stop()
        self.allocator.stop()
        self.store.close()
        self.azurite.stop()  # pools and nodes stay; storage stops with the engine, its data kept


def write_state(settings: EngineSettings, engine: Engine) -> None:
    """The state file the CLI reads; 0600 because it holds the account key."""
    state = {"url": settings.url, "account": settings.account, "key": settings.key,
             "pid": os.getpid(), "data_dir": str(settings.data_dir), "port": settings.port,
             "host": settings.host, "storage": engine.azurite.link.public()}
    tmp = settings.state_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle)
    os.replace(tmp, settings.state_file)


def serve(settings: EngineSettings) -> None:
    """Run until SIGTERM or SIGINT; pools and nodes outlive the process."""
    check_host()
    check_data_dir(settings.data_dir)
    # The port first: a state written before it is ours would send the CLI to whatever
    # holds the port (another engine with the same development key answers as if ours).
    listener = _listen(settings)
    try:
        engine = Engine(settings)
    except BaseException:
        listener.close()
        raise
    config = uvicorn.Config(engine.app, host=settings.host, port=settings.port,
                            log_level="warning", access_log=False, lifespan="on")
    # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default
    # handler that kills the process before ``close`` stops Azurite and the scheduler.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        engine.recover()
        write_state(settings, engine)
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        listener.close()
        engine.close()
        if _state_pid(settings) == os.getpid():
            settings.state_file.unlink(missing_ok=True)


def _listen(settings: EngineSettings) -> socket.socket:
    """The engine's bound socket, or an error naming the port when something holds it."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Connections accepted on a socket handed to uvicorn answered small requests ~40 ms
    # late (Nagle against delayed ACKs: get_task p50 44 ms, 1.8 ms with this; measured
    # with bench/tasks.py); they inherit this from the listener.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listener.bind((settings.host, settings.port))
        # Listening claims the port: sockets with SO_REUSEADDR can all bind it until one
        # of them listens.
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise EngineError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
                          hint="another engine or program holds the port: start this one "
                               "with --port, or stop the other (shipyard local status "
                               "--data-dir DIR says where one runs)") from exc
    return listener


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _state_pid(settings: EngineSettings) -> int | None:
    try:
        return int(json.loads(settings.state_file.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None
