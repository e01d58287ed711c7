"""The one error tree of shipyard; every room raises these and only these.

    ShipyardError                 anything shipyard reports to a user
    ├── ConfigError               bad input in the config files or flags
    │   └── ConfigProblems        every problem of a config dir at once (file, path, reason)
    ├── CommandError              a subprocess failed (argv, exit code, output tail)
    ├── EngineError               the local engine cannot do what was asked
    │   ├── NotRootError          the engine needs root on Linux
    │   ├── NodeError             a compute node failed to start, run or stop
    │   │   └── NodeUnusableError a node cannot run commands at all (its fault, not a task's)
    │   └── CapacityError         a pool does not fit (addresses, memory)
    ├── StorageError              Azure Storage refused a transfer or cannot be reached;
                                  ``code`` is the reason (a Batch failureInfo code in the
                                  engine, a storage error code in the CLI)
    └── BatchError                the Batch service (real or local) refused a request;
                                  the engine raises it to answer with that status and code

Third-party exceptions are translated into these at each room's boundary.
"""

from __future__ import annotations

from collections.abc import Sequence


class ShipyardError(Exception):
    """Base of every error shipyard reports; ``hint`` says what to do next."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(ShipyardError):
    """Bad input: a config file, a flag or a request body."""


class ConfigProblems(ConfigError):
    """Every problem found in the config files; the first is the message, all are listed.

    Each problem is one line ``file: key.path: reason``; the hint counts the others.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        first, rest = self.problems[0], self.problems[1:]
        hint = None
        if rest:
            files = sorted({p.split(":", 1)[0] for p in rest})
            if len(files) == 1:  # one file: name it once
                rest = [p.split(": ", 1)[-1] for p in rest]
            shown = "; ".join(rest[:3]) + ("; ..." if len(rest) > 3 else "")
            hint = f"{len(rest)} more in {', '.join(files)}: {shown}"
        super().__init__(first, hint)


def config_problems(errors: Sequence[ConfigError]) -> ConfigError:
    """One error for many: the only one as it is, else every problem listed in one."""
    if len(errors) == 1:
        return errors[0]
    lines: list[str] = []
    for error in errors:
        if isinstance(error, ConfigProblems):
            lines.extend(error.problems)
        else:
            lines.append(error.message if error.hint is None else
                         f"{error.message} ({error.hint})")
    return ConfigProblems(lines)


class CommandError(ShipyardError):
    """A subprocess exited non-zero or could not start."""

    def __init__(self, argv: Sequence[str], returncode: int | None, output: str) -> None:
        tail = "\n".join(output.strip().splitlines()[-15:])
        shown = " ".join(argv)
        super().__init__(f"command failed (exit {returncode}): {shown}\n{tail}".rstrip())
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output


class EngineError(ShipyardError):
    """The local engine cannot do what was asked."""


class NotRootError(EngineError):
    """The local engine needs root on Linux for namespaces and Docker daemons."""


class NodeError(EngineError):
    """A compute node failed to start, run a command, load an image or stop."""


class NodeUnusableError(NodeError):
    """A node cannot run commands now: daemon or namespace gone, launch agent unreachable,
    out of processes or disk. A command that never started for this reason is not the
    user's failure: its task is requeued and the node taken out of scheduling."""


class CapacityError(EngineError):
    """A pool does not fit on this machine (addresses or memory)."""


class StorageError(ShipyardError):
    """A transfer to or from Azure Storage failed; ``code`` names why, ``details`` where."""

    def __init__(self, code: str, message: str, hint: str | None = None,
                 details: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message, hint)
        self.code = code
        self.details = list(details)


class BatchError(ShipyardError):
    """The Batch service refused a request: HTTP ``status``, service ``code``, detail ``values``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        values: Sequence[tuple[str, str]] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}", hint)
        self.status = status
        self.code = code
        self.detail = message
        self.values = list(values)
