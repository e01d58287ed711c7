"""pool.yaml's data and registry settings: pool ``resource_files`` and ``input_data`` in the
start task, ``transfer_files_on_pool_creation``, ``additional_registries`` and the pre-3.8
``gpu`` switch (pure: config models, create-options, golden files; storage is faked).

Regenerate the golden file with ``SHIPYARD_REGOLD=1 .venv/bin/pytest tests/unit/test_pool_data.py``.
"""

from __future__ import annotations

import json
import shlex
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.config import ShipyardConfig, load_config
from shipyard.config.data import RemotePath
from shipyard.errors import ConfigError
from shipyard.factory import accel, data
from shipyard.factory.pool import image_registry, login_servers, pool_options
from shipyard.storage.account import LONG_SAS, Account
from shipyard.storage.plan import StoragePlan
from tests.unit.test_factory_golden import check_golden

AZURE = Path(__file__).parent / "configs" / "azure-openmpi"
POOL_DATA = """\
  resource_files:
  - blob_source: https://downloads.example.com/tools/setup.sh
    file_path: tools/setup.sh
    file_mode: '0750'
  - http_url: https://hpcstorage.blob.core.windows.net/scripts/env.sh?sv=1&sig=given
    file_path: env.sh
  input_data:
    azure_storage:
    - storage_account_settings: mystorageaccount
      remote_path: poolcontainer/dir
      local_path: $AZ_BATCH_NODE_SHARED_DIR/pooldata
    - storage_account_settings: mystorageaccount
      remote_path: refdata
      local_path: /opt/ref data
      include: ['*.bin']
"""
CONTAINER_URL = "https://hpcstorage.blob.core.windows.net/{}?sv=x&sig=fixed"


def azure_dir(tmp_path: Path, shipyard: str = "", **extra: str) -> ShipyardConfig:
    """The azure-openmpi config dir with lines appended to some of its files (``shipyard``:
    to config.yaml's ``batch_shipyard``)."""
    root = tmp_path / "cfg"
    shutil.copytree(AZURE, root)
    for name, lines in extra.items():
        path = root / f"{name}.yaml"
        path.write_text(path.read_text() + lines)
    config = root / "config.yaml"
    config.write_text(config.read_text().replace("batch_shipyard:\n",
                                                 f"batch_shipyard:\n{shipyard}", 1))
    return load_config(root)


