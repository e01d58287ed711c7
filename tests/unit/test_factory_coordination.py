"""The multi-instance coordination command, run under bash on a fake node: it writes the
job's SSH keys (never on a command line), starts the instance's container with every
exported variable and waits, bounded, until its sshd answers; a stale container of the
same name or one holding the port is removed first.

The hostile job, its environment and the fake node come from test_factory_scripts.py and
test_factory_fakes.py.
"""

from __future__ import annotations

import base64
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_factory_fakes import (
    task_environment,
)
from tests.unit.test_factory_scripts import (
    HOSTILE_ENV,
    HOSTS,
    JOB_ID,
    NAME,
    SSH,
    TASK_ID,
    coordinate,
    mi_job,
    mi_task,
    no_pwned,
    service_env,
)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[int]:
    """A port where something accepts TCP connections once the container started (the
    first docker call), as the container's sshd would; refused before that."""
    started = tmp_path / "log" / "docker.0.argv"
    stop = threading.Event()

    def listen_when_started(server: socket.socket) -> None:
        while not stop.wait(0.01):
            if started.exists():
                server.listen(16)
                return

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        waiter = threading.Thread(target=listen_when_started, args=(server,), daemon=True)
        waiter.start()
        yield server.getsockname()[1]
        stop.set()
        waiter.join(5)


