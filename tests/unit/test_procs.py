"""Reading a process's argv from /proc, including titles rewritten without a final NUL;
which processes are a node's."""

from __future__ import annotations

import os
import sys

import pytest

from shipyard.engine.nodes import procs


def test_argv_keeps_the_last_word_of_a_rewritten_title() -> None:
    assert procs.argv_of(b"sshd: root@pts/0") == ["sshd: root@pts/0"]
    assert procs.argv_of(b"agent\0/run/sock") == ["agent", "/run/sock"]


def test_argv_of_an_ordinary_cmdline_and_empty_words() -> None:
    assert procs.argv_of(b"python\0-c\0\0") == ["python", "-c", ""]
    assert procs.argv_of(b"") == []


def test_cmdline_of_this_process_is_its_argv() -> None:
    assert procs.cmdline(os.getpid()) == sys.orig_argv


def test_a_node_never_claims_the_host_s_mount_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pid 1's namespaces unreadable (a sandbox's init); 50 is nsenter, already in the node's
    # network (7) but still in the host's mounts (100), with every host process (60).
    table = {(50, "net"): 7, (50, "mnt"): 100, (60, "net"): 1, (60, "mnt"): 100,
             (70, "net"): 7, (70, "mnt"): 200, (71, "net"): 2, (71, "mnt"): 200,
             ("self", "mnt"): 100}
    monkeypatch.setattr(procs, "all_procs", lambda: [
        procs.Proc(pid, 1, pid, "S") for pid in (50, 60, 70, 71)])
    monkeypatch.setattr(procs, "ns_inode", lambda pid, kind: table.get((pid, kind)))
    assert procs.node_pids(7) == {50, 70, 71}
