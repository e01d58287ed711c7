"""The config room on good input: a realistic Batch Shipyard MPI config, local and on Azure."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.config import ENV_CONFIGDIR, ShipyardConfig, load_config
from shipyard.errors import ConfigError

CONFIGS = Path(__file__).parent / "configs"
AZURE = CONFIGS / "azure-openmpi"
LOCAL_CREDENTIALS = CONFIGS / "local" / "credentials.yaml"

MINIMAL = {
    "config.yaml": "global_resources:\n  docker_images: [img]\n",
    "pool.yaml": "pool_specification:\n  id: p\n  vm_count: 2\n"
    "  inter_node_communication_enabled: true\n",
}


def write_dir(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def jobs_yaml(task: str, job: str = "") -> str:
    """A one-task jobs.yaml with extra task-level (and job-level) lines."""
    return (f"job_specifications:\n- id: j\n{job}  tasks:\n  - docker_image: img\n"
            f"    command: run\n{task}")


def load_jobs(tmp_path: Path, text: str) -> ShipyardConfig:
    return load_config(write_dir(tmp_path / "cfg", {**MINIMAL, "jobs.yaml": text}))


@pytest.fixture
def azure() -> ShipyardConfig:
    return load_config(AZURE)


def test_azure_dir_credentials(azure: ShipyardConfig) -> None:
    batch = azure.credentials.batch
    assert not azure.is_local
    assert batch.account_service_url == "https://hpcbatch.westeurope.batch.azure.com"
    assert batch.account_name == "hpcbatch"
    assert batch.account_key is not None
    assert batch.account_key.get_secret_value().startswith("ZmFrZS1iYXRjaC")
    assert "ZmFrZS" not in repr(azure.credentials)
    assert azure.credentials.storage.accounts["mystorageaccount"].account == "hpcstorage"
    assert azure.credentials.docker_registry["myregistry.azurecr.io"].username == "hpcpull"


def test_azure_dir_global_and_pool(azure: ShipyardConfig) -> None:
    assert azure.global_resources.docker_images[0].endswith("osu-benchmarks:openmpi-4.1")
    pool = azure.pool
    assert pool.id == "hb120-openmpi"
    assert pool.vm_size == "Standard_HB120rs_v3"
    assert pool.vm_configuration is not None
    image = pool.vm_configuration.platform_image
    assert image is not None
    assert (image.publisher, image.offer, image.sku) == ("microsoft-dsvm", "ubuntu-hpc", "2204")
    assert (pool.vm_count.dedicated, pool.vm_count.low_priority) == (2, 0)
    assert pool.inter_node_communication_enabled and pool.slots_per_node == 1
    assert pool.resize_timeout == timedelta(minutes=20)
    assert pool.ssh is not None and pool.ssh.username == "shipyard"
    assert pool.node_prep_commands.pre == ("sysctl -w vm.max_map_count=262144",)


def test_azure_dir_multi_instance_job(azure: ShipyardConfig) -> None:
    job = azure.job("osu-allreduce")
    task = job.tasks[0]
    mi = task.multi_instance
    assert job.auto_complete and job.shm_size_for(task) == "1g"
    assert job.max_wall_time == timedelta(hours=12)
    assert job.infiniband is False and job.infiniband_for(task) is False
    assert mi is not None and mi.mpi is not None
    assert mi.num_instances == "pool_current_dedicated"
    assert mi.coordination_command is None
    assert mi.pre_execution_command == "source $AZ_BATCH_TASK_DIR/bench.env"
    assert [f.url for f in mi.resource_files] == [
        "https://hpcstorage.blob.core.windows.net/inputs/bench.env"]
    assert task.resource_files[0].file_mode == "0640"
    assert (mi.mpi.runtime, mi.mpi.executable_path) == ("openmpi", "mpirun")
    assert mi.mpi.options == ("--mca pml ucx", "--bind-to core")
    assert mi.mpi.processes_per_node_command == "nproc"
    assert mi.resolve_num_instances(azure.pool, current_dedicated=2) == 2


def test_task_inherits_job_settings(azure: ShipyardConfig) -> None:
    job = azure.jobs[0]
    env = job.environment_for(job.tasks[0])
    assert env["UCX_TLS"] == "rc,sm"
    assert env["BANNER"] == "line one\nline two"
    assert job.max_task_retries_for(job.tasks[1]) == 1
    assert job.remove_container_after_exit_for(job.tasks[1]) is True
    assert job.working_dir_for(job.tasks[1]) == "batch"
    assert job.tasks[1].id is None
    assert azure.task_id_format(job).task_id(7) == "run-007"


def test_local_credentials_override(tmp_path: Path) -> None:
    cfg = load_config(AZURE, credentials=LOCAL_CREDENTIALS)
    assert cfg.is_local
    assert cfg.sources.credentials == LOCAL_CREDENTIALS
    assert cfg.pool.id == "hb120-openmpi"


def test_no_credentials_file_means_local(tmp_path: Path) -> None:
    copy = shutil.copytree(AZURE, tmp_path / "cfg")
    (copy / "credentials.yaml").unlink()
    cfg = load_config(copy)
    assert cfg.is_local
    assert cfg.sources.credentials is None
    assert cfg.credentials.batch.account_service_url == "local"


def test_configdir_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CONFIGDIR, str(AZURE))
    cfg = load_config()
    assert cfg.sources.configdir == AZURE
    assert cfg.jobs[0].id == "osu-allreduce"


def test_explicit_file_overrides_dir(tmp_path: Path) -> None:
    other = write_dir(tmp_path, {"other-jobs.yaml": jobs_yaml("", job="")
                                 .replace("img", "busybox")})
    cfg = load_config(AZURE, jobs=other / "other-jobs.yaml")
    assert [job.id for job in cfg.jobs] == ["j"]
    assert cfg.pool.id == "hb120-openmpi"


def test_explicit_files_without_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CONFIGDIR, raising=False)
    cfg = load_config(pool=AZURE / "pool.yaml")
    assert cfg.sources.configdir is None and cfg.is_local
    assert cfg.pool.id == "hb120-openmpi"
    with pytest.raises(ConfigError) as caught:
        _ = cfg.jobs
    assert caught.value.message == "jobs.yaml: not found"


def test_missing_file_is_reported_on_access(tmp_path: Path) -> None:
    cfg = load_config(write_dir(tmp_path / "cfg", MINIMAL))
    with pytest.raises(ConfigError) as caught:
        _ = cfg.jobs
    assert caught.value.message == f"jobs.yaml: not found in {tmp_path / 'cfg'}"


@pytest.mark.parametrize(
    ("written", "expected"),
    [("intelmpi_ofa", "intelmpi-ofa"), ("intelmpi-ofa", "intelmpi-ofa"), ("mvapich", "mvapich")],
)
def test_runtime_spellings(tmp_path: Path, written: str, expected: str) -> None:
    task = f"    multi_instance:\n      num_instances: 2\n      mpi:\n        runtime: {written}\n"
    mpi = load_jobs(tmp_path, jobs_yaml(task)).jobs[0].tasks[0].multi_instance
    assert mpi is not None and mpi.mpi is not None and mpi.mpi.runtime == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [("4", 4), ("'4'", 4), ("' 8 '", 8), ("nproc", "nproc"), ("$(nproc --all)", "$(nproc --all)")],
)
def test_processes_per_node(tmp_path: Path, written: str, expected: int | str) -> None:
    task = ("    multi_instance:\n      num_instances: 2\n      mpi:\n        runtime: mpich\n"
            f"        processes_per_node: {written}\n")
    mi = load_jobs(tmp_path, jobs_yaml(task)).jobs[0].tasks[0].multi_instance
    assert mi is not None and mi.mpi is not None
    assert mi.mpi.processes_per_node == expected


def test_executable_path_kept_as_written(tmp_path: Path) -> None:
    task = ("    multi_instance:\n      num_instances: 2\n      mpi:\n        runtime: intelmpi\n"
            "        executable_path: /opt/Intel/MPI/bin/MPIRun\n")
    mi = load_jobs(tmp_path, jobs_yaml(task)).jobs[0].tasks[0].multi_instance
    assert mi is not None and mi.mpi is not None
    assert mi.mpi.executable_path == "/opt/Intel/MPI/bin/MPIRun"


@pytest.mark.parametrize(
    ("written", "dedicated", "low", "expected"),
    [
        ("3", None, None, 3),
        ("pool_specification_vm_count_dedicated", None, None, 2),
        ("pool_current_dedicated", 5, None, 5),
        ("pool_current_low_priority", 5, 1, 1),
    ],
)
def test_resolve_num_instances(
    tmp_path: Path, written: str, dedicated: int | None, low: int | None, expected: int
) -> None:
    cfg = load_jobs(tmp_path, jobs_yaml(f"    multi_instance:\n      num_instances: {written}\n"))
    mi = cfg.jobs[0].tasks[0].multi_instance
    assert mi is not None
    assert mi.resolve_num_instances(cfg.pool, dedicated, low) == expected


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("pool_current_dedicated", "multi_instance.num_instances: pool_current_dedicated "
                                   "needs the current node counts of pool 'p'"),
        ("pool_specification_vm_count_low_priority", "multi_instance.num_instances: "
                                                     "pool_specification_vm_count_low_priority "
                                                     "is 0 in pool 'p'"),
    ],
)
def test_resolve_num_instances_fails(tmp_path: Path, written: str, message: str) -> None:
    cfg = load_jobs(tmp_path, jobs_yaml(f"    multi_instance:\n      num_instances: {written}\n"))
    mi = cfg.jobs[0].tasks[0].multi_instance
    assert mi is not None
    with pytest.raises(ConfigError) as caught:
        mi.resolve_num_instances(cfg.pool)
    assert caught.value.message == message


def test_job_level_infiniband_is_kept(tmp_path: Path) -> None:
    cfg = load_jobs(tmp_path, jobs_yaml("    infiniband: false\n", job="  infiniband: false\n"))
    job = cfg.jobs[0]
    assert job.infiniband is False and job.tasks[0].infiniband is False


def test_yaml_quirks_are_tamed(tmp_path: Path) -> None:
    job = "  max_wall_time: 12:00:00\n  retention_time: 1.12:00:00\n"
    env = "    environment_variables:\n      DAY: 2024-01-01\n      N: 4\n      ON: true\n"
    cfg = load_jobs(tmp_path, jobs_yaml(env, job=job))
    spec = cfg.jobs[0]
    assert spec.max_wall_time == timedelta(hours=12)
    assert spec.retention_time == timedelta(days=1, hours=12)
    assert spec.tasks[0].environment_variables == {"DAY": "2024-01-01", "N": "4", "ON": "true"}


def test_off_values_of_unimplemented_keys_are_fine(tmp_path: Path) -> None:
    task = ("    singularity_image: null\n    gpus: disable\n    data_volumes: []\n"
            "    infiniband: false\n")
    cfg = load_jobs(tmp_path, jobs_yaml(task, job="  gpu: false\n  input_data: {}\n"))
    assert cfg.jobs[0].tasks[0].gpus == "disable"


def test_task_factories(tmp_path: Path) -> None:
    sweep = ("    task_factory:\n      parametric_sweep:\n        product:\n"
             "        - start: 0\n          stop: 4\n")
    text = jobs_yaml(sweep) + "  - docker_image: img\n    task_factory:\n      repeat: 3\n"
    factories = [t.task_factory for t in load_jobs(tmp_path, text).jobs[0].tasks]
    assert factories[0] is not None and factories[0].parametric_sweep is not None
    assert factories[0].parametric_sweep.product[0].stop == 4
    assert factories[1] is not None and factories[1].repeat == 3


def test_legacy_spellings(tmp_path: Path) -> None:
    pool = ("pool_specification:\n  id: p\n  vm_count: 3\n  max_tasks_per_node: 4\n"
            "  additional_node_prep_commands:\n  - echo hi\n")
    files = {**MINIMAL, "pool.yaml": pool}
    cfg = load_config(write_dir(tmp_path / "cfg", files))
    assert cfg.pool.vm_count.dedicated == 3 and cfg.pool.slots_per_node == 4
    assert cfg.pool.node_prep_commands.post == ("echo hi",)
