"""What an Azure pool's nodes need for the config's shared data volumes.

Tasks bind each shared volume from ``$AZ_BATCH_NODE_ROOT_DIR/mounts/<name>``
(:mod:`shipyard.factory.volumes`), as Batch Shipyard does. On Azure the pool provides it:

- ``azurefile`` and ``azureblob``: Batch mounts them itself through the pool's
  ``mountConfiguration`` (Azure Files over SMB with the account key; blobfuse with the
  account key and Batch Shipyard's default options) under ``$AZ_BATCH_NODE_MOUNTS_DIR``,
  and the start task links ``mounts/<name>`` to that mount;
- ``custom_linux_mount``: the start task adds the ``fstab_entry`` as a ``noauto`` line for
  ``mounts/<name>`` and mounts it (the file system's client must be on the image, as
  with Batch Shipyard);
- ``glusterfs_on_compute`` and ``storage_cluster`` need a GlusterFS set up across the
  pool's nodes or a RemoteFS cluster of Batch Shipyard's ``fs`` commands, which shipyard
  does not build: a pool that lists one is refused on Azure.

The local engine needs none of this: every node's ``mounts`` is the pool's one shared
directory there (``engine/agent/sharedmounts.py``).
"""

from __future__ import annotations

from azure.batch import models

from shipyard.config import ShipyardConfig
from shipyard.config.volumes import MOUNTS_DIR, SharedDataVolume
from shipyard.errors import ConfigError
from shipyard.factory.shell import quote
from shipyard.factory.volumes import volume_context

#: Batch Shipyard's blobfuse options for an ``azureblob`` volume.
BLOBFUSE_DEFAULTS = ("-o allow_other", "-o attr_timeout=240", "-o entry_timeout=240",
                     "-o negative_timeout=120")
_WHERE = "config.yaml: global_resources.volumes.shared_data_volumes"


def _node_dir(volume: SharedDataVolume, alias: str, accounts: dict[str, str]) -> str:
    return volume.node_dir(alias, accounts).replace(f"{MOUNTS_DIR}/", "", 1)


def _key(cfg: ShipyardConfig, link: str | None, alias: str) -> tuple[str, str]:
    account = cfg.credentials.storage.accounts.get(link or "")
    if account is None or account.account_key is None:
        raise ConfigError(f"{_WHERE}.{alias}.storage_account_settings: '{link}' is not a "
                          "storage account with an account_key in credentials.yaml")
    return account.account, account.account_key.get_secret_value()


def _batch_mount(cfg: ShipyardConfig, alias: str, volume: SharedDataVolume, name: str
                 ) -> models.MountConfiguration:
    account, key = _key(cfg, volume.storage_account_settings, alias)
    options = " ".join(volume.mount_options)
    if volume.volume_driver == "azurefile":
        endpoint = cfg.credentials.storage.accounts[volume.storage_account_settings or ""]
        url = f"https://{account}.file.{endpoint.endpoint}/{volume.azure_file_share_name}"
        return models.MountConfiguration(azure_file_share_configuration=(
            models.AzureFileShareConfiguration(
                account_name=account, account_key=key, azure_file_url=url,
                relative_mount_path=name, mount_options=options or None)))
    blobfuse = " ".join([*BLOBFUSE_DEFAULTS, *volume.mount_options])
    return models.MountConfiguration(azure_blob_file_system_configuration=(
        models.AzureBlobFileSystemConfiguration(
            account_name=account, container_name=volume.azure_blob_container_name or "",
            account_key=key, blobfuse_options=blobfuse, relative_mount_path=name)))


def _custom_mount(volume: SharedDataVolume, name: str) -> list[str]:
    entry = volume.fstab_entry
    if entry is None:
        return []
    target = f'"$AZ_BATCH_NODE_ROOT_DIR"/mounts/{quote(name)}'
    line = (f'printf \'%s %s %s %s %s %s\\n\' {quote(entry.fs_spec)} {target} '
            f'{quote(entry.fs_vfstype)} {quote("noauto," + entry.fs_mntops)} '
            f"{entry.fs_freq} {entry.fs_passno} >> /etc/fstab")
    return [f"mkdir -p {target}", f"mountpoint -q {target} || {{ {line}; mount {target}; }}"]


def _link(name: str) -> str:
    target = f'"$AZ_BATCH_NODE_ROOT_DIR"/mounts/{quote(name)}'
    return (f'mkdir -p "$AZ_BATCH_NODE_ROOT_DIR"/mounts && ln -sfn '
            f'"$AZ_BATCH_NODE_MOUNTS_DIR"/{quote(name)} {target}')


def pool_mounts(cfg: ShipyardConfig) -> tuple[list[models.MountConfiguration], list[str]]:
    """The pool's ``mountConfiguration`` and the start task steps its volumes need."""
    if cfg.is_local:
        return [], []
    accounts = dict(volume_context(cfg).accounts)
    mounts: list[models.MountConfiguration] = []
    steps: list[str] = []
    for alias, volume in volume_context(cfg).volumes.shared_data_volumes.items():
        name = _node_dir(volume, alias, accounts)
        if volume.volume_driver in ("azurefile", "azureblob"):
            mounts.append(_batch_mount(cfg, alias, volume, name))
            steps.append(_link(name))
        elif volume.volume_driver == "custom_linux_mount":
            steps += _custom_mount(volume, name)
        else:
            raise ConfigError(
                f"{_WHERE}.{alias}.volume_driver: {volume.volume_driver} needs a GlusterFS or "
                "RemoteFS cluster that shipyard does not build on Azure",
                hint="use azurefile, azureblob or custom_linux_mount (the local engine runs "
                     "every kind)")
    return mounts, steps
