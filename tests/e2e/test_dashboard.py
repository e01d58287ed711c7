"""The dashboard in a real browser, and the timeline, on a real 3-node multi-instance task.

``shipyard dashboard`` runs as a user runs it (its own process, the local engine found
through ``SHIPYARD_DATA_DIR``); headless Chromium (Debian's ``chromium`` and
``chromium-driver``) opens its pages through Selenium. The task's coordination command
writes the ready line the real one writes (``shipyard: container X accepts ssh on IP:23 at
EPOCH``, see factory/multi_instance.py) after a pause that differs per node, and its
application waits for a file the test writes only once the task page is open, so the line
it then prints can only reach the page through the live tail.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from shipyard.batch.timeline import PHASES
from shipyard.engine.settings import EngineSettings
from tests.contract.jobhelpers import (
    add_task,
    bash,
    create_job,
    delete_job,
    terminate_job,
    wait_task,
)
from tests.realengine import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
SHIPYARD = str(ROOT / ".venv" / "bin" / "shipyard")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

#: Ready after 1.0-1.7 s, so a late node varies, and never at once: the engine stamps the
#: task's start (the primary's, in the timeline) once every instance's coordination command
#: is launched, and under load a coordination of a few ms printed its ready line before
#: that (its bar, of no length, was left out; seen with the test tiers running in parallel).
COORDINATION = bash(
    'sleep "1.$((RANDOM % 8))"; '
    'printf "shipyard: container c accepts ssh on %s:23 at %s\\n" '
    '"$(hostname -I | cut -d" " -f1)" "$EPOCHREALTIME"')
#: Waits (bounded) for the file ``go`` in its working directory, then prints what it holds.
APPLICATION = bash(
    'echo "application started on $(hostname)"; '
    "for i in $(seq 900); do [ -e go ] && break; sleep 0.2; done; "
    'echo "after-open: $(cat go)"; sleep 1')


@dataclass
class Run:
    job_id: str
    task_id: str
    url: str
    settings: EngineSettings

    def release(self, token: str) -> None:
        """Write ``go`` into the task's working directory on every node that has one."""
        found = list(self.settings.nodes_dir.glob(
            f"*/batch/tasks/workitems/{self.job_id}/job-1/{self.task_id}/wd"))
        assert found, "no working directory of the task on any node"
        for wd in found:
            (wd / "go").write_text(token)


