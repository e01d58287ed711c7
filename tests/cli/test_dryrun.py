"""``pool add --dry-run`` and ``jobs add --dry-run``: golden files of every recipe's requests,
nothing sent (the ``run`` fixture fails if an engine started), and every config problem at
once.

When a change of the requests is intended, regenerate and review the diff:

    SHIPYARD_REGOLD=1 .venv/bin/pytest tests/cli/test_dryrun.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.conftest import Run

ROOT = Path(__file__).parent.parent.parent
GOLDEN = Path(__file__).parent / "golden"
RECIPES = sorted(p.parent.name for p in (ROOT / "recipes").glob("*/config"))
HOW = "SHIPYARD_REGOLD=1 .venv/bin/pytest tests/cli/test_dryrun.py"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SHIPYARD_REGOLD") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"golden file {path} is missing; create it with: {HOW}"
    assert text == path.read_text(), (f"dry-run output differs from {path}; if intended, "
                                      f"regenerate with: {HOW} (and review the diff)")


def test_every_recipe_is_covered() -> None:
    assert RECIPES == ["lammps", "mpi4py-pingpong", "mpich-ring", "openmpi-ring"]


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize(("command", "raw"), [("pool", True), ("pool", False),
                                              ("jobs", True), ("jobs", False)])
def test_recipe_dry_run(run: Run, recipe: str, command: str, raw: bool) -> None:
    configdir = ROOT / "recipes" / recipe / "config"
    result = run(command, "add", "--dry-run", *(["--raw"] if raw else []),
                 "--configdir", str(configdir))
    assert result.exit_code == 0, result.output
    if raw:
        body = json.loads(result.output)
        assert body["dry_run"] is True
    check_golden(f"{recipe}-{command}.{'json' if raw else 'txt'}", result.output)


def test_the_ssh_key_pair_of_a_job_is_never_printed(run: Run) -> None:
    result = run("jobs", "add", "--dry-run", "--raw", "--configdir",
                 str(ROOT / "recipes" / "openmpi-ring" / "config"))
    task = json.loads(result.output)["jobs"][0]["tasks"][0]
    values = {e["name"]: e["value"] for e in task["environmentSettings"]}
    assert values["SHIPYARD_SSH_KEY"] == values["SHIPYARD_SSH_PUB"] == (
        "<generated per job at submission; not shown>")
    assert "PRIVATE KEY" not in result.output and "ssh-ed25519" not in result.output


BROKEN = {
    "credentials.yaml": "credentials:\n  batch:\n    account_service_url: local\n"
                        "  keyvault:\n    uri: https://v.vault.azure.net/\n",
    "config.yaml": "global_resources:\n  docker_images: [img]\n  volumez: {}\n",
    "pool.yaml": "pool_specification:\n  id: bad/id\n  vm_count: -1\n",
    "jobs.yaml": "job_specifications:\n- id: j\n  priority: high\n  tasks:\n"
                 "  - docker_image: img\n    comand: x\n",
}
EXPECTED = [
    "credentials.yaml: credentials.keyvault: a Batch Shipyard setting that shipyard does not "
    "support: KeyVault secrets; write the value itself",
    "config.yaml: global_resources.volumez: unknown key; did you mean 'volumes'?",
    "pool.yaml: pool_specification.id: must be 1 to 64 letters, digits, hyphens or "
    "underscores (got 'bad/id')",
    "pool.yaml: pool_specification.vm_count.dedicated: must be at least 0 (got -1)",
    "jobs.yaml: job_specifications[0].priority: must be an integer (got 'high')",
    "jobs.yaml: job_specifications[0].tasks[0].comand: unknown key; did you mean 'command'?",
]


@pytest.mark.parametrize("command", ["pool", "jobs"])
def test_every_problem_of_every_file_in_one_run(run: Run, tmp_path: Path,
                                                command: str) -> None:
    for name, text in BROKEN.items():
        (tmp_path / name).write_text(text)
    result = run(command, "add", "--dry-run", "--configdir", str(tmp_path))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"error: {len(EXPECTED)} problems in the config:"
    assert [line.strip() for line in lines[1:]] == EXPECTED
    assert "Traceback" not in result.output


def test_cross_file_problems_are_listed_together(run: Run, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("global_resources:\n  docker_images: [img]\n")
    (tmp_path / "pool.yaml").write_text("pool_specification:\n  id: p\n  vm_count: 2\n")
    (tmp_path / "jobs.yaml").write_text(
        "job_specifications:\n- id: j\n  tasks:\n  - docker_image: other\n"
        "    multi_instance:\n      num_instances: 2\n")
    result = run("jobs", "add", "--dry-run", "--configdir", str(tmp_path))
    assert result.exit_code == 1
    assert "error: 2 problems in the config:" in result.output
    assert "jobs.yaml: job_specifications[0].tasks[0].docker_image: 'other' is not in " \
           "config.yaml global_resources.docker_images" in result.output
    assert "jobs.yaml: job_specifications[0].tasks[0].multi_instance: needs a pool with " \
           "inter_node_communication_enabled: true" in result.output


def test_data_movement_resolved_at_submission_is_named_not_faked(run: Run) -> None:
    """Listing and signing storage needs the account; a dry run says so and asks nothing."""
    configdir = ROOT / "recipes" / "lammps" / "storage-config"
    result = run("jobs", "add", "--dry-run", "--raw", "--configdir", str(configdir))
    assert result.exit_code == 0, result.output
    steps = json.loads(result.output)["jobs"][0]["at_submission"]
    assert any("input_data" in step for step in steps)
    assert any("output_data" in step for step in steps)
    text = run("jobs", "add", "--dry-run", "--configdir", str(configdir)).output
    assert "at submission (asks storage, not shown):" in text


def test_pool_data_resolved_at_creation_is_named_not_faked(run: Run, tmp_path: Path) -> None:
    """Pool input_data and ingress on creation need storage: named, nothing asked or sent."""
    (tmp_path / "config.yaml").write_text(
        "global_resources:\n  docker_images: [img]\n  files:\n  - source:\n"
        f"      path: {tmp_path}\n    destination:\n      storage_account_settings: s\n"
        "      data_transfer:\n        remote_path: c/in\n")
    (tmp_path / "pool.yaml").write_text(
        "pool_specification:\n  id: p\n  vm_count: 1\n  transfer_files_on_pool_creation: true\n"
        "  resource_files:\n  - file_path: tools/run.sh\n    blob_source: http://h/run.sh\n"
        "  input_data:\n    azure_storage:\n    - storage_account_settings: s\n"
        "      remote_path: c/in\n      local_path: $AZ_BATCH_NODE_SHARED_DIR/in\n")
    result = run("pool", "add", "--dry-run", "--raw", "--configdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["at_creation"] == [
        "1 global_resources.files entr(ies) ingressed to storage first "
        "(transfer_files_on_pool_creation)",
        "input_data.azure_storage[0]: c/in listed and signed as start task resource files, "
        "copied to $AZ_BATCH_NODE_SHARED_DIR/in"]
    start = body["create_pool"]["startTask"]
    assert start["resourceFiles"] == [{"httpUrl": "http://h/run.sh", "filePath": "tools/run.sh"}]
    assert ".shipyard-input/0/. \"$AZ_BATCH_NODE_SHARED_DIR\"/in/" in start["commandLine"]
    text = run("pool", "add", "--dry-run", "--configdir", str(tmp_path)).output
    assert "at creation (asks storage, not shown): input_data.azure_storage[0]" in text


def test_registry_passwords_are_never_printed(run: Run, tmp_path: Path) -> None:
    (tmp_path / "credentials.yaml").write_text(
        "credentials:\n  batch:\n    account_service_url: local\n  docker_registry:\n"
        "    extra.azurecr.io:\n      username: pull\n      password: s3cret-pw\n")
    (tmp_path / "config.yaml").write_text(
        "global_resources:\n  docker_images: [img]\n  additional_registries:\n"
        "    docker: [extra.azurecr.io]\n")
    (tmp_path / "pool.yaml").write_text("pool_specification:\n  id: p\n  vm_count: 1\n")
    (tmp_path / "jobs.yaml").write_text(
        "job_specifications:\n- id: j\n  auto_pool:\n    pool_lifetime: job\n  tasks:\n"
        "  - docker_image: img\n    command: x\n")
    for command in ("pool", "jobs"):
        result = run(command, "add", "--dry-run", "--raw", "--configdir", str(tmp_path))
        assert result.exit_code == 0, result.output
        assert "s3cret-pw" not in result.output
        assert '"password": "<from credentials.yaml; not shown>"' in result.output