def load_error(tmp_path: Path, **extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        azure_dir(tmp_path, **extra)
    return caught.value.message


def fixed_listing(where: RemotePath, lifetime: timedelta = LONG_SAS) -> data.Listing:
    names = ("a.bin", "b.bin") if where.include else ("dir/x.txt",)
    return data.Listing(CONTAINER_URL.format(where.container), names,
                        lambda name: CONTAINER_URL.format(f"{where.container}/{name}"))


def plan_for(cfg: ShipyardConfig, monkeypatch: pytest.MonkeyPatch) -> StoragePlan:
    def local(link: str) -> Account:
        raise AssertionError("an Azure config never asks for the local engine")

    plan = StoragePlan(cfg, local)
    monkeypatch.setattr(plan, "listing", fixed_listing)
    return plan


# --- resource_files and input_data in the start task ----------------------------------------

def test_pool_start_task_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = azure_dir(tmp_path, pool=POOL_DATA)
    options = plan_for(cfg, monkeypatch).pool_options(pool_options(cfg))
    assert options.start_task is not None
    check_golden("pool_data_start_task.json",
                 json.dumps(options.start_task.as_dict(), indent=2) + "\n")


def test_start_task_order_pre_inputs_post(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    cfg = azure_dir(tmp_path, pool=POOL_DATA)
    start = plan_for(cfg, monkeypatch).pool_options(pool_options(cfg)).start_task
    assert start is not None and start.wait_for_success
    script = shlex.split(start.command_line)[2]
    assert script == (
        "set -e; sysctl -w vm.max_map_count=262144; "
        'mkdir -p -- "$AZ_BATCH_NODE_SHARED_DIR"/pooldata && cp -a -- .shipyard-input/0/. '
        '"$AZ_BATCH_NODE_SHARED_DIR"/pooldata/; '
        "mkdir -p -- '/opt/ref data' && cp -a -- .shipyard-input/1/. '/opt/ref data'/")
    files = [(f.file_path, f.http_url, f.storage_container_url, f.blob_prefix, f.file_mode)
             for f in start.resource_files or []]
    assert files == [
        ("tools/setup.sh", "https://downloads.example.com/tools/setup.sh", None, None, "0750"),
        ("env.sh", "https://hpcstorage.blob.core.windows.net/scripts/env.sh?sv=1&sig=given",
         None, None, None),
        (".shipyard-input/0", None, CONTAINER_URL.format("poolcontainer"), "dir/", None),
        (".shipyard-input/1/a.bin", CONTAINER_URL.format("refdata/a.bin"), None, None, None),
        (".shipyard-input/1/b.bin", CONTAINER_URL.format("refdata/b.bin"), None, None, None)]


def test_resource_files_alone_make_a_start_task(tmp_path: Path) -> None:
    pool = (AZURE / "pool.yaml").read_text().split("  additional_node_prep:")[0]
    root = tmp_path / "cfg"
    shutil.copytree(AZURE, root)
    (root / "pool.yaml").write_text(pool + "  resource_files:\n  - file_path: a\n"
                                    "    blob_source: http://h/a\n")
    start = pool_options(load_config(root)).start_task
    assert start is not None and start.command_line == "/bin/bash -c true"
    assert [(f.file_path, f.http_url) for f in start.resource_files or []] == [
        ("a", "http://h/a")]


def test_unsigned_blobs_of_a_linked_account_are_signed(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = azure_dir(tmp_path, pool="  resource_files:\n  - file_path: s.sh\n    blob_source: "
                    "https://hpcstorage.blob.core.windows.net/scripts/s.sh\n")
    start = plan_for(cfg, monkeypatch).pool_options(pool_options(cfg)).start_task
    assert start is not None and start.resource_files is not None
    url = start.resource_files[0].http_url or ""
    assert url.startswith("https://hpcstorage.blob.core.windows.net/scripts/s.sh?")
    assert "sig=" in url and "sp=r" in url


def test_pool_input_sas_follows_generated_sas_expiry_days(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = azure_dir(tmp_path, pool=POOL_DATA, shipyard="  generated_sas_expiry_days: 3\n")
    seen: list[timedelta] = []
    plan = plan_for(cfg, monkeypatch)

    def listing(where: RemotePath, lifetime: timedelta = LONG_SAS) -> data.Listing:
        seen.append(lifetime)
        return fixed_listing(where)

    monkeypatch.setattr(plan, "listing", listing)
    plan.pool_options(pool_options(cfg))
    assert seen == [timedelta(days=3)] * 2


def test_pool_input_needs_a_local_path(tmp_path: Path) -> None:
    message = load_error(tmp_path, pool="  input_data:\n    azure_storage:\n"
                         "    - storage_account_settings: mystorageaccount\n"
                         "      remote_path: c\n")
    assert message == ("pool.yaml: pool_specification.input_data.azure_storage[0].local_path: "
                       "required for pool-level input_data (where on every node the files go, "
                       "e.g. $AZ_BATCH_NODE_SHARED_DIR/data)")


@pytest.mark.parametrize(("lines", "message"), [
    ("  input_data:\n    azure_batch:\n    - job_id: j\n      task_id: t\n      destination: d\n",
     "pool.yaml: pool_specification.input_data.azure_batch: a Batch Shipyard setting that "
     "shipyard does not support: input from other tasks' nodes"),
    ("  input_data:\n    azure_storage:\n    - storage_account_settings: s\n"
     "      remote_path: c\n      local_path: /d\n      is_file_share: true\n",
     "pool.yaml: pool_specification.input_data.azure_storage[0].is_file_share: a Batch "
     "Shipyard setting that shipyard does not support: Azure Files shares; use a blob "
     "container"),
    ("  resource_files:\n  - file_path: a\n    blob_source: ftp://h/a\n",
     "pool.yaml: pool_specification.resource_files[0].blob_source: must be an http(s) URL "
     "(got 'ftp://h/a')"),
])
def test_pool_data_refusals(tmp_path: Path, lines: str, message: str) -> None:
    assert load_error(tmp_path, pool=lines) == message


def test_no_ingress_at_auto_pool_creation(tmp_path: Path) -> None:
    jobs = (AZURE / "jobs.yaml").read_text().replace(
        "  auto_complete: true\n", "  auto_complete: true\n  auto_pool:\n    keep_alive: false\n")
    root = tmp_path / "cfg"
    shutil.copytree(AZURE, root)
    (root / "jobs.yaml").write_text(jobs)
    (root / "pool.yaml").write_text((AZURE / "pool.yaml").read_text()
                                    + "  transfer_files_on_pool_creation: true\n")
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    assert caught.value.message == (
        "jobs.yaml: job_specifications[0].auto_pool: cannot ingress data on pool creation "
        "with an auto pool (pool.yaml transfer_files_on_pool_creation: true)")


# --- additional_registries ------------------------------------------------------------------

REGISTRIES = """\
    other.azurecr.io:
      username: other
      password: other-secret
    extra.azurecr.io:
      username: extra
      password: extra-secret
    hub:
      username: hubuser
      password: hub-secret
"""


def registries(cfg: ShipyardConfig) -> list[tuple[str | None, str | None]]:
    machine = pool_options(cfg).virtual_machine_configuration
    assert machine is not None and machine.container_configuration is not None
    found = machine.container_configuration.container_registries or []
    return [(r.registry_server, r.username) for r in found]


def test_logins_go_only_to_registries_the_pool_uses(tmp_path: Path) -> None:
    cfg = azure_dir(tmp_path, credentials=REGISTRIES)
    assert registries(cfg) == [(None, "hubuser"), ("myregistry.azurecr.io", "hpcpull")]


def test_additional_registries_add_their_logins(tmp_path: Path) -> None:
    cfg = azure_dir(tmp_path, credentials=REGISTRIES, config=(
        "  additional_registries:\n    docker:\n    - extra.azurecr.io\n"
        "    - public.example.com\n    - myregistry.azurecr.io\n"))
    assert login_servers(cfg) == ["hub", "extra.azurecr.io", "myregistry.azurecr.io"]
    machine = pool_options(cfg).virtual_machine_configuration
    assert machine is not None and machine.container_configuration is not None
    check_golden("pool_data_registries.json",
                 json.dumps(machine.container_configuration.as_dict(), indent=2) + "\n")


def test_fallback_registry_logs_in_too(tmp_path: Path) -> None:
    cfg = azure_dir(tmp_path, credentials=REGISTRIES,
                    shipyard="  fallback_registry: other.azurecr.io\n")
    assert login_servers(cfg) == ["hub", "other.azurecr.io", "myregistry.azurecr.io"]


def test_singularity_registries_stay_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, config="  additional_registries:\n    singularity:\n"
                                          "    - shub.example.com\n")
    assert message.startswith("config.yaml: global_resources.additional_registries.singularity:"
                              " a Batch Shipyard setting that shipyard does not support: "
                              "Singularity containers")


@pytest.mark.parametrize(("image", "server"), [
    ("busybox", None), ("library/busybox:1", None), ("me/app", None),
    ("myregistry.azurecr.io/hpc/osu:4", "myregistry.azurecr.io"),
    ("localhost:5000/app", "localhost:5000"), ("localhost/app", "localhost")])
def test_image_registry(image: str, server: str | None) -> None:
    assert image_registry(image) == server


# --- the pre-3.8 gpu switch -----------------------------------------------------------------

def gpu_run_options(tmp_path: Path, job: str, task: str, vm_size: str) -> list[str]:
    jobs = (AZURE / "jobs.yaml").read_text()
    jobs = jobs.replace("  infiniband: false\n", f"  infiniband: false\n{job}", 1)
    jobs = jobs.replace("    environment_variables:\n      UCX_TLS: rc,sm\n",
                        f"    environment_variables:\n      UCX_TLS: rc,sm\n{task}", 1)
    root = tmp_path / "cfg"
    shutil.copytree(AZURE, root, dirs_exist_ok=True)
    (root / "jobs.yaml").write_text(jobs)
    cfg = load_config(root)
    job_spec = cfg.jobs[0]
    found = accel.resolve(job_spec, job_spec.tasks[0], cfg.pool, vm_size,
                          where="job_specifications[0].tasks[0]")
    return [opt for opt in found.run_options(native=False) if opt.startswith("--gpus")]


@pytest.mark.parametrize(("job", "task", "expected"), [
    ("  gpu: true\n", "", ["--gpus=all"]),
    ("", "    gpu: true\n", ["--gpus=all"]),
    ("  gpus: '2'\n", "    gpu: false\n", []),
    ("  gpu: false\n", "", []),
    ("  gpu: false\n", "    gpus: device=1\n", ["--gpus=device=1"]),
])
def test_gpu_switch_means_gpus_all_or_disable(tmp_path: Path, job: str, task: str,
                                              expected: list[str]) -> None:
    assert gpu_run_options(tmp_path, job, task, "Standard_NC24rs_v3") == expected


def test_gpu_true_on_a_size_without_gpus_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        gpu_run_options(tmp_path, "", "    gpu: true\n", "Standard_D2s_v3")
    assert caught.value.message == ("jobs.yaml: job_specifications[0].tasks[0].gpu: 'all' "
                                    "needs a GPU VM size (NC, ND or NV); the pool's is "
                                    "Standard_D2s_v3")


def test_gpu_and_gpus_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        gpu_run_options(tmp_path, "", "    gpu: true\n    gpus: all\n", "Standard_NC6")
    assert caught.value.message == ("jobs.yaml: job_specifications[0].tasks[0].gpu: set only "
                                    "one of gpus and gpu (Batch Shipyard's name before 3.8)")
