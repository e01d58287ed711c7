"""``shipyard pool``: add, delete, list, resize the pool of pool.yaml, and list its nodes."""

from __future__ import annotations

import click
from azure.batch import models

from shipyard.batch import waiting
from shipyard.batch.errors import translated
from shipyard.cli import render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app
from shipyard.factory.pool import pool_options

POOL_TIMEOUT = 1800.0


@click.group()
def pool() -> None:
    """Pools of compute nodes."""


@pool.command("add")
@click.option("--no-wait", is_flag=True, help="Return once the pool is created.")
@pass_app
def add(app: App, no_wait: bool) -> None:
    """Create the pool of pool.yaml and wait until its nodes are idle."""
    with reported(), translated(app.endpoint.url):
        options = pool_options(app.config)
        app.warn_local_hardware()
        app.client.create_pool(options)
        app.say(f"pool [bold]{options.id}[/bold] created at {app.endpoint.url}")
        if not no_wait:
            _wait_ready(app, options.id, _target(options))


@pool.command("del")
@click.option("--wait", is_flag=True, help="Wait until the pool is gone.")
@click.option("--poolid", help="Pool to delete [default: pool.yaml's].")
@pass_app
def delete(app: App, wait: bool, poolid: str | None) -> None:
    """Delete the pool and every node in it."""
    with reported(), translated(app.endpoint.url):
        pool_id = poolid or app.config.pool.id
        app.confirm(f"Delete pool {pool_id} and all its nodes?")
        app.client.begin_delete_pool(pool_id, polling_interval=1)
        app.say(f"pool {pool_id} is being deleted")
        if wait:
            with console.status(f"deleting pool {pool_id}"):
                waiting.gone(f"pool {pool_id} to be deleted",
                             lambda: app.client.get_pool(pool_id), POOL_TIMEOUT)
            app.say(f"pool {pool_id} deleted")


@pool.command("list")
@pass_app
def list_pools(app: App) -> None:
    """List pools with their allocation and node counts."""
    with reported(), translated(app.endpoint.url):
        pools = list(app.client.list_pools())
    if app.raw:
        app.emit_raw([p.as_dict() for p in pools])
        return
    console.print(render.table("pools", ("pool", "state", "allocation", "dedicated",
                                         "low priority", "vm size"), (
        (p.id, p.state, p.allocation_state, f"{p.current_dedicated_nodes}/"
         f"{p.target_dedicated_nodes}", f"{p.current_low_priority_nodes}/"
         f"{p.target_low_priority_nodes}", p.vm_size) for p in pools)))


@pool.command("resize")
@click.option("--wait", is_flag=True, help="Wait until the new nodes are idle.")
@pass_app
def resize(app: App, wait: bool) -> None:
    """Resize the pool to pool.yaml's vm_count."""
    with reported(), translated(app.endpoint.url):
        spec = app.config.pool
        counts = models.BatchPoolResizeOptions(
            target_dedicated_nodes=spec.vm_count.dedicated,
            target_low_priority_nodes=spec.vm_count.low_priority)
        app.client.begin_resize_pool(spec.id, counts, polling_interval=1)
        app.say(f"pool {spec.id} resizing to {spec.vm_count.dedicated} dedicated, "
                f"{spec.vm_count.low_priority} low-priority nodes")
        if wait:
            _wait_ready(app, spec.id, spec.vm_count.dedicated + spec.vm_count.low_priority)


@pool.group("nodes")
def nodes() -> None:
    """Nodes of the pool."""


@nodes.command("list")
@click.option("--poolid", help="Pool [default: pool.yaml's].")
@pass_app
def list_nodes(app: App, poolid: str | None) -> None:
    """List the pool's nodes with state, address and start task result."""
    with reported(), translated(app.endpoint.url):
        pool_id = poolid or app.config.pool.id
        found = list(app.client.list_nodes(pool_id))
    if app.raw:
        app.emit_raw([n.as_dict() for n in found])
    else:
        console.print(render.nodes_table(pool_id, found))


def _wait_ready(app: App, pool_id: str, count: int) -> None:
    if count == 0:
        return
    with render.live(app.raw) as show:
        def report(found: list[models.BatchNode]) -> None:
            show(render.nodes_table(f"{pool_id} ({render.summary(found)})", found))

        ready = waiting.nodes_ready(app.client, pool_id, count, report, POOL_TIMEOUT)
    app.say(f"pool {pool_id}: {len(ready)} nodes ready")


def _target(options: models.BatchPoolCreateOptions) -> int:
    return (options.target_dedicated_nodes or 0) + (options.target_low_priority_nodes or 0)
