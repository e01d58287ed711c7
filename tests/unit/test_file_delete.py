"""Deleting task and node files: inside the root only, symlinks themselves, directories
only empty or with ``recursive``."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.engine.services.taskcontrol import delete_file
from shipyard.errors import BatchError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tasks = tmp_path / "tasks"
    (tasks / "wd" / "sub" / "deep").mkdir(parents=True)
    (tasks / "wd" / "empty").mkdir()
    (tasks / "wd" / "sub" / "deep" / "f.txt").write_text("f")
    (tasks / "wd" / "a.txt").write_text("a")
    (tmp_path / "outside.txt").write_text("keep")
    (tasks / "wd" / "out-link").symlink_to(tmp_path / "outside.txt")
    (tasks / "wd" / "dir-link").symlink_to(tmp_path)
    return tasks


def code_of(root: Path, path: str, recursive: bool = False) -> str:
    with pytest.raises(BatchError) as caught:
        delete_file(root, path, recursive)
    return caught.value.code


def test_file_and_empty_directory(root: Path) -> None:
    delete_file(root, "wd/a.txt", False)
    delete_file(root, "wd\\empty", False)
    assert not (root / "wd" / "a.txt").exists()
    assert not (root / "wd" / "empty").exists()


def test_directory_needs_recursive(root: Path) -> None:
    assert code_of(root, "wd/sub") == "OperationInvalidForCurrentState"
    assert (root / "wd" / "sub" / "deep" / "f.txt").exists(), "a refusal deletes nothing"
    delete_file(root, "wd/sub", True)
    assert not (root / "wd" / "sub").exists()


def test_symlink_goes_not_its_target(root: Path) -> None:
    delete_file(root, "wd/out-link", False)
    delete_file(root, "wd/dir-link", True)
    assert not (root / "wd" / "out-link").is_symlink()
    assert (root.parent / "outside.txt").read_text() == "keep"
    assert (root.parent / "tasks").is_dir()


@pytest.mark.parametrize("path", ["", ".", "wd/none", "../outside.txt", "wd/../../outside.txt",
                                  "wd/dir-link/outside.txt", "/etc/passwd"])
def test_outside_or_missing_is_not_found(root: Path, path: str) -> None:
    assert code_of(root, path, recursive=True) == "FileNotFound"
    assert (root.parent / "outside.txt").read_text() == "keep"
