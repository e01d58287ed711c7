"""Prepared image stores ("templates") that let a pool's nodes share one unpack of an image.

Loading an image into a node's dockerd unpacks every layer; N nodes loading the same image
pay that N times on the same cores. Instead, once per image id, the host's ``docker save``
archive (the cache of images.py) is loaded into a short-lived dockerd whose data-root is
then kept as a template, next to the archive::

    <cache>/<name>@<id16>.tar     the archive (images.host_archive)
    <cache>/<name>@<id16>.tpl/    the template: image/ and overlay2/ of a data-root
    <cache>/build-<pid>-<rand>/   a build in progress (its daemon, log, socket, root/)

A new node's data-root is then seeded from the templates of its pool's images before its
dockerd starts, so the daemon starts with the images present. Layer ``diff`` trees are hard
links (overlay2 never writes an image layer in place: a container writes to its own upper
dir, and ``docker rmi`` unlinks), every other file is a copy of the node's own, since the
daemon rewrites metadata such as ``repositories.json``. Anything that does not work out
(the host lacks the image, another filesystem, a failed build) leaves the node unseeded,
and ``preload_image`` pulls or loads it as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from shipyard.engine.nodes import host, procs
from shipyard.engine.nodes.images import (
    cache_key,
    cache_name,
    docker_at,
    docker_errors,
    has_image,
    host_archive,
    host_docker,
    key_lock,
    wait_answering,
)
from shipyard.errors import CommandError, NodeError

log = logging.getLogger(__name__)

NODEINIT = Path(__file__).with_name("nodeinit.py")
TEMPLATE = ".tpl"
#: What a template keeps of its build daemon's data-root; the rest is daemon state.
KEPT = ("image", "overlay2")
REPOSITORIES = Path("image/overlay2/repositories.json")

#: Builds of this process in progress: the sweep of stale builds must leave them alone.
_active: set[Path] = set()
#: Templates whose build failed lately (monotonic time, reason): the other nodes of the
#: pool, waiting on the same lock, load the image themselves instead of failing again.
_failed: dict[Path, tuple[float, str]] = {}
RETRY_AFTER = 300.0


def seed(data_root: Path, images: Sequence[str], cache: Path, timeout: float = 600) -> list[str]:
    """Fill a new node's ``data_root`` from the templates of ``images``; the images seeded.

    A data-root that already holds anything is never seeded over (a rebooted node keeps its
    own). Templates are built on first use. Never raises for a template that cannot be had
    or linked: the node is then left unseeded and loads its images itself.
    """
    if not images or (data_root.exists() and any(data_root.iterdir())):
        return []
    found: dict[str, Path] = {}
    for image in images:
        try:
            template = template_for(image, cache, timeout)
        except (NodeError, CommandError, OSError) as exc:
            log.warning("no prepared image store for %s (the node loads it itself): %s",
                        image, exc)
            continue
        if template is not None:
            found[image] = template
    if not found or not _link_templates(data_root, list(found.values())):
        return []
    return list(found)


def template_for(image: str, cache: Path, timeout: float = 600) -> Path | None:
    """The template of the host's current ``image``, built once; None if the host lacks it."""
    source = host_docker(timeout)
    try:
        with docker_errors(f"cannot look up {image} on the host"):
            try:
                image_id = str(source.images.get(image).id)
            except docker.errors.ImageNotFound:
                return None
        path = cache / f"{cache_key(image, image_id)}{TEMPLATE}"
        with key_lock(str(path)):
            if path.is_dir():
                return path
            _build_once(source, image, image_id, path, timeout)
    finally:
        source.close()
    return path


def evict(cache: Path, image: str) -> list[Path]:
    """Remove every template of ``image`` (any id); nodes seeded from them keep their links."""
    removed = []
    for path in cache.glob(f"{cache_name(image)}@*{TEMPLATE}"):
        # Renamed first: a half-deleted tree must never look like a template.
        trash = path.with_name(f"{path.name}.evicted-{secrets.token_hex(3)}")
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(path)
    return removed


