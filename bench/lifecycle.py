"""Small lifecycle figures on an engine of its own: 4-node pool to idle (no image, no start
task), memory of each idle node's daemon, and a 3-instance trivial multi-instance task from
create to completed. Run: ``.venv/bin/python -m bench.lifecycle`` (root; cleans up after).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb_of_processes_naming(text: str) -> float:
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _pool_to_idle(client: BatchClient) -> float:
    started = time.perf_counter()
    client.create_pool(models.BatchPoolCreateOptions({
        "id": "m", "vmSize": "x", "targetDedicatedNodes": 4,
        "enableInterNodeCommunication": True}))
    while True:
        nodes = list(client.list_nodes("m"))
        if len(nodes) == 4 and all(n.state == "idle" for n in nodes):
            return time.perf_counter() - started
        time.sleep(0.05)


def _multi_instance_latency(client: BatchClient, runs: int = 9) -> list[float]:
    client.create_job(models.BatchJobCreateOptions({"id": "j", "poolInfo": {"poolId": "m"}}))
    times = []
    for i in range(runs):
        started = time.perf_counter()
        client.create_task("j", models.BatchTaskCreateOptions({
            "id": f"mi{i}", "commandLine": "/bin/true", "multiInstanceSettings": {
                "numberOfInstances": 3, "coordinationCommandLine": "/bin/true"}}))
        while client.get_task("j", f"mi{i}").state != "completed":
            time.sleep(0.01)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="shym-", dir="/var/tmp"))
    state, _ = control.start(EngineSettings(data_dir=data, port=_free_port()))
    client = BatchClient(state.url, AzureNamedKeyCredential(state.account, state.key))
    try:
        print(f"4-node pool create -> all idle: {_pool_to_idle(client):.2f} s")
        rss = [_rss_mb_of_processes_naming(str(home))
               for home in sorted(data.glob("n/*-*")) if home.is_dir()]
        print("dockerd RSS per idle node (MB):", [round(x) for x in rss])
        times = _multi_instance_latency(client)
        print(f"3-instance trivial MI task create->completed: median "
              f"{statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f})")
    finally:
        client.begin_delete_pool("m")
        while list(client.list_pools()):
            time.sleep(0.5)
        control.stop(data)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
