"""Fetching one stored resource, or refusing with the service's 404 for its kind.

Every service looks its records up the same way: by kind, parent and id (the store
ignores case), answering ``JobNotFound``, ``PoolNotFound``... when there is none. Each
kind's lookup is declared once, beside the service that owns the kind (``jobs.JOBS``),
so every path to a missing resource is refused with the same code and message.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.engine.store import Record, Store
from shipyard.errors import BatchError


@dataclass(frozen=True)
class Lookup:
    """One kind of stored resource and the 404 the service answers for an absent one.

    >>> JOBS = Lookup("job", "JobNotFound", "The specified job does not exist.")
    >>> JOBS.get(store, "", "nightly")  # the record, or BatchError 404 JobNotFound
    """

    kind: str
    code: str
    message: str

    def get(self, store: Store, parent: str, rid: str) -> Record:
        record = store.get(self.kind, parent, rid)
        if record is None:
            raise BatchError(404, self.code, self.message)
        return record
