"""The timeline of a multi-instance task, the figures behind stats, and their drawings.

Inputs are SDK models built from wire bodies (what the service sends), and the ready line
comes from running the real coordination command under bash on the fake node.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models

from shipyard.batch import figures, timeline
from shipyard.batch.timeline import PHASES, Instance, Phase, Ready
from shipyard.dashboard import files, render
from shipyard.errors import ConfigError
from tests.unit.test_factory_scripts import coordinate, mi_job, mi_task

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def wire(seconds: float) -> str:
    return at(seconds).isoformat().replace("+00:00", "Z")


def ready_line(address: str, seconds: float) -> str:
    return f"shipyard: container c accepts ssh on {address}:23 at {at(seconds).timestamp()}\n"


def three(ready: tuple[float, float, float] = (2.0, 3.0, 2.5), primary_end: float = 10.0
          ) -> list[Instance]:
    return [Instance(i, f"node-{i}", at(1.0), at(primary_end) if i == 0 else at(ready[i]),
                     0, Ready(f"10.0.0.{4 + i}", at(ready[i])), (at(12.0), at(12.5)))
            for i in range(3)]


def test_parse_ready_reads_address_and_time() -> None:
    found = timeline.parse_ready("noise\n" + ready_line("10.1.2.3", 4.25) + "more\n")
    assert found == Ready("10.1.2.3", at(4.25))
    assert timeline.parse_ready("shipyard: container c accepts ssh on 10.1.2.3:23\n") == Ready(
        "10.1.2.3", None)
    comma = "shipyard: container c accepts ssh on 10.0.0.4:23 at 1764583200,5\n"
    assert timeline.parse_ready(comma) == Ready("10.0.0.4", datetime.fromtimestamp(
        1764583200.5, UTC))
    assert timeline.parse_ready("shipyard: container c stopped before ...") is None


def test_the_real_coordination_command_writes_a_ready_line_with_its_time(
        tmp_path: Path) -> None:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        spec = mi_job()
        before = time.time()
        run = coordinate(tmp_path, spec, mi_task(spec, port=server.getsockname()[1]))
        after = time.time()
    assert run.result.returncode == 0, run.result.stderr
    found = timeline.parse_ready(run.result.stdout)
    assert found is not None and found.address == "127.0.0.1", run.result.stdout
    assert found.at is not None and before <= found.at.timestamp() <= after


def test_rows_have_phases_in_order_and_the_barrier_ends_with_the_slowest() -> None:
    built = timeline.build("j", "t", T0, three(), now=at(20))
    assert [r.instance for r in built.rows] == [0, 1, 2]
    for row in built.rows:
        assert row.phases() == sorted(row.phases(), key=PHASES.index)
        bars = {b.phase: b for b in row.bars}
        assert bars[Phase.WAITING].start == T0 and bars[Phase.WAITING].end == at(1)
        assert bars[Phase.APPLICATION].start == at(3) and bars[Phase.APPLICATION].end == at(10)
        assert bars[Phase.CLEANUP].seconds == 0.5
    slowest = built.rows[1]
    assert Phase.BARRIER not in slowest.phases()  # it was the one the others waited for
    assert {b.phase: b for b in built.rows[2].bars}[Phase.BARRIER].seconds == 0.5
    assert built.late == "node-1" and built.notes == ()
    assert built.end == at(12.5)


def test_a_running_task_ends_its_open_phase_now() -> None:
    items = [Instance(i, f"n{i}", at(1), None, None, Ready("a", at(2))) for i in range(2)]
    built = timeline.build("j", "t", T0, items, now=at(5))
    assert [(b.phase, b.end) for b in built.rows[0].bars][-1] == (Phase.APPLICATION, at(5))
    waiting = timeline.build("j", "t", T0, [Instance(0, "?", None, None)], now=at(3))
    assert [(b.phase, b.seconds) for b in waiting.rows[0].bars] == [(Phase.WAITING, 3.0)]


def test_without_ready_lines_coordination_covers_the_run_and_a_note_says_why() -> None:
    items = [Instance(i, f"n{i}", at(1), at(9), 0, None) for i in range(2)]
    built = timeline.build("j", "t", T0, items, now=at(20))
    assert [r.phases() for r in built.rows] == [[Phase.WAITING, Phase.COORDINATION]] * 2
    assert built.late is None and built.notes


def test_a_plain_task_runs_its_application_from_its_start() -> None:
    plain = [Instance(0, "n0", at(1), at(4), 0)]
    built = timeline.build("j", "t", T0, plain, now=at(9), multi=False)
    assert [(b.phase, b.start, b.end) for b in built.rows[0].bars] == [
        (Phase.WAITING, T0, at(1)), (Phase.APPLICATION, at(1), at(4))]
    assert built.notes == () and built.late is None


def test_a_subtask_that_failed_alone_stops_there_and_a_late_one_shows_its_ending() -> None:
    items = three()
    items[2] = Instance(2, "node-2", at(1), at(2.2), 1, None, (at(12.0), at(12.5)))
    built = timeline.build("j", "t", T0, items, now=at(20))
    assert built.rows[2].phases() == [Phase.WAITING, Phase.COORDINATION, Phase.CLEANUP]
    items = three()
    items[1] = Instance(1, "node-1", at(1), at(11), 0, Ready("x", at(3)))
    ending = {b.phase: b for b in timeline.build("j", "t", T0, items, at(20)).rows[1].bars}
    assert ending[Phase.ENDING].start == at(10) and ending[Phase.ENDING].end == at(11)


def test_instances_from_sdk_models() -> None:
    task = models.BatchTask({"id": "t", "creationTime": wire(0), "state": "completed",
                             "nodeInfo": {"poolId": "p", "nodeId": "n0"},
                             "multiInstanceSettings": {"numberOfInstances": 2},
                             "executionInfo": {"startTime": wire(1), "endTime": wire(8),
                                               "exitCode": 0, "retryCount": 0,
                                               "requeueCount": 0}})
    sub = models.BatchSubtask({"id": 1, "startTime": wire(1), "endTime": wire(2),
                               "exitCode": 0, "state": "completed",
                               "nodeInfo": {"poolId": "p", "nodeId": "n1"}})
    release = models.BatchJobPreparationAndReleaseTaskStatus({
        "poolId": "p", "nodeId": "n1", "jobReleaseTaskExecutionInfo": {
            "startTime": wire(9), "endTime": wire(9.5), "state": "completed"}})
    outputs = {0: ready_line("10.0.0.4", 2.5), 1: ready_line("10.0.0.5", 2)}
    items = timeline.instances_from_sdk(task, [sub], outputs, [release])
    assert [(i.index, i.node_id, i.end) for i in items] == [(0, "n0", at(8)), (1, "n1", at(2))]
    assert items[1].cleanup == (at(9), at(9.5)) and items[0].cleanup is None
    data = timeline.build("j", "t", at(0), items, at(10)).as_json()
    assert data["late"] == "n0" and data["span"] == 9.5
    assert [b["phase"] for b in data["rows"][1]["bars"]] == [
        "waiting", "coordination", "barrier", "application", "cleanup"]


def task(state: str, start: float | None = None, end: float | None = None,
         code: int | None = None, retries: int = 0) -> models.BatchTask:
    body: dict[str, Any] = {"id": "t", "state": state, "creationTime": wire(0)}
    if start is not None:
        info: dict[str, Any] = {"startTime": wire(start), "retryCount": retries,
                                "requeueCount": 0}
        if end is not None:
            info |= {"endTime": wire(end), "exitCode": code,
                     "result": "success" if code == 0 else "failure"}
        body["executionInfo"] = info
    return models.BatchTask(body)


def test_job_figures_count_states_and_measure_runs_and_waits() -> None:
    tasks = [task("active"), task("running", 2), task("completed", 1, 4, 0),
             task("completed", 3, 4, 2, retries=1)]
    stats = figures.job_stats(tasks)
    assert stats["states"] == {"active": 1, "preparing": 0, "running": 1, "completed": 2,
                               "succeeded": 1, "failed": 1}
    assert stats["run_seconds"] == {"count": 2, "total": 4.0, "mean": 2.0, "median": 2.0,
                                    "shortest": 1.0, "longest": 3.0}
    assert stats["wait_seconds"]["count"] == 3 and stats["wait_seconds"]["longest"] == 3.0
    assert stats["retries"] == 1 and stats["tasks"] == 4


def test_pool_figures_count_nodes_per_state() -> None:
    pool = models.BatchPool({"id": "p", "state": "active", "allocationState": "steady",
                             "targetDedicatedNodes": 3, "currentDedicatedNodes": 3})
    nodes = [models.BatchNode({"id": f"n{i}", "state": s, "runningTasksCount": r,
                               "totalTasksRun": 2, "startTaskInfo": {
                                   "state": "completed", "startTime": wire(0),
                                   "endTime": wire(i + 1), "retryCount": 0}})
             for i, (s, r) in enumerate([("idle", 0), ("running", 1), ("running", 1)])]
    stats = figures.pool_stats(pool, nodes)
    assert stats["states"]["idle"] == 1 and stats["states"]["running"] == 2
    assert stats["running_tasks"] == 2 and stats["tasks_run"] == 6
    assert stats["start_task_seconds"]["mean"] == 2.0
    assert figures.Durations.of([]).count == 0


def test_tail_chunk_starts_near_the_end_then_follows() -> None:
    content = b"x" * (files.FIRST + 10)
    reads: list[tuple[int, int]] = []

    def read(first: int, last: int) -> bytes:
        reads.append((first, last))
        return content[first:last + 1]

    first = files.tail_chunk(len(content), None, read)
    assert first["offset"] == len(content) and first["skipped"] == 10
    assert files.tail_chunk(len(content), first["offset"], read)["text"] == ""
    assert reads == [(10, len(content) - 1)]  # nothing new: no read at all
    assert files.tail_chunk(5, len(content), read)["offset"] == 5  # replaced by a shorter one


def test_svg_and_html_draw_every_row_and_escape_names(tmp_path: Path) -> None:
    items = three()
    items[0] = Instance(0, "<b>&node", at(1), at(10), 0, Ready("10.0.0.4", at(2)))
    data = timeline.build("j", "t", T0, items, at(20)).as_json()
    drawn = render.svg(data)
    assert drawn.count('<g class="row"') == 3 and "<b>&node" not in drawn
    assert drawn.count('data-phase="application"') == 3
    render.write(data, tmp_path / "t.html")
    assert "&lt;b&gt;&amp;node" in (tmp_path / "t.html").read_text()
    with pytest.raises(ConfigError, match=r"\.png, \.html or \.svg"):
        render.write(data, tmp_path / "t.pdf")


def test_png_is_drawn(tmp_path: Path) -> None:
    data = timeline.build("j", "t", T0, three(), at(20)).as_json()
    render.png(data, tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
