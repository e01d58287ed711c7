"""Node file resolution: nothing outside the root, ranges as the service reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.engine.agent import files
from shipyard.errors import BatchError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "tasks" / "startup" / "wd").mkdir(parents=True)
    (tmp_path / "tasks" / "startup" / "stdout.txt").write_text("hello world")
    (tmp_path / "secret").write_text("no")
    (tmp_path / "tasks" / "shared").mkdir()
    (tmp_path / "tasks" / "shared" / "link").symlink_to(tmp_path / "secret")
    return tmp_path / "tasks"


def test_resolve_inside(root: Path) -> None:
    info = files.resolve(root, "startup/stdout.txt")
    assert (info.size, info.is_directory, info.content_type) == (11, False, "text/plain")
    assert info.file_mode == "0o100644"


@pytest.mark.parametrize("path", ["../secret", "startup/../../secret", "shared/link", "",
                                  "startup/none.txt", "/etc/passwd"])
def test_resolve_refuses_outside_and_missing(root: Path, path: str) -> None:
    with pytest.raises(BatchError) as caught:
        files.resolve(root, path)
    assert caught.value.code == "FileNotFound"


def test_listing_levels(root: Path) -> None:
    top = [i.name for i in files.listing(root, recursive=False)]
    assert top == ["shared", "startup"]
    deep = [i.name for i in files.listing(root, recursive=True)]
    assert deep[:2] == ["shared", "startup"]
    assert "startup/stdout.txt" in deep and "startup/wd" in deep


@pytest.mark.parametrize(("spec", "expected"), [
    (None, (0, 11)), ("bytes=0-4", (0, 5)), ("bytes=6-", (6, 11)), ("bytes=-5", (6, 11)),
    ("bytes=3-100", (3, 11)),
])
def test_byte_range(spec: str | None, expected: tuple[int, int]) -> None:
    assert files.byte_range(spec, 11) == expected


@pytest.mark.parametrize("spec", ["lines=1-2", "bytes=a-b", "bytes=9-3"])
def test_bad_ranges(spec: str) -> None:
    with pytest.raises(BatchError):
        files.byte_range(spec, 11)
