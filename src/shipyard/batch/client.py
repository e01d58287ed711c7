"""Building a ``BatchClient`` for an Azure Batch account or for the local engine.

The client side never starts anything: the CLI (``cli/context.py``) starts the local
engine when the config names it and hands its address and key in as an ``Endpoint``.
An Azure account signs with its shared key or, with ``aad`` settings, with a Microsoft
Entra ID token (``identity.py``). The local engine's clients send through the standard
library's http.client (``transport.py``), Azure's through the SDK's default (requests);
nothing else differs between the two paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.core.credentials import TokenCredential

LOCAL = "local"
#: The Entra ID resource of Azure Batch (Batch Shipyard's default ``aad.endpoint``).
BATCH_RESOURCE = "https://batch.core.windows.net/"


@dataclass(frozen=True)
class Endpoint:
    """Where the Batch API is and how to sign for it. ``repr`` never shows a secret.

    ``key`` is the shared key; with Entra ID it is ``None`` and ``token`` signs instead,
    for the ``resource`` (``aad.endpoint``).
    """

    url: str
    account: str
    key: str | None
    local: bool
    token: TokenCredential | None = field(default=None, repr=False, compare=False)
    resource: str = BATCH_RESOURCE

    def __repr__(self) -> str:
        how = "entra-id" if self.token is not None else "shared-key"
        return (f"Endpoint(url={self.url!r}, account={self.account!r}, local={self.local}, "
                f"auth={how})")


def azure_endpoint(service_url: str, key: str | None, account: str | None = None,
                   token: TokenCredential | None = None,
                   resource: str = BATCH_RESOURCE) -> Endpoint:
    """The endpoint of an Azure Batch account URL, signed by its key or a token."""
    parsed = urlparse(service_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"credentials.yaml: credentials.batch.account_service_url: "
                          f"{service_url!r} is not an http(s) URL or 'local'")
    if not key and token is None:
        raise ConfigError("credentials.yaml: credentials.batch.account_key: required for "
                          f"{service_url} (or credentials.batch.aad for Entra ID)")
    name = account or parsed.hostname.split(".", 1)[0]
    return Endpoint(service_url.rstrip("/"), name, key, local=False, token=token,
                    resource=resource)


def make_client(endpoint: Endpoint) -> BatchClient:
    """A client that signs every request for ``endpoint``."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    if endpoint.token is not None:
        scope = endpoint.resource.rstrip("/") + "//.default"
        return BatchClient(endpoint.url, endpoint.token, credential_scopes=[scope])
    if endpoint.key is None:
        raise ConfigError(f"no key or Entra ID credential for {endpoint.url}")
    credential = AzureNamedKeyCredential(endpoint.account, endpoint.key)
    if endpoint.local:
        from shipyard.batch.transport import HttpClientTransport

        return BatchClient(endpoint.url, credential, transport=HttpClientTransport())
    return BatchClient(endpoint.url, credential)
