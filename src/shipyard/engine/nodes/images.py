"""Docker clients for nodes and the host, and image preload onto a node.

This is the node runtime's Docker boundary: ``docker.errors`` and the ``requests`` errors
the SDK lets through become ``NodeError`` here, in ``docker_errors``, and nowhere else.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import docker.errors
import requests

from shipyard.engine.nodes import procs
from shipyard.engine.nodes.model import NodeSpec
from shipyard.errors import NodeError

log = logging.getLogger(__name__)

#: Exceptions the Docker SDK raises (it does not wrap connection errors and timeouts).
DOCKER_ERRORS = (docker.errors.DockerException, requests.RequestException)


@contextmanager
def docker_errors(what: str) -> Iterator[None]:
    """Translate Docker SDK errors raised inside the block into ``NodeError(what: ...)``."""
    try:
        yield
    except DOCKER_ERRORS as exc:
        raise NodeError(f"{what}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc) or type(exc).__name__


def ping(sock: Path, timeout: float = 2) -> bool:
    """Whether the daemon on unix socket ``sock`` answers ``GET /_ping`` with OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def wait_answering(sock: Path, pid: int, log_file: Path, what: str, timeout: float) -> None:
    """Wait until the daemon ``pid`` answers on ``sock``; NodeError naming ``what`` with the
    tail of its log if it exits first or stays silent for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ping(sock, timeout=1):
        if procs.gone(pid):
            problem = "exited during startup"
        elif time.monotonic() >= deadline:
            problem = f"did not answer within {timeout:g}s"
        else:
            time.sleep(procs.POLL)
            continue
        raise NodeError(f"{what} {problem}\n{log_tail(log_file) or f'(nothing in {log_file})'}")


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` of a daemon's log under a header naming it, or "" if there are none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = "\n".join(text.strip().splitlines()[-lines:])
    return f"--- tail of {path} ---\n{tail}" if tail else ""


def node_docker(spec: NodeSpec, timeout: float = 60) -> docker.DockerClient:
    """A client of the node's own daemon (``timeout`` applies to each request)."""
    return docker_at(spec.docker_sock, f"node {spec.node_id}", timeout)


def docker_at(sock: Path, label: str, timeout: float = 60) -> docker.DockerClient:
    """A client of the daemon listening on unix socket ``sock``."""
    with docker_errors(f"cannot reach the docker daemon of {label}"):
        return docker.DockerClient(base_url=f"unix://{sock}", timeout=int(timeout))


def host_docker(timeout: float = 60) -> docker.DockerClient:
    """A client of the host's daemon (as configured by DOCKER_HOST, default socket)."""
    with docker_errors("cannot reach the host's docker daemon"):
        return docker.from_env(timeout=int(timeout))


def preload_image(spec: NodeSpec, image: str, timeout: float = 600,
                  cache: Path | None = None) -> str:
    """Make ``image`` present on the node: "present", "pulled" or "loaded" from the host.

    The node's own pull comes first (what a cloud node does); if it fails and the host
    daemon holds the image, the host's ``docker save`` goes into the node's ``docker
    load``: through an archive in ``cache`` saved once per image id and shared by every
    node (many nodes boot at once), or streamed without a file when there is no cache.
    ``timeout`` bounds each daemon request, not the sum.
    """
    started = time.monotonic()
    node = node_docker(spec, timeout)
    try:
        if has_image(node, image):
            return "present"
        pull_error = _try_pull(node, image)
        if pull_error is None:
            return "pulled"
        load_error = _load_from_host(node, image, timeout, cache)
        if load_error is None and has_image(node, image):
            log.info("loaded %s onto node %s from the host in %.1fs",
                     image, spec.node_id, time.monotonic() - started)
            return "loaded"
        raise NodeError(
            f"cannot get image {image} onto node {spec.node_id}: pull failed ({pull_error}); "
            f"load from the host failed ({load_error or 'image missing after load'})",
            hint="build or load the image into the host's docker daemon",
        )
    finally:
        node.close()


def has_image(client: docker.DockerClient, image: str) -> bool:
    """Whether the daemon of ``client`` holds ``image`` (by name or id)."""
    with docker_errors(f"cannot list images of {client.api.base_url}"):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            return False
    return True


def _try_pull(node: docker.DockerClient, image: str) -> str | None:
    """Pull ``image`` on the node; the reason it failed, or None."""
    try:
        node.images.pull(image)
    except DOCKER_ERRORS as exc:
        log.debug("pull of %s failed: %s", image, exc)
        return _reason(exc)
    return None


def _load_from_host(node: docker.DockerClient, image: str, timeout: float,
                    cache: Path | None) -> str | None:
    """Put the host's ``docker save`` into the node's ``docker load``; reason or None."""
    try:
        source = host_docker(timeout)
    except NodeError as exc:
        return str(exc)
    try:
        found = source.images.get(image)
        if cache is None:
            # Saving by name (not id) keeps the tag in the archive, so the load tags it too.
            node.images.load(source.api.get_image(image, chunk_size=1 << 20))
        else:
            with open(host_archive(source, image, str(found.id), cache), "rb") as archive:
                node.images.load(archive)
    except docker.errors.ImageNotFound:
        return "the host's docker daemon does not have it either"
    except DOCKER_ERRORS as exc:
        return _reason(exc)
    finally:
        source.close()
    return None


_key_locks: dict[str, threading.Lock] = {}
_key_guard = threading.Lock()


def key_lock(key: str) -> threading.Lock:
    """The one lock of this process for ``key`` (an archive, a template, an agent socket)."""
    with _key_guard:
        return _key_locks.setdefault(key, threading.Lock())


def cache_name(image: str) -> str:
    """``image`` as a file name prefix in the cache (one per image name, any id)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", image)


def cache_key(image: str, image_id: str) -> str:
    """The cache's name for one build of ``image``: ``<name>@<first 16 hex of the id>``."""
    return f"{cache_name(image)}@{image_id.split(':')[-1][:16]}"


def host_archive(source: docker.DockerClient, image: str, image_id: str, cache: Path) -> Path:
    """The host's ``docker save`` of ``image`` as a file, written once per image id."""
    path = cache / f"{cache_key(image, image_id)}.tar"
    with key_lock(str(path)):
        if path.exists():
            return path
        cache.mkdir(parents=True, exist_ok=True)
        for stale in cache.glob(f"{cache_name(image)}@*.tar"):
            stale.unlink(missing_ok=True)  # an older build of the same image name
        tmp = path.with_suffix(".partial")
        try:
            with open(tmp, "wb") as out:
                for chunk in source.api.get_image(image, chunk_size=1 << 20):
                    out.write(chunk)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path