def engine_env(settings: EngineSettings) -> dict[str, str]:
    return {**os.environ, "SHIPYARD_DATA_DIR": str(settings.data_dir), "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def server(settings: EngineSettings, engine: object,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``shipyard dashboard`` on a free port, in a directory without any config."""
    port = free_port()
    cwd = tmp_path_factory.mktemp("dashboard")
    log = (cwd / "dashboard.log").open("w")
    process = subprocess.Popen([SHIPYARD, "dashboard", "--port", str(port)], cwd=cwd,
                               env=engine_env(settings), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def answers() -> bool:
            assert process.poll() is None, (cwd / "dashboard.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/api/overview", timeout=5) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for("the dashboard to answer", answers, 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), \
        "chromium and chromium-driver are missing: run scripts/setup"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # A profile of our own, removed after: the one chromedriver makes under /tmp
    # (org.chromium.Chromium.*) was left behind by every run.
    profile = tempfile.mkdtemp(prefix="shipyard-chromium-", dir="/var/tmp")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,1300", "--disable-gpu", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def run(client: BatchClient, shared_pool: str, settings: EngineSettings,
        server: str) -> Iterator[Run]:
    """A job with a release task and one 3-instance task, running until told to finish."""
    job_id, task_id = f"dash-{uuid.uuid4().hex[:6]}", "mpi"
    create_job(client, shared_pool, job_id,
               jobPreparationTask={"commandLine": "/bin/true"},
               jobReleaseTask={"commandLine": bash("sleep 0.3")})
    try:
        add_task(client, job_id, task_id, APPLICATION, multiInstanceSettings={
            "numberOfInstances": 3, "coordinationCommandLine": COORDINATION})
        yield Run(job_id, task_id, server, settings)
    finally:
        delete_job(client, job_id)


def texts(driver: webdriver.Chrome, selector: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def test_pool_page_shows_three_nodes(browser: webdriver.Chrome, run: Run, shared_pool: str,
                                     tmp_path: Path) -> None:
    browser.get(f"{run.url}/pools/{shared_pool}")
    cells = wait_for("3 nodes in the pool's grid", lambda: len(
        browser.find_elements(By.CSS_SELECTOR, ".grid .node")) == 3 and browser.find_elements(
        By.CSS_SELECTOR, ".grid .node"), 30)
    states = {c.get_attribute("data-state") for c in cells}
    assert states <= {"idle", "running"}, states
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.node-row")
    assert len(rows) == 3
    ips = {r.find_elements(By.TAG_NAME, "td")[2].text for r in rows}
    assert len(ips) == 3 and all(ip.startswith("10.") for ip in ips), ips
    assert browser.save_screenshot(str(tmp_path / "pool.png"))


def test_task_page_shows_three_instances_and_tails_live(
        browser: webdriver.Chrome, run: Run, client: BatchClient, tmp_path: Path) -> None:
    wait_task(client, run.job_id, run.task_id, ("running",), timeout=120)
    browser.get(f"{run.url}/jobs/{run.job_id}/tasks/{run.task_id}")

    def instances() -> list[str] | None:
        nodes = [r.get_attribute("data-node") or "" for r in
                 browser.find_elements(By.CSS_SELECTOR, "tr.instance")]
        return nodes if len(nodes) == 3 and all(nodes) else None

    nodes = wait_for("3 instances with their nodes", instances, 30)
    assert len(set(nodes)) == 3, nodes
    wait_for("the primary's stdout in the tail", lambda: "application started on" in
             browser.find_element(By.ID, "tail").text, 30)
    token = uuid.uuid4().hex
    assert token not in browser.find_element(By.ID, "tail").text
    run.release(token)
    wait_for("the line printed after the page opened", lambda: f"after-open: {token}" in
             browser.find_element(By.ID, "tail").text, 30)
    shot = tmp_path / "task.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000




def test_job_page_shows_the_task_with_its_subtasks_and_their_nodes(
        browser: webdriver.Chrome, run: Run, client: BatchClient, tmp_path: Path) -> None:
    wait_task(client, run.job_id, run.task_id, ("running", "completed"), timeout=120)
    browser.get(f"{run.url}/jobs/{run.job_id}")

    def subtask_nodes() -> list[str] | None:
        links = [a.get_attribute("title") or "" for a in
                 browser.find_elements(By.CSS_SELECTOR, "tr.subtask a")]
        return links if len(links) == 2 else None

    nodes = wait_for("2 subtask rows with their nodes", subtask_nodes, 30)
    primary = client.get_task(run.job_id, run.task_id).node_info.node_id
    assert len({*nodes, primary}) == 3, (nodes, primary)
    assert texts(browser, "tr.task td:first-child") == [run.task_id]
    assert browser.save_screenshot(str(tmp_path / "job.png"))


def test_node_page_lists_the_task_files_and_tails_the_one_picked(
        browser: webdriver.Chrome, run: Run, client: BatchClient, shared_pool: str) -> None:
    run.release("node page")  # the application's last line, if the tail test did not
    task = wait_task(client, run.job_id, run.task_id, timeout=120)
    node = task.node_info.node_id
    browser.get(f"{run.url}/pools/{shared_pool}/nodes/{node}")
    wanted = f"workitems/{run.job_id}/job-1/{run.task_id}/stdout.txt"

    def row() -> Any:
        found = [r for r in browser.find_elements(By.CSS_SELECTOR, ".files tr")
                 if r.text.split(" ")[0] == wanted]
        return found[0] if found else None

    wait_for(f"{wanted} among the node's files", row, 30).click()
    wait_for("the task's stdout in the node page's tail", lambda: "after-open: " in
             browser.find_element(By.ID, "tail").text, 30)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_timeline_has_three_rows_with_phases_in_order(
        browser: webdriver.Chrome, run: Run, client: BatchClient, settings: EngineSettings,
        tmp_path: Path) -> None:
    run.release("timeline")  # in case the tail test did not get that far
    task = wait_task(client, run.job_id, run.task_id, timeout=120)
    assert task.execution_info.exit_code == 0, task.execution_info
    terminate_job(client, run.job_id, "done")  # the release task is the cleanup phase
    wait_for("the release task on 3 nodes", lambda: sum(
        1 for s in client.list_job_preparation_and_release_task_status(run.job_id)
        if s.job_release_task_execution_info is not None
        and s.job_release_task_execution_info.end_time is not None) == 3, 60)
    out = tmp_path / "timeline.png"
    done = subprocess.run([SHIPYARD, "--raw", "jobs", "timeline", "--jobid", run.job_id,
                           "--taskid", run.task_id, "--out", str(out)], cwd=tmp_path,
                          env=engine_env(settings), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    rows = data["rows"]
    assert [r["instance"] for r in rows] == [0, 1, 2]
    assert len({r["node"] for r in rows}) == 3 and all(r["address"] for r in rows)
    for row in rows:
        phases = [b["phase"] for b in row["bars"]]
        assert phases == sorted(phases, key=PHASES.index), row
        assert {"coordination", "application", "cleanup"} <= set(phases), row
        starts = [b["start"] for b in row["bars"]]
        assert starts == sorted(starts) and all(b["end"] > b["start"] for b in row["bars"])
    apps = {b["start"] for r in rows for b in r["bars"] if b["phase"] == "application"}
    assert len(apps) == 1, "the application starts at one moment on every node"
    assert data["late"] in {r["node"] for r in rows} and not data["notes"]
    width, height = png_size(out)
    assert 800 <= width <= 2000 and 200 <= height <= 1000, (width, height)
    assert 10_000 < out.stat().st_size < 400_000
    browser.get(f"{run.url}/jobs/{run.job_id}/tasks/{run.task_id}")
    wait_for("the timeline's 3 rows on the task page", lambda: len(
        browser.find_elements(By.CSS_SELECTOR, "#timeline g.row")) == 3, 30)
    drawn = [g.get_attribute("data-node") for g in
             browser.find_elements(By.CSS_SELECTOR, "#timeline g.row")]
    assert drawn == [r["node"] for r in rows]
    assert texts(browser, "#timeline g.row > text")[1].startswith(
        f"subtask 1 · {rows[1]['address']}")
    assert browser.save_screenshot(str(tmp_path / "timeline-page.png"))


def status_of(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_server_answers_loopback_names_only_and_only_reads(server: str) -> None:
    """A page elsewhere that rebinds its name to 127.0.0.1 gets nothing; nothing is writable."""
    assert status_of(urllib.request.Request(f"{server}/api/overview")) == 200
    assert status_of(urllib.request.Request(f"{server}/api/overview",
                                            headers={"Host": "evil.example"})) == 400
    assert status_of(urllib.request.Request(f"{server}/api/jobs/x", method="DELETE")) == 405
    assert status_of(urllib.request.Request(f"{server}/api/jobs/no-such-job")) == 404
