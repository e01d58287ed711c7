"""Microsoft Entra ID (Azure AD) credentials for Azure Batch accounts without shared keys.

Batch Shipyard's ``aad`` settings (``credentials.batch.aad``, ``credentials.aad`` or the
``--aad-*`` options) pick one way to sign in, and azure-identity provides it:

    auth_key                     ClientSecretCredential (a service principal's secret)
    rsa_private_key_pem          CertificateCredential (the principal's certificate PEM;
                                 azure-identity computes the thumbprint itself)
    user + password              UsernamePasswordCredential
    none of them                 DefaultAzureCredential (az login, managed identity, env)

azure-identity is imported here only, when an account actually signs in this way, so the
CLI starts without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.config.credentials import AadSettings
from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

_SECRETS = ("auth_key", "rsa_private_key_pem", "password")


def _one_secret(aad: AadSettings) -> str | None:
    given = [name for name in _SECRETS if getattr(aad, name) is not None]
    if len(given) > 1:
        raise ConfigError(f"credentials.yaml: credentials.batch.aad: set only one of "
                          f"{', '.join(given)} (--aad-auth-key, --aad-cert-private-key and "
                          "--aad-password are mutually exclusive)")
    return given[0] if given else None


def _needs(aad: AadSettings, way: str, *names: str) -> None:
    missing = [name for name in names if not getattr(aad, name)]
    if missing:
        raise ConfigError(f"credentials.yaml: credentials.batch.aad.{missing[0]}: required "
                          f"to sign in with {way}")


def entra_credential(aad: AadSettings) -> TokenCredential:
    """The azure-identity credential ``aad`` describes."""
    import azure.identity as identity

    authority = {"authority": aad.authority_url} if aad.authority_url else {}
    secret = _one_secret(aad)
    if secret == "auth_key" and aad.auth_key is not None:
        _needs(aad, "auth_key", "directory_id", "application_id")
        return identity.ClientSecretCredential(
            aad.directory_id or "", aad.application_id or "",
            aad.auth_key.get_secret_value(), **authority)
    if secret == "rsa_private_key_pem":
        _needs(aad, "a certificate", "directory_id", "application_id")
        return identity.CertificateCredential(
            aad.directory_id or "", aad.application_id or "",
            certificate_path=aad.rsa_private_key_pem, **authority)
    if secret == "password" and aad.password is not None:
        _needs(aad, "user and password", "application_id", "user")
        return identity.UsernamePasswordCredential(
            aad.application_id or "", aad.user or "", aad.password.get_secret_value(),
            tenant_id=aad.directory_id, **authority)
    return identity.DefaultAzureCredential(**authority)
