"""Running one command of a task on one node, the way the Batch node agent does.

A command line is split into words and executed without a shell, in its working
directory, with ``stdout.txt``/``stderr.txt`` in its task directory; a task with
``containerSettings`` runs the same words inside the image on the node's own daemon, with
the node's task root mounted at the same path. Exit codes land in files outside the task
root (``/mnt/batch/exit``), so the file APIs never show them and a restarted engine can
still read them. Resource files are fetched on the host side into the node's directories
(``storage.transfers``).
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from shipyard.engine import nodes
from shipyard.engine.agent import containers
from shipyard.engine.nodes.images import DOCKER_ERRORS
from shipyard.engine.storage import transfers
from shipyard.engine.storage.link import StorageLink
from shipyard.errors import NodeError, NodeUnusableError

log = logging.getLogger(__name__)

NODE_ROOT = PurePosixPath("/mnt/batch/tasks")
EXIT_DIR = PurePosixPath("/mnt/batch/exit")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: What emulated nodes are: many "machines" sharing the host's few cores. MPI defaults made
#: for dedicated hardware pin every node's first rank to the same core and busy-poll, which
#: costs 100x per message here (see bench/). These belong to the node, like AZ_BATCH_*, so a
#: job config stays the same for Azure; a task's own environment settings still win.
SHARED_CORE_ENV = {
    "OMPI_MCA_hwloc_base_binding_policy": "none",
    "OMPI_MCA_mpi_yield_when_idle": "1",
    # Keep MPI traffic on the pool network: eth0 on every node, here as on Azure.
    "OMPI_MCA_btl_tcp_if_include": "eth0",
    "OMPI_MCA_oob_tcp_if_include": "eth0",
    "HYDRA_IFACE": "eth0",
    "UCX_NET_DEVICES": "eth0",
}


@dataclass(frozen=True)
class Node:
    """Where a command runs: the node's identity and its live daemon."""

    pool_id: str
    node_id: str
    ip: str
    dedicated: bool
    spec: nodes.NodeSpec
    daemon_pid: int
    #: The account's linked storage (``autoStorageContainerName``), as the agent knows it.
    auto_storage: StorageLink | None = None

    def host_path(self, node_path: PurePosixPath) -> Path:
        """The host side of a path under the node's ``/mnt/batch``."""
        return Path(self.spec.batch_dir) / node_path.relative_to("/mnt/batch")


@dataclass(frozen=True)
class Launched:
    """A started command: its supervisor pid, exit file (host path) and container name."""

    pid: int
    exit_file: str
    container: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "exit_file": self.exit_file, "container": self.container}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Launched:
        return cls(int(raw["pid"]), str(raw["exit_file"]), raw.get("container"))


def split_command_line(command_line: str) -> list[str]:
    """Split as the node agent does: POSIX words, no shell, no expansion."""
    try:
        argv = shlex.split(command_line)
    except ValueError as exc:
        raise NodeError(f"the command line cannot be split into words: {exc}") from exc
    if not argv:
        raise NodeError("the command line is empty")
    return argv


def node_environment(node: Node, account: str, account_url: str) -> dict[str, str]:
    """The part of ``AZ_BATCH_*`` every command on a node sees."""
    return {
        **SHARED_CORE_ENV,
        "PATH": DEFAULT_PATH,
        "HOME": "/root",
        "AZ_BATCH_ACCOUNT_NAME": account,
        "AZ_BATCH_ACCOUNT_URL": account_url,
        "AZ_BATCH_POOL_ID": node.pool_id,
        "AZ_BATCH_NODE_ID": node.node_id,
        "AZ_BATCH_NODE_IS_DEDICATED": "true" if node.dedicated else "false",
        "AZ_BATCH_NODE_ROOT_DIR": str(NODE_ROOT),
        "AZ_BATCH_NODE_SHARED_DIR": str(NODE_ROOT / "shared"),
        "AZ_BATCH_NODE_STARTUP_DIR": str(NODE_ROOT / "startup"),
        "AZ_BATCH_NODE_MOUNTS_DIR": str(NODE_ROOT / "fsmounts"),
    }


def settings_env(settings: list[dict[str, Any]] | None) -> dict[str, str]:
    """``environmentSettings`` as a dict; later entries win like the service's."""
    return {s["name"]: s.get("value") or "" for s in settings or []}