# -- building a template ------------------------------------------------------------------
def _build_once(source: docker.DockerClient, image: str, image_id: str, path: Path,
                timeout: float) -> None:
    """Build template ``path`` unless a build of it failed less than RETRY_AFTER ago."""
    when, reason = _failed.get(path, (-RETRY_AFTER, ""))
    if time.monotonic() - when < RETRY_AFTER:
        raise NodeError(f"preparing {image} failed {time.monotonic() - when:.0f}s ago: {reason}")
    try:
        evict(path.parent, image)  # an older build of the same name
        with docker_errors(f"cannot save {image} from the host"):
            archive = host_archive(source, image, image_id, path.parent)
        _build(image, archive, path, timeout)
    except (NodeError, CommandError, OSError) as exc:
        _failed[path] = (time.monotonic(), str(exc))
        raise
    _failed.pop(path, None)


def _build(image: str, archive: Path, dest: Path, timeout: float) -> None:
    """Load ``archive`` into a throwaway daemon and keep its image store as ``dest``."""
    started = time.monotonic()
    sweep_builds(archive.parent)
    work = archive.parent / f"build-{os.getpid()}-{secrets.token_hex(3)}"
    _active.add(work)
    try:
        with _build_daemon(work, timeout) as sock:
            client = docker_at(sock, f"image build {work.name}", timeout)
            try:
                with docker_errors(f"cannot load {archive.name} into {work.name}"), \
                        open(archive, "rb") as data:
                    client.images.load(data)
                if not has_image(client, image):
                    raise NodeError(f"{image} missing after loading {archive}",
                                    hint="check that the archive holds the image's tag")
            finally:
                client.close()
        for entry in (work / "root").iterdir():
            if entry.name not in KEPT:
                _remove(entry)
        os.rename(work / "root", dest)
    finally:
        _active.discard(work)
        shutil.rmtree(work, ignore_errors=True)
    log.info("prepared image store for %s in %.1fs: %s", image, time.monotonic() - started,
             dest)


def build_argv(work: Path) -> list[str]:
    """A build daemon's command line: like a node's, in namespaces of its own and no network.

    Its data-root is ``<work>/root`` (never ``.../docker``), so the node sweep never takes it
    for a node's daemon; exec-root and pidfile live on its private /run.
    """
    return [
        "unshare", "--net", "--mount", "--uts", "--propagation", "private",
        sys.executable, "-I", "-S", str(NODEINIT), "--hostname=shyimg",
        f"--die-with-parent={os.getpid()}",
        f"--bind={work / 'tmp'}:/tmp", f"--bind={work / 'etc-docker'}:/etc/docker",
        "--", "dockerd", f"--data-root={work / 'root'}", "--exec-root=/run/docker",
        "--pidfile=/run/docker.pid", f"--host=unix://{work / 'd.sock'}",
        "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
    ]


@contextlib.contextmanager
def _build_daemon(work: Path, timeout: float) -> Iterator[Path]:
    """Run a build daemon in ``work``; its socket. Always stopped again, by pid."""
    for sub in ("root", "tmp", "etc-docker"):
        (work / sub).mkdir(parents=True)
    (work / "tmp").chmod(0o1777)
    logfile = work / "daemon.log"
    with open(logfile, "ab") as out:
        # PDEATHSIG ties the daemon to this thread, which stays here until it is stopped.
        pid = host.spawn_detached(build_argv(work), stdout=out, stderr=out).pid
    members: set[int] = set()
    try:
        wait_answering(work / "d.sock", pid, logfile, f"image build daemon {pid}",
                       min(timeout, 60))
        members = procs.node_pids(None, {pid})
        yield work / "d.sock"
    finally:
        stuck = stop_build_daemon(pid, members)
        if stuck:
            raise NodeError(f"image build daemon {pid} and {sorted(stuck)} survived SIGKILL",
                            hint="look for hung mounts under the data dir")


