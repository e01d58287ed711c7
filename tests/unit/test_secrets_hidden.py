"""Secrets a client sends never come back: pools, jobs, schedules and tasks, got or listed.

The service never returns a user account's password (recorded); registry passwords, SSH
private keys and mount keys are kept the same way. The engine still has them (a node logs
in to a registry with them). Runs the engine's app in-process, as the route fuzz does.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from shipyard.engine.server import Engine
from tests.unit.fuzz_client import Request, send
from tests.unit.test_fuzz_routes import engine

__all__ = ["engine"]  # the fixture, for pytest
SECRETS = ("pw-user-1", "pw-registry-2", "-----BEGIN KEY 3-----", "key-mount-4", "sas-5",
           "pw-task-6", "pw-manager-7")
REGISTRY = {"registryServer": "r.example.com", "username": "u", "password": "pw-registry-2"}
POOL = {
    "id": "secret-pool", "vmSize": "standard_d2_v3", "targetDedicatedNodes": 0,
    "userAccounts": [{"name": "admin1", "password": "pw-user-1", "linuxUserConfiguration": {
        "sshPrivateKey": "-----BEGIN KEY 3-----"}}],
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        "containerConfiguration": {"type": "dockerCompatible", "containerRegistries": [REGISTRY]}},
    "mountConfiguration": [{"azureBlobFileSystemConfiguration": {
        "accountName": "a", "containerName": "c", "accountKey": "key-mount-4",
        "relativeMountPath": "m"}}, {"azureBlobFileSystemConfiguration": {
            "accountName": "a", "containerName": "d", "sasKey": "sas-5",
            "relativeMountPath": "n"}}],
}


def call(made: Engine, method: str, path: str, body: dict[str, Any] | None = None,
         query: dict[str, str] | None = None) -> Any:
    extra = "".join(f"&{quote(k)}={quote(v)}" for k, v in (query or {}).items())
    reply = send(made.app, Request(
        method, path.encode(), f"api-version=2025-06-01{extra}".encode(),
        (("content-type", "application/json; odata=minimalmetadata"),),
        json.dumps(body).encode() if body is not None else b""))
    assert reply.status < 300, (path, reply.status, reply.body[:500])
    return reply.body.decode()


def test_no_secret_comes_back_and_the_engine_keeps_them(engine: Engine) -> None:
    call(engine, "POST", "/pools", POOL)
    manager = {"id": "jm", "commandLine": "/bin/true", "containerSettings": {
        "imageName": "i", "registry": {**REGISTRY, "password": "pw-manager-7"}}}
    call(engine, "POST", "/jobs", {"id": "secret-job", "poolInfo": {"poolId": "secret-pool"},
                                   "jobManagerTask": manager})
    call(engine, "POST", "/jobs/secret-job/tasks", {
        "id": "t", "commandLine": "/bin/true", "containerSettings": {
            "imageName": "i", "registry": {**REGISTRY, "password": "pw-task-6"}}})
    answers = [call(engine, "GET", path) for path in (
        "/pools/secret-pool", "/pools", "/jobs/secret-job", "/jobs",
        "/jobs/secret-job/tasks/t", "/jobs/secret-job/tasks")]
    for answer in answers:
        assert not [s for s in SECRETS if s in answer], answer
    assert '"username": "u"' in answers[0]  # the rest of a registry login is shown
    pool = engine.store.get("pool", "", "secret-pool")
    assert pool is not None and "pw-registry-2" in json.dumps(pool.doc)


def test_a_filter_cannot_probe_a_secret(engine: Engine) -> None:
    call(engine, "POST", "/pools", POOL)
    call(engine, "POST", "/jobs", {"id": "j", "poolInfo": {"poolId": "secret-pool"}})
    call(engine, "POST", "/jobs/j/tasks", {
        "id": "t", "commandLine": "/bin/true", "containerSettings": {
            "imageName": "i", "registry": {**REGISTRY, "password": "pw-task-6"}}})
    probe = "containerSettings/registry/password eq 'pw-task-6'"
    listed = call(engine, "GET", "/jobs/j/tasks", query={"$filter": probe})
    assert json.loads(listed)["value"] == []
