"""``shipyard account``: the Batch account's images, and what it runs (data plane only).

``images`` is Batch Shipyard's: the account's supported VM images (verified ones unless
``--show-unverified``), of the publishers Batch Shipyard uses unless ``--show-unrelated``;
``--raw`` prints every image the service returned. ``info`` says what the Batch API
itself can: the account's name and URL, its pools with their node counts and the cores
they hold, and its active jobs and job schedules. Batch Shipyard's ``info`` adds quotas,
location and allocation mode, and its ``list`` and ``quota`` are about the subscription:
those come from Azure Resource Manager (``credentials.management``), which shipyard does
not use, so ``info --name/--resource-group``, ``list`` and ``quota`` say so and fail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from shipyard.cli import render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app
from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from rich.table import Table

    from shipyard.batch.account import PoolUse

#: Why the Resource Manager half of Batch Shipyard's ``account`` commands is not here.
NO_MANAGEMENT = ("Azure Resource Manager (credentials.management), which shipyard does not "
                 "use: see the account in the Azure portal or 'az batch account'")


@click.group("account")
def account() -> None:
    """Batch account actions."""


@account.command("images")
@click.option("--show-unrelated", is_flag=True,
              help="Include images of publishers Batch Shipyard does not use.")
@click.option("--show-unverified", is_flag=True, help="Include unverified images.")
@pass_app
@reported
def images(app: App, show_unrelated: bool, show_unverified: bool) -> None:
    """List available VM images available to the Batch account."""
    from shipyard.batch.account import image_rows

    only = None if show_unverified else "verificationType eq 'verified'"
    found = list(app.client.list_supported_images(filter=only))
    if app.raw:
        app.emit_raw([image.as_dict() for image in found])
        return
    rows = image_rows(found, show_unrelated)
    title = (f"supported images ({len(rows)}; unrelated {'shown' if show_unrelated else 'hidden'}"
             f", unverified {'shown' if show_unverified else 'hidden'})")
    console.print(render.table(title, ("os", "publisher", "offer", "sku", "node agent sku id",
                                       "verification", "capabilities", "batch support eol"),
                               ((r.os_type, r.publisher, r.offer, r.sku, r.node_agent_sku_id,
                                 r.verification, r.capabilities, r.end_of_life or "-")
                                for r in rows)))


@account.command("info")
@click.option("--name", help="Batch account name [not supported: Resource Manager].")
@click.option("--resource-group", help="Batch account resource group [not supported: "
                                       "Resource Manager].")
@pass_app
@reported
def info(app: App, name: str | None, resource_group: str | None) -> None:
    """Retrieve Batch account information: pools, nodes and cores in use."""
    if name or resource_group:
        raise ShipyardError(f"account info --name/--resource-group need {NO_MANAGEMENT}")
    from shipyard.batch.account import pool_use

    client = app.client
    use = pool_use(client.list_pools(), client.list_pool_node_counts())
    active = (len(list(client.list_jobs(filter="state eq 'active'")))
              + len(list(client.list_job_schedules(filter="state eq 'active'"))))
    endpoint = app.endpoint
    if app.raw:
        app.emit_raw(_info_json(endpoint.account, endpoint.url, use, active))
        return
    console.print(f"account {endpoint.account} at {endpoint.url}: {len(use)} pool(s), "
                  f"{active} active job(s) and job schedule(s)")
    console.print(_pools_table(use))
    console.print(f"quotas, location and pool allocation mode need {NO_MANAGEMENT}")


@account.command("list")
@click.option("--resource-group", help="Scope the query to a resource group.")
@reported
def list_accounts(resource_group: str | None) -> None:
    """Retrieve a list of Batch accounts in the subscription [not supported]."""
    raise ShipyardError(f"account list needs {NO_MANAGEMENT}")


@account.command("quota")
@click.argument("location")
@reported
def quota(location: str) -> None:
    """Retrieve Batch account quota of the subscription in LOCATION [not supported]."""
    raise ShipyardError(f"account quota needs {NO_MANAGEMENT}")


def _total(values: list[int | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{sum(known)}{'+?' if len(known) < len(values) else ''}"


def _pools_table(use: list[PoolUse]) -> Table:
    rows: list[tuple[object, ...]] = [
        (u.pool_id, u.vm_size or "-", u.dedicated_nodes, u.low_priority_nodes,
         _cell(u.dedicated_cores), _cell(u.low_priority_cores)) for u in use]
    rows.append(("total", "", sum(u.dedicated_nodes for u in use),
                 sum(u.low_priority_nodes for u in use),
                 _total([u.dedicated_cores for u in use]),
                 _total([u.low_priority_cores for u in use])))
    return render.table("pools and the cores their nodes hold",
                        ("pool", "vm size", "dedicated nodes", "low-priority nodes",
                         "dedicated cores", "low-priority cores"), rows)


def _cell(cores: int | None) -> str:
    return "?" if cores is None else str(cores)


def _info_json(name: str, url: str, use: list[PoolUse], active: int) -> dict[str, object]:
    return {"account": name, "url": url, "active_jobs_and_job_schedules": active,
            "pools": [{"id": u.pool_id, "vm_size": u.vm_size,
                       "dedicated_nodes": u.dedicated_nodes,
                       "low_priority_nodes": u.low_priority_nodes,
                       "dedicated_cores": u.dedicated_cores,
                       "low_priority_cores": u.low_priority_cores} for u in use],
            "dedicated_cores": sum(u.dedicated_cores or 0 for u in use),
            "low_priority_cores": sum(u.low_priority_cores or 0 for u in use),
            "vm_sizes_of_unknown_cores": sorted({u.vm_size for u in use
                                                 if u.cores_per_node is None})}
