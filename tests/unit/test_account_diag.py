"""Pure parts of ``account`` and ``diag``: core counts by VM size, the image listing,
which lines of the engine's log a node's service logs carry, and how ``--wait`` gives up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.batch import models

from shipyard.batch.account import image_rows, pool_use, vm_cores
from shipyard.cli import diag
from shipyard.config.data import RemotePath
from shipyard.engine.storage.nodelogs import engine_lines
from shipyard.errors import ShipyardError
from shipyard.storage.account import Account


@pytest.mark.parametrize(("size", "cores"), [
    ("Standard_D2s_v3", 2), ("standard_d2_v3", 2), ("STANDARD_D4_V2", 8),
    ("Standard_D3", 4), ("Standard_DS11_v2", 2), ("Standard_DS11-1_v2", 2),
    ("Standard_D4_v3", 4), ("Standard_E8-2s_v3", 8), ("Standard_HB120rs_v2", 120),
    ("Standard_NC24rs_v3", 24), ("Standard_A5", 2), ("Standard_A8_v2", 8),
    ("standard_a9", 16), ("Standard_GS5", 32), ("Standard_B1ls", 1),
    ("Standard_D2_v2_Promo", 2), ("Standard_M416ms_v2", 416), ("Standard_ND96asr_v4", 96),
    ("local-size", None), ("", None), (None, None),
])
def test_vm_cores_reads_azure_size_names(size: str | None, cores: int | None) -> None:
    assert vm_cores(size) == cores


def _image(publisher: str, offer: str, sku: str, verified: bool = True
           ) -> models.BatchSupportedImage:
    return models.BatchSupportedImage(
        node_agent_sku_id=f"batch.node.{offer}", os_type="linux",
        image_reference=models.BatchVmImageReference(publisher=publisher, offer=offer, sku=sku),
        verification_type="verified" if verified else "unverified",
        capabilities=["DockerCompatible", "NvidiaTeslaDriverInstalled"],
        batch_support_end_of_life=datetime(2027, 4, 30, tzinfo=UTC))


def test_image_rows_hide_unrelated_publishers_unless_asked() -> None:
    found = [_image("Debian", "debian-12", "12"), _image("Canonical", "ubuntu-24_04-lts", "server"),
             _image("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", verified=False)]
    rows = image_rows(found, show_unrelated=False)
    assert [(r.publisher, r.offer) for r in rows] == [
        ("canonical", "0001-com-ubuntu-server-jammy"), ("Canonical", "ubuntu-24_04-lts")]
    assert (rows[0].verification, rows[0].capabilities, rows[0].end_of_life) == (
        "unverified", "DockerCompatible,NvidiaTeslaDriverInstalled", "2027-04-30")
    assert len(image_rows(found, show_unrelated=True)) == 3


def _counts(total: int, preempted: int = 0) -> models.BatchNodeCounts:
    zero = dict.fromkeys(("creating", "idle", "offline", "rebooting", "reimaging", "running",
                          "starting", "start_task_failed", "leaving_pool", "unknown",
                          "unusable", "waiting_for_start_task", "deallocated",
                          "deallocating", "upgrading_os"), 0)
    return models.BatchNodeCounts(**{**zero, "preempted": preempted, "total": total})


def test_pool_use_counts_held_cores_per_pool() -> None:
    pools = [models.BatchPool(id="b", vm_size="Standard_D4s_v3"),
             models.BatchPool(id="a", vm_size="odd"), models.BatchPool(id="c", vm_size="A1")]
    counts = [models.BatchPoolNodeCounts(pool_id="b", dedicated=_counts(2),
                                         low_priority=_counts(5, preempted=2)),
              models.BatchPoolNodeCounts(pool_id="a", dedicated=_counts(1),
                                         low_priority=_counts(0))]
    a, b, c = pool_use(pools, counts)
    assert (b.dedicated_nodes, b.low_priority_nodes, b.dedicated_cores,
            b.low_priority_cores) == (2, 3, 8, 12)
    assert (a.dedicated_nodes, a.dedicated_cores) == (1, None)
    assert (c.pool_id, c.dedicated_nodes, c.low_priority_nodes) == ("c", 0, 0)


def _line(at: datetime, text: str) -> bytes:
    local = at.astimezone()
    return f"{local:%Y-%m-%d %H:%M:%S},{local.microsecond // 1000:03d} INFO x: {text}\n".encode()


def test_engine_lines_are_the_nodes_own_inside_the_range() -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    log = [_line(start - timedelta(minutes=1), "node tvm-1 booted"),
           _line(start + timedelta(minutes=1), "node tvm-1 idle"),
           _line(start + timedelta(minutes=2), "node tvm-2 idle"),
           _line(start + timedelta(minutes=3), "node tvm-1 failed"),
           b"Traceback: tvm-1 in a continuation line\n",
           _line(end + timedelta(minutes=1), "node tvm-1 removed"),
           b"  continuation of tvm-1 after the range\n"]
    assert list(engine_lines(log, "tvm-1", start, end)) == [log[1], log[3], log[4]]
    assert list(engine_lines(log, "tvm-1", start, None)) == [log[1], log[3], log[4], log[5],
                                                             log[6]]


def test_a_nodes_entry_keeps_its_traceback_and_others_lose_theirs() -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    log = [_line(at, "ERROR node tvm-1 failed"), b"Traceback (most recent call last):\n",
           b'  File "x.py", line 1\n', _line(at, "ERROR node tvm-2 failed"),
           b"Traceback (most recent call last):\n"]
    assert list(engine_lines(log, "tvm-1", at, None)) == log[:3]


class _SlowBlobs:
    """Blobs whose container shows one of the announced files and no more."""

    account = Account("mystorage", "acct", "key", "https://acct.blob.core.windows.net")

    def __init__(self) -> None:
        self.asked: list[str] = []

    def names(self, where: RemotePath) -> list[str]:
        self.asked.append(where.remote_path)
        return ["a/dockerd.log"]


def test_wait_ends_after_its_bound_and_says_where_to_look(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diag, "WAIT_SECONDS", 0.3)
    slow = _SlowBlobs()
    with pytest.raises(ShipyardError) as caught:
        diag._wait(slow, "shipyard-diaglogs", "acct-1/pool/node/req", 3, quiet=True)  # type: ignore[arg-type]
    assert slow.asked and set(slow.asked) == {"shipyard-diaglogs/acct-1/pool/node/req"}
    assert caught.value.message == (
        "timed out after 0 s waiting for 3 log files in shipyard-diaglogs/acct-1/pool/node/req;"
        " the service may still be uploading: see 'shipyard storage list mystorage "
        "shipyard-diaglogs/acct-1/pool/node/req'")
