"""The client side's arrows: ``config/``, ``factory/`` and ``batch/`` never import the engine
(only ``cli/`` starts it), and the CLI's start loads neither the SDK nor pydantic.

The first test reads every module's imports (top level and inside functions) with
``ast``, so an import hidden in a function counts as well.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.importgraph import imported

SRC = Path(__file__).parent.parent.parent / "src" / "shipyard"
CLIENT_ROOMS = ("config", "factory", "batch")


@pytest.mark.parametrize("room", CLIENT_ROOMS)
def test_client_rooms_do_not_import_the_engine(room: str) -> None:
    offenders = sorted(f"{path.relative_to(SRC)} imports {name}"
                       for path in (SRC / room).rglob("*.py")
                       for name in imported(path)
                       if name == "shipyard.engine" or name.startswith("shipyard.engine."))
    assert offenders == []


def test_the_walk_sees_an_engine_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from shipyard.engine import control\n")
    assert "shipyard.engine" in imported(module)


def test_cli_start_loads_neither_the_sdk_nor_pydantic() -> None:
    probe = ("import sys, shipyard.cli.main; "
             "print(' '.join(m for m in ('azure.batch', 'azure.identity', 'pydantic', "
             "'rich.table', 'yaml') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == ""


def loaded_after(code: str, *watched: str) -> list[str]:
    """Which of ``watched`` (modules or packages) a fresh interpreter has after ``code``."""
    probe = (f"import sys\n{code}\n"
             f"print(' '.join(w for w in {watched!r} if any(m == w or m.startswith(w + '.') "
             f"for m in sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    return done.stderr.split()


def test_help_loads_no_sdk_config_console_or_other_commands() -> None:
    code = ("from shipyard.cli.main import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass")
    assert loaded_after(code, "azure", "pydantic", "rich", "yaml", "requests", "cryptography",
                        "shipyard.config", "shipyard.cli.jobs", "shipyard.cli.pool") == []


def test_jobs_add_loads_only_the_jobs_commands() -> None:
    code = ("import click\nfrom shipyard.cli.main import cli\n"
            "ctx = click.Context(cli)\njobs = cli.get_command(ctx, 'jobs')\n"
            "assert jobs.get_command(ctx, 'add') is not None")
    assert loaded_after(code, "shipyard.cli.pool", "shipyard.cli.data", "shipyard.cli.storage",
                        "shipyard.cli.dashboard", "shipyard.cli.jobctl", "shipyard.cli.tasks",
                        "shipyard.cli.local", "rich", "azure.storage") == []


def test_a_local_engine_client_loads_no_requests() -> None:
    code = ("from shipyard.batch.client import Endpoint, make_client\n"
            "make_client(Endpoint('http://127.0.0.1:9', 'acct', 'a2V5', local=True))")
    assert loaded_after(code, "requests", "urllib3") == []
