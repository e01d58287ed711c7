"""A Docker multi-instance task as two command lines (multi-instance.md sections 3 and 4).

Coordination (every node), one bash script:

1. snapshot the exported variable names (``compgen -e``) to pass into the container;
2. write the per-job key pair from ``SHIPYARD_SSH_KEY``/``SHIPYARD_SSH_PUB`` into
   ``$AZ_BATCH_TASK_DIR/.shipyard-ssh`` (umask 077: dir 0700, files 0600) with an ssh
   ``config`` holding one ``Host`` block per address of ``$AZ_BATCH_HOST_LIST``, then unset
   the key variables;
3. if an sshd already answers on this node's port (the container of an earlier task of
   the job, which the job release removes only at the job's end), remove the job's
   containers on this node; then ``docker run -d --net=host`` the image (its CMD, or
   ``coordination_command``, is an sshd on port 23) with that dir as ``/root/.ssh``;
   only if a stale container holds the name (an earlier attempt of the task), remove it
   and run again: every docker call costs tens of milliseconds of a node's CPU, so the
   common case makes one;
4. wait, bounded, until that sshd accepts a TCP connection on this node's own address,
   probing every 50 ms; about every half second, fail with the container's last log lines
   if the container stopped or the wait is over; once it accepts, say so in one line with
   the time (``... accepts ssh on IP:PORT at EPOCH``).

Application (master only): ``docker exec`` bash running ``set -e``, the
``pre_execution_command``, then the MPI line (or the plain ``command`` without ``mpi``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config import JobSpec, MultiInstance, TaskSpec
from shipyard.factory import docker
from shipyard.factory.accel import Accel
from shipyard.factory.mpi import mpi_command
from shipyard.factory.shell import bash_c, is_shell_name, quote, sequence, words
from shipyard.factory.ssh import ENV_PRIVATE_KEY, ENV_PUBLIC_KEY

#: Where the container's sshd looks for keys, and the host dir mounted there.
SSH_DIR = ".shipyard-ssh"
CONTAINER_SSH_DIR = "/root/.ssh"

#: Exported variables that stay out of the container (the node's own identity and shell).
NOT_PASSED = ("_", "HOME", "HOSTNAME", "PATH", "PWD", "SHLVL", "USER", "OLDPWD", "SHIPYARD_SSH_*")

_ENV = "__shipyard_env"
#: Whether something accepts TCP on address $1, port $2 (bash's /dev/tcp, 2 s at most).
_PROBE = words("timeout", "2", "bash", "-c", 'exec 3<>"/dev/tcp/$1/$2"', "_")
_SSH = "__shipyard_ssh"
_HOSTS = "__shipyard_hosts"
_SELF = "__shipyard_self"
#: printf's newline escape, as the two characters printf reads.
NEWLINE = "\\n"


@dataclass(frozen=True)
class LaunchSettings:
    """How multi-instance containers are reached: Open MPI's interface, the sshd port, the wait.

    >>> LaunchSettings(sshd_wait_seconds=120).sshd_port
    23
    """

    interface: str = "eth0"
    sshd_port: int = 23
    sshd_wait_seconds: int = 60


def _snapshot_env() -> str:
    # First statement after set: no variable of ours exists yet, and none is ever exported.
    skip = "|".join(NOT_PASSED)
    return (f"{_ENV}=(); while IFS= read -r __shipyard_name; do "
            f'case "$__shipyard_name" in {skip}) ;; '
            f'*) {_ENV}+=(-e "$__shipyard_name") ;; esac; done < <(compgen -e)')


def _write_keys(port: int) -> list[str]:
    ssh = f'"${_SSH}"'
    block = (f"Host %s\\n  Port {port}\\n  User root\\n  IdentityFile "
             f"{CONTAINER_SSH_DIR}/id_ed25519\\n  StrictHostKeyChecking no\\n"
             "  UserKnownHostsFile /dev/null\\n  LogLevel ERROR\\n")
    files = " ".join(f"{ssh}/{name}" for name in
                     ("id_ed25519", "id_ed25519.pub", "authorized_keys", "config"))
    return [
        'umask 077',
        f'{_SSH}="$AZ_BATCH_TASK_DIR"/{SSH_DIR}',
        f"rm -rf -- {ssh}",
        f"mkdir -m 700 -- {ssh}",
        f'printf %s "${ENV_PRIVATE_KEY}" | base64 -d > {ssh}/id_ed25519',
        f"printf '%s\\n' \"${ENV_PUBLIC_KEY}\" > {ssh}/id_ed25519.pub",
        f"cp -- {ssh}/id_ed25519.pub {ssh}/authorized_keys",
        f'IFS=, read -r -a {_HOSTS} <<< "$AZ_BATCH_HOST_LIST"',
        f'for __shipyard_host in "${{{_HOSTS}[@]}}"; do printf {quote(block)} '
        f'"$__shipyard_host"; done > {ssh}/config',
        f"chmod 600 -- {files}",
        f"unset {ENV_PRIVATE_KEY} {ENV_PUBLIC_KEY}",
    ]


def _required() -> str:
    names = ("AZ_BATCH_TASK_DIR", "AZ_BATCH_HOST_LIST", ENV_PRIVATE_KEY, ENV_PUBLIC_KEY)
    checks = " ".join(f'"${{{n}:?shipyard: {n} is not set}}"' for n in names)
    return f": {checks}"


#: Flags the coordination container always has (``-d --net=host``): a user's copy goes.
_MI_OWN = frozenset({"--detach", "--network"})


def _docker_run(job: JobSpec, task: TaskSpec, task_id: str, name: str, accel: Accel,
                mounts: list[str]) -> str:
    static = [n for n in docker.env_names(job, task) if not is_shell_name(n)]
    multi = task.multi_instance
    coordination = (multi.coordination_command or "") if multi is not None else ""
    parts = [
        "docker run -d --net=host", f"--name {quote(name)}",
        *docker.labels(job.id, task_id), *docker.mounts(job, task),
        f'-v "${_SSH}":{CONTAINER_SSH_DIR}', f'"${{{_ENV}[@]}}"',
        *docker.env_flags(static), *docker.task_extras(job, task),
        *accel.run_options(native=False), *mounts, *docker.user_options(task, drop=_MI_OWN),
        docker.image(task), coordination.strip(),
    ]
    return " ".join(part for part in parts if part)


def _own_address() -> str:
    return (f"{_SELF}=127.0.0.1; for __shipyard_addr in $(hostname -I 2>/dev/null || true); "
            f'do for __shipyard_host in "${{{_HOSTS}[@]}}"; do '
            f'if [ "$__shipyard_addr" = "$__shipyard_host" ]; then {_SELF}=$__shipyard_addr; '
            "fi; done; done")


def _fail(name: str, reason: str) -> str:
    message = f"shipyard: container %s {reason} on %s:%s; its last log lines:\\n"
    return (f'printf {quote(message)} {quote(name)} "${_SELF}" "$__shipyard_port" >&2; '
            f"docker logs --tail 20 {quote(name)} >&2 || true; exit 1")


def _free_port(job_id: str, launch: LaunchSettings) -> list[str]:
    """Before starting: if an sshd already answers on this node's port, it is the container
    of an earlier task of this job (a multi-instance task has the node to itself, and the
    job release removes them only at the job's end): remove the job's containers here, or
    the new sshd could not bind and the barrier would pass on the stale one. A probe, not
    a docker call, in the common case."""
    label = quote(f"{docker.LABEL_JOB}={job_id}")
    return [
        _own_address(),
        f"__shipyard_port={launch.sshd_port}",
        f'if {_PROBE} "${_SELF}" "$__shipyard_port" 2>/dev/null; then '
        f"docker ps -aq --filter label={label} | xargs -r docker rm -f >/dev/null; fi",
    ]


def _start_container(run: str, name: str) -> list[str]:
    """Run the container; on a name conflict only, remove the stale one and run again."""
    # Newlines around the body: ``run`` ends with user text (a comment, a trailing ``&``).
    return [
        f"__shipyard_start() {{\n{run}\n}}",
        "if ! __shipyard_error=$(__shipyard_start 2>&1 >/dev/null); then "
        'case "$__shipyard_error" in *"is already in use"*) '
        f"docker rm -f {quote(name)} >/dev/null 2>&1 || true; __shipyard_start >/dev/null ;; "
        '*) printf \'%s\\n\' "$__shipyard_error" >&2; exit 1 ;; esac; fi',
    ]


def _wait_for_sshd(name: str, launch: LaunchSettings) -> list[str]:
    running = f"$(docker inspect -f {quote('{{.State.Running}}')} {quote(name)} 2>/dev/null)"
    seconds = launch.sshd_wait_seconds
    return [
        f"__shipyard_deadline=$((SECONDS + {seconds}))",
        "__shipyard_tries=0",
        f'until {_PROBE} "${_SELF}" "$__shipyard_port" 2>/dev/null; do '
        "__shipyard_tries=$((__shipyard_tries + 1)); "
        # Asking the daemon costs more than a probe: only every tenth time.
        'if [ $((__shipyard_tries % 10)) -eq 0 ]; then '
        f'if [ "{running}" != true ]; then '
        f"{_fail(name, 'stopped before its sshd accepted connections')}; fi; "
        f'if [ "$SECONDS" -ge "$__shipyard_deadline" ]; then '
        f"{_fail(name, f'has no sshd accepting connections after {seconds} s')}; fi; fi; "
        "sleep 0.05; done",
        # One line in the instance's stdout.txt (a subtask log) that says it is ready, and
        # when: the timeline (batch/timeline.py) reads it, since the Batch API has no time
        # for the end of a coordination command. EPOCHREALTIME is bash's, no fork.
        f"printf {quote('shipyard: container %s accepts ssh on %s:%s at %s' + NEWLINE)} "
        f'{quote(name)} "${_SELF}" "$__shipyard_port" "${{EPOCHREALTIME:-}}"',
    ]


def coordination_command_line(job: JobSpec, task: TaskSpec, task_id: str,
                              launch: LaunchSettings | None = None,
                              accel: Accel | None = None, mounts: list[str] | None = None) -> str:
    """The coordination command line every instance runs (see the module docstring)."""
    launch = launch or LaunchSettings()
    name = docker.container_name(job.id, task_id)
    run = _docker_run(job, task, task_id, name, accel or Accel(), mounts or [])
    script = sequence(
        "set -eu", _snapshot_env(), _required(), *_write_keys(launch.sshd_port),
        *_free_port(job.id, launch),
        *_start_container(run, name),
        *_wait_for_sshd(name, launch),
    )
    return bash_c(script)


def application_command_line(job_id: str, task_id: str, multi: MultiInstance, command: str,
                             num_instances: int, launch: LaunchSettings | None = None,
                             sriov_ib: bool = False, user: str | None = None) -> str:
    """The master's command line: the MPI launch (or ``command``) inside the running container.

    ``user`` is the ``-u`` option of the job's ``user_identity`` (``docker.run_as``): Batch
    Shipyard's ``docker exec`` carries it as the container's ``docker run`` does.
    """
    launch = launch or LaunchSettings()
    run = (mpi_command(multi.mpi, num_instances, command, launch.interface, sriov_ib=sriov_ib)
           if multi.mpi is not None else command)
    inner = sequence("set -e", multi.pre_execution_command or "", run)
    name = docker.container_name(job_id, task_id)
    exec_ = f"docker exec {user}" if user else "docker exec"
    return bash_c(f"{exec_} {words(name, '/bin/bash', '-c', inner)}")
