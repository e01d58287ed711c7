"""How to reach one storage account: the blob endpoint, the account name and its key.

The development account is Azurite's documented one (the same for every Azurite on every
machine, which is the point: tools and samples know it). ``repr`` never shows the key.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Azurite's well-known development account and key, as Microsoft documents them.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
           "K1SZFPTOtr/KBHBeksoGMGw==")


@dataclass(frozen=True)
class StorageLink:
    """One storage account as the blob SDK wants it."""

    blob_endpoint: str
    account: str = DEV_ACCOUNT
    key: str = DEV_KEY

    def __repr__(self) -> str:
        return f"StorageLink(blob_endpoint={self.blob_endpoint!r}, account={self.account!r})"

    def credential(self) -> dict[str, str]:
        return {"account_name": self.account, "account_key": self.key}

    def public(self) -> dict[str, str]:
        """What ``local status --json`` shows (the key is public by design, as Azurite's)."""
        return {"blob_endpoint": self.blob_endpoint, "account": self.account, "key": self.key}

    @classmethod
    def local(cls, port: int, host: str = "127.0.0.1") -> StorageLink:
        """The development account of an Azurite listening on ``host:port``."""
        return cls(f"http://{host}:{port}/{DEV_ACCOUNT}")
