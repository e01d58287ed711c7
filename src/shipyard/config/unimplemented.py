"""Batch Shipyard settings that shipyard accepts (so a config parses) but does not support.

Setting one fails loading with a message that names the path and says so, distinct from
an unknown key (a typo, answered with the closest key), e.g.
``jobs.yaml: job_specifications[0].tasks[0].singularity_image: a Batch Shipyard setting
that shipyard does not support: Singularity containers; no Apptainer or Singularity
package exists for Debian 12, ...``. Leaving it out, or writing its "off" value
(``false``, ``null``, an empty list), is fine. The rule for what goes here: anything whose
silent omission would change what a job does or where it runs. Settings with no
observable effect here (``data_replication``, ssh tunnel script options, ...) are
accepted and kept instead.

This module's ``UNIMPLEMENTED`` table is the one list; a test keeps this docstring in step.

credentials.yaml
    ``credentials.storage.aad``, ``credentials.management.aad`` (Entra ID sign-in for
    storage and management: use shared keys);
    ``credentials.batch.account_key_keyvault_secret_id``,
    ``credentials.storage.*.account_key_keyvault_secret_id``,
    ``credentials.docker_registry.*.password_keyvault_secret_id``, ``credentials.keyvault``
    (KeyVault); ``credentials.batch.application_insights`` (Batch Insights);
    ``credentials.batch.test_cluster``; ``credentials.singularity_registry`` (Singularity);
    ``credentials.monitoring``; ``credentials.slurm`` (Slurm on Batch).
config.yaml
    ``batch_shipyard.encryption`` when enabled (credential encryption);
    ``global_resources.singularity_images``;
    ``global_resources.files[*].destination.data_transfer.split_files_megabytes``
    (chunked node ingress; whole files are sent);
    ``global_resources.additional_registries.singularity`` (Singularity; ``docker`` works).
pool.yaml (under ``pool_specification``)
    ``input_data.azure_batch``, ``rdp`` (Windows pools), ``certificates`` (retired by
    Azure Batch), ``gpu`` (NVIDIA driver installation), ``prometheus`` when enabled,
    ``container_runtimes``, ``batch_insights_enabled``,
    ``additional_node_prep.environment_variables_keyvault_secret_id``.
jobs.yaml, job level (``job_specifications[*]``)
    ``environment_variables_keyvault_secret_id``, ``input_data.azure_batch``,
    ``federation_constraints``.
jobs.yaml, task level (``job_specifications[*].tasks[*]``)
    ``singularity_image``, ``singularity_execution``, ``additional_singularity_options``,
    ``environment_variables_keyvault_secret_id``, ``input_data.azure_batch``.
any level, data movement
    ``is_file_share: true`` (Azure Files shares; blob containers work) and
    ``blobxfer_extra_options`` in ``input_data`` (pool, job and task), ``output_data``,
    ``task_factory.file`` and ``global_resources.files``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from shipyard.config.base import set_fields
from shipyard.config.messages import render_path
from shipyard.errors import ConfigProblems

Path = tuple[str | int, ...]
_ANY_INDEX = "[*]"
#: What every message of this module says, before the reason.
NOT_SUPPORTED = "a Batch Shipyard setting that shipyard does not support"


def requested(value: object) -> bool:
    """True unless ``value`` is an "off" value: null, false, 0, empty, or all-off inside."""
    if isinstance(value, BaseModel):
        return any(requested(getattr(value, name)) for name in set_fields(value))
    if isinstance(value, dict):
        return any(requested(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(requested(item) for item in value)
    return value not in (None, False, 0, "")


def _enabled(value: object) -> bool:
    """True when some ``enabled`` key inside ``value`` is true."""
    if isinstance(value, dict):
        return value.get("enabled") is True or any(_enabled(v) for v in value.values())
    return False


@dataclass(frozen=True)
class Unimplemented:
    """One accepted-but-unimplemented key: where (``[*]`` any index, ``*`` any key) and why."""

    pattern: str
    reason: str
    when: Callable[[object], bool] = requested

    def matches(self, path: Path) -> bool:
        wanted = _split(self.pattern)
        return len(wanted) == len(path) and all(map(_part_matches, wanted, path))


def _split(pattern: str) -> list[str]:
    parts: list[str] = []
    for piece in pattern.split("."):
        name, bracket, _ = piece.partition("[")
        parts += [name, _ANY_INDEX] if bracket else [name]
    return parts


def _part_matches(wanted: str, part: str | int) -> bool:
    if wanted == _ANY_INDEX:
        return isinstance(part, int)
    return isinstance(part, str) and wanted in ("*", part)


_AAD = "Entra ID sign-in for storage and management; use shared keys"
_KEYVAULT = "KeyVault secrets; write the value itself"
_SINGULARITY = ("Singularity containers; no Apptainer or Singularity package exists for "
                "Debian 12, so no local node can run them; use docker_image")
_SHARES = "Azure Files shares; use a blob container"
_BLOBXFER = "blobxfer options; transfers go through Batch and the blob SDK"
_RDP = ("RDP users, for Windows pools; shipyard makes Linux pools only (Batch Shipyard "
        "ignores rdp on Linux): remove it and use ssh")
_CERTIFICATES = ("Batch account certificates, retired by Azure Batch on 29 February 2024 (the "
                 "azure-batch SDK, API 2025-06-01, has no certificate references); install "
                 "certificates with the Azure Key Vault VM extension instead")
_J = "job_specifications[*]"
_T = f"{_J}.tasks[*]"
_P = "pool_specification"


def _both_levels(key: str, reason: str, when: Callable[[object], bool] = requested) -> list[
        Unimplemented]:
    return [Unimplemented(f"{_J}.{key}", reason, when), Unimplemented(f"{_T}.{key}", reason, when)]


UNIMPLEMENTED: tuple[Unimplemented, ...] = (
    Unimplemented("credentials.storage.aad", _AAD),
    Unimplemented("credentials.management.aad", _AAD),
    Unimplemented("credentials.batch.account_key_keyvault_secret_id", _KEYVAULT),
    Unimplemented("credentials.storage.*.account_key_keyvault_secret_id", _KEYVAULT),
    Unimplemented("credentials.docker_registry.*.password_keyvault_secret_id", _KEYVAULT),
    Unimplemented("credentials.keyvault", _KEYVAULT),
    Unimplemented("credentials.batch.application_insights", "Batch Insights"),
    Unimplemented("credentials.batch.test_cluster", "Microsoft's internal test clusters"),
    Unimplemented("credentials.singularity_registry", _SINGULARITY),
    Unimplemented("credentials.monitoring", "resource monitoring"),
    Unimplemented("credentials.slurm", "Slurm on Batch"),
    Unimplemented("batch_shipyard.encryption", "credential encryption", _enabled),
    Unimplemented("global_resources.singularity_images", _SINGULARITY),
    Unimplemented("global_resources.files[*].destination.data_transfer.split_files_megabytes",
                  "splitting files into chunks; node ingress sends each file whole"),
    Unimplemented("global_resources.files[*].destination.data_transfer.is_file_share",
                  _SHARES),
    Unimplemented("global_resources.files[*].destination.data_transfer.blobxfer_extra_options",
                  _BLOBXFER),
    Unimplemented("global_resources.additional_registries.singularity", _SINGULARITY),
    Unimplemented(f"{_P}.input_data.azure_batch", "input from other tasks' nodes"),
    Unimplemented(f"{_P}.input_data.azure_storage[*].is_file_share", _SHARES),
    Unimplemented(f"{_P}.input_data.azure_storage[*].blobxfer_extra_options", _BLOBXFER),
    Unimplemented(f"{_P}.rdp", _RDP),
    Unimplemented(f"{_P}.certificates", _CERTIFICATES),
    Unimplemented(f"{_P}.gpu", "NVIDIA driver installation"),
    Unimplemented(f"{_P}.prometheus", "Prometheus exporters", _enabled),
    Unimplemented(f"{_P}.container_runtimes", "other container runtimes"),
    Unimplemented(f"{_P}.batch_insights_enabled", "Batch Insights"),
    Unimplemented(f"{_P}.additional_node_prep.environment_variables_keyvault_secret_id",
                  _KEYVAULT),
    *_both_levels("environment_variables_keyvault_secret_id", _KEYVAULT),
    *_both_levels("input_data.azure_batch", "input from other tasks' nodes"),
    *_both_levels("input_data.azure_storage[*].is_file_share", _SHARES),
    *_both_levels("input_data.azure_storage[*].blobxfer_extra_options", _BLOBXFER),
    Unimplemented(f"{_T}.output_data.azure_storage[*].is_file_share", _SHARES),
    Unimplemented(f"{_T}.output_data.azure_storage[*].blobxfer_extra_options", _BLOBXFER),
    Unimplemented(f"{_T}.task_factory.file.azure_storage.is_file_share", _SHARES),
    Unimplemented(f"{_J}.federation_constraints", "federations"),
    Unimplemented(f"{_T}.singularity_image", _SINGULARITY),
    Unimplemented(f"{_T}.singularity_execution", _SINGULARITY),
    Unimplemented(f"{_T}.additional_singularity_options", _SINGULARITY),
)


def _walk(value: object, path: Path = ()) -> Iterator[tuple[Path, object]]:
    """Every key and item the user set below ``value``, depth first in document order."""
    if isinstance(value, BaseModel):
        for name in set_fields(value):
            child = getattr(value, name)
            yield (*path, name), child
            yield from _walk(child, (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, str(key)), item
            yield from _walk(item, (*path, str(key)))
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield (*path, index), item
            yield from _walk(item, (*path, index))


def _hits(root: BaseModel) -> Iterator[str]:
    for path, value in _walk(root):
        for entry in UNIMPLEMENTED:
            if entry.matches(path) and entry.when(value):
                yield f"{render_path(path)}: {NOT_SUPPORTED}: {entry.reason}"


def reject_unimplemented(filename: str, root: BaseModel) -> None:
    """Raise one ``ConfigProblems`` listing every unimplemented key set in this file."""
    hits = list(_hits(root))
    if hits:
        raise ConfigProblems([f"{filename}: {hit}" for hit in hits])
