"""``user_identity``: the user a job's containers run as, on every kind of task line.

Batch Shipyard (convoy/settings.py, task settings) adds ``-u uid:gid`` (or the pool
admin's ids) and the node's ``/etc/passwd``, ``/etc/group`` and ``/etc/sudoers`` read-only
to the container's run options, and ``-u`` to the multi-instance ``docker exec``; the Batch
task itself keeps the elevated auto-user.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models

from shipyard.config import JobSpec
from shipyard.config.pool import PoolSpecification
from shipyard.errors import ConfigError
from shipyard.factory import PoolContext, task_options
from tests.unit.test_factory_fakes import fixed_ssh, job, pool, run_line, task_environment

SPECIFIC = {"specific_user": {"uid": 1001, "gid": 1002}}
MOUNTS = ["-v", "/etc/passwd:/etc/passwd:ro", "-v", "/etc/group:/etc/group:ro"]
SUDOERS = ["-v", "/etc/sudoers:/etc/sudoers:ro"]
ADMIN = "-u `id -u _azbatch`:`id -g _azbatch`"


def native_pool() -> PoolSpecification:
    return pool(vm_configuration={"platform_image": {
        "publisher": "microsoft-azure-batch", "offer": "ubuntu-server-container",
        "sku": "20-04-lts", "native": True}})


def build(identity: dict[str, Any] | None, local: bool = False, native: bool = False,
          multi: bool = False, **task: Any) -> models.BatchTaskCreateOptions:
    fields: dict[str, Any] = {"user_identity": identity} if identity is not None else {}
    if multi:
        task["multi_instance"] = {"num_instances": 2}
    spec: JobSpec = job(task=task, **fields)
    context = PoolContext(2, 0, native_pool() if native else pool(), local=local)
    return task_options(spec, context, fixed_ssh() if multi else None)[0]


def docker_run_argv(tmp_path: Path, options: models.BatchTaskCreateOptions) -> list[str]:
    env = task_environment(tmp_path, "j", "t")
    run = run_line(options.command_line, tmp_path, env)
    assert run.result.returncode == 0, run.result.stderr
    return run.docker_run()[0]


def test_a_plain_task_runs_as_the_specific_user(tmp_path: Path) -> None:
    argv = docker_run_argv(tmp_path, build(SPECIFIC))
    at = argv.index("-u")
    assert argv[at:at + 2 + len(MOUNTS) + len(SUDOERS)] == ["-u", "1001:1002", *MOUNTS, *SUDOERS]
    assert argv[-2:] == ["img:1", "run"]


def test_on_the_local_engine_sudoers_is_not_mounted(tmp_path: Path) -> None:
    argv = docker_run_argv(tmp_path, build(SPECIFIC, local=True))
    at = argv.index("-u")
    assert argv[at:at + 2 + len(MOUNTS)] == ["-u", "1001:1002", *MOUNTS]
    assert "/etc/sudoers:/etc/sudoers:ro" not in argv


def test_without_user_identity_nothing_is_added(tmp_path: Path) -> None:
    argv = docker_run_argv(tmp_path, build(None))
    assert "-u" not in argv and "/etc/passwd:/etc/passwd:ro" not in argv
    assert "-u" not in shlex.split(build({"default_pool_admin": False}).command_line)[2]


def test_the_users_own_user_option_wins(tmp_path: Path) -> None:
    argv = docker_run_argv(tmp_path, build(SPECIFIC, additional_docker_run_options=["-u 7:7"]))
    assert [argv[i + 1] for i, arg in enumerate(argv) if arg == "-u"] == ["7:7"]


def test_the_batch_task_keeps_the_elevated_auto_user() -> None:
    identity = build(SPECIFIC).user_identity
    assert identity is not None and identity.auto_user is not None
    assert identity.auto_user.elevation_level == "admin"


def test_multi_instance_runs_and_execs_as_the_user() -> None:
    options = build(SPECIFIC, multi=True)
    settings = options.multi_instance_settings
    assert settings is not None and settings.coordination_command_line is not None
    coordination = shlex.split(settings.coordination_command_line)[2]
    assert f"-u 1001:1002 {' '.join(MOUNTS)} {' '.join(SUDOERS)}" in coordination
    application = shlex.split(options.command_line)[2]
    assert application.startswith("docker exec -u 1001:1002 shipyard-j-t /bin/bash -c ")


def test_native_container_run_options_carry_the_user() -> None:
    options = build(SPECIFIC, native=True)
    assert options.container_settings is not None
    run_options = options.container_settings.container_run_options or ""
    assert f"-u 1001:1002 {' '.join(MOUNTS)} {' '.join(SUDOERS)}" in run_options
    multi = build(SPECIFIC, native=True, multi=True)
    assert multi.container_settings is not None
    assert "-u 1001:1002" in (multi.container_settings.container_run_options or "")


def test_default_pool_admin_uses_the_nodes_azbatch_ids() -> None:
    line = shlex.split(build({"default_pool_admin": True}).command_line)[2]
    assert f"{ADMIN} {' '.join(MOUNTS)} {' '.join(SUDOERS)}" in line
    application = shlex.split(build({"default_pool_admin": True}, multi=True).command_line)[2]
    assert application.startswith(f"docker exec {ADMIN} shipyard-j-t ")


def test_default_pool_admin_is_refused_on_the_local_engine() -> None:
    with pytest.raises(ConfigError) as caught:
        build({"default_pool_admin": True}, local=True)
    assert caught.value.message == (
        "jobs.yaml: job 'j' user_identity.default_pool_admin: the local engine's nodes have "
        "no pool admin user (_azbatch)")
