"""Create-time pool checks: subnet ids, custom image ids, application packages."""

from __future__ import annotations

import pytest

from shipyard.engine.services import poolchecks
from shipyard.errors import BatchError

ACCOUNT = "shipyardlocal"
OURS = poolchecks.subscription_of(ACCOUNT)
SUBNET = ("/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/"
          "vnet/subnets/default")


def refusal(call: object) -> BatchError:
    with pytest.raises(BatchError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_the_local_subscription_is_stable_and_per_account() -> None:
    assert poolchecks.subscription_of("SHIPYARDLOCAL") == OURS
    assert poolchecks.subscription_of("other") != OURS
    poolchecks.check_subnet({"subnetId": SUBNET.format(OURS)}, ACCOUNT)
    poolchecks.check_subnet({"subnetId": SUBNET.format(OURS).lower()}, ACCOUNT)
    poolchecks.check_subnet(None, ACCOUNT)
    poolchecks.check_subnet({"dynamicVNetAssignmentScope": "none"}, ACCOUNT)


@pytest.mark.parametrize(("subnet", "reason"), [
    (SUBNET.format("00000000-0000-0000-0000-000000000000"), "in a different subscription"),
    ("default", "not a valid virtual network subnet"),
    (SUBNET.format("not-a-guid"), "not a valid virtual network subnet"),
    (SUBNET.format(OURS) + "/extra", "not a valid virtual network subnet"),
])
def test_subnets_refused(subnet: str, reason: str) -> None:
    error = refusal(lambda: poolchecks.check_subnet({"subnetId": subnet}, ACCOUNT))
    assert error.status == 400 and error.code == "InvalidPropertyValue"
    assert dict(error.values)["PropertyName"] == "subnetId"
    assert dict(error.values)["PropertyValue"] == subnet
    assert reason in dict(error.values)["Reason"]


@pytest.mark.parametrize("image", [
    f"/subscriptions/{OURS}/resourceGroups/rg/providers/Microsoft.Compute/images/img",
    f"/subscriptions/{OURS}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i",
    f"/subscriptions/{OURS}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i"
    "/versions/1.0.0",
    "/CommunityGalleries/cg/Images/i/Versions/latest", "/SharedGalleries/sg/Images/i"])
def test_image_ids_accepted(image: str) -> None:
    poolchecks.check_image({"imageReference": {"virtualMachineImageId": image}})


@pytest.mark.parametrize("image", [
    "img", "/subscriptions/x/images/y",
    f"/subscriptions/{OURS}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g",
    f"/subscriptions/{OURS}/resourceGroups/rg/providers/Microsoft.Network/images/i"])
def test_image_ids_refused(image: str) -> None:
    error = refusal(lambda: poolchecks.check_image(
        {"imageReference": {"virtualMachineImageId": image}}))
    assert error.code == "InvalidPropertyValue"
    assert dict(error.values)["PropertyName"] == "virtualMachineImageId"


def test_application_packages_cannot_be_satisfied() -> None:
    poolchecks.check_packages([])
    poolchecks.check_packages(None)
    error = refusal(lambda: poolchecks.check_packages([{"applicationId": "blender"}]))
    assert (error.status, error.code) == (409, "InvalidApplicationPackageReferences")
    assert "blender" in dict(error.values)["Reason"]
