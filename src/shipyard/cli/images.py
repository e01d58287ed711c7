"""``shipyard pool images``: the container images on the pool's nodes, listed and updated.

Both go over SSH to every node (Batch Shipyard's ``--ssh`` side channel), so they need
the pool's SSH user (``pool user add``). ``list`` shows the images every node has and
those only some have; ``update`` pulls config.yaml's images (or ``--docker-image``).
"""

from __future__ import annotations

import shlex

import click

from shipyard.cli import remote, render
from shipyard.cli.app import console, reported
from shipyard.cli.context import App, pass_app
from shipyard.errors import ConfigError

_FORMAT = "'{{.Repository}}:{{.Tag}} {{.ID}}'"


@click.group("images")
def images() -> None:
    """Container images actions."""


def node_images(outputs: dict[str, str]) -> dict[str, set[str]]:
    """``image:tag id`` lines per node as a set per node (dangling ``<none>`` left out)."""
    return {node: {line.strip() for line in text.splitlines()
                   if line.strip() and not line.startswith("<none>")}
            for node, text in outputs.items()}


def common_and_mismatched(found: dict[str, set[str]]) -> tuple[set[str], dict[str, set[str]]]:
    """Images on every node, and per node the images not on every node."""
    sets = list(found.values())
    common = set.intersection(*sets) if sets else set()
    return common, {node: have - common for node, have in found.items() if have - common}


@images.command("list")
@pass_app
@reported
def list_images(app: App) -> None:
    """List container images in a pool: common to all nodes and mismatched."""
    pool_id = app.config.pool.id
    found = node_images(remote.on_every_node(
        app, pool_id, remote.AS_ROOT + f"$S docker images --format {_FORMAT}"))
    common, mismatched = common_and_mismatched(found)
    if app.raw:
        app.emit_raw({"common": sorted(common),
                      "mismatched": {node: sorted(have) for node, have in mismatched.items()}})
        return
    console.print(render.table(f"images on every node of {pool_id}", ("image", "id"),
                               (tuple(line.split(" ", 1)) for line in sorted(common))))
    for node, have in sorted(mismatched.items()):
        console.print(render.table(f"only on {node}", ("image", "id"),
                                   (tuple(line.split(" ", 1)) for line in sorted(have))))


@images.command("update")
@click.option("--docker-image", help="Only this image (image or image:tag).")
@click.option("--docker-image-digest", help="Only this image at this digest.")
@click.option("--ssh", "over_ssh", is_flag=True, help="Update over SSH (always the case "
                                                      "here).")
@pass_app
@reported
def update(app: App, docker_image: str | None, docker_image_digest: str | None,
           over_ssh: bool) -> None:
    """Update container images in a pool (docker pull on every node)."""
    chosen = docker_image_digest or docker_image
    wanted = [chosen] if chosen else list(app.config.global_resources.docker_images)
    if not wanted:
        raise ConfigError("config.yaml: global_resources.docker_images: no images to update")
    pulls = "; ".join(f"$S docker pull {shlex.quote(image)} || exit 1" for image in wanted)
    outputs = remote.on_every_node(app, app.config.pool.id, remote.AS_ROOT + pulls)
    if app.raw:
        app.emit_raw(outputs)
        return
    app.say(f"updated {', '.join(wanted)} on {len(outputs)} node(s): "
            f"{', '.join(sorted(outputs))}")
