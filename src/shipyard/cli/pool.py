"""``shipyard pool``: add, delete, list, resize the pool of pool.yaml; exists and stats.

Autoscale (``pool autoscale``), nodes (``pool nodes``), remote users and SSH (``pool user``,
``pool ssh``) and container images (``pool images``) live in their own modules and are
attached at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from shipyard.batch import waiting
from shipyard.cli import render
from shipyard.cli.app import console, err_console, escape, reported
from shipyard.cli.context import App, pass_app
from shipyard.errors import BatchError

if TYPE_CHECKING:
    from azure.batch import models

POOL_TIMEOUT = 1800.0


@click.group()
def pool() -> None:
    """Pool actions."""


@pool.command("add")
@click.option("--no-wait", is_flag=True, help="Return once the pool is created.")
@click.option("--recreate", is_flag=True, help="Delete the pool first if it exists.")
@click.option("--dry-run", is_flag=True, help="Check the config and print the request; "
                                              "send nothing.")
@pass_app
@reported
def add(app: App, no_wait: bool, recreate: bool, dry_run: bool) -> None:
    """Add a pool to the Batch account."""
    from shipyard.factory.pool import pool_options

    options = pool_options(app.config)
    app.warn_local_hardware()
    if dry_run:
        from shipyard.cli import dryrun

        dryrun.show_pool(app, options)
        return
    exists = _exists(app, options.id)
    if exists and not recreate:  # asked before anything is uploaded or created
        raise BatchError(409, "PoolExists", f"pool {options.id} already exists (nothing was "
                         "uploaded or created)", hint="pass --recreate to replace it, or "
                         "delete it first: shipyard pool del")
    options = _with_storage(app, options)
    if exists:
        _delete(app, options.id, wait=True)
    app.client.create_pool(options)
    app.say(f"pool [bold]{options.id}[/bold] created at {app.endpoint.url}")
    _once_created(app, options, no_wait)


def _once_created(app: App, options: models.BatchPoolCreateOptions, no_wait: bool) -> None:
    """Wait for the nodes, add the SSH user, then send the node entries (or say why not)."""
    if no_wait:
        _nodes_not_sent(app, "--no-wait returns before the nodes are ready")
        return
    size = _first_size(app, options)
    _wait_ready(app, options.id, size)
    added = app.config.pool.ssh is not None and _add_ssh_user(app, options.id)
    if size == 0:
        _nodes_not_sent(app, "the pool has no nodes yet")
    elif not added:
        _nodes_not_sent(app, "the SSH user is not on the nodes")
    else:
        _ingress_to_nodes(app)


def _with_storage(app: App, options: models.BatchPoolCreateOptions
                  ) -> models.BatchPoolCreateOptions:
    """What the pool needs from storage, before it is created.

    ``transfer_files_on_pool_creation`` ingresses config.yaml's files first (Batch Shipyard
    overlaps the two, and documents that nodes may then list a container before the files
    arrive; here they are there); then the start task gets the pool's ``input_data``
    and its blob resource files signed. The ``input_data`` containers the ingress does
    not fill are proved to exist before the first byte is sent.
    """
    from shipyard.cli import nodeingress, storage

    transfer = app.config.pool.transfer_files_on_pool_creation
    if transfer:  # the node entries are sent once the nodes are ready: check them now
        nodeingress.check_all(app, storage.node_entries(app))
    plan = storage.plan(app)
    ingress = transfer and bool(app.config.global_resources.files)
    plan.require_pool_inputs(storage.ingress_targets(app) if ingress else set())
    if ingress:
        storage.ingress_all(app, plan, to_nodes=False)
    elif transfer:
        app.say("[dim]transfer_files_on_pool_creation: config.yaml has no "
                "global_resources.files to ingress[/dim]")
    return plan.pool_options(options)


def _add_ssh_user(app: App, pool_id: str) -> bool:
    """Add pool.yaml's SSH user as Batch Shipyard does; the ready pool stays if that fails."""
    from shipyard.batch.errors import translated
    from shipyard.cli import remote
    from shipyard.errors import ShipyardError

    try:
        with translated(app.where):
            remote.add_users(app, pool_id)
    except ShipyardError as exc:
        err_console.print(f"[yellow]warning:[/yellow] pool {pool_id} is ready, but its SSH "
                          f"user was not added: {escape(str(exc))}\n[dim]add it with "
                          "'shipyard pool user add'[/dim]")
        return False
    return True


