"""What the data plane says of a Batch account: its images, and its node and core use.

Pure functions over the SDK's models, for ``shipyard account``. Batch Shipyard reads the
account's quotas, location and allocation mode from Azure Resource Manager; the data plane
has none of those, but it has every pool's VM size and node counts, so core use is
counted here as Azure counts it against the quota: a node uses every vCPU of its size.
The data plane does not give a size's vCPUs either; Azure's size names carry them
(``Standard_D2s_v3`` has 2, ``Standard_HB120rs_v2`` 120, ``Standard_E8-2s_v3`` 8 of which
2 are active), except the first generations' names, which are looked up in a table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.batch import models

#: Image publishers Batch Shipyard works with; ``--show-unrelated`` shows the others too.
RELATED_PUBLISHERS = frozenset(("canonical", "credativ", "microsoft-azure-batch",
                                "microsoftwindowsserver", "openlogic"))

#: vCPUs of the first generations' sizes whose number is not their vCPU count: the A
#: series, D and DS v1 and v2 (D3 has 4, D11 2) and G and GS; keyed without the "s".
FIRST_GENERATION = {
    "a0": 1, "a1": 1, "a2": 2, "a3": 4, "a4": 8, "a5": 2, "a6": 4, "a7": 8, "a8": 8, "a9": 16,
    "a10": 8, "a11": 16, "d1": 1, "d2": 2, "d3": 4, "d4": 8, "d5": 16, "d11": 2, "d12": 4,
    "d13": 8, "d14": 16, "d15": 20, "g1": 2, "g2": 4, "g3": 8, "g4": 16, "g5": 32,
}
#: The versions of each first-generation family the table describes (None: no suffix).
_TABLED_VERSIONS = {"a": (None,), "d": (None, "2"), "g": (None,)}
# family letters, the vCPU number, an optional "-active vCPUs", feature letters, version.
_SIZE = re.compile(r"(?:standard|basic)_([a-z]+)(\d+)(?:-\d+)?([a-z]*)(?:_v(\d+))?(?:_promo)?")


@dataclass(frozen=True)
class ImageRow:
    """One supported image as ``account images`` lists it."""

    os_type: str
    publisher: str
    offer: str
    sku: str
    node_agent_sku_id: str
    verification: str
    capabilities: str
    end_of_life: str


def image_rows(images: Iterable[models.BatchSupportedImage], show_unrelated: bool
               ) -> list[ImageRow]:
    """The images, those of publishers Batch Shipyard does not use left out unless asked."""
    rows = []
    for image in images:
        ref = image.image_reference
        if not show_unrelated and (ref.publisher or "").lower() not in RELATED_PUBLISHERS:
            continue
        eol = image.batch_support_end_of_life
        rows.append(ImageRow(_text(image.os_type), ref.publisher or "", ref.offer or "",
                             ref.sku or "", image.node_agent_sku_id,
                             _text(image.verification_type),
                             ",".join(image.capabilities or ()),
                             f"{eol:%Y-%m-%d}" if eol else ""))
    return sorted(rows, key=lambda r: (r.os_type, r.publisher.lower(), r.offer, r.sku))


def vm_cores(vm_size: str | None) -> int | None:
    """The vCPUs Azure counts for one node of ``vm_size``; None for a name it cannot read."""
    match = _SIZE.fullmatch((vm_size or "").strip().lower())
    if match is None:
        return None
    family, number, _, version = match.groups()
    root = family.removesuffix("s")
    if version in _TABLED_VERSIONS.get(root, ()) and root + number in FIRST_GENERATION:
        return FIRST_GENERATION[root + number]
    return int(number)


@dataclass(frozen=True)
class PoolUse:
    """One pool's nodes and the cores they use, dedicated and low priority."""

    pool_id: str
    vm_size: str
    dedicated_nodes: int
    low_priority_nodes: int
    cores_per_node: int | None

    @property
    def dedicated_cores(self) -> int | None:
        return None if self.cores_per_node is None else self.dedicated_nodes * self.cores_per_node

    @property
    def low_priority_cores(self) -> int | None:
        if self.cores_per_node is None:
            return None
        return self.low_priority_nodes * self.cores_per_node


def pool_use(pools: Iterable[models.BatchPool],
             counts: Iterable[models.BatchPoolNodeCounts]) -> list[PoolUse]:
    """Each pool's use from ``list_pool_node_counts``; preempted nodes hold no cores."""
    by_pool = {c.pool_id: c for c in counts}
    found = []
    for pool in sorted(pools, key=lambda p: p.id or ""):
        count = by_pool.get(pool.id or "")
        dedicated = _held(count.dedicated) if count else 0
        low = _held(count.low_priority) if count else 0
        found.append(PoolUse(pool.id or "", pool.vm_size or "", dedicated, low,
                             vm_cores(pool.vm_size)))
    return found


def _held(nodes: models.BatchNodeCounts | None) -> int:
    if nodes is None:
        return 0
    return nodes.total - nodes.preempted - nodes.deallocated


def _text(value: object) -> str:
    return str(getattr(value, "value", value) or "")
