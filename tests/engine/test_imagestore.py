"""Prepared image stores: built once per image id, hard-linked into new nodes, never shared
where a daemon writes, and nothing left running or on disk by a build, crashed or not.

Real components only: the host daemon builds the images, real build and node daemons run
in namespaces. Nodes use slot 243; every node, network and image is removed in a finally.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from shipyard.engine.nodes import imagestore, preload_image, procs, start_node, stop_node
from shipyard.engine.nodes.images import node_docker
from shipyard.engine.nodes.sweep import node_dockerds_under
from shipyard.errors import NodeError
from tests.engine.nodekit import (
    NEEDS_NODES,
    Node,
    Pool,
    host_image,
    leftovers,
    make_spec,
    root_dir,
    wait_for,
)

__all__ = ["host_image", "root_dir"]  # fixtures shared with the other node tests
pytestmark = NEEDS_NODES

DERIVED = "shipyard-test/busybox:derived"
SLOT = 243


def build_on_host(tag: str, base: str, content: str) -> str:
    """``base`` plus ``/f`` holding ``content``, built by the host daemon; its id."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", f"FROM {base}\nCOPY f /f\n"), ("f", content)):
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    buf.seek(0)
    client = docker.from_env()
    try:
        image, _ = client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)
        return str(image.id)
    finally:
        client.close()


def remove_on_host(tag: str) -> None:
    client = docker.from_env()
    try:
        client.images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass
    finally:
        client.close()


@pytest.fixture(scope="module")
def derived(host_image: str) -> Iterator[str]:
    """A second image sharing the test image's layer: seeding must merge the two."""
    build_on_host(DERIVED, host_image, "derived\n")
    try:
        yield DERIVED
    finally:
        remove_on_host(DERIVED)


@pytest.fixture
def cache(root_dir: Path) -> Iterator[Path]:
    path = root_dir / "images"
    try:
        yield path
    finally:
        assert not build_daemons(path), "a build daemon outlived the test"
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pool(root_dir: Path) -> Iterator[Pool]:
    p = Pool(SLOT, root_dir / "n")
    try:
        yield p
    finally:
        p.close()


def build_daemons(cache: Path) -> list[int]:
    return [p.pid for p in procs.all_procs() if str(cache) in " ".join(procs.cmdline(p.pid))]


def start_seeded(pool: Pool, count: int, images: list[str], cache: Path) -> list[Node]:
    """``count`` nodes started in parallel, each seeded from the templates of ``images``."""
    specs = [make_spec(pool.net, len(pool.nodes) + i, pool.root) for i in range(count)]
    with ThreadPoolExecutor(max_workers=count) as ex:
        pids = list(ex.map(lambda s: start_node(s, pool.net, images=images, cache=cache), specs))
    nodes = [Node(spec, pid) for spec, pid in zip(specs, pids, strict=True)]
    pool.nodes += nodes
    return nodes


def run(node: Node, image: str, argv: list[str]) -> str:
    client = node_docker(node.spec)
    try:
        return bytes(client.containers.run(image, argv, remove=True)).decode()
    finally:
        client.close()