@pytest.fixture
def stale_sshd() -> Iterator[int]:
    """A port an sshd holds from the start: the container of an earlier task of the job."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_coordination_writes_keys_then_starts_the_container(tmp_path: Path, sshd: int) -> None:
    spec = mi_job(coordination_command="/usr/sbin/sshd -D -p 23 -o 'LogLevel VERBOSE'")
    options = mi_task(spec, port=sshd)
    run = coordinate(tmp_path, spec, options)
    assert run.result.returncode == 0, run.result.stderr
    ssh_dir = Path(task_environment(tmp_path, JOB_ID, TASK_ID)["AZ_BATCH_TASK_DIR"]) / (
        ".shipyard-ssh")
    material = SSH
    assert stat.S_IMODE(ssh_dir.stat().st_mode) == 0o700
    files = ["id_ed25519", "id_ed25519.pub", "authorized_keys", "config"]
    assert sorted(p.name for p in ssh_dir.iterdir()) == sorted(files)
    assert all(stat.S_IMODE((ssh_dir / f).stat().st_mode) == 0o600 for f in files)
    assert (ssh_dir / "id_ed25519").read_text() == material.private_key
    assert (ssh_dir / "authorized_keys").read_text() == material.public_key + "\n"
    calls = run.docker_calls()
    assert calls[0][0] == "run" and ["rm", "-f", NAME] not in calls  # one call, no pre-clean
    run_argv = calls[0]
    start = ["run", "-d", "--net=host", "--name", NAME, "--label", f"shipyard.job={JOB_ID}",
             "--label", f"shipyard.task={TASK_ID}", "-v", f"{tmp_path}:{tmp_path}",
             "-w", str(ssh_dir.parent / "wd"), "-v", f"{ssh_dir}:/root/.ssh"]
    assert run_argv[:len(start)] == start
    assert run_argv[-11:] == ["--shm-size", "1g", "--cap-add", "SYS_PTRACE", "img:1",
                              "/usr/sbin/sshd", "-D", "-p", "23", "-o", "LogLevel VERBOSE"]


def test_coordination_passes_every_exported_variable_but_the_node_ones(
        tmp_path: Path, sshd: int) -> None:
    spec = mi_job()
    options = mi_task(spec, port=sshd)
    run = coordinate(tmp_path, spec, options, HOME="/root", USER="root", HOSTNAME="n",
                     INJECTED_BY_ENGINE="OMPI_MCA_x")
    assert run.result.returncode == 0, run.result.stderr
    run_argv = run.docker_calls()[0]
    names = [run_argv[i + 1] for i, arg in enumerate(run_argv) if arg == "-e"]
    for wanted in ["JOBVAR", *HOSTILE_ENV, "TASKVAR", "my.var", "AZ_BATCH_HOST_LIST",
                   "AZ_BATCH_TASK_DIR", "INJECTED_BY_ENGINE", "LANG"]:
        assert wanted in names, wanted
    for unwanted in ["PATH", "HOME", "USER", "HOSTNAME", "PWD", "SHLVL", "_", "OLDPWD",
                     "SHIPYARD_SSH_KEY", "SHIPYARD_SSH_PUB"]:
        assert unwanted not in names, unwanted
    seen = run.docker_env(0)
    assert "SHIPYARD_SSH_KEY" not in seen and "SHIPYARD_SSH_PUB" not in seen
    for name in ["JOBVAR", *HOSTILE_ENV, "TASKVAR", "my.var"]:
        assert seen[name] == service_env(tmp_path, spec, options)[name], name
    no_pwned(tmp_path)


def test_coordination_ssh_config_has_one_block_per_host_and_no_wildcard(
        tmp_path: Path, sshd: int) -> None:
    spec = mi_job()
    run = coordinate(tmp_path, spec, mi_task(spec, port=sshd))
    assert run.result.returncode == 0, run.result.stderr
    config = (Path(task_environment(tmp_path, JOB_ID, TASK_ID)["AZ_BATCH_TASK_DIR"])
              / ".shipyard-ssh" / "config").read_text()
    assert "*" not in config and "10.*" not in config
    blocks = config.split("Host ")[1:]
    assert [block.splitlines()[0] for block in blocks] == HOSTS.split(",")
    for block in blocks:
        settings = [line.strip() for line in block.splitlines()[1:]]
        assert settings == [f"Port {sshd}", "User root", "IdentityFile /root/.ssh/id_ed25519",
                            "StrictHostKeyChecking no", "UserKnownHostsFile /dev/null",
                            "LogLevel ERROR"]


def test_private_key_never_on_a_command_line(tmp_path: Path, sshd: int) -> None:
    spec = mi_job()
    options = mi_task(spec, port=sshd)
    secret = SSH.environment()["SHIPYARD_SSH_KEY"]
    settings = options.multi_instance_settings
    assert settings is not None
    lines = [options.command_line, settings.coordination_command_line]
    assert not any(secret in line or "PRIVATE KEY" in line for line in lines)
    assert {s.name: s.value for s in options.environment_settings or []}[
        "SHIPYARD_SSH_KEY"] == secret
    run = coordinate(tmp_path, spec, options)
    for argv in run.docker_calls():
        assert not any(secret in arg or "PRIVATE KEY" in arg for arg in argv)
    assert "SshMaterial(public_key=" in repr(SSH) and "PRIVATE" not in repr(SSH)
    assert base64.b64decode(secret).decode() == SSH.private_key


def test_coordination_replaces_a_stale_container_of_the_same_name(
        tmp_path: Path, sshd: int) -> None:
    spec = mi_job()
    run = coordinate(tmp_path, spec, mi_task(spec, port=sshd), FAKE_DOCKER_CONFLICT="1")
    assert run.result.returncode == 0, run.result.stderr
    assert [c[:2] for c in run.docker_calls()[:3]] == [["run", "-d"], ["rm", "-f"],
                                                       ["run", "-d"]]
    assert "already in use" not in run.result.stderr


def test_coordination_removes_the_jobs_containers_when_a_stale_sshd_holds_the_port(
        tmp_path: Path, stale_sshd: int) -> None:
    spec = mi_job()
    run = coordinate(tmp_path, spec, mi_task(spec, port=stale_sshd),
                     FAKE_DOCKER_PS="c1 c2")
    assert run.result.returncode == 0, run.result.stderr
    calls = run.docker_calls()
    assert calls[:3] == [["ps", "-aq", "--filter", f"label=shipyard.job={JOB_ID}"],
                         ["rm", "-f", "c1", "c2"], calls[2]]
    assert calls[2][:2] == ["run", "-d"]


def test_coordination_reports_a_container_that_cannot_start(tmp_path: Path, sshd: int) -> None:
    spec = mi_job()
    run = coordinate(tmp_path, spec, mi_task(spec, port=sshd), FAKE_DOCKER_EXIT="125")
    assert run.result.returncode == 1
    assert [c[0] for c in run.docker_calls()] == ["run"]  # no retry for other errors


def test_coordination_fails_clearly_when_the_container_stops(
        tmp_path: Path, closed_port: int) -> None:
    spec = mi_job()
    run = coordinate(tmp_path, spec, mi_task(spec, port=closed_port),
                     FAKE_DOCKER_RUNNING="false")
    assert run.result.returncode == 1
    assert f"container {NAME} stopped before its sshd accepted connections on " \
           f"127.0.0.1:{closed_port}" in run.result.stderr
    assert "fake container log line" in run.result.stderr
    assert ["logs", "--tail", "20", NAME] in run.docker_calls()


def test_coordination_wait_is_bounded(tmp_path: Path, closed_port: int) -> None:
    spec = mi_job()
    run = coordinate(tmp_path, spec, mi_task(spec, port=closed_port, wait=1))
    assert run.result.returncode == 1
    assert f"container {NAME} has no sshd accepting connections after 1 s" in run.result.stderr
    assert "fake container log line" in run.result.stderr


def test_coordination_refuses_to_run_without_the_keys(tmp_path: Path, sshd: int) -> None:
    spec = mi_job()
    options = mi_task(spec, port=sshd)
    run = coordinate(tmp_path, spec, options, SHIPYARD_SSH_KEY="")
    assert run.result.returncode != 0
    assert "SHIPYARD_SSH_KEY is not set" in run.result.stderr
    assert run.docker_calls() == []