def prepare_dir(node: Node, task_dir: PurePosixPath) -> None:
    """Create a task directory and its ``wd`` on the node."""
    try:
        (node.host_path(task_dir) / "wd").mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # no disk, or the node's home is gone: the node's fault
        raise NodeUnusableError(f"cannot create {task_dir} on node {node.node_id}: "
                                f"{exc}") from exc


def check_node(node: Node) -> None:
    """Raise NodeUnusableError if the node cannot run commands now (see nodes.node_fault)."""
    fault = nodes.node_fault(node.spec, node.daemon_pid)
    if fault is not None:
        raise NodeUnusableError(f"node {node.node_id}: {fault}")


def fetch_resource_files(node: Node, files: list[dict[str, Any]] | None,
                         into: PurePosixPath) -> None:
    """Download resource files into ``into`` on the node (see ``storage.transfers``)."""
    transfers.download_resource_files(files, node.host_path(into), node.auto_storage)


def launch(node: Node, command_line: str, env: dict[str, str], task_dir: PurePosixPath,
           container: dict[str, Any] | None = None, append: bool = False,
           instance: tuple[str, bool] | None = None) -> Launched:
    """Start a task's command on the node; output goes to the task dir's txt files.

    ``instance`` (a multi-instance container task): ``(container name, create)``, run in
    that instance's container, creating it first when ``create``.
    """
    argv = split_command_line(command_line) if command_line.strip() or not container else []
    name = None
    if container and instance is not None:
        name, create = instance
        argv = (containers.coordination_argv(container, argv, env, task_dir, name) if create
                else containers.exec_argv(name, argv))
    elif container:
        name = f"shy-{uuid.uuid4().hex[:12]}"
        argv = container_argv(container, argv, env, task_dir, name)
    exit_node = EXIT_DIR / uuid.uuid4().hex
    check_node(node)
    try:
        node.host_path(EXIT_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NodeUnusableError(f"node {node.node_id}: cannot create {EXIT_DIR}: {exc}") \
            from exc
    pid = nodes.launch(node.daemon_pid, argv, env, Path(str(task_dir / "wd")),
                       Path(str(task_dir / "stdout.txt")), Path(str(task_dir / "stderr.txt")),
                       Path(str(exit_node)), append=append, home=node.spec.home)
    return Launched(pid, str(node.host_path(exit_node)), name)


def container_argv(settings: dict[str, Any], argv: list[str], env: dict[str, str],
                   task_dir: PurePosixPath, name: str) -> list[str]:
    """``docker run`` for a native container task; values travel by environment, not argv."""
    run = ["docker", "run", "--rm", "--name", name,
           *containers.create_options(settings, env, task_dir)]
    return [*run, settings["imageName"], *argv]


def read_exit(launched: Launched) -> int | None:
    return nodes.read_exit(Path(launched.exit_file))


def observe(launched: Launched) -> tuple[bool, int | None]:
    """Whether the command ended, and its exit code (None if it vanished without one)."""
    code = read_exit(launched)
    if code is not None:
        return True, code
    if pid_alive(launched.pid):
        return False, None
    # The supervisor writes the file before exiting; read once more to close the race.
    return True, read_exit(launched)


def kill(node: Node | None, launched: Launched) -> None:
    """End a launched command and its container, if any; idempotent."""
    nodes.kill_launched(launched.pid, grace=5)
    if launched.container and node is not None:
        with contextlib.suppress(Exception):
            nodes.node_docker(node.spec).containers.get(launched.container).remove(force=True)


def remove_containers_since(node: Node, since: float) -> None:
    """Force-remove the node's containers created at or after ``since`` (epoch seconds).

    For a multi-instance task that is requeued: its commands started containers (the
    coordination command's sshd) that no launch record names, and the node is its alone.
    """
    with contextlib.suppress(NodeError, *DOCKER_ERRORS):
        client = nodes.node_docker(node.spec, timeout=30)
        try:
            for container in client.containers.list(all=True, sparse=True):
                if int(container.attrs.get("Created") or 0) >= int(since):
                    container.remove(force=True)
        finally:
            client.close()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie, or a process that ends while we read, does not.

    A process may exit between opening /proc/<pid>/stat and reading it (ESRCH, i.e.
    ProcessLookupError), so every OSError means gone.
    """
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # A zombie is as good as gone: its exit file is already written.
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False
