"""``additional_docker_run_options`` read the way Docker's client reads them.

Batch Shipyard appended its own options after the user's with exact-string checks only, so
``--network host`` from a user next to its ``--net=host`` made Docker's client refuse the
line (*network "host" is specified multiple times*), and a user's ``-w`` or ``--shm-size``
was silently overridden. Here every user option is parsed once into a flag with Docker's
long name and its value; the factory then adds an option of its own only when the user gave
none with the same flag, and the config room refuses options that cannot work for the task
type, naming the option::

    [o.flag for o in parse(["--net host", "-it", "-v $X:/x"])]
    # ['--network', '--interactive', '--tty', '--volume']
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

#: Short and alternative spellings, by Docker's long name.
ALIASES = {
    "--net": "--network", "-w": "--workdir", "-d": "--detach", "-v": "--volume",
    "-e": "--env", "-p": "--publish", "-u": "--user", "-l": "--label", "-m": "--memory",
    "-h": "--hostname", "-t": "--tty", "-i": "--interactive", "-a": "--attach",
    "-c": "--cpu-shares", "-P": "--publish-all", "-q": "--quiet",
}
#: Flags of ``docker run`` that take no value.
SWITCHES = frozenset({
    "--detach", "--rm", "--privileged", "--init", "--tty", "--interactive", "--read-only",
    "--no-healthcheck", "--oom-kill-disable", "--publish-all", "--quiet", "--help",
})
#: Flags Docker accepts once only (or where a second one silently wins): shipyard adds its
#: own only when the user gave none.
SINGLE = frozenset({
    "--network", "--name", "--workdir", "--shm-size", "--rm", "--detach", "--entrypoint",
    "--hostname", "--user", "--ipc", "--pid", "--uts", "--runtime", "--gpus",
})


@dataclass(frozen=True)
class RunOption:
    """One option: Docker's long flag name, its value, and the list entry it came from."""

    flag: str
    value: str | None
    entry: int


def canonical(flag: str) -> str:
    """Docker's long name for ``flag`` (``--net`` -> ``--network``)."""
    return ALIASES.get(flag, flag)


def parse(options: Sequence[str]) -> list[RunOption]:
    """Every option of every entry; ``ValueError`` (naming the entry) for what is not one."""
    out: list[RunOption] = []
    for index, text in enumerate(options):
        try:
            tokens = shlex.split(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not shell words ({exc})") from None
        out += _options(tokens, index, text)
    return out


def _options(tokens: list[str], index: int, text: str) -> list[RunOption]:
    out: list[RunOption] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        if not token.startswith("-") or token == "-":
            raise ValueError(f"{text!r}: {token!r} is not an option (the image and command "
                             "come from docker_image and command)")
        flag, equals, value = token.partition("=")
        position += 1
        if _bundled(flag) and not equals:
            out += [RunOption(canonical(f"-{c}"), None, index) for c in flag[1:]]
            continue
        flag = canonical(flag)
        if flag in SWITCHES:
            out.append(RunOption(flag, value if equals else None, index))
            continue
        if not equals:
            if position >= len(tokens):
                raise ValueError(f"{text!r}: {flag} needs a value")
            value = tokens[position]
            position += 1
        out.append(RunOption(flag, value, index))
    return out


def _bundled(flag: str) -> bool:
    """``-it``: several one-letter switches in one word."""
    return (not flag.startswith("--") and len(flag) > 2
            and all(canonical(f"-{c}") in SWITCHES for c in flag[1:]))


def refusal(options: Sequence[RunOption], texts: Sequence[str],
            multi_instance: bool) -> tuple[int, str] | None:
    """The first option that cannot work for this task type: its entry and the reason."""
    for option in options:
        reason = _reason(option, multi_instance)
        if reason is not None:
            return option.entry, f"{texts[option.entry]!r} {reason}"
    return None


def _reason(option: RunOption, multi_instance: bool) -> str | None:
    if multi_instance and option.flag == "--network" and option.value != "host":
        return ("cannot work: a multi-instance container runs with host networking so that "
                "its sshd answers at the node's address")
    if multi_instance and option.flag == "--name":
        return ("cannot be set: shipyard names the containers of a multi-instance task "
                "(the application command reaches them by name)")
    if not multi_instance and option.flag == "--detach":
        return ("cannot work for a task: the task would end at once while its container "
                "runs on unwatched")
    return None


def given(options: Sequence[RunOption]) -> frozenset[str]:
    """The single-use flags the user already set."""
    return frozenset(o.flag for o in options if o.flag in SINGLE)
