r"""Quoting helpers: every shell fragment the factory generates goes through these.

Two kinds of text meet in a generated line. Values shipyard knows (ids, image names, paths,
variable names) are *data* and are quoted with :func:`quote`, so no character in them can
change what the line does. Text the user wrote as shell (``command``, ``options``,
``pre_execution_command``, ``additional_docker_run_options``) is *code*: it is embedded
verbatim, at the nesting level where the user expects it to be parsed, and the whole
script around it is then quoted once per level with :func:`bash_c`.

>>> words("docker", "rm", "it's")
'docker rm \'it\'"\'"\'s\''
>>> bash_c("echo hi; echo there")
"/bin/bash -c 'echo hi; echo there'"
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

#: The interpreter of every generated command line (Batch runs no shell of its own).
BASH = "/bin/bash"

_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote(value: str) -> str:
    """``value`` as one shell word, whatever it contains."""
    return shlex.quote(value)


def words(*values: str) -> str:
    """Each value quoted as one word, joined by spaces."""
    return " ".join(quote(value) for value in values)


def flags(flag: str, values: Iterable[str]) -> list[str]:
    """``flag value`` (value quoted) for each value: ``flags("-e", ["A"]) == ["-e A"]``."""
    return [f"{flag} {quote(value)}" for value in values]


def var(name: str) -> str:
    """A double-quoted reference to a shell variable: ``"$NAME"``."""
    if not _SHELL_NAME.fullmatch(name):
        raise ValueError(f"not a shell variable name: {name!r}")
    return f'"${name}"'


def is_shell_name(name: str) -> bool:
    """True when bash can see ``name`` as a variable (``compgen -e`` lists only these)."""
    return _SHELL_NAME.fullmatch(name) is not None


def sequence(*parts: str) -> str:
    """Shell statements run one after another, each separated so it cannot swallow the next.

    ``; `` joins most parts; a part that holds a newline, a comment or ends in ``&`` (user
    text can) is followed by a newline instead, which ends a comment and is valid after ``&``.
    """
    pieces = [part.strip() for part in parts if part.strip()]
    out = ""
    for index, piece in enumerate(pieces):
        out += piece
        if index < len(pieces) - 1:
            out += "\n" if _needs_newline(piece) else "; "
    return out


def _needs_newline(piece: str) -> bool:
    return "\n" in piece or "#" in piece or piece.endswith("&")


def bash_c(script: str) -> str:
    """A command line running ``script`` under bash (Batch does not use a shell itself)."""
    return f"{BASH} -c {quote(script)}"
