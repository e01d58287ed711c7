"""What a deleted pool of this session's engine may not leave: scoped to the engine's data
dir, because the machine-wide namespace names (``shy<slot>-<n>``) are reused by other
engines on the same host the moment a slot is free."""

from __future__ import annotations

from pathlib import Path

from shipyard.engine.settings import EngineSettings
from tests.realengine import cmdlines


def nodes_left(settings: EngineSettings, nodes: set[str]) -> list[str]:
    """Node homes, processes and mounts of ``nodes`` (``<slot>-<index>``) still present."""
    homes = [settings.data_dir / "n" / name for name in nodes]
    found = [f"node dir {home}" for home in homes if home.exists()]
    marks = [str(home).encode() for home in homes]
    found += [f"process {pid}: {cmdline[:120]!r}" for pid, cmdline in cmdlines().items()
              if any(mark in cmdline for mark in marks)]
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    found += [f"mount {line}" for line in mounts if any(str(h) in line for h in homes)]
    return found
