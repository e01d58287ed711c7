"""Node users and remote login through the SDK, proven with a real ssh client.

Each node runs its own sshd on its own address; a user made on a node exists there only.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import ResourceNotFoundError

from tests.contract.jobhelpers import details, error_of, uid
from tests.contract.nodehelpers import key_pair, ssh

PASSWORD = "it's a pass phrase with $pace and \"quotes\""


@pytest.fixture
def two_nodes(client: BatchClient, shared_pool: str) -> list[models.BatchNode]:
    return sorted(client.list_nodes(shared_pool), key=lambda n: str(n.id))[:2]


@pytest.fixture
def user_name(client: BatchClient, shared_pool: str) -> Iterator[str]:
    """A user name deleted again from every node of the shared pool however a test ends."""
    name = uid("u").replace("-", "")
    yield name
    for node in client.list_nodes(shared_pool):
        # Not every test made the user on every node.
        with suppress(ResourceNotFoundError):
            client.delete_node_user(shared_pool, str(node.id), name)


def create(client: BatchClient, pool_id: str, node_id: str, name: str, **body: object) -> None:
    client.create_node_user(pool_id, node_id, models.BatchNodeUserCreateOptions(
        {"name": name, **body}))


def login(client: BatchClient, pool_id: str, node_id: str) -> tuple[str, int]:
    settings = client.get_node_remote_login_settings(pool_id, node_id)
    return str(settings.remote_login_ip_address), int(settings.remote_login_port)


def test_key_user_logs_in_to_each_node_and_runs_docker(
        client: BatchClient, shared_pool: str, two_nodes: list[models.BatchNode],
        user_name: str) -> None:
    passwd_before = Path("/etc/passwd").read_bytes()
    shadow_before = Path("/etc/shadow").read_bytes()
    hostnames: list[str] = []
    host_keys: list[str] = []
    with key_pair() as (key, public):
        for node in two_nodes:
            create(client, shared_pool, str(node.id), user_name, isAdmin=True,
                   sshPublicKey=public)
            ip, port = login(client, shared_pool, str(node.id))
            assert ip == node.ip_address
            done = ssh(user_name, ip, port, "hostname; id -un; docker info --format "
                       "'{{.Name}}'; docker ps", key=key)
            assert done.returncode == 0, done.stderr
            lines = done.stdout.splitlines()
            assert lines[1] == user_name
            # The daemon that answers is the node's own (its name is the node's hostname).
            assert lines[2] == lines[0]
            assert lines[3].startswith("CONTAINER ID"), done.stdout
            hostnames.append(lines[0])
            host_keys.append(subprocess.run(
                ["ssh-keyscan", "-p", str(port), "-t", "ed25519", ip], capture_output=True,
                text=True, timeout=30, check=True).stdout.split()[-1])
    assert len(set(hostnames)) == 2, hostnames
    assert len(set(host_keys)) == 2, "each node has its own host key"
    # The accounts live on the nodes only.
    assert Path("/etc/passwd").read_bytes() == passwd_before
    assert Path("/etc/shadow").read_bytes() == shadow_before
    assert not Path("/home", user_name).exists()


def test_deleted_user_key_is_refused(client: BatchClient, shared_pool: str,
                                     two_nodes: list[models.BatchNode], user_name: str) -> None:
    node_id = str(two_nodes[0].id)
    with key_pair() as (key, public):
        create(client, shared_pool, node_id, user_name, sshPublicKey=public)
        ip, port = login(client, shared_pool, node_id)
        assert ssh(user_name, ip, port, "true", key=key).returncode == 0
        client.delete_node_user(shared_pool, node_id, user_name)
        refused = ssh(user_name, ip, port, "true", key=key)
        assert refused.returncode == 255
        assert "Permission denied" in refused.stderr
        exc = error_of(lambda: client.delete_node_user(shared_pool, node_id, user_name))
        assert (exc.status_code, exc.error.code) == (404, "NodeUserNotFound")


def test_user_exists_only_on_its_node(client: BatchClient, shared_pool: str,
                                      two_nodes: list[models.BatchNode], user_name: str) -> None:
    first, second = (str(n.id) for n in two_nodes)
    with key_pair() as (key, public):
        create(client, shared_pool, first, user_name, sshPublicKey=public)
        ip, port = login(client, shared_pool, second)
        assert ssh(user_name, ip, port, "true", key=key).returncode == 255
        exc = error_of(lambda: create(client, shared_pool, first, user_name,
                                      sshPublicKey=public))
        assert (exc.status_code, exc.error.code) == (409, "NodeUserExists")


def test_replace_swaps_key_for_password(client: BatchClient, shared_pool: str,
                                        two_nodes: list[models.BatchNode],
                                        user_name: str) -> None:
    node_id = str(two_nodes[0].id)
    with key_pair() as (key, public):
        create(client, shared_pool, node_id, user_name, sshPublicKey=public)
        ip, port = login(client, shared_pool, node_id)
        # Replace sets every property: the key, left out, is gone; the password is new.
        client.replace_node_user(shared_pool, node_id, user_name,
                                 models.BatchNodeUserReplaceOptions({"password": PASSWORD}))
        assert ssh(user_name, ip, port, "true", key=key).returncode == 255
        done = ssh(user_name, ip, port, "hostname", password=PASSWORD)
        assert done.returncode == 0, done.stderr
        assert ssh(user_name, ip, port, "true", password="wrong").returncode == 255
        # A non-admin user is not in the docker group of the node.
        assert "permission denied" in ssh(user_name, ip, port, "docker ps",
                                          password=PASSWORD).stderr.lower()


def test_expired_user_is_refused(client: BatchClient, shared_pool: str,
                                 two_nodes: list[models.BatchNode], user_name: str) -> None:
    node_id = str(two_nodes[0].id)
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with key_pair() as (key, public):
        create(client, shared_pool, node_id, user_name, sshPublicKey=public,
               expiryTime=yesterday.strftime("%Y-%m-%dT%H:%M:%SZ"))
        ip, port = login(client, shared_pool, node_id)
        assert ssh(user_name, ip, port, "true", key=key).returncode == 255


def test_bad_user_requests_get_the_service_errors(
        client: BatchClient, shared_pool: str, two_nodes: list[models.BatchNode]) -> None:
    node_id = str(two_nodes[0].id)
    exc = error_of(lambda: create(client, shared_pool, node_id, "bad name"))
    assert (exc.status_code, exc.error.code) == (400, "InvalidPropertyValue")
    assert details(exc)["PropertyName"] == "name"
    exc = error_of(lambda: create(client, shared_pool, node_id, "keyuser",
                                  sshPublicKey="ssh-ed25519 not-base64!"))
    assert details(exc)["PropertyName"] == "sshPublicKey"
    exc = error_of(lambda: client.replace_node_user(
        shared_pool, node_id, "nobodyhere", models.BatchNodeUserReplaceOptions({})))
    assert (exc.status_code, exc.error.code) == (404, "NodeUserNotFound")
    exc = error_of(lambda: client.get_node_remote_login_settings(shared_pool, "tvmps_nope_d"))
    assert (exc.status_code, exc.error.code) == (404, "NodeNotFound")
