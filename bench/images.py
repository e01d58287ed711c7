"""The images the benchmark needs on the host daemon, built when missing.

``shipyard-bench/fat:latest`` is a throwaway image: debian:bookworm-slim plus ~300 MB of
random data (incompressible, so loading it costs what a real 300 MB layer costs). It lives
only in the host daemon and is never committed.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import docker
import docker.errors

from bench.mi import RING_IMAGE

FAT_IMAGE = "shipyard-bench/fat:latest"
FAT_MB = 300
RECIPES = Path(__file__).resolve().parent.parent / "recipes"
FAT_DOCKERFILE = (f"FROM debian:bookworm-slim\n"
                  f"RUN head -c {FAT_MB}M /dev/urandom > /fat.bin\n")


def _present(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_fat(client: docker.DockerClient) -> None:
    if _present(client, FAT_IMAGE):
        return
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = FAT_DOCKERFILE.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=FAT_IMAGE, rm=True)


def ensure_ring(client: docker.DockerClient) -> None:
    """The openmpi recipe image, built with recipes/build.sh from the current sources.

    Always built (Docker's layer cache makes an unchanged build take seconds), so a
    changed ring.c never meets a stale image.
    """
    script = RECIPES / "build.sh"
    if not script.exists():
        raise RuntimeError(f"{script} does not exist to build {RING_IMAGE}")
    subprocess.run(["bash", str(script), "openmpi-ring"], check=True,
                   stdout=subprocess.DEVNULL)
    if not _present(client, RING_IMAGE):
        raise RuntimeError(f"{script} ran but {RING_IMAGE} is still missing")


def ensure_all() -> None:
    client = docker.from_env(timeout=600)
    try:
        ensure_ring(client)
        ensure_fat(client)
    finally:
        client.close()
