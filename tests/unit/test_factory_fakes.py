"""Shared pieces of the factory tests: fixed SSH material, model builders, and a fake node.

The fake node runs a generated command line as the Batch service would (split like the
engine splits it, task environment in the process environment) with ``docker``,
``mpirun``, ``nproc`` and ``hostname`` replaced by scripts that log their argv and
environment NUL-separated. ``docker exec <name> cmd...`` runs ``cmd`` as if in the container.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shipyard.config import JobSpec, PoolSpecification
from shipyard.factory import SshMaterial, new_ssh_material

#: Values that break naive quoting, in ids-free places (commands, env values, options).
HOSTILE = [
    "it's",
    'say "hi"',
    "$(touch pwned-by-substitution)",
    "`touch pwned-by-backticks`",
    "a; touch pwned-by-semicolon",
    "line one\nline two",
    "ünïcødé ✓ 日本",
    "back\\slash",
    "  padded  ",
    "*",
    "-e",
    "${HOME}",
    "",
]

FAKE_DOCKER = r"""#!/bin/bash
n=$(cat "$FAKE_LOG/count" 2>/dev/null || echo 0)
echo $((n + 1)) > "$FAKE_LOG/count"
printf '%s\0' "$@" > "$FAKE_LOG/docker.$n.argv"
env -0 > "$FAKE_LOG/docker.$n.env"
if [ "$1" = run ] && [ -n "${FAKE_DOCKER_CONFLICT:-}" ] && [ ! -e "$FAKE_LOG/conflicted" ]; then
  touch "$FAKE_LOG/conflicted"
  echo 'docker: Error response from daemon: Conflict. The container name "/x"' \
    'is already in use by container "abc".' >&2
  exit 125
fi
if [ "$1" = run ] && [ -n "${FAKE_DOCKER_BLOCK:-}" ]; then
  touch "$FAKE_LOG/running"; sleep 60
fi
case "$1" in
  inspect) echo "${FAKE_DOCKER_RUNNING:-true}" ;;
  logs) echo "fake container log line" ;;
  ps) printf '%s\n' ${FAKE_DOCKER_PS:-} ;;
  exec) shift 2; exec "$@" ;;
esac
exit "${FAKE_DOCKER_EXIT:-0}"
"""

FAKE_RECORDER = r"""#!/bin/bash
printf '%s\0' "$@" > "$FAKE_LOG/$(basename "$0").argv"
env -0 > "$FAKE_LOG/$(basename "$0").env"
"""

FAKE_NPROC = "#!/bin/bash\necho 4\n"
FAKE_HOSTNAME = '#!/bin/bash\necho "${FAKE_HOST_IPS:-}"\n'


def fixed_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def fixed_ssh() -> SshMaterial:
    return new_ssh_material(generate=fixed_key, comment="shipyard-test")


def job(**fields: Any) -> JobSpec:
    """A one-task job; ``fields`` overrides job keys, ``task`` the task's keys."""
    task = {"id": "t", "docker_image": "img:1", "command": "run", **fields.pop("task", {})}
    return JobSpec.model_validate({"id": "j", "tasks": [task], **fields})


def pool(**fields: Any) -> PoolSpecification:
    return PoolSpecification.model_validate(
        {"id": "p", "vm_count": 2, "inter_node_communication_enabled": True, **fields})


@dataclass
class Run:
    """What one command line did on the fake node."""

    result: subprocess.CompletedProcess[str]
    log: Path

    def docker_calls(self) -> list[list[str]]:
        count = int((self.log / "count").read_text()) if (self.log / "count").exists() else 0
        return [read_nul(self.log / f"docker.{n}.argv") for n in range(count)]

    def docker_env(self, n: int) -> dict[str, str]:
        return read_env(self.log / f"docker.{n}.env")

    def docker_run(self) -> tuple[list[str], dict[str, str]]:
        """The argv and environment of the one ``docker run`` of the line (there must be one)."""
        (n,) = [n for n, argv in enumerate(self.docker_calls()) if argv[:1] == ["run"]]
        return self.docker_calls()[n], self.docker_env(n)

    def recorded(self, program: str) -> list[str]:
        return read_nul(self.log / f"{program}.argv")


def read_nul(path: Path) -> list[str]:
    data = path.read_bytes().decode()
    return data.split("\0")[:-1]


def read_env(path: Path) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in read_nul(path)]
    return {name: value for name, value in pairs}


def fake_bin(root: Path) -> Path:
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    scripts = {"docker": FAKE_DOCKER, "mpirun": FAKE_RECORDER, "mpiexec": FAKE_RECORDER,
               "app": FAKE_RECORDER, "nproc": FAKE_NPROC, "hostname": FAKE_HOSTNAME}
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def task_environment(root: Path, job_id: str, task_id: str) -> dict[str, str]:
    """The service's variables for a task of ``job_id`` under the fake node root ``root``."""
    task_dir = root / "workitems" / job_id / "job-1" / task_id
    (task_dir / "wd").mkdir(parents=True, exist_ok=True)
    return {
        "AZ_BATCH_NODE_ROOT_DIR": str(root),
        "AZ_BATCH_JOB_ID": job_id,
        "AZ_BATCH_TASK_ID": task_id,
        "AZ_BATCH_TASK_DIR": str(task_dir),
        "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
        "AZ_BATCH_NODE_ID": "tvm-1",
        "AZ_BATCH_POOL_ID": "p",
    }


@dataclass
class Launch:
    """How a node runs a command line: split (as the engine does), no shell of its own."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path

    @classmethod
    def of(cls, command_line: str, root: Path, env: Mapping[str, str]) -> Launch:
        log = root / "log"
        log.mkdir(parents=True, exist_ok=True)
        full_env = {"PATH": f"{fake_bin(root)}:/usr/bin:/bin", "FAKE_LOG": str(log),
                    "LANG": "C.UTF-8", **env}
        return cls(shlex.split(command_line), full_env,
                   Path(env.get("AZ_BATCH_TASK_WORKING_DIR", root)), log)


def run_line(command_line: str, root: Path, env: Mapping[str, str],
             timeout: float = 30) -> Run:
    """Run ``command_line`` to its end as a node would."""
    launch = Launch.of(command_line, root, env)
    result = subprocess.run(launch.argv, env=launch.env, cwd=launch.cwd, capture_output=True,
                            text=True, timeout=timeout, check=False)
    return Run(result=result, log=launch.log)


def bash_syntax_ok(command_line: str) -> subprocess.CompletedProcess[str]:
    """``bash -n`` of a ``/bin/bash -c <script>`` line, and of any nested ``bash -c`` in it."""
    argv = shlex.split(command_line)
    assert argv[:2] == ["/bin/bash", "-c"] and len(argv) == 3, argv
    return subprocess.run(["bash", "-n", "-c", argv[2]], capture_output=True, text=True,
                          check=False, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
