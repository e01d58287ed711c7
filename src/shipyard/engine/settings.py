"""Settings of one local engine: where it keeps state, where it listens, which account it serves.

The development account is well known on purpose, as Azurite's is for storage: anything on
this machine may talk to the engine, which binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

#: The documented development account; override with --account/--key or the environment.
DEV_ACCOUNT = "shipyardlocal"
DEV_KEY = "c2hpcHlhcmQtbG9jYWwtZGV2ZWxvcG1lbnQta2V5LW5vdC1hLXNlY3JldC0wMDAwMDAwMDA="
#: The engine process reads its account key from here, never from argv (ps shows argv).
KEY_ENV = "SHIPYARD_ENGINE_KEY"
DEFAULT_PORT = 10900
DEFAULT_DATA_DIR = Path("/var/lib/shipyard/local")
DEFAULT_SUBNET_BASE = ipaddress.IPv4Network("10.213.0.0/16")
#: Resident memory one idle node costs (its dockerd plus containerd), measured on these machines.
NODE_MEMORY_MB = 130


def default_data_dir() -> Path:
    """The data dir from SHIPYARD_DATA_DIR, else the system default."""
    return Path(os.environ.get("SHIPYARD_DATA_DIR", str(DEFAULT_DATA_DIR)))


@dataclass(frozen=True)
class EngineSettings:
    """Everything one engine process needs to know before it serves."""

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    account: str = DEV_ACCOUNT
    key: str = DEV_KEY
    subnet_base: ipaddress.IPv4Network = DEFAULT_SUBNET_BASE

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "engine.db"

    @property
    def images_dir(self) -> Path:
        """Host image archives and prepared image stores, shared by every pool."""
        return self.data_dir / "images"

    @property
    def nodes_dir(self) -> Path:
        # Short on purpose: node daemons' unix socket paths must fit in 108 bytes.
        return self.data_dir / "n"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "engine.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "engine.log"
