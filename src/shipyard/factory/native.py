"""Tasks of a native container pool (``platform_image.native: true``): Batch container tasks.

On such a pool Batch itself runs each task in a container of its image
(batch-shipyard-behaviour.md section 1b): shipyard gives ``containerSettings`` (the image,
``containerRunOptions``, the working directory) and a command line, and adds none of its
own ``docker`` calls. The run options are Batch Shipyard's: ``--rm`` unless
``remove_container_after_exit: false``, ``--shm-size``, labels, ports, the entrypoint, the
NetworkDirect InfiniBand mounts, the volumes and ``user_identity``'s ``-u`` with the node's
user files, then the user's ``additional_docker_run_options``; a
user's flag replaces shipyard's as in :mod:`shipyard.factory.docker`. Batch names the
container and mounts the node root itself, so neither ``--name`` nor a root bind is given.

The working directory is the task's (``taskWorkingDirectory``) unless
``default_working_dir: container`` asks for the image's (``containerImageDefault``).

A multi-instance task runs its coordination command in a container of the image on every
node and its application command in the primary's. Without a ``coordination_command`` it is
Batch Shipyard's ``/usr/sbin/sshd -p 23``, preceded here by writing the job's key pair and
an ssh client config (port 23, every host of ``$AZ_BATCH_HOST_LIST``) into ``/root/.ssh``:
Batch Shipyard needed the keys baked into the image, shipyard brings them per job. Command
lines are ``/bin/sh -c`` scripts, so ``$AZ_BATCH_HOST_LIST`` and ``$(nproc)`` are expanded
in the container whether or not Batch runs a shell of its own.
"""

from __future__ import annotations

from azure.batch import models

from shipyard.config import JobSpec, MultiInstance, TaskSpec
from shipyard.factory import docker
from shipyard.factory.accel import Accel
from shipyard.factory.mpi import mpi_command
from shipyard.factory.shell import quote, sequence
from shipyard.factory.ssh import ENV_PRIVATE_KEY, ENV_PUBLIC_KEY

#: The shell of native command lines: every image has one, not every image has bash.
SH = "/bin/sh"
#: The sshd Batch Shipyard starts in every instance's container by default.
DEFAULT_SSHD = "/usr/sbin/sshd -p 23"
_SSH_DIR = "/root/.ssh"
_SSH_CONFIG = ("Host *\\n  Port 23\\n  User root\\n  IdentityFile /root/.ssh/id_ed25519\\n"
               "  StrictHostKeyChecking no\\n  UserKnownHostsFile /dev/null\\n"
               "  LogLevel ERROR\\n")


def sh_c(script: str) -> str:
    """A command line running ``script`` under ``/bin/sh`` inside the container."""
    return f"{SH} -c {quote(script)}"


def run_options(job: JobSpec, task: TaskSpec, task_id: str, accel: Accel,
                mounts: list[str]) -> str:
    """``containerRunOptions``: Batch Shipyard's native options, the user's last."""
    remove = job.remove_container_after_exit_for(task) and not docker.user_sets(task, "--rm")
    parts = ["--rm" if remove else "", *docker.labels(job.id, task_id),
             *docker.task_extras(job, task), *accel.run_options(native=True), *mounts,
             *docker.user_options(task)]
    return " ".join(part for part in parts if part)


def container_settings(job: JobSpec, task: TaskSpec, task_id: str, accel: Accel,
                       mounts: list[str]) -> models.BatchTaskContainerSettings:
    """The task's ``containerSettings`` (see the module docstring)."""
    if task.docker_image is None:
        raise ValueError("not a Docker task")
    image_wd = job.working_dir_for(task) == "container"
    return models.BatchTaskContainerSettings(
        image_name=task.docker_image,
        container_run_options=run_options(job, task, task_id, accel, mounts) or None,
        working_directory="containerImageDefault" if image_wd else "taskWorkingDirectory",
    )


def plain_command_line(command: str | None) -> str:
    """A plain task's command inside its container; empty means the image's own command."""
    return sh_c(command.strip()) if command and command.strip() else ""


def _write_keys() -> list[str]:
    return [
        "umask 077",
        f'mkdir -p {_SSH_DIR}',
        f'printf %s "${ENV_PRIVATE_KEY}" | base64 -d > {_SSH_DIR}/id_ed25519',
        f"printf '%s\\n' \"${ENV_PUBLIC_KEY}\" > {_SSH_DIR}/id_ed25519.pub",
        f"cp {_SSH_DIR}/id_ed25519.pub {_SSH_DIR}/authorized_keys",
        f"printf {quote(_SSH_CONFIG)} > {_SSH_DIR}/config",
    ]


def coordination_command_line(multi: MultiInstance) -> str:
    """The user's coordination command as written, else the job's keys and sshd on 23."""
    if multi.coordination_command and multi.coordination_command.strip():
        return multi.coordination_command.strip()
    return sh_c(sequence("set -e", *_write_keys(), DEFAULT_SSHD))


def application_command_line(multi: MultiInstance, command: str, num_instances: int,
                             accel: Accel, interface: str = "eth0") -> str:
    """The primary's command: ``pre_execution_command``, then the MPI line or ``command``."""
    sriov_ib = accel.infiniband and accel.sriov
    run = (mpi_command(multi.mpi, num_instances, command, interface, sriov_ib=sriov_ib)
           if multi.mpi is not None else command)
    return sh_c(sequence("set -e", multi.pre_execution_command or "", run))
