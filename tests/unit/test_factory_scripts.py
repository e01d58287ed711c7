"""Generated command lines, run under bash on a fake node: every argv and value arrives exactly.

Ids use ``-`` and ``_`` (a leading ``-`` included); commands, options and environment values
are the HOSTILE set (quotes, ``$(...)``, backticks, ``;``, newlines, unicode). Values must
reach docker through its environment, never its argv; nothing in them may run. Plain
tasks, the MPI application command and the job release are here; the coordination command
is test_factory_coordination.py's.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models

from shipyard.config import JobSpec
from shipyard.factory import LaunchSettings, PoolContext, job_options, task_options
from tests.realengine import wait_for
from tests.unit.test_factory_fakes import (
    HOSTILE,
    Launch,
    Run,
    bash_syntax_ok,
    fixed_ssh,
    job,
    pool,
    run_line,
    task_environment,
)

JOB_ID = "-j_1"
TASK_ID = "_t-2"
NAME = f"shipyard-{JOB_ID}-{TASK_ID}"
HOSTILE_ENV = {f"V{i}": f"value {i}: {value}" for i, value in enumerate(HOSTILE)}
HOSTS = "10.1.0.4,127.0.0.1"
COMMAND_ARGS = ["app", *HOSTILE]
COMMAND = " ".join(shlex.quote(arg) for arg in COMMAND_ARGS)
#: One material for the module: the key is fixed, its OpenSSH encoding has random check bytes.
SSH = fixed_ssh()


def hostile_job(**task: Any) -> JobSpec:
    return job(id=JOB_ID, environment_variables={"JOBVAR": "job's\nvalue", **HOSTILE_ENV},
               task={"id": TASK_ID, "command": COMMAND,
                     "environment_variables": {"TASKVAR": 'task "value" ✓', "my.var": "dot $x"},
                     **task})


def service_env(root: Path, spec: JobSpec, options: models.BatchTaskCreateOptions
                ) -> dict[str, str]:
    """The environment the service gives the task: its variables, the job's, the task's."""
    env = task_environment(root, spec.id, options.id)
    env.update(spec.environment_variables)
    env.update({s.name: s.value or "" for s in options.environment_settings or []})
    return env


def no_pwned(root: Path) -> None:
    assert not [p for p in root.rglob("pwned*")], "a value was executed"


def mi_job(**multi: Any) -> JobSpec:
    settings = {"num_instances": 2, "mpi": {"runtime": "openmpi", "processes_per_node": 2},
                **multi}
    return hostile_job(multi_instance=settings, shm_size="1g",
                       additional_docker_run_options=["--cap-add SYS_PTRACE"])


def mi_task(spec: JobSpec, port: int = 23, wait: int = 60) -> models.BatchTaskCreateOptions:
    launch = LaunchSettings(sshd_port=port, sshd_wait_seconds=wait)
    return task_options(spec, PoolContext(2, 0, pool()), SSH, launch=launch)[0]


def coordinate(root: Path, spec: JobSpec, options: models.BatchTaskCreateOptions,
               **extra: str) -> Run:
    assert options.multi_instance_settings is not None
    env = {**service_env(root, spec, options), "AZ_BATCH_HOST_LIST": HOSTS,
           "FAKE_HOST_IPS": "127.0.0.1 192.0.2.9", **extra}
    return run_line(options.multi_instance_settings.coordination_command_line, root, env)


def plain(spec: JobSpec) -> models.BatchTaskCreateOptions:
    return task_options(spec, PoolContext(2, 0, pool()), None)[0]


def test_plain_task_argv_and_values_arrive_exactly(tmp_path: Path) -> None:
    spec = hostile_job(shm_size="256m",
                       additional_docker_run_options=["--cap-add SYS_PTRACE", "-v '/a b:/c'"])
    options = plain(spec)
    env = service_env(tmp_path, spec, options)
    run = run_line(options.command_line, tmp_path, env)
    assert run.result.returncode == 0, run.result.stderr
    argv, seen = run.docker_run()
    names = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-e"]
    wd = env["AZ_BATCH_TASK_WORKING_DIR"]
    prefix = ["run", "--rm", "--name", NAME, "--label", f"shipyard.job={JOB_ID}",
              "--label", f"shipyard.task={TASK_ID}", "-v", f"{tmp_path}:{tmp_path}", "-w", wd]
    assert argv[:len(prefix)] == prefix
    tail = ["--shm-size", "256m", "--cap-add", "SYS_PTRACE", "-v", "/a b:/c", "img:1",
            *COMMAND_ARGS]
    assert argv[-len(tail):] == tail
    assert names[:len(HOSTILE_ENV) + 3] == ["JOBVAR", *HOSTILE_ENV, "TASKVAR", "my.var"]
    for name in ["JOBVAR", *HOSTILE_ENV, "TASKVAR", "my.var", "AZ_BATCH_TASK_DIR"]:
        assert seen[name] == env[name], name
    assert not set(HOSTILE_ENV.values()) & set(argv)
    no_pwned(tmp_path)


def test_plain_task_keeps_container_and_image_workdir_when_asked(tmp_path: Path) -> None:
    spec = job(remove_container_after_exit=False, default_working_dir="container")
    options = plain(spec)
    run = run_line(options.command_line, tmp_path, service_env(tmp_path, spec, options))
    argv, _ = run.docker_run()
    assert "--rm" not in argv and "-w" not in argv
    assert argv[-2:] == ["img:1", "run"]


def test_plain_task_failure_is_the_task_exit_code(tmp_path: Path) -> None:
    spec = job()
    options = plain(spec)
    env = {**service_env(tmp_path, spec, options), "FAKE_DOCKER_EXIT": "7"}
    assert run_line(options.command_line, tmp_path, env).result.returncode == 7


def test_plain_task_first_removes_what_an_earlier_run_of_it_left(tmp_path: Path) -> None:
    spec = job()
    options = plain(spec)
    env = {**service_env(tmp_path, spec, options), "FAKE_DOCKER_PS": "old1 old2"}
    run = run_line(options.command_line, tmp_path, env)
    assert run.result.returncode == 0, run.result.stderr
    mine = ["--filter", "label=shipyard.job=j", "--filter", "label=shipyard.task=t"]
    assert run.docker_calls()[:2] == [["ps", "-aq", *mine], ["rm", "-f", "old1", "old2"]]
    assert run.docker_calls()[2][0] == "run"


def test_plain_task_stopped_by_a_signal_stops_its_container(tmp_path: Path) -> None:
    """Batch ends a task by signalling its processes; the container must end with them."""
    spec = job()
    options = plain(spec)
    env = {**service_env(tmp_path, spec, options), "FAKE_DOCKER_PS": "c9",
           "FAKE_DOCKER_BLOCK": "1"}
    launch = Launch.of(options.command_line, tmp_path, env)
    proc = subprocess.Popen(launch.argv, env=launch.env, cwd=launch.cwd,
                            start_new_session=True)
    try:
        wait_for("the container to run", (launch.log / "running").exists, 10, 0.05)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    calls = Run(result=subprocess.CompletedProcess([], 0), log=launch.log).docker_calls()
    assert ["stop", "-t", "3", "c9"] in calls
    assert calls[-2][:2] == ["ps", "-q"]


# --- multi-instance: application ----------------------------------------------------------

RUNTIME_ARGS = {
    "openmpi": ["--oversubscribe", "-host", HOSTS, "-np", "{np}", "--map-by", "ppr:{ppn}:node",
                "--mca", "btl_tcp_if_include", "eth0", "--mca", "oob_tcp_if_include", "eth0",
                "--allow-run-as-root"],
    "mpich": ["-hosts", HOSTS, "-np", "{np}", "-ppn", "{ppn}"],
    "mvapich": ["-hosts", HOSTS, "-np", "{np}", "-ppn", "{ppn}"],
    "intelmpi": ["-hosts", HOSTS, "-np", "{np}", "-perhost", "{ppn}"],
    "intelmpi_ofa": ["-genv", "I_MPI_FABRICS", "shm:ofa", "-hosts", HOSTS, "-np", "{np}",
                     "-perhost", "{ppn}"],
}


@pytest.mark.parametrize("runtime", list(RUNTIME_ARGS))
@pytest.mark.parametrize(("ppn", "np", "per_node"), [(3, "6", "3"), ("3", "6", "3"),
                                                     ("nproc", "8", "4")])
def test_application_runs_the_mpi_line_exactly(tmp_path: Path, runtime: str, ppn: object,
                                                np: str, per_node: str) -> None:
    mpi = {"runtime": runtime, "processes_per_node": ppn,
           "options": ["--mca pml ucx", "-x 'X=a b'"]}
    spec = mi_job(mpi=mpi, pre_execution_command="touch pre-ran; export PRE='it''s'")
    options = mi_task(spec)
    env = {**service_env(tmp_path, spec, options), "AZ_BATCH_HOST_LIST": HOSTS}
    run = run_line(options.command_line, tmp_path, env)
    assert run.result.returncode == 0, run.result.stderr
    exec_argv = run.docker_calls()[0]
    assert exec_argv[:4] == ["exec", NAME, "/bin/bash", "-c"]
    runtime_args = [arg.format(np=np, ppn=per_node) for arg in RUNTIME_ARGS[runtime]]
    assert run.recorded("mpirun") == ["--mca", "pml", "ucx", "-x", "X=a b", *runtime_args,
                                      *COMMAND_ARGS]
    assert (Path(env["AZ_BATCH_TASK_WORKING_DIR"]) / "pre-ran").exists()
    assert run.docker_env(0).get("PRE") is None
    no_pwned(tmp_path)


def test_application_without_mpi_runs_the_command(tmp_path: Path) -> None:
    spec = hostile_job(multi_instance={"num_instances": 2})
    options = mi_task(spec)
    run = run_line(options.command_line, tmp_path, service_env(tmp_path, spec, options))
    assert run.result.returncode == 0, run.result.stderr
    assert run.recorded("app") == HOSTILE
    no_pwned(tmp_path)


def test_application_stops_when_pre_execution_fails(tmp_path: Path) -> None:
    spec = mi_job(pre_execution_command="false")
    options = mi_task(spec)
    run = run_line(options.command_line, tmp_path, service_env(tmp_path, spec, options))
    assert run.result.returncode == 1
    assert not (tmp_path / "log" / "mpirun.argv").exists()


def test_executable_path_is_kept_as_written(tmp_path: Path) -> None:
    bin_dir = tmp_path / "Opt" / "Bin"
    bin_dir.mkdir(parents=True)
    spec = mi_job(mpi={"runtime": "mpich", "executable_path": str(bin_dir / "MPIEXEC")})
    options = mi_task(spec)
    assert str(bin_dir / "MPIEXEC") in options.command_line
    (bin_dir / "MPIEXEC").write_text("#!/bin/bash\nprintf '%s\\0' \"$@\" > \"$FAKE_LOG/X\"\n")
    (bin_dir / "MPIEXEC").chmod(0o755)
    env = {**service_env(tmp_path, spec, options), "AZ_BATCH_HOST_LIST": HOSTS}
    run = run_line(options.command_line, tmp_path, env)
    assert run.result.returncode == 0, run.result.stderr
    assert (tmp_path / "log" / "X").exists()


# --- job release ---------------------------------------------------------------------------

def release(tmp_path: Path, spec: JobSpec, **extra: str) -> Run:
    line = job_options(spec, "p").job_release_task
    assert line is not None
    env = {**task_environment(tmp_path, spec.id, "jobrelease"), **extra}
    return run_line(line.command_line, tmp_path, env)


def ssh_dirs(tmp_path: Path, job_id: str) -> list[Path]:
    dirs = [tmp_path / "workitems" / job_id / "job-1" / t / ".shipyard-ssh" for t in "ab"]
    for directory in dirs:
        directory.mkdir(parents=True)
        (directory / "id_ed25519").write_text("secret")
    return dirs


def test_release_removes_the_jobs_containers_and_keys(tmp_path: Path) -> None:
    user = "printf '%s' \"it's $AZ_BATCH_JOB_ID\" > released # a comment"
    spec = job(id=JOB_ID, job_release={"command": user})
    dirs = ssh_dirs(tmp_path, JOB_ID)
    other = ssh_dirs(tmp_path, "other")
    run = release(tmp_path, spec, FAKE_DOCKER_PS="c1 c2")
    assert run.result.returncode == 0, run.result.stderr
    assert run.docker_calls() == [["ps", "-aq", "--filter", f"label=shipyard.job={JOB_ID}"],
                                  ["rm", "-f", "-v", "c1", "c2"]]
    assert not any(d.exists() for d in dirs) and all(d.exists() for d in other)
    wd = tmp_path / "workitems" / JOB_ID / "job-1" / "jobrelease" / "wd"
    assert (wd / "released").read_text() == f"it's {JOB_ID}"


def test_release_cleans_even_when_the_user_command_fails(tmp_path: Path) -> None:
    spec = job(job_release={"command": "exit 3"})
    dirs = ssh_dirs(tmp_path, "j")
    run = release(tmp_path, spec, FAKE_DOCKER_PS="c1")
    assert run.result.returncode == 3
    assert ["rm", "-f", "-v", "c1"] in run.docker_calls()
    assert not any(d.exists() for d in dirs)


def test_release_fails_when_cleaning_fails(tmp_path: Path) -> None:
    run = release(tmp_path, job(), FAKE_DOCKER_EXIT="1")
    assert run.result.returncode == 1


def test_release_without_containers_does_not_call_rm(tmp_path: Path) -> None:
    run = release(tmp_path, job())
    assert run.result.returncode == 0, run.result.stderr
    assert [call[0] for call in run.docker_calls()] == ["ps"]


# --- syntax of everything generated from hostile input ----------------------------------------

def test_every_generated_line_is_valid_bash() -> None:
    spec = mi_job(pre_execution_command="source x # comment", coordination_command="sshd &")
    spec = spec.model_copy(update={"tasks": (*spec.tasks, hostile_job().tasks[0].model_copy(
        update={"id": "plain"}))})
    created = job_options(spec.model_copy(update={"job_release": None}), "p")
    lines = [created.job_release_task.command_line] if created.job_release_task else []
    for options in task_options(spec, PoolContext(2, 0, pool()), SSH):
        lines.append(options.command_line)
        if options.multi_instance_settings is not None:
            lines.append(options.multi_instance_settings.coordination_command_line)
    assert len(lines) == 4
    for line in lines:
        checked = bash_syntax_ok(line)
        assert checked.returncode == 0, (line, checked.stderr)
