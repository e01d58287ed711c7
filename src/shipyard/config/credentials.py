"""credentials.yaml: where the Batch account is, and the keys for it, storage and registries.

``account_service_url: local`` (or no credentials.yaml at all) selects the local engine.
Keys are ``SecretStr``: they never show in a repr or a log line; call
``get_secret_value()`` where the client is built.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from shipyard.config.base import Model, Opaque, problem, shown

#: The ``account_service_url`` that selects the local engine.
LOCAL = "local"


class TokenCache(Model):
    """``aad.token_cache``: accepted as Batch Shipyard writes it; azure-identity caches itself."""

    enabled: bool = True
    filename: str | None = None


class AadSettings(Model):
    """Microsoft Entra ID (Azure AD) sign-in, as Batch Shipyard's ``aad`` sections hold it.

    One of ``auth_key`` (a service principal's secret), ``rsa_private_key_pem`` (a path to
    its certificate's PEM) or ``user``/``password``; none of them means the signed-in
    identity of this machine (``az login``, managed identity, environment).
    """

    authority_url: str | None = None
    endpoint: str | None = None
    directory_id: str | None = None
    application_id: str | None = None
    auth_key: SecretStr | None = None
    rsa_private_key_pem: str | None = None
    x509_cert_sha1_thumbprint: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    token_cache: TokenCache | None = None


class BatchCredentials(Model):
    """The Batch account: ``local``, or an Azure account URL and its shared key."""

    account: str | None = None
    account_key: SecretStr | None = None
    account_key_keyvault_secret_id: str | None = None
    account_service_url: str
    resource_group: str | None = None
    aad: AadSettings | None = None
    application_insights: Opaque = None
    test_cluster: bool = False

    @field_validator("account_service_url")
    @classmethod
    def _local_or_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value != LOCAL and not (parts.scheme in ("http", "https") and parts.hostname):
            raise problem(f"must be 'local' or an https:// account URL (got {shown(value)})")
        return value

    @property
    def is_local(self) -> bool:
        """True when this names the local engine rather than an account URL."""
        return self.account_service_url == LOCAL

    @property
    def account_name(self) -> str | None:
        """The account name: ``account`` if given, else the URL's first host label."""
        if self.account or self.is_local:
            return self.account
        host = urlsplit(self.account_service_url).hostname or ""
        return host.split(".", 1)[0]


class StorageAccount(Model):
    """One storage account under its link name (the key other files refer to)."""

    account: str
    account_key: SecretStr | None = None
    account_key_keyvault_secret_id: str | None = None
    endpoint: str = "core.windows.net"
    resource_group: str | None = None


class StorageCredentials(Model):
    """``credentials.storage``: an optional ``aad`` plus any number of named accounts."""

    # Link names are the user's own keys, so extras are allowed here and typed as accounts.
    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)
    __pydantic_extra__: dict[str, StorageAccount] = Field(init=False)

    aad: Opaque = None

    @property
    def accounts(self) -> dict[str, StorageAccount]:
        """Storage accounts by link name."""
        return dict(self.__pydantic_extra__ or {})


class RegistryLogin(Model):
    """A login for one container registry (``hub`` is Docker Hub)."""

    username: str
    password: SecretStr | None = None
    password_keyvault_secret_id: str | None = None


class ManagementCredentials(Model):
    """Azure Resource Manager access; kept for Azure-only features."""

    subscription_id: str | None = None
    aad: Opaque = None


class Credentials(Model):
    """``credentials``: ``batch`` is required; the rest only matter on Azure or for registries."""

    aad: AadSettings | None = None
    batch: BatchCredentials
    storage: StorageCredentials = Field(default_factory=StorageCredentials)
    docker_registry: dict[str, RegistryLogin] = Field(default_factory=dict)
    singularity_registry: Opaque = None
    management: ManagementCredentials | None = None
    keyvault: Opaque = None
    monitoring: Opaque = None
    slurm: Opaque = None

    @model_validator(mode="after")
    def _key_for_azure(self) -> Credentials:
        batch = self.batch
        keyless = batch.account_key is None and batch.account_key_keyvault_secret_id is None
        if not batch.is_local and keyless and batch.aad is None and self.aad is None:
            raise problem("required for an Azure Batch account (or an aad section for "
                          "Entra ID sign-in)", "batch", "account_key")
        return self

    @property
    def batch_aad(self) -> AadSettings | None:
        """Entra ID settings for Batch: ``batch.aad`` over the shared ``aad``."""
        if self.batch.aad is None:
            return self.aad
        if self.aad is None:
            return self.batch.aad
        shared = self.aad.model_dump(exclude_unset=True)
        return AadSettings.model_validate(
            {**shared, **self.batch.aad.model_dump(exclude_unset=True)})


class CredentialsFile(Model):
    """The whole of credentials.yaml."""

    credentials: Credentials


#: What a config dir without credentials.yaml means: the local engine.
LOCAL_CREDENTIALS = Credentials(batch=BatchCredentials(account_service_url=LOCAL))
