"""Building a ``BatchClient`` for a real account or for the local engine.

The local engine is the embedded default: with no credentials (or
``account_service_url: local``) the engine of this machine is started if needed and
its development account is used. Nothing else differs between the two paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from shipyard.engine import control
from shipyard.engine.settings import EngineSettings, default_data_dir
from shipyard.errors import ConfigError

LOCAL = "local"


@dataclass(frozen=True)
class Endpoint:
    """Where the Batch API is and how to sign for it. ``repr`` never shows the key."""

    url: str
    account: str
    key: str
    local: bool

    def __repr__(self) -> str:
        return f"Endpoint(url={self.url!r}, account={self.account!r}, local={self.local})"


def resolve(service_url: str | None, key: str | None, account: str | None = None) -> Endpoint:
    """The endpoint for credentials.yaml values; ``None``/``local`` is the local engine."""
    if not service_url or service_url.strip().lower() == LOCAL:
        state, _ = control.start(EngineSettings(data_dir=default_data_dir()))
        return Endpoint(state.url, state.account, state.key, local=True)
    parsed = urlparse(service_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"credentials.yaml: credentials.batch.account_service_url: "
                          f"{service_url!r} is not an http(s) URL or 'local'")
    if not key:
        raise ConfigError("credentials.yaml: credentials.batch.account_key: required for "
                          f"{service_url}")
    name = account or parsed.hostname.split(".", 1)[0]
    return Endpoint(service_url.rstrip("/"), name, key, local=False)


def make_client(endpoint: Endpoint) -> BatchClient:
    return BatchClient(endpoint.url, AzureNamedKeyCredential(endpoint.account, endpoint.key))
