"""Entra ID sign-in for Azure Batch accounts: the right azure-identity credential is built.

NOT tested against Azure: this machine has no network to Microsoft Entra ID or Azure
Batch. These tests check what is built from ``credentials.batch.aad`` and the ``--aad-*``
options (credential type, tenant, client id, authority, the token scope of the client)
without asking for a token.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import click
import pytest
from azure.core.pipeline.policies import BearerTokenCredentialPolicy
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    UsernamePasswordCredential,
)
from click.testing import CliRunner

from shipyard.batch.client import make_client
from shipyard.batch.identity import entra_credential
from shipyard.cli import options
from shipyard.cli.context import App, pass_app
from shipyard.config.credentials import AadSettings
from shipyard.errors import ConfigError

URL = "https://hpcbatch.westeurope.batch.azure.com"
KEYLESS = f"credentials:\n  batch:\n    account_service_url: {URL}\n"


def endpoint_of(configdir: Path, *argv: str) -> App:
    """The App after parsing ``argv`` with its endpoint built (no request is sent)."""
    seen: list[App] = []

    @click.command()
    @pass_app
    def probe(app: App) -> None:
        app.endpoint  # noqa: B018 - builds the credential
        seen.append(app)

    options.install(probe)
    result = CliRunner().invoke(probe, ["--configdir", str(configdir), *argv],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[0]


def test_a_service_principal_secret_in_credentials_yaml(tmp_path: Path) -> None:
    (tmp_path / "credentials.yaml").write_text(
        KEYLESS + "    aad:\n      directory_id: tenant-1\n      application_id: app-1\n"
                  "      auth_key: s3cret\n")
    app = endpoint_of(tmp_path)
    token = app.endpoint.token
    assert isinstance(token, ClientSecretCredential)
    assert (token._tenant_id, token._client_id) == ("tenant-1", "app-1")
    assert app.endpoint.key is None and "s3cret" not in repr(app.endpoint)
    policy = make_client(app.endpoint)._config.authentication_policy
    assert isinstance(policy, BearerTokenCredentialPolicy)
    assert policy._scopes == ("https://batch.core.windows.net//.default",)


def test_aad_options_sign_in_an_account_without_a_key(tmp_path: Path) -> None:
    (tmp_path / "credentials.yaml").write_text(KEYLESS)
    app = endpoint_of(tmp_path, "--aad-directory-id", "t2", "--aad-application-id", "a2",
                      "--aad-auth-key", "k2", "--aad-authority-url",
                      "https://login.microsoftonline.us", "--aad-endpoint",
                      "https://batch.core.usgovcloudapi.net/")
    token = app.endpoint.token
    assert isinstance(token, ClientSecretCredential)
    assert (token._tenant_id, token._client_id, token._authority) == (
        "t2", "a2", "https://login.microsoftonline.us")
    policy = make_client(app.endpoint)._config.authentication_policy
    assert policy._scopes == ("https://batch.core.usgovcloudapi.net//.default",)


def test_aad_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "credentials.yaml").write_text(KEYLESS)
    for name, value in (("DIRECTORY_ID", "t3"), ("APPLICATION_ID", "a3"), ("USER", "u@x"),
                        ("PASSWORD", "p3")):
        monkeypatch.setenv(f"SHIPYARD_AAD_{name}", value)
    assert isinstance(endpoint_of(tmp_path).endpoint.token, UsernamePasswordCredential)


def test_shared_aad_section_and_no_secret_use_this_machine_s_identity(tmp_path: Path) -> None:
    (tmp_path / "credentials.yaml").write_text(
        "credentials:\n  aad:\n    directory_id: t4\n" + KEYLESS.split("\n", 1)[1])
    assert isinstance(endpoint_of(tmp_path).endpoint.token, DefaultAzureCredential)


def self_signed_pem(path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shipyard-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
                     + cert.public_bytes(serialization.Encoding.PEM))


def test_a_certificate(tmp_path: Path) -> None:
    pem = tmp_path / "sp.pem"
    self_signed_pem(pem)
    credential = entra_credential(AadSettings(directory_id="t5", application_id="a5",
                                              rsa_private_key_pem=str(pem)))
    assert isinstance(credential, CertificateCredential)


def test_secrets_are_mutually_exclusive() -> None:
    with pytest.raises(ConfigError, match="set only one of auth_key, password"):
        entra_credential(AadSettings.model_validate(
            {"directory_id": "t", "application_id": "a", "auth_key": "k", "user": "u",
             "password": "p"}))


def test_a_secret_without_its_tenant_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match=r"aad\.directory_id: required"):
        entra_credential(AadSettings.model_validate({"application_id": "a", "auth_key": "k"}))


def test_keyless_azure_credentials_without_aad_are_refused(tmp_path: Path) -> None:
    (tmp_path / "credentials.yaml").write_text(KEYLESS)

    @click.command()
    @pass_app
    def probe(app: App) -> None:
        app.config  # noqa: B018

    options.install(probe)
    with pytest.raises(ConfigError, match="account_key: required for an Azure Batch account"):
        CliRunner().invoke(probe, ["--configdir", str(tmp_path)], catch_exceptions=False)
