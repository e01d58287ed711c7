"""A ``credentials.storage`` link resolved to what the blob SDK needs.

A link names an account: ``account``, ``account_key`` and ``endpoint`` (the DNS suffix,
``core.windows.net`` by default). Two ways lead to the local engine's Azurite: a config
whose Batch account is ``local`` may name any link it did not write (the engine's storage
is the account's linked storage, as auto-storage is on Azure), and an explicit entry may
say ``endpoint: local`` (or name the emulator's ``devstoreaccount1``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from shipyard.config import ShipyardConfig
from shipyard.errors import ConfigError

#: How long a SAS signed with an account's key lasts: Batch Shipyard signs task-factory
#: blobs for 30 years; inputs and outputs live with the job.
LONG_SAS = timedelta(days=365 * 30)
JOB_SAS = timedelta(days=7)
#: The emulator's account name; an entry naming it means the local engine's Azurite.
EMULATOR_ACCOUNT = "devstoreaccount1"
LOCAL_ENDPOINT = "local"


@dataclass(frozen=True)
class Account:
    """One storage account: its blob endpoint, name and key. ``repr`` hides the key."""

    link: str
    name: str
    key: str
    blob_endpoint: str

    def __repr__(self) -> str:
        return f"Account(link={self.link!r}, name={self.name!r}, {self.blob_endpoint!r})"

    def credential(self) -> dict[str, str]:
        return {"account_name": self.name, "account_key": self.key}


#: Gives the local engine's storage account under a link name (starts the engine if needed).
LocalAccount = Callable[[str], Account]


def resolve(config: ShipyardConfig, link: str, local: LocalAccount) -> Account:
    """The account a ``storage_account_settings`` link names."""
    entry = config.credentials.storage.accounts.get(link)
    if entry is None:
        if config.is_local:
            return local(link)
        known = ", ".join(sorted(config.credentials.storage.accounts)) or "none"
        raise ConfigError(f"credentials.yaml: credentials.storage.{link}: no such storage "
                          f"account link (links: {known})",
                          hint="add it with account, account_key and endpoint")
    if entry.endpoint == LOCAL_ENDPOINT or entry.account == EMULATOR_ACCOUNT:
        return local(link)
    if entry.account_key is None:
        raise ConfigError(f"credentials.yaml: credentials.storage.{link}.account_key: "
                          "required for an Azure storage account")
    return Account(link, entry.account, entry.account_key.get_secret_value(),
                   f"https://{entry.account}.blob.{entry.endpoint}")
