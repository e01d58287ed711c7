"""Every command's own checks, before anything is sent: a bad invocation is one line and
changes nothing (the ``run`` fixture fails if an engine was started); and the pure
pieces behind ``pool stats``, ``jobs stats``, ``pool images list`` and the SSH key pair."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path

import pytest
from azure.batch import models

from shipyard.cli.images import common_and_mismatched, node_images
from shipyard.cli.jobctl import task_summary
from shipyard.cli.pool import pool_summary
from shipyard.cli.remote import Login, pick, ssh_argv
from shipyard.cli.sshkeys import KEY_NAME, ssh_user
from shipyard.config.pool import SshSettings
from shipyard.errors import ConfigError
from tests.cli.conftest import Run

CREDENTIALS = "credentials:\n  batch:\n    account_service_url: local\n"
POOL = "pool_specification:\n  id: p\n  vm_count: 2\n"
JOBS = "job_specifications:\n- id: j\n  tasks:\n  - docker_image: img\n    command: x\n"


@pytest.fixture
def configdir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    for name, text in (("credentials.yaml", CREDENTIALS), ("pool.yaml", POOL),
                       ("jobs.yaml", JOBS)):
        (folder / name).write_text(text)
    return folder


REFUSED = [
    (["pool", "nodes", "del"], "say which nodes: --nodeid ID or one of the --all-* flags"),
    (["pool", "nodes", "del", "--nodeid", "n", "--all-unusable"],
     "give either --nodeid or --all-* flags, not both"),
    (["pool", "nodes", "reboot"], "say which nodes: --nodeid ID or one of the --all-* flags"),
    (["jobs", "disable", "--requeue", "--terminate"],
     "give only one of --requeue, --terminate and --wait (got --requeue, --terminate)"),
    (["jobs", "migrate", "--poolid", "q", "--wait", "--requeue"],
     "give only one of --requeue, --terminate and --wait (got --requeue, --wait)"),
    (["pool", "ssh", "--cardinal", "0", "--nodeid", "n"],
     "give only one of --cardinal and --nodeid"),
    (["pool", "ssh"], "pool.yaml: pool_specification.ssh: required for SSH to the nodes"),
    (["pool", "nodes", "ps"], "pool.yaml: pool_specification.ssh: required for SSH to the "
                              "nodes"),
    (["pool", "user", "del"], "pool.yaml: pool_specification.ssh: no SSH user to delete"),
    (["data", "files", "node", "--filespec", "nodeonly"],
     "--filespec 'nodeonly' must be NODE,FILE (e.g. tvmps_0001,startup/stdout.txt)"),
    (["data", "files", "task", "--filespec", "job,task"],
     "--filespec 'job,task' must be JOB,TASK,FILE (e.g. myjob,task-00000,stdout.txt)"),
]


@pytest.mark.parametrize(("argv", "message"), REFUSED, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else "")
def test_bad_invocations_are_one_line_and_touch_nothing(run: Run, configdir: Path,
                                                        argv: list[str], message: str) -> None:
    result = run(*argv, "--configdir", str(configdir))
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[0] == f"error: {message}"


def test_migrate_needs_a_pool(run: Run, configdir: Path) -> None:
    result = run("jobs", "migrate", "--configdir", str(configdir))
    assert result.exit_code == 2 and "Missing option '--poolid'" in result.output


@pytest.mark.parametrize("command", ["zap", "prune"])
def test_node_wide_docker_commands_ask_first(run: Run, configdir: Path, command: str) -> None:
    (configdir / "pool.yaml").write_text(POOL + "  ssh:\n    username: u\n")
    result = run("pool", "nodes", command, "--configdir", str(configdir))
    assert result.exit_code == 2 and "Pass -y to confirm without a terminal" in result.output


def node(state: str, dedicated: bool = True, running: int = 0) -> models.BatchNode:
    return models.BatchNode(id=f"n-{state}", state=state, is_dedicated=dedicated,
                            running_tasks_count=running, running_task_slots_count=running)


def test_pool_summary_counts_nodes_by_state_and_kind() -> None:
    found = models.BatchPool(id="p", state="active", allocation_state="steady",
                             vm_size="standard_d2_v3", task_slots_per_node=2)
    summary = pool_summary(found, [node("idle"), node("running", running=1),
                                   node("idle", dedicated=False)])
    assert summary == {
        "state": "active", "allocation_state": "steady", "vm_size": "standard_d2_v3",
        "nodes": 3, "dedicated_nodes": 2, "low_priority_nodes": 1, "nodes_idle": 2,
        "nodes_running": 1, "running_tasks": 1, "task_slots": 6, "task_slots_in_use": 1}


def test_task_summary_counts_and_wall_times() -> None:
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    def task(state: str, result: str | None, seconds: int | None) -> models.BatchTask:
        info = None if result is None else models.BatchTaskExecutionInfo(
            retry_count=0, requeue_count=0, result=result, start_time=start,
            end_time=start + datetime.timedelta(seconds=seconds or 0))
        return models.BatchTask(id="t", state=state, execution_info=info)

    summary = task_summary(2, [task("completed", "success", 2),
                               task("completed", "failure", 4), task("active", None, None)])
    assert summary == {"jobs": 2, "tasks": 3, "tasks_active": 1, "tasks_completed": 2,
                       "tasks_failure": 1, "tasks_success": 1, "wall_time_min_s": 2.0,
                       "wall_time_mean_s": 3.0, "wall_time_max_s": 4.0,
                       "wall_time_total_s": 6.0}


def test_images_common_and_mismatched() -> None:
    found = node_images({"a": "img:1 111\nother:2 222\n<none>:<none> 333\n",
                         "b": "img:1 111\n"})
    common, mismatched = common_and_mismatched(found)
    assert common == {"img:1 111"}
    assert mismatched == {"a": {"other:2 222"}}


def test_generated_key_pair_is_0600_reused_and_never_in_a_repr(tmp_path: Path) -> None:
    settings = SshSettings(username="u", generated_file_export_path=str(tmp_path / "k"),
                           expiry_days=7)
    first = ssh_user(settings)
    private = tmp_path / "k" / KEY_NAME
    assert first.private_key_path == private
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert first.public_key.startswith("ssh-rsa ")
    assert private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert ssh_user(settings).public_key == first.public_key  # reused, not regenerated
    assert private.read_text() not in repr(first)
    days = (first.expiry - datetime.datetime.now(datetime.UTC)).days
    assert days in (6, 7)


def test_given_keys_and_their_conflicts(tmp_path: Path) -> None:
    public = tmp_path / "id.pub"
    public.write_text("ssh-ed25519 AAAA me\n")
    given = ssh_user(SshSettings(username="u", ssh_public_key=str(public),
                                 ssh_private_key=str(tmp_path / "id")))
    assert (given.public_key, given.private_key_path) == ("ssh-ed25519 AAAA me",
                                                          tmp_path / "id")
    with pytest.raises(ConfigError, match="set only one of ssh_public_key"):
        ssh_user(SshSettings(username="u", ssh_public_key=str(public),
                             ssh_public_key_data="ssh-rsa B"))
    with pytest.raises(ConfigError, match="no SSH key"):
        ssh_user(SshSettings(username="u", generated_file_export_path=str(tmp_path / "none")),
                 generate=False)


def test_ssh_argv_and_node_choice(tmp_path: Path) -> None:
    logins = [Login("n0", "10.0.0.4", 22), Login("n1", "10.0.0.5", 2222)]
    assert pick(logins, None, None) == logins[0]
    assert pick(logins, 1, None) == logins[1]
    assert pick(logins, None, "n1") == logins[1]
    with pytest.raises(ConfigError, match="the pool has 2 node"):
        pick(logins, 2, None)
    user = ssh_user(SshSettings(username="u", ssh_public_key_data="ssh-rsa A",
                                ssh_private_key=str(tmp_path / "key")))
    argv = ssh_argv(logins[1], user, "hostname", tty=True)
    assert argv[:2] == ["ssh", "-t"]
    assert argv[-3:] == ["2222", "u@10.0.0.5", "hostname"]
    assert ["-i", str(tmp_path / "key")] == argv[argv.index("-i"):argv.index("-i") + 2]
