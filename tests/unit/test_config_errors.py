"""The config room on bad input: every problem is one line naming the file and the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import ENV_CONFIGDIR, load_config
from shipyard.config import unimplemented as unimplemented_module
from shipyard.config.unimplemented import UNIMPLEMENTED
from shipyard.errors import ConfigError

CREDENTIALS = "credentials:\n  batch:\n    account_service_url: local\n"
CONFIG = "global_resources:\n  docker_images:\n  - img\n"
POOL = "pool_specification:\n  id: p\n  vm_count: 2\n  inter_node_communication_enabled: true\n"
JOBS = "job_specifications:\n- id: j\n  tasks:\n  - docker_image: img\n    command: run\n"
FILES = {"credentials.yaml": CREDENTIALS, "config.yaml": CONFIG, "pool.yaml": POOL,
         "jobs.yaml": JOBS}

AZURE_CREDENTIALS = (
    "credentials:\n  batch:\n    account_service_url: https://acct.westeurope.batch.azure.com\n"
    "    account_key: a2V5\n"
)
MPI_TASKS = (
    "job_specifications:\n- id: j\n  tasks:\n  - docker_image: img\n"
    "  - docker_image: img\n    multi_instance:\n      num_instances: 2\n"
    "      mpi:\n        runtime: {runtime}\n"
)


def load_with(tmp_path: Path, name: str, text: str) -> ConfigError:
    """Load the minimal valid dir with one file replaced; return the error it must raise."""
    for filename, content in {**FILES, name: text}.items():
        (tmp_path / filename).write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    return caught.value


def task(lines: str) -> str:
    return JOBS + lines


def job(lines: str) -> str:
    return JOBS.replace("- id: j\n", "- id: j\n" + lines)


UNKNOWN_KEYS = [
    ("jobs.yaml", "job_specification:\n- id: j\n",
     "jobs.yaml: job_specification: unknown key; did you mean 'job_specifications'?"),
    ("jobs.yaml", "job_specifications:\n- id: j\n  taks: []\n",
     "jobs.yaml: job_specifications[0].taks: unknown key; did you mean 'tasks'?"),
    ("jobs.yaml", task("    comand: x\n"),
     "jobs.yaml: job_specifications[0].tasks[0].comand: unknown key; did you mean 'command'?"),
    ("jobs.yaml", task("    multi_instance:\n      num_instance: 2\n"),
     "jobs.yaml: job_specifications[0].tasks[0].multi_instance.num_instance: unknown key; "
     "did you mean 'num_instances'?"),
    ("jobs.yaml", task("    multi_instance:\n      num_instances: 2\n      mpi:\n"
                       "        runtime: mpich\n        processes_pernode: 2\n"),
     "jobs.yaml: job_specifications[0].tasks[0].multi_instance.mpi.processes_pernode: "
     "unknown key; did you mean 'processes_per_node'?"),
    ("jobs.yaml", task("    colour: blue\n"),
     "jobs.yaml: job_specifications[0].tasks[0].colour: unknown key"),
    ("pool.yaml", POOL + "  vm_configuration:\n    platform_imge: {}\n",
     "pool.yaml: pool_specification.vm_configuration.platform_imge: unknown key; "
     "did you mean 'platform_image'?"),
    ("credentials.yaml", CREDENTIALS + "    acount_key: k\n",
     "credentials.yaml: credentials.batch.acount_key: unknown key; did you mean 'account_key'?"),
    ("config.yaml", "global_resources:\n  docker_image: [img]\n",
     "config.yaml: global_resources.docker_image: unknown key; did you mean 'docker_images'?"),
    ("jobs.yaml", job("  force_enable_task_dependancies: true\n"),
     "jobs.yaml: job_specifications[0].force_enable_task_dependancies: unknown key; "
     "did you mean 'force_enable_task_dependencies'?"),
    ("jobs.yaml", job("  merge_task:\n    docker_image: img\n    comand: x\n"),
     "jobs.yaml: job_specifications[0].merge_task.comand: unknown key; "
     "did you mean 'command'?"),
]

WRONG_VALUES = [
    ("jobs.yaml", MPI_TASKS.format(runtime="opnempi"),
     "jobs.yaml: job_specifications[0].tasks[1].multi_instance.mpi.runtime: must be one of "
     "openmpi, mpich, mvapich, intelmpi, intelmpi-ofa (got 'opnempi')"),
    ("jobs.yaml", job("  auto_complete: sometimes\n"),
     "jobs.yaml: job_specifications[0].auto_complete: must be true or false (got 'sometimes')"),
    ("jobs.yaml", job("  priority: 5000\n"),
     "jobs.yaml: job_specifications[0].priority: must be at most 1000 (got 5000)"),
    ("jobs.yaml", task("    labels: mylabel\n"),
     "jobs.yaml: job_specifications[0].tasks[0].labels: must be a list (got 'mylabel')"),
    ("jobs.yaml", task("    environment_variables: [A=1]\n"),
     "jobs.yaml: job_specifications[0].tasks[0].environment_variables: must be a mapping "
     "(got a list)"),
    ("jobs.yaml", task("    multi_instance:\n      num_instances: all\n"),
     "jobs.yaml: job_specifications[0].tasks[0].multi_instance.num_instances: must be a positive "
     "integer or one of pool_current_dedicated, pool_current_low_priority, "
     "pool_specification_vm_count_dedicated, pool_specification_vm_count_low_priority "
     "(got 'all')"),
    ("jobs.yaml", task("    multi_instance:\n      num_instances: 0\n"),
     "jobs.yaml: job_specifications[0].tasks[0].multi_instance.num_instances: must be a positive "
     "integer or one of pool_current_dedicated, pool_current_low_priority, "
     "pool_specification_vm_count_dedicated, pool_specification_vm_count_low_priority (got 0)"),
    ("jobs.yaml", task("    multi_instance:\n      num_instances: 2\n      mpi:\n"
                       "        runtime: openmpi\n        processes_per_node: 0\n"),
     "jobs.yaml: job_specifications[0].tasks[0].multi_instance.mpi.processes_per_node: must be "
     "a positive integer or a command such as nproc (got 0)"),
    ("jobs.yaml", job("  max_wall_time: two hours\n"),
     "jobs.yaml: job_specifications[0].max_wall_time: must be a time span d.HH:mm:ss such as "
     "1.12:00:00 (got 'two hours')"),
    ("jobs.yaml", task("    shm_size: lots\n"),
     "jobs.yaml: job_specifications[0].tasks[0].shm_size: must be a size such as 256m or 1g "
     "(got 'lots')"),
    ("jobs.yaml", task("    resource_files:\n    - file_path: a\n      http_url: x\n"
                       "      file_mode: 0750\n"),
     "jobs.yaml: job_specifications[0].tasks[0].resource_files[0].file_mode: must be a quoted "
     "octal mode such as '0750' (got 488)"),
    ("jobs.yaml", task("    resource_files:\n    - file_path: a\n      http_url: ftp://x/a\n"),
     "jobs.yaml: job_specifications[0].tasks[0].resource_files[0].http_url: must be an http(s) "
     "URL (got 'ftp://x/a')"),
    ("jobs.yaml", task("    depends_on_range: [1]\n"),
     "jobs.yaml: job_specifications[0].tasks[0].depends_on_range: must be two task numbers "
     "[first, last] (got a list)"),
    ("jobs.yaml", task("    task_factory:\n      repeat: 2\n      parametric_sweep:\n"
                       "        zip: [ab, '01']\n"),
     "jobs.yaml: job_specifications[0].tasks[0].task_factory: set exactly one of "
     "parametric_sweep, random, file, custom, repeat (got parametric_sweep, repeat)"),
    ("pool.yaml", "pool_specification:\n  id: p\n  vm_count:\n    dedicated: -1\n",
     "pool.yaml: pool_specification.vm_count.dedicated: must be at least 0 (got -1)"),
    ("pool.yaml", POOL + "  max_tasks_per_node: 1\n  task_slots_per_node: 1\n",
     "pool.yaml: pool_specification.task_slots_per_node: set only one of max_tasks_per_node "
     "and task_slots_per_node"),
    ("credentials.yaml", "credentials:\n  batch:\n    account_service_url: batch.azure.com\n",
     "credentials.yaml: credentials.batch.account_service_url: must be 'local' or an https:// "
     "account URL (got 'batch.azure.com')"),
    ("config.yaml", "global_resources:\n  docker_images: busybox\n",
     "config.yaml: global_resources.docker_images: must be a list (got 'busybox')"),
    ("jobs.yaml", "- id: j\n", "jobs.yaml: must be a mapping (got a list)"),
]

MISSING = [
    ("jobs.yaml", "job_specifications:\n- tasks:\n  - docker_image: img\n",
     "jobs.yaml: job_specifications[0].id: required key is missing"),
    ("jobs.yaml", "job_specifications:\n- id: j\n  tasks:\n  - command: run\n",
     "jobs.yaml: job_specifications[0].tasks[0].docker_image: required key is missing"),
    ("jobs.yaml", "job_specifications:\n- id: j\n  tasks: []\n",
     "jobs.yaml: job_specifications[0].tasks: must have at least 1 item(s)"),
    ("jobs.yaml", "", "jobs.yaml: job_specifications: required key is missing"),
    ("pool.yaml", "pool_specification:\n  vm_count: 1\n",
     "pool.yaml: pool_specification.id: required key is missing"),
    ("jobs.yaml", task("    multi_instance:\n      mpi:\n        runtime: openmpi\n"),
     "jobs.yaml: job_specifications[0].tasks[0].multi_instance.num_instances: "
     "required key is missing"),
    ("credentials.yaml", AZURE_CREDENTIALS.replace("    account_key: a2V5\n", ""),
     "credentials.yaml: credentials.batch.account_key: required for an Azure Batch account "
     "(or an aad section for Entra ID sign-in)"),
    ("jobs.yaml", "job_specifications:\n- id: not/valid\n  tasks:\n  - docker_image: img\n",
     "jobs.yaml: job_specifications[0].id: must be 1 to 64 letters, digits, hyphens or "
     "underscores (got 'not/valid')"),
    ("jobs.yaml", JOBS + JOBS.replace("job_specifications:\n", ""),
     "jobs.yaml: job_specifications[1].id: duplicate job id 'j' (also job_specifications[0])"),
    # Batch ids are case-insensitive: the service would refuse the second after the first.
    ("jobs.yaml", JOBS + JOBS.replace("job_specifications:\n", "").replace("id: j", "id: J"),
     "jobs.yaml: job_specifications[1].id: duplicate job id 'J' (also job_specifications[0] "
     "'j'; Batch ids ignore case)"),
    ("jobs.yaml", task("  - docker_image: img\n    id: Task1\n"
                       "  - docker_image: img\n    id: task1\n"),
     "jobs.yaml: job_specifications[0].tasks[2].id: duplicate task id 'task1' (also tasks[1] "
     "'Task1'; Batch ids ignore case)"),
]

BAD_YAML = [
    ("jobs.yaml", "job_specifications:\n- id: j\n  tasks: [\n",
     "jobs.yaml: line 4, column 1: expected the node content, but found '<stream end>'"),
    ("pool.yaml", "pool_specification:\n  id: p\n   vm_size: x\n",
     "pool.yaml: line 3, column 11: mapping values are not allowed here"),
    ("config.yaml", "global_resources:\n  docker_images: [a]\n  docker_images: [b]\n",
     "config.yaml: line 3, column 3: duplicate key 'docker_images'"),
    ("credentials.yaml", "credentials:\n\tbatch: {}\n",
     "credentials.yaml: line 2, column 1: found character '\\t' that cannot start any token"),
]

T0 = "jobs.yaml: job_specifications[0].tasks[0].task_factory"


def factory(lines: str) -> str:
    return task("    task_factory:\n" + lines)


GENERATOR_WRONG = [
    (factory("      random:\n        generate: 2\n        distribution:\n"
             "          uniform:\n            a: 0\n"),
     f"{T0}.random.distribution.uniform.b: required key is missing"),
    (factory("      random:\n        generate: 2\n        distribution:\n"
             "          weibull: {}\n"),
     f"{T0}.random.distribution.weibull.alpha: required key is missing"),
    (factory("      random:\n        generate: 2\n        distribution: {}\n"),
     f"{T0}.random.distribution: set exactly one of uniform, triangular, beta, exponential, "
     "gamma, gauss, lognormal, pareto, weibull (got none)"),
    (factory("      random:\n        generate: 2\n        distribution:\n"
             "          exponential:\n            lambda: 0\n"),
     f"{T0}.random.distribution.exponential.lambda: must not be 0 (the mean is 1/lambda)"),
    (factory("      random:\n        generate: 2\n        distribution:\n"
             "          exponential:\n            lamda: 1\n"),
     f"{T0}.random.distribution.exponential.lamda: unknown key; did you mean 'lambda'?"),
    (factory("      random:\n        generate: 2\n        distribution:\n"
             "          gamma:\n            alpha: 0\n            beta: 1\n"),
     f"{T0}.random.distribution.gamma.alpha: input should be greater than 0 (got 0)"),
    (factory("      random:\n        generate: 2\n"),
     f"{T0}.random: set exactly one of integer, distribution (got none)"),
    (factory("      random:\n        integer:\n          start: 0\n          stop: 3\n"),
     f"{T0}.random.generate: required key is missing"),
    (factory("      random:\n        generate: 2\n        integer:\n"
             "          start: 3\n          stop: 3\n          step: 1\n"),
     f"{T0}.random.integer.stop: range(3, 3, 1) is empty: no integer to draw"),
    (factory("      custom:\n        input_args: [a]\n"),
     f"{T0}.custom.module: required key is missing"),
    (job("  user_identity:\n    default_pool_admin: true\n    specific_user:\n"
         "      uid: 1\n      gid: 1\n"),
     "jobs.yaml: job_specifications[0].user_identity.specific_user: set only one of "
     "default_pool_admin and specific_user"),
    (job("  user_identity:\n    specific_user:\n      uid: 1001\n"),
     "jobs.yaml: job_specifications[0].user_identity.specific_user.gid: required key is "
     "missing"),
]


@pytest.mark.parametrize(("text", "message"), GENERATOR_WRONG)
def test_task_factory_and_user_identity_messages(tmp_path: Path, text: str, message: str
                                                  ) -> None:
    assert load_with(tmp_path, "jobs.yaml", text).message == message


MERGE_TASK_WRONG = [
    ("config.yaml", CONFIG + "  volumes:\n    shared_data_volumes:\n      share:\n"
                             "        volume_driver: azurefile\n        container_path: /s\n"
                             "        storage_account_settings: sa\n",
     "config.yaml: global_resources.volumes.shared_data_volumes.share.azure_file_share_name: "
     "required for volume_driver azurefile"),
    ("config.yaml", CONFIG + "  volumes:\n    shared_data_volumes:\n      share:\n"
                             "        volume_driver: nfs\n        container_path: /s\n",
     "config.yaml: global_resources.volumes.shared_data_volumes.share.volume_driver: must be "
     "one of azureblob, azurefile, custom_linux_mount, glusterfs_on_compute, storage_cluster "
     "(got 'nfs')"),
    ("jobs.yaml", job("  auto_scratch:\n    setup: later\n    num_instances: 2\n"),
     "jobs.yaml: job_specifications[0].auto_scratch.setup: must be one of block, dependency "
     "(got 'later')"),
    ("jobs.yaml", job("  merge_task:\n    docker_image: img\n    command: x\n"
                      "    depends_on: [a]\n"),
     "jobs.yaml: job_specifications[0].merge_task.depends_on: not allowed in a merge task "
     "(it depends on every task of the job and runs once)"),
    ("jobs.yaml", job("  merge_task:\n    docker_image: img\n    command: x\n"
                      "    multi_instance:\n      num_instances: 2\n"),
     "jobs.yaml: job_specifications[0].merge_task.multi_instance: not allowed in a merge task "
     "(it depends on every task of the job and runs once)"),
]

NOT_SUPPORTED = "a Batch Shipyard setting that shipyard does not support"
SINGULARITY = ("Singularity containers; no Apptainer or Singularity package exists for "
               "Debian 12, so no local node can run them; use docker_image")

UNIMPLEMENTED_CASES = [
    ("jobs.yaml", JOBS.replace("docker_image: img", "singularity_image: shub://busybox"),
     f"jobs.yaml: job_specifications[0].tasks[0].singularity_image: {NOT_SUPPORTED}: "
     f"{SINGULARITY}"),
    ("config.yaml", CONFIG + "  singularity_images:\n    unsigned: [shub://a/b]\n",
     f"config.yaml: global_resources.singularity_images: {NOT_SUPPORTED}: {SINGULARITY}"),
    ("pool.yaml", POOL + "  gpu:\n    nvidia_driver:\n      source: https://h/driver.run\n",
     f"pool.yaml: pool_specification.gpu: {NOT_SUPPORTED}: NVIDIA driver installation"),
    ("jobs.yaml", job("  federation_constraints:\n    pool:\n      native: true\n"),
     f"jobs.yaml: job_specifications[0].federation_constraints: {NOT_SUPPORTED}: "
     "federations"),
    ("config.yaml", "batch_shipyard:\n  encryption:\n    enabled: true\n",
     f"config.yaml: batch_shipyard.encryption: {NOT_SUPPORTED}: credential encryption"),
    ("credentials.yaml", CREDENTIALS + "  storage:\n    mystorage:\n      account: s\n"
                                       "      account_key_keyvault_secret_id: https://v/s\n",
     "credentials.yaml: credentials.storage.mystorage.account_key_keyvault_secret_id: "
     f"{NOT_SUPPORTED}: KeyVault secrets; write the value itself"),
    ("credentials.yaml", CREDENTIALS + "  slurm:\n    db_password: x\n",
     f"credentials.yaml: credentials.slurm: {NOT_SUPPORTED}: Slurm on Batch"),
]

CROSS_FILE = [
    ("jobs.yaml", JOBS.replace("docker_image: img", "docker_image: other"),
     "jobs.yaml: job_specifications[0].tasks[0].docker_image: 'other' is not in config.yaml "
     "global_resources.docker_images"),
    ("jobs.yaml", job("  merge_task:\n    docker_image: other\n    command: merge\n"),
     "jobs.yaml: job_specifications[0].merge_task.docker_image: 'other' is not in config.yaml "
     "global_resources.docker_images"),
    ("pool.yaml", POOL.replace("true", "false"),
     "jobs.yaml: job_specifications[0].tasks[0].multi_instance: needs a pool with "
     "inter_node_communication_enabled: true (pool.yaml, pool 'p')"),
    ("pool.yaml", POOL + "  task_slots_per_node: 4\n",
     "jobs.yaml: job_specifications[0].tasks[0].multi_instance: needs a pool with one task "
     "slot per node (pool.yaml, pool 'p' has 4)"),
    ("credentials.yaml", AZURE_CREDENTIALS,
     "pool.yaml: pool_specification.vm_size: required for an Azure Batch account"),
]


@pytest.mark.parametrize(("name", "text", "message"),
                         UNKNOWN_KEYS + WRONG_VALUES + MISSING + BAD_YAML + UNIMPLEMENTED_CASES
                         + MERGE_TASK_WRONG)
def test_one_line_message(tmp_path: Path, name: str, text: str, message: str) -> None:
    assert load_with(tmp_path, name, text).message == message


@pytest.mark.parametrize(("name", "text", "message"), CROSS_FILE)
def test_cross_file_message(tmp_path: Path, name: str, text: str, message: str) -> None:
    files = {"jobs.yaml": task("    multi_instance:\n      num_instances: 2\n"), name: text}
    for filename, content in {**FILES, **files}.items():
        (tmp_path / filename).write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.message == message


def test_more_problems_are_counted_in_the_hint(tmp_path: Path) -> None:
    error = load_with(tmp_path, "jobs.yaml", job("  auto_complete: maybe\n  priority: x\n"))
    assert error.message == ("jobs.yaml: job_specifications[0].auto_complete: must be true or "
                             "false (got 'maybe')")
    assert error.hint == ("1 more in jobs.yaml: job_specifications[0].priority: must be an "
                          "integer (got 'x')")


def test_storage_link_must_exist(tmp_path: Path) -> None:
    config = "batch_shipyard:\n  storage_account_settings: nosuch\n" + CONFIG
    (tmp_path / "config.yaml").write_text(config)
    (tmp_path / "credentials.yaml").write_text(AZURE_CREDENTIALS)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.message == ("config.yaml: batch_shipyard.storage_account_settings: "
                                    "'nosuch' is not a storage account in credentials.yaml "
                                    "(known: none)")


def test_configdir_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CONFIGDIR, str(tmp_path / "nope"))
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.message == (f"config dir {tmp_path / 'nope'} does not exist "
                                    f"(from ${ENV_CONFIGDIR})")


def test_empty_configdir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.message == f"no config files in {tmp_path}"


def test_explicit_file_must_exist(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text(POOL)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, jobs=tmp_path / "missing.yaml")
    assert caught.value.message == f"jobs.yaml: no such file: {tmp_path / 'missing.yaml'}"


def test_every_unimplemented_key_is_documented() -> None:
    doc = unimplemented_module.__doc__ or ""
    undocumented = [entry.pattern for entry in UNIMPLEMENTED
                    if entry.pattern.rsplit(".", 1)[-1] not in doc]
    assert undocumented == []
