"""Golden files of the Azure requests for Batch Shipyard 3.9.1's own recipes, one per size class.

Each recipe config (tests/data/batch_shipyard_3.9.1) is loaded with Azure credentials and
its tasks generated for 2 nodes: a native pool (mpiBench-OpenMPI), GPU sizes (NC24, NC12),
a NetworkDirect RDMA size (H16r) and SR-IOV RDMA sizes (HB60rs, HC44rs). A plain task of
the same job is golden-tested too. Regenerate as tests/unit/test_factory_golden.py says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import JobSpec, ShipyardConfig, load_config
from shipyard.factory import PoolContext, task_options
from tests.unit.test_factory_fakes import fixed_ssh
from tests.unit.test_factory_golden import check_golden

RECIPES = Path(__file__).resolve().parents[1] / "data" / "batch_shipyard_3.9.1" / "recipes"
AZURE_CREDENTIALS = Path(__file__).parent / "configs" / "azure-openmpi" / "credentials.yaml"

#: golden name -> recipe config dir: one per size class and pool kind.
CASES = {
    "native_openmpi": "mpiBench-OpenMPI/config/docker",
    "native_intelmpi": "mpiBench-IntelMPI/config/docker",
    "gpu_nc24_openmpi": "CNTK-GPU-OpenMPI/config/multinode-multigpu",
    "gpu_nc12": "TensorFlow-Distributed/config/gpu",
    "rdma_nd_h16r_intelmpi": "NAMD-Infiniband-IntelMPI/config",
    "rdma_nd_nc24r_gpu_intelmpi": "CNTK-GPU-Infiniband-IntelMPI/config",
    "rdma_sriov_hb60rs_openmpi": "mpiBench-Infiniband-OpenMPI/config",
    "rdma_sriov_hb60rs_mpich": "mpiBench-Infiniband-MPICH/config",
    "rdma_sriov_hc44rs_intelmpi": "HPCG-Infiniband-IntelMPI/config/docker",
}


def load(recipe: str) -> ShipyardConfig:
    return load_config(RECIPES / recipe, credentials=AZURE_CREDENTIALS)


def with_plain_task(job: JobSpec) -> JobSpec:
    """The job plus a plain task of the same image (``id: plain``)."""
    first = job.tasks[0]
    plain = first.model_copy(update={"id": "plain", "multi_instance": None,
                                     "command": "hostname"})
    return job.model_copy(update={"tasks": (*job.tasks, plain)})


def generated(cfg: ShipyardConfig) -> list[dict[str, Any]]:
    job = with_plain_task(cfg.jobs[0])
    tasks = task_options(job, PoolContext(2, 0, cfg.pool), fixed_ssh(),
                         id_format=cfg.task_id_format(job))
    out = [task.as_dict() for task in tasks]
    for task in out:  # the OpenSSH private key format holds a random check number
        for setting in task.get("environmentSettings") or []:
            if setting["name"] == "SHIPYARD_SSH_KEY":
                setting["value"] = "<the job's private key>"
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_recipe_requests(name: str) -> None:
    text = json.dumps(generated(load(CASES[name])), indent=2, sort_keys=True) + "\n"
    check_golden(f"recipe_{name}.json", text)


def test_native_tasks_are_container_tasks() -> None:
    multi, plain = generated(load(CASES["native_openmpi"]))
    for task in (multi, plain):
        settings = task["containerSettings"]
        assert settings["imageName"] == "vincentlabo/mpibench:openmpi"
        assert settings["workingDirectory"] == "taskWorkingDirectory"
        assert "docker " not in task["commandLine"]
        assert "--net" not in settings["containerRunOptions"]
    assert "/usr/sbin/sshd -p 23" in multi["multiInstanceSettings"]["coordinationCommandLine"]


def test_gpu_size_gets_gpus_and_the_cuda_cache() -> None:
    multi, plain = generated(load(CASES["gpu_nc24_openmpi"]))
    for task in (multi, plain):
        env = {e["name"]: e["value"] for e in task["environmentSettings"]}
        assert env["CUDA_CACHE_PATH"] == "/mnt/batch/tasks/.nv/ComputeCache"  # Ubuntu: /mnt
    assert "--gpus=all" in plain["commandLine"]
    assert "--gpus=all" in multi["multiInstanceSettings"]["coordinationCommandLine"]


def test_networkdirect_size_gets_devices_and_dapl() -> None:
    multi, plain = generated(load(CASES["rdma_nd_h16r_intelmpi"]))
    coordination = multi["multiInstanceSettings"]["coordinationCommandLine"]
    for option in ("--device=/dev/infiniband/uverbs0", "--ulimit memlock=9223372036854775807",
                   "-v /opt/intel:/opt/intel:ro", "-v /etc/rdma:/etc/rdma:ro"):
        assert option in coordination and option in plain["commandLine"]
    env = {e["name"]: e["value"] for e in multi["environmentSettings"]}
    assert env["I_MPI_FABRICS"] == "shm:dapl"
    assert "--net=host" in plain["commandLine"]


def test_sriov_openmpi_uses_ucx() -> None:
    multi, _ = generated(load(CASES["rdma_sriov_hb60rs_openmpi"]))
    assert "--mca pml ucx" in multi["commandLine"]
    assert "btl_tcp_if_include" not in multi["commandLine"]
    assert "issm0" in multi["multiInstanceSettings"]["coordinationCommandLine"]
