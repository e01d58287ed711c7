"""Reading a process's argv from /proc, including titles rewritten without a final NUL."""

from __future__ import annotations

import os
import sys

from shipyard.engine.nodes import procs


def test_argv_keeps_the_last_word_of_a_rewritten_title() -> None:
    assert procs.argv_of(b"sshd: root@pts/0") == ["sshd: root@pts/0"]
    assert procs.argv_of(b"agent\0/run/sock") == ["agent", "/run/sock"]


def test_argv_of_an_ordinary_cmdline_and_empty_words() -> None:
    assert procs.argv_of(b"python\0-c\0\0") == ["python", "-c", ""]
    assert procs.argv_of(b"") == []


def test_cmdline_of_this_process_is_its_argv() -> None:
    assert procs.cmdline(os.getpid()) == sys.orig_argv