def tree_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: (inode, link count, content hash); symlinks by target."""
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            digest = os.readlink(path)
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            continue
        state[str(path.relative_to(root))] = (st.st_ino, st.st_nlink, digest)
    return state


def only_links(state: dict[str, tuple[int, int, str]]) -> dict[str, tuple[int, str]]:
    """``tree_state`` without the link counts (nodes add and drop links to diff files)."""
    return {path: (ino, digest) for path, (ino, _, digest) in state.items()}


def test_nodes_start_with_the_images_present_and_share_the_layers(
        pool: Pool, cache: Path, host_image: str, derived: str) -> None:
    nodes = start_seeded(pool, 2, [host_image, derived], cache)
    templates = sorted(cache.glob("*.tpl"))
    assert len(templates) == 2, templates
    assert not list(cache.glob("build-*")), "a build directory was left behind"
    for node in nodes:
        assert preload_image(node.spec, host_image, cache=cache) == "present"
        assert preload_image(node.spec, derived, cache=cache) == "present"
        assert run(node, derived, ["sh", "-c", "cat /f; hostname >/dev/null"]) == "derived\n"
        assert run(node, host_image, ["hostname"]).strip()
    # The layer files are the template's own inodes; metadata the daemon writes is not.
    node_root = nodes[0].spec.home / "docker"
    linked = [p for p in (node_root / "overlay2").rglob("*") if p.is_file()
              and "/diff/" in str(p) and p.stat().st_nlink > 1]
    assert linked, "no layer file is a hard link"
    for path in [*(node_root / "image").rglob("*"), *(node_root / "overlay2").glob("*/*")]:
        if path.is_file() and path.name != "diff":
            assert path.stat().st_nlink == 1, f"{path} is shared with a template"


def test_what_one_node_does_leaves_others_and_the_template_alone(
        pool: Pool, cache: Path, host_image: str, derived: str) -> None:
    first, second = start_seeded(pool, 2, [derived], cache)
    template = next(cache.glob("*.tpl"))
    before = tree_state(template)
    client = node_docker(first.spec)
    try:
        # Write into a file of the image (a copy-up), tag, untag, then remove the image.
        out = client.containers.run(derived, ["sh", "-c", "echo more >> /f; cat /f"],
                                    remove=True)
        assert out == b"derived\nmore\n"
        client.images.get(derived).tag("shipyard-test/busybox", "other")
        client.images.remove("shipyard-test/busybox:other")
        client.images.remove(derived, force=True)
        assert not client.images.list(name=derived)
    finally:
        client.close()
    assert only_links(tree_state(template)) == only_links(before)
    assert run(second, derived, ["sh", "-c", "cat /f"]) == "derived\n"
    stop_node(first.spec, first.pid)
    pool.nodes.remove(first)
    assert leftovers(first.spec, None, None) == []
    after = tree_state(template)
    assert only_links(after) == only_links(before)
    # Each layer file: the template's link and the second node's; the first node's are gone.
    assert {n for path, (_, n, _) in after.items() if "/diff/" in path} == {2}
    assert preload_image(second.spec, derived, cache=cache) == "present"


def test_an_existing_data_root_is_not_seeded_over(
        root_dir: Path, cache: Path, host_image: str) -> None:
    data_root = root_dir / "own" / "docker"
    data_root.mkdir(parents=True)
    (data_root / "mine").write_text("kept")
    try:
        assert imagestore.seed(data_root, [host_image], cache) == []
        assert [p.name for p in data_root.iterdir()] == ["mine"]
        empty = root_dir / "own" / "empty"
        empty.mkdir()
        assert imagestore.seed(empty, [host_image], cache) == [host_image]
        assert (empty / "image" / "overlay2" / "repositories.json").exists()
    finally:
        shutil.rmtree(root_dir / "own")


def test_another_filesystem_falls_back_to_an_unseeded_node(
        root_dir: Path, cache: Path, host_image: str) -> None:
    other = root_dir / "tmpfs"
    other.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(other)], check=True)
    try:
        assert imagestore.seed(other / "docker", [host_image], cache) == []
        assert list(other.iterdir()) == [], "a half-seeded data-root was left"
        assert list(cache.glob("*.tpl")), "the template itself should still be there"
    finally:
        subprocess.run(["umount", str(other)], check=True)
        other.rmdir()


def test_an_image_the_host_lacks_seeds_nothing(root_dir: Path, cache: Path) -> None:
    assert imagestore.template_for("shipyard-test/absent:nope", cache) is None
    assert imagestore.seed(root_dir / "none" / "docker", ["shipyard-test/absent:nope"],
                           cache) == []
    assert not (root_dir / "none").exists()


def test_a_new_image_id_replaces_the_template(cache: Path, host_image: str) -> None:
    tag = "shipyard-test/busybox:rebuilt"
    try:
        build_on_host(tag, host_image, "one\n")
        old = imagestore.template_for(tag, cache)
        build_on_host(tag, host_image, "two\n")
        new = imagestore.template_for(tag, cache)
        assert old is not None and new is not None and old != new
        assert not old.exists() and new.is_dir()
        assert imagestore.template_for(tag, cache) == new
        assert imagestore.evict(cache, tag) == [new] and not new.exists()
    finally:
        remove_on_host(tag)


CRASHING_BUILD = """
import os, sys
from pathlib import Path
from shipyard.engine.nodes import imagestore
work = Path(sys.argv[1]) / f"build-{os.getpid()}-x"
with imagestore._build_daemon(work, 60) as sock:
    print(sock, flush=True)
    sys.stdin.read()
"""


def test_a_crashed_build_leaves_nothing_running(root_dir: Path, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    with subprocess.Popen([sys.executable, "-c", CRASHING_BUILD, str(cache)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as engine:
        assert engine.stdout is not None
        sock = engine.stdout.readline().strip()
        daemons = build_daemons(cache)
        assert sock and daemons, "the build daemon did not come up"
        # Not a node daemon of any data dir, however the node sweep looks at it.
        assert node_dockerds_under(root_dir) == []
        assert node_dockerds_under(cache) == []
        engine.kill()  # SIGKILL: no finally runs in the "engine"
        engine.wait(10)
    wait_for(lambda: not build_daemons(cache), 30, "the build daemon to follow its engine")
    removed = imagestore.sweep_builds(cache)
    assert [r for r in removed if f"build-{engine.pid}-x" in r], removed
    assert not list(cache.glob("build-*"))


def test_a_failed_build_says_why_once_and_seeds_nothing(
        monkeypatch: pytest.MonkeyPatch, root_dir: Path, cache: Path, host_image: str) -> None:
    real = imagestore.build_argv
    monkeypatch.setattr(imagestore, "build_argv",
                        lambda work: [*real(work), "--no-such-dockerd-flag"])
    with pytest.raises(NodeError, match="no-such-dockerd-flag") as first:
        imagestore.template_for(host_image, cache)
    assert "exited" in str(first.value)
    # The pool's other nodes do not wait for the same failure again.
    with pytest.raises(NodeError, match=r"failed \d+s ago"):
        imagestore.template_for(host_image, cache)
    assert imagestore.seed(root_dir / "failed" / "docker", [host_image], cache) == []
    assert not list(cache.glob("build-*")) and not list(cache.glob("*.tpl"))
    monkeypatch.setattr(imagestore, "RETRY_AFTER", 0.0)
    monkeypatch.setattr(imagestore, "build_argv", real)
    assert imagestore.template_for(host_image, cache) is not None
