"""``shipyard pool nodes``: list, count, delete, reboot nodes; their login settings; and
``ps``, ``prune``, ``zap`` of the containers on them over SSH (``remote``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import click

from shipyard.cli import remote, render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app
from shipyard.errors import ConfigError

#: Batch's node states the selection flags name.
STARTING = ("starting", "waitingforstarttask", "creating")
#: At most this many nodes per remove request (the service's limit).
REMOVE_BATCH = 100

poolid_option = click.option("--poolid", help="Pool [default: pool.yaml's].")


@click.group("nodes")
def nodes() -> None:
    """Compute node actions."""


def _pool_id(app: App, poolid: str | None) -> str:
    return poolid or app.config.pool.id


def _ids(app: App, pool_id: str, wanted: Callable[[str], bool]) -> list[str]:
    return [n.id for n in app.client.list_nodes(pool_id) if wanted(render.value(n.state))]


@nodes.command("list")
@click.option("--start-task-failed", is_flag=True, help="Only nodes whose start task failed.")
@click.option("--unusable", is_flag=True, help="Only unusable nodes.")
@poolid_option
@pass_app
@reported
def list_nodes(app: App, start_task_failed: bool, unusable: bool, poolid: str | None) -> None:
    """List nodes in the pool."""
    pool_id = _pool_id(app, poolid)
    states = {"starttaskfailed"} if start_task_failed else set()
    states |= {"unusable"} if unusable else set()
    found = [n for n in app.client.list_nodes(pool_id)
             if not states or render.value(n.state) in states]
    if app.raw:
        app.emit_raw([n.as_dict() for n in found])
    else:
        console.print(render.nodes_table(pool_id, found))


@nodes.command("count")
@poolid_option
@pass_app
@reported
def count(app: App, poolid: str | None) -> None:
    """Count nodes in the pool by state, dedicated and low priority."""
    pool_id = _pool_id(app, poolid)
    found = list(app.client.list_nodes(pool_id))
    kinds = Counter(("dedicated" if n.is_dedicated else "low_priority",
                     render.value(n.state)) for n in found)
    counts = {kind: {state: n for (k, state), n in sorted(kinds.items()) if k == kind}
              for kind in ("dedicated", "low_priority")}
    if app.raw:
        app.emit_raw({"pool_id": pool_id, "total": len(found), **counts})
        return
    console.print(render.table(f"node counts of {pool_id} ({len(found)} in all)",
                               ("kind", "state", "nodes"),
                               ((kind, state, n) for (kind, state), n in sorted(kinds.items()))))


def _select(app: App, pool_id: str, nodeid: str | None, states: tuple[str, ...]) -> list[str]:
    if nodeid is None and not states:
        raise ConfigError("say which nodes: --nodeid ID or one of the --all-* flags")
    if nodeid is not None and states:
        raise ConfigError("give either --nodeid or --all-* flags, not both")
    if nodeid is not None:
        return [nodeid]
    return _ids(app, pool_id, lambda state: state in states)


@nodes.command("del")
@click.option("--nodeid", help="Node id to delete.")
@click.option("--all-start-task-failed", is_flag=True, help="Every node whose start task "
                                                            "failed.")
@click.option("--all-starting", is_flag=True, help="Every node still starting.")
@click.option("--all-unusable", is_flag=True, help="Every unusable node.")
@poolid_option
@pass_app
@reported
def delete(app: App, nodeid: str | None, all_start_task_failed: bool, all_starting: bool,
           all_unusable: bool, poolid: str | None) -> None:
    """Delete a node (or nodes) from a pool."""
    from azure.batch import models

    pool_id = _pool_id(app, poolid)
    states = (("starttaskfailed",) if all_start_task_failed else ()) + (
        STARTING if all_starting else ()) + (("unusable",) if all_unusable else ())
    ids = _select(app, pool_id, nodeid, states)
    if not ids:
        app.say(f"no such nodes in pool {pool_id}")
        return
    app.confirm(f"Delete node(s) {', '.join(ids)} from pool {pool_id}?")
    for start in range(0, len(ids), REMOVE_BATCH):
        chunk = ids[start:start + REMOVE_BATCH]
        app.client.begin_remove_nodes(pool_id, models.BatchNodeRemoveOptions(node_ids=chunk),
                                      polling_interval=1)
    app.say(f"removing {len(ids)} node(s) from pool {pool_id}: {', '.join(ids)}")


@nodes.command("reboot")
@click.option("--nodeid", help="Node id to reboot.")
@click.option("--all-start-task-failed", is_flag=True, help="Every node whose start task "
                                                            "failed.")
@poolid_option
@pass_app
@reported
def reboot(app: App, nodeid: str | None, all_start_task_failed: bool,
           poolid: str | None) -> None:
    """Reboot a node or nodes in a pool (their running tasks are requeued)."""
    pool_id = _pool_id(app, poolid)
    ids = _select(app, pool_id, nodeid,
                  ("starttaskfailed",) if all_start_task_failed else ())
    if not ids:
        app.say(f"no such nodes in pool {pool_id}")
        return
    app.confirm(f"Reboot node(s) {', '.join(ids)} of pool {pool_id}?")
    from azure.batch.models import _models as sdk_models  # not exported by SDK 15.1

    # Batch Shipyard's reboot requeues the node's tasks; SDK 15.1 also fails to build the
    # request without a body.
    options = sdk_models.BatchNodeRebootOptions(node_reboot_kind="requeue")
    for node_id in ids:
        app.client.begin_reboot_node(pool_id, node_id, options, polling_interval=1)
        app.say(f"node {node_id} rebooting")


@nodes.command("grls")
@poolid_option
@pass_app
@reported
def grls(app: App, poolid: str | None) -> None:
    """Get remote login settings for all nodes in the pool."""
    pool_id = _pool_id(app, poolid)
    found = remote.logins(app, pool_id)
    if app.raw:
        app.emit_raw({login.node_id: {"remote_login_ip_address": login.address,
                                      "remote_login_port": login.port} for login in found})
        return
    console.print(render.table(f"remote login settings of {pool_id}",
                               ("cardinal", "node", "address", "port"),
                               ((i, login.node_id, login.address, login.port)
                                for i, login in enumerate(found))))


def _each_node(app: App, poolid: str | None, what: str, command: str) -> None:
    pool_id = _pool_id(app, poolid)
    outputs = remote.on_every_node(app, pool_id, remote.AS_ROOT + command)
    if app.raw:
        app.emit_raw(outputs)
        return
    for node_id, text in outputs.items():
        console.print(f"[bold]{what} on {node_id}[/bold]")
        click.echo(text.rstrip() or "(nothing)")


@nodes.command("ps")
@poolid_option
@pass_app
@reported
def ps(app: App, poolid: str | None) -> None:
    """List running containers on nodes in the pool (over SSH)."""
    _each_node(app, poolid, "containers", "$S docker ps -a")


@nodes.command("prune")
@click.option("--volumes", is_flag=True, help="Also prune volumes.")
@poolid_option
@pass_app
@reported
def prune(app: App, volumes: bool, poolid: str | None) -> None:
    """Prune unused container and image data on nodes in the pool (over SSH)."""
    app.confirm("Prune unused Docker data on every node of the pool?")
    _each_node(app, poolid, "pruned", "$S docker system prune -f"
               + (" --volumes" if volumes else ""))


@nodes.command("zap")
@click.option("--no-remove", is_flag=True, help="Do not remove exited containers.")
@click.option("--stop", is_flag=True, help="docker stop instead of docker kill.")
@poolid_option
@pass_app
@reported
def zap(app: App, no_remove: bool, stop: bool, poolid: str | None) -> None:
    """Zap all container processes on nodes in the pool (over SSH)."""
    app.confirm("Kill every container on every node of the pool?")
    verb = "stop" if stop else "kill"
    command = f"$S docker ps -q | xargs -r $S docker {verb}"
    if not no_remove:
        command += "; $S docker ps -aq | xargs -r $S docker rm -v"
    _each_node(app, poolid, "zapped", command)
