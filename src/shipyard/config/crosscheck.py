"""Checks that span files: each file can be valid alone and still not fit the others.

Each check runs only when the files it needs are present and yields its problems, each
naming the file and path at fault; all of them are raised together as ``ConfigProblems``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from shipyard.config.bundle import ShipyardConfig
from shipyard.config.global_config import GlobalConfig
from shipyard.config.jobs import JobSpec, TaskSpec
from shipyard.config.pool import PoolSpecification
from shipyard.config.poolnetwork import network_checks
from shipyard.errors import ConfigError, config_problems


def check_across_files(cfg: ShipyardConfig) -> None:
    """Run every cross-file check that the present files allow; raise all problems."""
    problems = list(_problems(cfg))
    if problems:
        raise config_problems(problems)


def _problems(cfg: ShipyardConfig) -> Iterator[ConfigError]:
    checks: list[Callable[[], None]] = []
    if not cfg.is_local:
        checks.append(lambda: _storage_link(cfg))
        if cfg.pool_file is not None:
            checks.append(partial(_azure_pool, cfg.pool_file))
    checks += network_checks(cfg)
    if cfg.pool_file is not None and cfg.global_file is not None:
        checks.append(partial(_node_ingress_user, cfg.pool_file, cfg.global_file))
    for j, job in enumerate(cfg.jobs_file or ()):
        if cfg.pool_file is not None and job.auto_pool is not None:
            checks.append(partial(_auto_pool_ingress, cfg.pool_file, j))
        for t, task in enumerate(job.tasks):
            where = f"job_specifications[{j}].tasks[{t}]"
            if cfg.global_file is not None:
                checks.append(partial(_preloaded, cfg, job, task, where))
            if cfg.pool_file is not None and task.multi_instance is not None:
                checks.append(partial(_mpi_pool, cfg.pool_file, where))
        if cfg.global_file is not None and job.merge_task is not None:
            checks.append(partial(_preloaded, cfg, job, job.merge_task,
                                  f"job_specifications[{j}].merge_task"))
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            yield exc


def _storage_link(cfg: ShipyardConfig) -> None:
    link = cfg.global_file.batch_shipyard.storage_account_settings if cfg.global_file else None
    accounts = cfg.credentials.storage.accounts
    if link is not None and link not in accounts:
        known = ", ".join(accounts) or "none"
        raise ConfigError(f"config.yaml: batch_shipyard.storage_account_settings: '{link}' is "
                          f"not a storage account in credentials.yaml (known: {known})")


def _azure_pool(pool: PoolSpecification) -> None:
    for key in ("vm_size", "vm_configuration"):
        if getattr(pool, key) is None:
            raise ConfigError(f"pool.yaml: pool_specification.{key}: required for an Azure "
                              "Batch account")


def _image_key(image: str) -> str:
    """``busybox`` and ``busybox:latest`` are the same image."""
    name = image.rsplit("/", 1)[-1]
    return image if (":" in name or "@" in name) else f"{image}:latest"


def _preloaded(cfg: ShipyardConfig, job: JobSpec, task: TaskSpec, where: str) -> None:
    image = task.docker_image
    preloaded = {_image_key(i) for i in cfg.global_resources.docker_images}
    if image is None or job.allow_run_on_missing_image or _image_key(image) in preloaded:
        return
    raise ConfigError(
        f"jobs.yaml: {where}.docker_image: '{image}' is not in config.yaml "
        "global_resources.docker_images",
        hint="add it there, or set allow_run_on_missing_image: true on the job",
    )


def _node_ingress_user(pool: PoolSpecification, config: GlobalConfig) -> None:
    # Node destinations are reached over SSH as pool.yaml's user: without one, neither
    # 'data ingress' nor 'pool add' could send them.
    for index, entry in enumerate(config.global_resources.files):
        if entry.destination.to_nodes and pool.ssh is None:
            raise ConfigError(
                f"config.yaml: global_resources.files[{index}].destination: sending to the "
                "pool's nodes needs an SSH user, and pool.yaml has no pool_specification.ssh",
                hint="add ssh: {username: shipyard} to pool.yaml, or send the files to a "
                     "storage account (storage_account_settings)")


def _auto_pool_ingress(pool: PoolSpecification, index: int) -> None:
    # Batch Shipyard's rule: nothing runs at an auto pool's creation to ingress the files.
    if pool.transfer_files_on_pool_creation:
        raise ConfigError(
            f"jobs.yaml: job_specifications[{index}].auto_pool: cannot ingress data on pool "
            "creation with an auto pool (pool.yaml transfer_files_on_pool_creation: true)",
            hint="run 'shipyard data ingress' first and set transfer_files_on_pool_creation: "
                 "false")


def _mpi_pool(pool: PoolSpecification, where: str) -> None:
    if not pool.inter_node_communication_enabled:
        raise ConfigError(
            f"jobs.yaml: {where}.multi_instance: needs a pool with "
            f"inter_node_communication_enabled: true (pool.yaml, pool '{pool.id}')"
        )
    if pool.slots_per_node != 1:
        raise ConfigError(
            f"jobs.yaml: {where}.multi_instance: needs a pool with one task slot per node "
            f"(pool.yaml, pool '{pool.id}' has {pool.slots_per_node})"
        )
