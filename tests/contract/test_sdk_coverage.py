"""Every operation of ``azure.batch.BatchClient`` is called by some contract test.

The check is textual (``.method_name(`` in a file under tests/contract/), so it finds an
operation nobody drives through the SDK; whether each call asserts the service's answer is
the reviewer's to judge. ``close`` and ``send_request`` are the client's own plumbing
(closing its transport, sending a hand-made request), not operations of the service.
"""

from __future__ import annotations

import re
from pathlib import Path

from azure.batch import BatchClient

PLUMBING = {"close", "send_request"}
CONTRACT_DIR = Path(__file__).parent


def operations() -> list[str]:
    return sorted(name for name in dir(BatchClient)
                  if not name.startswith("_") and callable(getattr(BatchClient, name))
                  and name not in PLUMBING)


def test_every_sdk_operation_has_a_contract_test() -> None:
    text = "\n".join(path.read_text() for path in sorted(CONTRACT_DIR.rglob("*.py")))
    assert len(operations()) >= 73, "the 15.x client has 73 operations"
    missing = [name for name in operations() if not re.search(rf"\.{name}\(", text)]
    assert not missing, (f"{len(missing)} of {len(operations())} BatchClient operations have "
                         f"no contract test: {', '.join(missing)}")