def _node_files_pending(app: App) -> bool:
    """Whether ``transfer_files_on_pool_creation`` has entries for the nodes to send."""
    from shipyard.cli import storage

    return app.config.pool.transfer_files_on_pool_creation and bool(storage.node_entries(app))


def _nodes_not_sent(app: App, why: str) -> None:
    if _node_files_pending(app):
        err_console.print(f"[yellow]warning:[/yellow] config.yaml's files for the nodes were "
                          f"not sent ({why}): run 'shipyard data ingress' once the nodes are "
                          "ready")


def _ingress_to_nodes(app: App) -> None:
    """``transfer_files_on_pool_creation``: the node entries, once the SSH user is there."""
    from shipyard.cli import storage

    if _node_files_pending(app):
        storage.ingress_all(app, storage.plan(app), to_storage=False)


@pool.command("del")
@click.option("--wait", is_flag=True, help="Wait until the pool is gone.")
@click.option("--poolid", help="Pool to delete [default: pool.yaml's].")
@pass_app
@reported
def delete(app: App, wait: bool, poolid: str | None) -> None:
    """Delete a pool from the Batch account."""
    pool_id = poolid or app.config.pool.id
    app.confirm(f"Delete pool {pool_id} and all its nodes?")
    _delete(app, pool_id, wait)


def _delete(app: App, pool_id: str, wait: bool) -> None:
    app.client.begin_delete_pool(pool_id, polling_interval=1)
    app.say(f"pool {pool_id} is being deleted")
    if wait:
        with console.status(f"deleting pool {pool_id}"):
            waiting.gone(f"pool {pool_id} to be deleted",
                         lambda: app.client.get_pool(pool_id), POOL_TIMEOUT)
        app.say(f"pool {pool_id} deleted")


@pool.command("list")
@pass_app
@reported
def list_pools(app: App) -> None:
    """List all pools in the Batch account."""
    pools = list(app.client.list_pools())
    if app.raw:
        app.emit_raw([p.as_dict() for p in pools])
        return
    console.print(render.table("pools", ("pool", "state", "allocation", "dedicated",
                                         "low priority", "vm size"), (
        (p.id, p.state, p.allocation_state, f"{p.current_dedicated_nodes}/"
         f"{p.target_dedicated_nodes}", f"{p.current_low_priority_nodes}/"
         f"{p.target_low_priority_nodes}", p.vm_size) for p in pools)))


@pool.command("exists")
@click.option("--pool-id", "--poolid", "pool_id", help="Pool [default: pool.yaml's].")
@pass_app
@reported
def exists(app: App, pool_id: str | None) -> None:
    """Say whether the pool exists (exit code 0 either way)."""
    pool_id = pool_id or app.config.pool.id
    found = _exists(app, pool_id)
    if app.raw:
        app.emit_raw({"pool_id": pool_id, "exists": found})
    else:
        console.print(f"pool {pool_id} {'exists' if found else 'does not exist'}")


