"""``additional_docker_run_options`` merged into a ``docker run`` that Docker accepts.

Every generated line is run on the fake node, and the ``docker run`` argv it produced is
then handed to the real Docker client (pointed at no daemon): the client parses every flag
before it connects, so "Cannot connect" proves the line parses, and a duplicate network
option fails exactly as it would on a node.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shipyard.config import runopts
from shipyard.config.messages import config_error
from shipyard.factory import PoolContext, task_options
from tests.unit.test_factory_fakes import job, pool, run_line
from tests.unit.test_factory_scripts import SSH, coordinate, mi_job, mi_task, service_env

NETWORK_SPELLINGS = ["--net=host", "--net host", "--network=host", "--network host"]


def assert_docker_client_accepts(argv: list[str]) -> None:
    """The real Docker client parses ``docker <argv>``: it fails only to reach a daemon.

    Called last in a test, after its own asserts; without the client (which scripts/setup
    installs) the test is skipped rather than quietly checking less, and CI forbids skips.
    """
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed: run scripts/setup")
    said = docker_client_says(argv)
    assert "Cannot connect to the Docker daemon" in said, said


def docker_client_says(argv: list[str]) -> str:
    """What the real Docker client says of ``docker <argv>`` with no daemon to reach."""
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/shipyard-test.sock"}
    done = subprocess.run(["docker", *argv], capture_output=True, text=True, env=env,
                          timeout=30, check=False)
    return done.stderr


def options_of(argv: list[str], flag: str, short: str = "") -> list[str]:
    """Every occurrence of ``flag`` in an argv, in any spelling (``--x v``, ``--x=v``)."""
    names = {flag, *([short] if short else [])}
    return [a for a in argv if a in names or any(a.startswith(n + "=") for n in names)]


def plain_argv(tmp_path: Path, **task: Any) -> list[str]:
    spec = job(task=task)
    options = task_options(spec, PoolContext(2, 0, pool()), None)[0]
    run = run_line(options.command_line, tmp_path, service_env(tmp_path, spec, options))
    assert run.result.returncode == 0, run.result.stderr
    argv, _ = run.docker_run()
    return argv


@pytest.mark.parametrize("spelling", NETWORK_SPELLINGS)
def test_parse_reads_every_network_spelling(spelling: str) -> None:
    assert runopts.parse([spelling]) == [runopts.RunOption("--network", "host", 0)]


def test_parse_splits_bundled_switches_and_keeps_entries() -> None:
    parsed = runopts.parse(["-it", "--ipc=host --ulimit memlock=-1", "-v $X:/x"])
    assert [(o.flag, o.value, o.entry) for o in parsed] == [
        ("--interactive", None, 0), ("--tty", None, 0), ("--ipc", "host", 1),
        ("--ulimit", "memlock=-1", 1), ("--volume", "$X:/x", 2)]


@pytest.mark.parametrize(("text", "message"), [
    ("--shm-size", "--shm-size needs a value"),
    ("ubuntu:22.04", "is not an option"),
    ("-v 'unbalanced", "is not shell words"),
])
def test_parse_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        runopts.parse([text])


@pytest.mark.parametrize("spelling", NETWORK_SPELLINGS)
def test_multi_instance_container_has_one_network_option(tmp_path: Path, spelling: str
                                                         ) -> None:
    spec = mi_job()
    spec = spec.model_copy(update={"tasks": (spec.tasks[0].model_copy(update={
        "additional_docker_run_options": (spelling, "-d", "--cap-add SYS_PTRACE")}),)})
    with socket.socket() as sshd:  # accepts, as the container's sshd would
        sshd.bind(("127.0.0.1", 0))
        sshd.listen(4)
        run = coordinate(tmp_path, spec, mi_task(spec, port=sshd.getsockname()[1]))
    assert run.result.returncode == 0, run.result.stderr
    # Listening from the start, it also looks like a stale sshd: the run is after the clean.
    argv = next(call for call in run.docker_calls() if call[0] == "run")
    assert options_of(argv, "--net") + options_of(argv, "--network") == ["--net=host"]
    assert options_of(argv, "--detach", "-d") == ["-d"]
    assert_docker_client_accepts(argv)


@pytest.mark.parametrize(("option", "flag", "ours"), [
    ("-w /work", "--workdir", "-w"),
    ("--workdir=/work", "--workdir", "-w"),
    ("--shm-size 2g", "--shm-size", "--shm-size"),
    ("--rm", "--rm", "--rm"),
    ("--name mine", "--name", "--name"),
    ("--entrypoint=/bin/sh", "--entrypoint", "--entrypoint"),
])
def test_plain_task_user_option_replaces_ours(tmp_path: Path, option: str, flag: str,
                                              ours: str) -> None:
    argv = plain_argv(tmp_path, additional_docker_run_options=[option], shm_size="1g",
                      entrypoint="/bin/bash", remove_container_after_exit=True)
    short = "-w" if flag == "--workdir" else ""
    found = options_of(argv, flag, short)
    assert len(found) == 1, argv
    assert option.split()[0].split("=")[0] in found[0], (found, argv)
    assert_docker_client_accepts(argv)


@pytest.mark.parametrize(("option", "multi", "reason"), [
    ("--network bridge", True, "host networking"),
    ("--net=none", True, "host networking"),
    ("--name x", True, "names the containers"),
    ("-d", False, "would end at once"),
    ("--detach", False, "would end at once"),
])
def test_options_that_cannot_work_are_refused_with_the_option_named(
        option: str, multi: bool, reason: str) -> None:
    task: dict[str, Any] = {"additional_docker_run_options": ["--cap-add X", option]}
    if multi:
        task["multi_instance"] = {"num_instances": 2}
    with pytest.raises(ValidationError) as caught:
        job(task=task)
    message = str(config_error("jobs.yaml", caught.value))
    assert "tasks[0].additional_docker_run_options[1]: " in message, message
    assert f"{option!r} " in message and reason in message, message


def test_task_factory_tasks_do_not_accumulate_options(tmp_path: Path) -> None:
    spec = job(task={"id": None, "command": "echo {0}",
                     "task_factory": {"repeat": 20},
                     "additional_docker_run_options": ["--net host", "-v /a:/b",
                                                       "--shm-size=1g"]})
    tasks = task_options(spec, PoolContext(2, 0, pool()), SSH)
    assert len(tasks) == 20
    for options in tasks:
        run = run_line(options.command_line, tmp_path / options.id,
                       service_env(tmp_path / options.id, spec, options))
        argv, _ = run.docker_run()
        assert len(options_of(argv, "--name")) == 1
        assert options_of(argv, "--network", "--net") == ["--net"]
        assert argv.count("/a:/b") == 1 and len(options_of(argv, "--shm-size")) == 1
        assert argv.count("--rm") == 1
