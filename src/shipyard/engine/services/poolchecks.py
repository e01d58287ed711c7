"""Checks the service makes on a pool's body beyond its schema (create, update, replace).

- ``networkConfiguration.subnetId`` must be an Azure subnet resource id, and in the
  account's subscription. The local account's subscription is a fixed id derived from the
  account name that no real virtual network has, so every well-formed subnet is "in a
  different subscription", exactly the 400 the service gives an account that does not
  own the network (recorded: ``InvalidPropertyValue`` naming ``subnetId``).
- ``virtualMachineConfiguration.imageReference.virtualMachineImageId`` must have the form
  of a managed image, an Azure Compute Gallery image (version) or a shared/community
  gallery image; a malformed one is the same 400 naming ``virtualMachineImageId``.
- ``applicationPackageReferences``: the local account has no application packages, so any
  reference cannot be satisfied (409 ``InvalidApplicationPackageReferences``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from shipyard.engine.model import requests
from shipyard.errors import BatchError

_SUBNET = re.compile(
    r"/subscriptions/(?P<sub>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+"
    r"/subnets/[^/]+", re.IGNORECASE)
_IMAGE = re.compile(
    r"/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"/resourceGroups/[^/]+/providers/Microsoft\.Compute/"
    r"(?:images/[^/]+|galleries/[^/]+/images/[^/]+(?:/versions/[^/]+)?)"
    r"|/(?:CommunityGalleries|SharedGalleries)/[^/]+/Images/[^/]+(?:/Versions/[^/]+)?",
    re.IGNORECASE)
#: Namespace of the local accounts' subscription ids (any fixed UUID would do).
_SUBSCRIPTIONS = uuid.UUID("6d9b3f0e-5c1a-4e8b-9f2d-8a7c3b1e0d42")


def subscription_of(account: str) -> str:
    """The subscription a local account lives in: stable, and owning no real resource."""
    return str(uuid.uuid5(_SUBSCRIPTIONS, account.lower()))


def check_create(body: dict[str, Any], account: str) -> None:
    """Every check of this module on a create (or update) body."""
    check_subnet(body.get("networkConfiguration"), account)
    check_image(body.get("virtualMachineConfiguration"))
    check_packages(body.get("applicationPackageReferences"))


def check_subnet(network: dict[str, Any] | None, account: str) -> None:
    subnet = (network or {}).get("subnetId")
    if subnet is None:
        return
    match = _SUBNET.fullmatch(str(subnet))
    if match is None:
        raise requests.bad_value(
            "subnetId", subnet, "The specified subnetId is not a valid virtual network subnet "
            "resource id: /subscriptions/{subscription}/resourceGroups/{group}/providers/"
            "Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}")
    ours = subscription_of(account)
    if match.group("sub").lower() != ours:
        raise requests.bad_value(
            "subnetId", subnet, "The specified subnetId is in a different subscription and "
            "cannot be used with the current Batch account in subscription " + ours)


def check_image(configuration: dict[str, Any] | None) -> None:
    image = ((configuration or {}).get("imageReference") or {}).get("virtualMachineImageId")
    if image is not None and _IMAGE.fullmatch(str(image)) is None:
        raise requests.bad_value(
            "virtualMachineImageId", image, "The specified virtualMachineImageId is not in "
            "the format of a managed image or an Azure Compute Gallery image: /subscriptions/"
            "{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/galleries/"
            "{gallery}/images/{image}[/versions/{version}]")


def check_packages(references: list[dict[str, Any]] | None) -> None:
    if not references:
        return
    names = ", ".join(str(r.get("applicationId")) for r in references)
    raise BatchError(409, "InvalidApplicationPackageReferences",
                     "One or more application package references could not be satisfied.",
                     [("Reason", f"the account has no application packages; not found: "
                                 f"{names}")])