def _exists(app: App, pool_id: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:  # SDK 15.1's pool_exists raises on the service's 404 instead of returning False
        return bool(app.client.pool_exists(pool_id))
    except ResourceNotFoundError:
        return False


@pool.command("resize")
@click.option("--wait", is_flag=True, help="Wait until the new nodes are idle.")
@pass_app
@reported
def resize(app: App, wait: bool) -> None:
    """Resize a pool to pool.yaml's vm_count."""
    from azure.batch import models

    spec = app.config.pool
    _refuse_autoscale(app, spec.id)
    counts = models.BatchPoolResizeOptions(
        target_dedicated_nodes=spec.vm_count.dedicated,
        target_low_priority_nodes=spec.vm_count.low_priority)
    app.client.begin_resize_pool(spec.id, counts, polling_interval=1)
    app.say(f"pool {spec.id} resizing to {spec.vm_count.dedicated} dedicated, "
            f"{spec.vm_count.low_priority} low-priority nodes")
    if wait:
        _wait_ready(app, spec.id, spec.vm_count.dedicated + spec.vm_count.low_priority)


@pool.command("stats")
@click.option("--poolid", help="Pool [default: pool.yaml's].")
@pass_app
@reported
def stats(app: App, poolid: str | None) -> None:
    """Get statistics about a pool: nodes by state, running tasks, slots."""
    pool_id = poolid or app.config.pool.id
    found = app.client.get_pool(pool_id)
    nodes = list(app.client.list_nodes(pool_id))
    summary = pool_summary(found, nodes)
    if app.raw:
        app.emit_raw(summary)
        return
    console.print(render.table(f"pool {pool_id}", ("statistic", "value"),
                               ((key, value) for key, value in summary.items())))


def pool_summary(found: models.BatchPool, nodes: list[models.BatchNode]) -> dict[str, object]:
    """What ``pool stats`` shows: allocation, node counts by state, running tasks, slots."""
    from shipyard.batch import figures  # the SDK's models: loaded by the command, not --help

    shared = figures.pool_stats(found, nodes)
    dedicated = sum(1 for n in nodes if n.is_dedicated)
    slots = found.task_slots_per_node or 1
    return {
        "state": shared["state"],
        "allocation_state": shared["allocation_state"],
        "vm_size": found.vm_size,
        "nodes": shared["nodes"],
        "dedicated_nodes": dedicated,
        "low_priority_nodes": len(nodes) - dedicated,
        **render.counted("nodes_", shared["states"]),
        "running_tasks": shared["running_tasks"],
        "task_slots": slots * len(nodes),
        "task_slots_in_use": sum(n.running_task_slots_count or 0 for n in nodes),
    }


def _wait_ready(app: App, pool_id: str, count: int) -> None:
    if count == 0:
        return
    with render.live(app.raw) as show:
        def report(found: list[models.BatchNode]) -> None:
            show(render.nodes_table(f"{pool_id} ({render.summary(found)})", found))

        ready = waiting.nodes_ready(app.client, pool_id, count, report, POOL_TIMEOUT)
    app.say(f"pool {pool_id}: {len(ready)} nodes ready")


def _first_size(app: App, options: models.BatchPoolCreateOptions) -> int:
    """The nodes to wait for: vm_count, or what the formula's first evaluation asked."""
    if options.enable_auto_scale:
        from shipyard.cli.autoscale import first_run

        return first_run(app, options.id)
    return (options.target_dedicated_nodes or 0) + (options.target_low_priority_nodes or 0)


def _refuse_autoscale(app: App, pool_id: str) -> None:
    """The service sizes an autoscale pool by its formula: say so before asking it."""
    from shipyard.errors import ShipyardError

    if app.client.get_pool(pool_id).enable_auto_scale:
        raise ShipyardError(f"pool {pool_id} has autoscale enabled: its formula sets the node "
                            "counts, so it cannot be resized; nothing was changed",
                            hint="run 'shipyard pool autoscale disable' first, or change "
                                 "pool.yaml's autoscale and run 'shipyard pool autoscale "
                                 "enable'")


def _attach() -> None:
    from shipyard.cli.autoscale import autoscale
    from shipyard.cli.images import images
    from shipyard.cli.nodes import nodes
    from shipyard.cli.remote import ssh, user

    for group in (autoscale, nodes, images, user, ssh):
        pool.add_command(group)


_attach()
