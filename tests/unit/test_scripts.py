"""The bash entry points (scripts/setup, scripts/test, .ci/run) run under bash with fakes.

Mirror detection is fed apt configurations written here; scripts/test runs in a copy of the repo
layout whose setup, ruff, mypy and two pytest runs are stubs that log their argv and exit as
told. scripts/unprivileged itself runs in every scripts/test: it is that run of the not-root tier.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = [REPO / "scripts" / name for name in ("setup", "test", "unprivileged")] + [
    REPO / ".ci" / "run"]
LIB = REPO / "scripts" / "lib.sh"
CALLS = "calls.log"

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""


def lib_call(apt_dir: Path, function: str) -> str:
    script = f'source "{LIB}" && {function} "$1" bookworm'
    done = subprocess.run(
        ["bash", "-c", script, "bash", str(apt_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "apt dir; $(echo x)"
    (root / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "mirror", "security"),
    [
        pytest.param(
            {"sources.list.d/debian.sources": DEB822},
            "http://mirror.example/debian",
            "http://security.example/debian-security",
            id="deb822",
        ),
        pytest.param(
            {
                "sources.list": "# deb http://old.example/debian bookworm main\n"
                "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
                "deb-src http://src.example/debian bookworm main\n"
            },
            "http://one.example/debian",
            "",
            id="one-line-with-options",
        ),
        pytest.param(
            {
                "sources.list.d/off.sources": DEB822.replace("Types:", "Enabled: no\nTypes:"),
                "sources.list.d/x.list.disabled": "deb http://no.example/debian bookworm main\n",
                "sources.list.d/z.list": "deb http://z.example/debian bookworm main\n",
            },
            "http://z.example/debian",
            "",
            id="disabled-entries-and-files-skipped",
        ),
        pytest.param(
            {"sources.list": "deb http://x.example/debian trixie main\n"},
            "",
            "",
            id="other-release-only",
        ),
        pytest.param({}, "", "", id="no-sources"),
    ],
)
def test_mirror_detection(
    tmp_path: Path, files: dict[str, str], mirror: str, security: str
) -> None:
    apt = apt_dir(tmp_path, files)
    assert lib_call(apt, "debian_mirror") == mirror
    assert lib_call(apt, "debian_security_mirror") == security


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_are_executable(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert script.stat().st_mode & 0o111, f"{script} must be executable (chmod +x, git add)"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_clean() -> None:
    done = subprocess.run(
        ["shellcheck", "-x", *map(str, [*SCRIPTS, LIB])],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout


SUMMARY = {0: "3 passed, 2 deselected in 0.01s", 1: "1 failed, 2 passed in 0.01s",
           5: "5 deselected in 0.01s"}


def fake_repo(tmp_path: Path, pytest_exit: int, setup_exit: int = 0,
              unprivileged_exit: int | None = None) -> Path:
    """A repo layout whose tools are stubs appending their argv to CALLS in the repo root.

    The two pytest runs (``scripts/unprivileged`` and ``.venv/bin/pytest``) print the summary
    line pytest -q prints for their exit code.
    """
    root = tmp_path / "repo with space"
    (root / "scripts").mkdir(parents=True)
    (root / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "test", root / "scripts" / "test")
    shutil.copy(LIB, root / "scripts" / "lib.sh")
    first = pytest_exit if unprivileged_exit is None else unprivileged_exit
    stubs = {
        "scripts/setup": (setup_exit, ""),
        "scripts/chaos": (0, ""),
        ".venv/bin/ruff": (0, ""),
        ".venv/bin/mypy": (0, ""),
        "scripts/unprivileged": (first, SUMMARY[first]),
        ".venv/bin/pytest": (pytest_exit, SUMMARY[pytest_exit]),
    }
    log = root / CALLS
    for rel, (code, said) in stubs.items():
        stub = root / rel
        stub.write_text(f'#!/usr/bin/env bash\necho "{rel} $*" >> "{log}"\n'
                        f'echo "{said}"\nexit {code}\n')
        stub.chmod(0o755)
    return root


def run_test_script(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / "scripts" / "test"), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_test_script_runs_every_step_and_both_tiers_with_the_args(tmp_path: Path) -> None:
    root = fake_repo(tmp_path, pytest_exit=0)
    done = run_test_script(root, "-k", "a b")
    assert done.returncode == 0, done.stderr
    calls = (root / CALLS).read_text().splitlines()
    assert calls[:3] == ["scripts/setup ", ".venv/bin/ruff check src tests", ".venv/bin/mypy "]
    root_runs = [".venv/bin/pytest -q --durations=15 -m root and engine -k a b",
                 ".venv/bin/pytest -q --durations=15 -m root and not engine -n 2 "
                 "--dist loadfile -k a b"]
    # The unprivileged run goes beside the root runs, which go one after the other.
    assert [c for c in calls[3:6] if c.startswith(".venv/bin/pytest")] == root_runs
    assert "scripts/unprivileged -q --durations=15 -m not root -k a b" in calls[3:6]
    assert calls[6:] == [
        f"scripts/chaos --minutes 2 --seed 1 --report {tempfile.gettempdir()}/chaos-test.md"]
    assert "tier not root, as shipyard-test: 3 passed, 2 deselected in 0.01s" in done.stdout
    assert "tier root, engine: 3 passed, 2 deselected in 0.01s" in done.stdout
    assert "tier root, contract and e2e on 2 workers: 3 passed" in done.stdout
    assert "\npytest: 9 passed, 0 failed\n" in done.stdout


@pytest.mark.parametrize(
    ("unprivileged_exit", "pytest_exit", "message"),
    [(5, 5, "tier not root, as shipyard-test collected no test"),
     (0, 5, "tier root, engine collected no test"),
     (1, 0, "tier not root, as shipyard-test: pytest failed (exit 1)"),
     (0, 1, "tier root, contract and e2e on 2 workers: pytest failed (exit 1)")],
)
def test_test_script_fails_when_a_tier_fails_or_finds_nothing(
    tmp_path: Path, unprivileged_exit: int, pytest_exit: int, message: str
) -> None:
    root = fake_repo(tmp_path, pytest_exit=pytest_exit, unprivileged_exit=unprivileged_exit)
    done = run_test_script(root)
    assert done.returncode == 1
    assert message in done.stderr
    calls = (root / CALLS).read_text()
    assert calls.count(".venv/bin/pytest -q") == 2 and "scripts/unprivileged -q" in calls, \
        "every run runs, whichever fails"
    assert "scripts/chaos" not in calls
    if unprivileged_exit == 1:
        assert "\npytest: 8 passed, 1 failed\n" in done.stdout
    if pytest_exit == 1:
        assert "\npytest: 7 passed, 2 failed\n" in done.stdout


def test_test_script_lets_narrowing_args_leave_one_tier_empty(tmp_path: Path) -> None:
    root = fake_repo(tmp_path, pytest_exit=5, unprivileged_exit=0)
    done = run_test_script(root, "tests/unit")
    assert done.returncode == 0, done.stderr
    assert "tier root, engine: 5 deselected in 0.01s" in done.stdout
    assert "\npytest: 3 passed, 0 failed\n" in done.stdout


def test_test_script_fails_when_narrowed_to_nothing(tmp_path: Path) -> None:
    done = run_test_script(fake_repo(tmp_path, pytest_exit=5), "-k", "nothing")
    assert done.returncode == 1
    assert "collected no test" in done.stderr


def test_test_script_refuses_a_marker_expression(tmp_path: Path) -> None:
    root = fake_repo(tmp_path, pytest_exit=0)
    done = run_test_script(root, "-m", "unit")
    assert done.returncode == 1
    assert "selects the tiers with -m itself" in done.stderr
    assert not (root / CALLS).exists()


def test_test_script_stops_when_setup_fails(tmp_path: Path) -> None:
    root = fake_repo(tmp_path, pytest_exit=0, setup_exit=3)
    done = run_test_script(root)
    assert done.returncode == 1
    assert "'scripts/setup' failed (exit 3)" in done.stderr
    assert (root / CALLS).read_text().splitlines() == ["scripts/setup "]