def stop_build_daemon(pid: int, members: set[int]) -> set[int]:
    """Stop a build daemon (alone first: it stops its containerd) and what it left."""
    members = members | procs.node_pids(None, {pid})
    stuck = procs.terminate({pid}, grace=15)
    return stuck | procs.terminate(members | procs.descendants(members), grace=5)


def sweep_builds(cache: Path) -> list[str]:
    """Reclaim builds no live build owns: stop their daemons (by data-root), remove dirs.

    A build belongs to the process named in its directory; one of a process that ended
    (a crashed engine; its daemon got SIGTERM already, see nodeinit) or of this process but
    no longer in progress is a leftover.
    """
    removed = []
    for work in cache.glob("build-*"):
        owner = work.name.split("-")[1]
        mine = owner == str(os.getpid())
        if work in _active or (owner.isdigit() and not mine and not procs.gone(int(owner))):
            continue
        flag = f"--data-root={work / 'root'}"
        daemons = {p.pid for p in procs.all_procs() if flag in procs.cmdline(p.pid)}
        for pid in daemons:
            stop_build_daemon(pid, set())
        shutil.rmtree(work, ignore_errors=True)
        removed.append(f"image build {work} with daemons {sorted(daemons)}")
    for trash in cache.glob(f"*{TEMPLATE}.evicted-*"):
        shutil.rmtree(trash, ignore_errors=True)  # an eviction cut short
        removed.append(f"evicted image store {trash}")
    for line in removed:
        log.info("swept %s", line)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


# -- seeding a node -----------------------------------------------------------------------
def _link_templates(data_root: Path, templates: list[Path]) -> bool:
    """Build the node's data-root from ``templates`` beside it, then rename it into place."""
    stage = data_root.with_name(f"{data_root.name}.seed")
    shutil.rmtree(stage, ignore_errors=True)
    started = time.monotonic()
    try:
        for template in templates:
            if os.stat(template).st_dev != os.stat(data_root.parent).st_dev:
                raise OSError(f"{template} is on another filesystem than {data_root}")
            _link_one(template, stage)
        _write_repositories(stage, templates)
        os.rename(stage, data_root)  # onto nothing, or onto an empty directory
    except (CommandError, OSError, ValueError) as exc:
        log.warning("cannot seed %s from prepared image stores (the node loads its images "
                    "itself): %s", data_root, exc)
        shutil.rmtree(stage, ignore_errors=True)
        return False
    log.info("seeded %s from %d prepared image store(s) in %.2fs", data_root, len(templates),
             time.monotonic() - started)
    return True


def _link_one(template: Path, stage: Path) -> None:
    """Copy ``image/``, hard-link ``overlay2/``, then give back copies of all but diffs."""
    (stage / "overlay2").mkdir(parents=True, exist_ok=True)
    # -T merges into what an earlier template put there (shared base layers, image ids).
    host.run(["cp", "-a", "-T", str(template / "image"), str(stage / "image")], timeout=300)
    host.run(["cp", "-a", "-l", "-T", str(template / "overlay2"), str(stage / "overlay2")],
             timeout=300)
    for layer in (stage / "overlay2").iterdir():
        for entry in layer.iterdir():
            if entry.name != "diff" and not entry.is_dir():
                _unshare(entry)


def _unshare(path: Path) -> None:
    """Replace a hard link (or a linked symlink) by the node's own copy of it."""
    tmp = path.with_name(f"{path.name}.own")
    if path.is_symlink():
        os.symlink(os.readlink(path), tmp)
    else:
        shutil.copy2(path, tmp)
    os.replace(tmp, path)


def _write_repositories(stage: Path, templates: list[Path]) -> None:
    """One ``repositories.json`` with the tags of every template (cp kept only the last)."""
    merged: dict[str, dict[str, Any]] = {}
    for template in templates:
        repos = json.loads((template / REPOSITORIES).read_text()).get("Repositories", {})
        for name, refs in repos.items():
            merged.setdefault(name, {}).update(refs)
    target = stage / REPOSITORIES
    target.unlink(missing_ok=True)  # cp copied it, but never share what the daemon rewrites
    target.write_text(json.dumps({"Repositories": merged}))
