"""The multi-instance figure: ``shipyard jobs add --tail`` against the same work by hand.

Product: the CLI (a subprocess, as a user runs it) adds a job with one Docker MPI task of
``instances`` instances and streams its stdout until it completes. Floor, on the same idle
nodes with the image present: ``docker run -d --net=host`` on each node in parallel, wait
until each sshd accepts, ``docker exec mpirun`` on the master, ``docker rm -f`` everywhere.
Both use the factory's own MPI line and the engine's shared-core MPI environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
from azure.batch import BatchClient

from bench.harness import NodeHandle, wait_for
from shipyard.config.mpi import MpiSettings
from shipyard.engine.agent.execution import SHARED_CORE_ENV
from shipyard.engine.nodes import node_docker
from shipyard.factory.mpi import mpi_command
from shipyard.factory.ssh import new_ssh_material

RING_IMAGE = "shipyard/openmpi-ring:latest"
SHIPYARD = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "shipyard"
SSHD_PORT = 23


def write_config(config_dir: Path, pool_id: str, nodes: int, image: str) -> None:
    """credentials/config/pool.yaml of a local pool of ``nodes`` MPI nodes."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "credentials.yaml").write_text(
        "credentials:\n  batch:\n    account_service_url: local\n")
    (config_dir / "config.yaml").write_text(
        f"global_resources:\n  docker_images:\n  - {image}\n")
    (config_dir / "pool.yaml").write_text(
        f"pool_specification:\n  id: {pool_id}\n  vm_size: standard_d2_v3\n"
        f"  vm_count:\n    dedicated: {nodes}\n  inter_node_communication_enabled: true\n"
        "  vm_configuration:\n    platform_image:\n      publisher: canonical\n"
        "      offer: ubuntu\n      sku: 22_04\n")


def write_job(config_dir: Path, job_id: str, instances: int, command: str) -> None:
    (config_dir / "jobs.yaml").write_text(
        f"job_specifications:\n- id: {job_id}\n  auto_complete: true\n  tasks:\n"
        f"  - docker_image: {RING_IMAGE}\n    multi_instance:\n"
        f"      num_instances: {instances}\n      mpi:\n        runtime: openmpi\n"
        f"    command: {command}\n")


def shipyard(config_dir: Path, data_dir: Path, *args: str, timeout: float = 600) -> str:
    """Run the CLI against the benchmark's engine; its stdout, or raise with its output."""
    env = {**os.environ, "SHIPYARD_DATA_DIR": str(data_dir), "NO_COLOR": "1",
           "COLUMNS": "200"}
    # In the data dir: pool add writes the pool's SSH key pair to the current directory.
    done = subprocess.run([str(SHIPYARD), "--configdir", str(config_dir), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=data_dir)
    if done.returncode != 0:
        raise RuntimeError(f"shipyard {' '.join(args)} exited {done.returncode}:\n"
                           f"{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return done.stdout


def product_run(config_dir: Path, data_dir: Path, job_id: str, instances: int,
                command: str) -> tuple[float, str]:
    """Seconds from ``jobs add --tail`` to its exit (the task completed), and its output."""
    write_job(config_dir, job_id, instances, command)
    started = time.monotonic()
    out = shipyard(config_dir, data_dir, "jobs", "add", "--tail", "stdout.txt")
    return time.monotonic() - started, out


def settle(client: BatchClient, job_id: str, nodes: int) -> None:
    """Wait until the job's release task has run on every node: it removes the task's
    containers, and a run started meanwhile would share the nodes with that cleanup."""
    def released() -> bool:
        return sum(1 for s in client.list_job_preparation_and_release_task_status(job_id)
                   if s.job_release_task_execution_info is not None
                   and s.job_release_task_execution_info.end_time is not None) >= nodes

    wait_for(f"the release task of job {job_id} on {nodes} nodes", released, 120)


def engine_seconds(client: BatchClient, job_id: str) -> float:
    """The task's own time on the engine: its creation to its completion (server clock)."""
    (task,) = list(client.list_tasks(job_id))
    info = task.execution_info
    if info is None or info.end_time is None or task.creation_time is None:
        raise RuntimeError(f"task of job {job_id} has not completed: {task.state}")
    return (info.end_time - task.creation_time).total_seconds()


def job_output(config_dir: Path, data_dir: Path, client: BatchClient, job_id: str,
               instances: int, command: str, poll: float = 0.5) -> str:
    """``jobs add`` without watching it (nothing polls the engine while MPI runs but every
    ``poll`` seconds), then the task's stdout.txt once it completed."""
    write_job(config_dir, job_id, instances, command)
    shipyard(config_dir, data_dir, "jobs", "add")
    (task_id,) = [t.id for t in client.list_tasks(job_id)]
    wait_for(f"task of job {job_id}", lambda: client.get_task(job_id, task_id).state ==
             "completed", 600, interval=poll)
    return b"".join(client.download_task_file(job_id, task_id, "stdout.txt")).decode()


def write_keys(key_dir: Path, ips: list[str], port: int = SSHD_PORT) -> None:
    """A key pair and ssh config as the coordination command writes them."""
    material = new_ssh_material()
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    blocks = "".join(f"Host {ip}\n  Port {port}\n  User root\n  IdentityFile "
                     "/root/.ssh/id_ed25519\n  StrictHostKeyChecking no\n"
                     "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n" for ip in ips)
    files = {"id_ed25519": material.private_key, "id_ed25519.pub": material.public_key + "\n",
             "authorized_keys": material.public_key + "\n", "config": blocks}
    for name, text in files.items():
        path = key_dir / name
        path.write_text(text)
        path.chmod(0o600)


def mpi_line(instances: int, command: str) -> str:
    return mpi_command(MpiSettings(runtime="openmpi"), instances, command)


def wait_port(ip: str, port: int, timeout: float = 60) -> None:
    def accepts() -> bool:
        try:
            with socket.create_connection((ip, port), timeout=1):
                return True
        except OSError:
            return False

    wait_for(f"sshd on {ip}:{port}", accepts, timeout, interval=0.01)


def floor_run(handles: list[NodeHandle], key_dir: Path, name: str, command: str) -> tuple[
        float, str]:
    """The same multi-instance run by hand on ``handles``; seconds and the master's output."""
    ips = [h.ip for h in handles]
    env = {**SHARED_CORE_ENV, "AZ_BATCH_HOST_LIST": ",".join(ips)}
    clients = [node_docker(h.spec) for h in handles]
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(len(handles)) as pool:
            list(pool.map(lambda i: _start(clients[i], ips[i], name, key_dir, env),
                          range(len(handles))))
            code, out = clients[0].containers.get(name).exec_run(
                ["/bin/bash", "-c", mpi_line(len(handles), command)], environment=env)
            list(pool.map(lambda c: c.containers.get(name).remove(force=True), clients))
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
    assert isinstance(out, bytes), "exec_run without stream returns bytes"
    text = out.decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"mpirun by hand exited {code}: {text[-1500:]}")
    return elapsed, text


def _start(client: docker.DockerClient, ip: str, name: str, key_dir: Path,
           env: dict[str, str]) -> None:
    client.containers.run(RING_IMAGE, detach=True, network_mode="host", name=name,
                          environment=env, volumes={str(key_dir): {
                              "bind": "/root/.ssh", "mode": "rw"}})
    wait_port(ip, SSHD_PORT)


def hello_count(output: str) -> int:
    return sum(1 for line in output.splitlines() if line.startswith("hello: rank "))
