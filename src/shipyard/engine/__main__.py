"""``python -m shipyard.engine``: run the local engine in the foreground."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from pathlib import Path

from shipyard.engine.server import serve
from shipyard.engine.settings import (
    DEFAULT_SUBNET_BASE,
    DEV_ACCOUNT,
    DEV_KEY,
    KEY_ENV,
    EngineSettings,
)
from shipyard.errors import ShipyardError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipyard.engine")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account", default=DEV_ACCOUNT)
    parser.add_argument("--subnet-base", default=str(DEFAULT_SUBNET_BASE))
    args = parser.parse_args(argv)
    settings = EngineSettings(
        data_dir=args.data_dir, host=args.host, port=args.port, account=args.account,
        key=os.environ.get(KEY_ENV, DEV_KEY),
        subnet_base=ipaddress.IPv4Network(args.subnet_base),
    )
    logging.basicConfig(level=os.environ.get("SHIPYARD_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve(settings)
    except ShipyardError as exc:
        print(f"shipyard engine: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
