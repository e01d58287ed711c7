"""Test tiers, by folder, and the rule that a full run skips nothing.

Each folder under tests/ is one tier and gets its marker here, at collection, because
pytest ignores ``pytestmark`` in a conftest.py:

    unit      in-process, no root, Docker or nodes: pure functions, and the engine's
              HTTP app fuzzed over a real store (test_fuzz_routes, the slow one)
    cli       the shipyard command in an isolated environment, no engine
    engine    the node runtime on real namespaces and daemons          (also ``root``)
    contract  a real engine driven through the azure-batch SDK         (also ``root``)
    e2e       whole recipes: images, pools, MPI across nodes           (also ``root``)

``pytest -m "not root"`` runs what needs neither root nor Docker; scripts/test runs it as
an unprivileged user (scripts/unprivileged), which proves it. A test that needs root goes
in a root tier's folder; one that does not, in unit or cli.

With ``SHIPYARD_FORBID_SKIPS=1`` (scripts/test sets it) a run that skipped any test fails:
on a fresh machine scripts/setup installs everything a test needs, so a skip there means
a missing install step, which CI must not hide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.cli import app as cli_app

pytest_plugins = ["tests.engine_fixtures"]

TIERS = {"unit": (), "cli": (), "engine": ("root",), "contract": ("root",), "e2e": ("root",)}
_HERE = Path(__file__).parent
_skipped: list[str] = []


@pytest.fixture(autouse=True)
def _consoles_of_their_own() -> Iterator[None]:
    """The CLI's consoles are made on their first line, with the width the environment
    then gives, and kept for the process (one command): a test that printed first would
    fix the width of every later test in its worker. Each test starts without them."""
    for console in (cli_app.console, cli_app.err_console):
        console._console = None  # type: ignore[attr-defined]
    yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(_HERE).parts
        tier = parts[0] if len(parts) > 1 else ""
        if tier not in TIERS:
            continue
        for name in (tier, *TIERS[tier]):
            item.add_marker(name)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and os.environ.get("SHIPYARD_FORBID_SKIPS") == "1" and exitstatus == 0:
        lines = "\n  ".join(_skipped[:20])
        print(f"\nerror: {len(_skipped)} test(s) skipped; scripts/setup must install what "
              f"they need:\n  {lines}")
        session.exitstatus = 1
