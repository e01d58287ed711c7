"""The demo as far as the project goes today: a 2-node pool on the local engine.

Starts the engine (if needed), creates a pool whose start task proves each node's
identity from a --net=host container on that node's own Docker daemon, shows the nodes,
then deletes the pool and checks that nothing is left. Uses only the azure-batch SDK.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceNotFoundError
from rich.console import Console
from rich.table import Table

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings, default_data_dir

console = Console(highlight=False)
POOL = "demo-pool"
IMAGE = "debian:bookworm-slim"
START_TASK = ("/bin/bash -c 'docker run --rm --net=host " + IMAGE +
              " sh -c \"echo node=$(hostname) ip=$(hostname -I)\"'")


def wait(what: str, check, timeout: float = 300.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    with console.status(what):
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def show(client: BatchClient) -> list[models.BatchNode]:
    nodes = list(client.list_nodes(POOL))
    table = Table("node", "state", "ip", "start task")
    for node in nodes:
        info = node.start_task_info
        table.add_row(node.id[:22] + "...", node.state, node.ip_address,
                      f"exit {info.exit_code}" if info and info.exit_code is not None else "-")
    console.print(table)
    return nodes


def main() -> int:
    started = time.monotonic()
    state, fresh = control.start(EngineSettings(data_dir=default_data_dir()))
    console.print(f"engine {'started' if fresh else 'running'} at {state.url}")
    client = BatchClient(state.url, AzureNamedKeyCredential(state.account, state.key))
    if client.pool_exists(POOL):
        client.begin_delete_pool(POOL, polling_interval=1).result()
        wait("old demo pool to go", lambda: not client.pool_exists(POOL))
    client.create_pool(models.BatchPoolCreateOptions({
        "id": POOL, "vmSize": "standard_d2_v3", "targetDedicatedNodes": 2,
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04"},
            "nodeAgentSKUId": "batch.node.ubuntu 22.04",
            "containerConfiguration": {"type": "dockerCompatible", "containerImageNames": [IMAGE]}},
        "startTask": {"commandLine": START_TASK, "waitForSuccess": True}}))
    console.print(f"pool {POOL} created: 2 nodes, image {IMAGE} preloaded, identity start task")
    try:
        nodes = wait("nodes to reach idle", lambda: _all_idle(client))
        show(client)
        for node in nodes:
            out = b"".join(client.download_node_file(POOL, node.id, "startup/stdout.txt"))
            console.print(f"  {node.ip_address}: start task printed [bold]{out.decode().strip()}")
    finally:
        client.begin_delete_pool(POOL, polling_interval=1)
        wait("pool deletion", lambda: _gone(client))
    console.print(f"pool deleted; demo took {time.monotonic() - started:.1f} s")
    return 0


def _all_idle(client: BatchClient) -> list[models.BatchNode] | None:
    nodes = list(client.list_nodes(POOL))
    bad = [n for n in nodes if n.state in ("unusable", "starttaskfailed")]
    if bad:
        show(client)
        raise SystemExit(f"node failed: {bad[0].errors or bad[0].start_task_info}")
    return nodes if len(nodes) == 2 and all(n.state == "idle" for n in nodes) else None


def _gone(client: BatchClient) -> bool:
    try:
        client.get_pool(POOL)
    except ResourceNotFoundError:
        return True
    return False


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    sys.exit(main())
