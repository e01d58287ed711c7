"""``multi_instance`` and its ``mpi`` block: how many nodes a task spans and how MPI starts.

Parsing fixes over Batch Shipyard (multi-instance.md section 4): ``intelmpi_ofa`` is read
as ``intelmpi-ofa``; ``executable_path`` is kept exactly as written; a quoted number in
``processes_per_node`` is a number, any other text a command run on the master (``nproc``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal, get_args

from pydantic import BeforeValidator

from shipyard.config.base import Model, ResourceFile, Strings, problem, shown
from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from shipyard.config.pool import PoolSpecification

MpiRuntime = Literal["openmpi", "mpich", "mvapich", "intelmpi", "intelmpi-ofa"]
MPI_RUNTIMES: tuple[str, ...] = get_args(MpiRuntime)

NumInstancesKeyword = Literal[
    "pool_current_dedicated",
    "pool_current_low_priority",
    "pool_specification_vm_count_dedicated",
    "pool_specification_vm_count_low_priority",
]
NUM_INSTANCES_KEYWORDS: tuple[str, ...] = get_args(NumInstancesKeyword)

_DIGITS = re.compile(r"[0-9]+")


def _runtime(value: object) -> object:
    return "intelmpi-ofa" if value == "intelmpi_ofa" else value


def _positive(value: object) -> int | None:
    """``value`` as a positive integer (an int or a digit string), or None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value)
    return value if isinstance(value, int) and value >= 1 else None


def _processes_per_node(value: object) -> object:
    count = _positive(value)
    if count is not None:
        return count
    if isinstance(value, str) and value.strip() and not _DIGITS.fullmatch(value.strip()):
        return value.strip()
    raise problem(f"must be a positive integer or a command such as nproc (got {shown(value)})")


def _num_instances(value: object) -> object:
    count = _positive(value)
    if count is not None:
        return count
    if value in NUM_INSTANCES_KEYWORDS:
        return value
    choices = ", ".join(NUM_INSTANCES_KEYWORDS)
    raise problem(f"must be a positive integer or one of {choices} (got {shown(value)})")


class MpiSettings(Model):
    """``mpi``: the launcher shipyard generates the ``mpirun`` line for."""

    runtime: Annotated[MpiRuntime, BeforeValidator(_runtime)]
    executable_path: str = "mpirun"
    options: Strings = ()
    processes_per_node: Annotated[int | str, BeforeValidator(_processes_per_node)] | None = None

    @property
    def processes_per_node_command(self) -> str | None:
        """The command whose output is the count (run on the master), if one was given."""
        ppn = self.processes_per_node
        return ppn if isinstance(ppn, str) else None


class MultiInstance(Model):
    """``multi_instance``: one task spanning ``num_instances`` nodes.

    ``num_instances`` is an int or a keyword naming a pool count; resolve it with the pool::

        n = task.multi_instance.resolve_num_instances(cfg.pool, current_dedicated=4)
    """

    num_instances: Annotated[int | NumInstancesKeyword, BeforeValidator(_num_instances)]
    coordination_command: str | None = None
    resource_files: tuple[ResourceFile, ...] = ()
    pre_execution_command: str | None = None
    mpi: MpiSettings | None = None

    def resolve_num_instances(
        self,
        pool_spec: PoolSpecification,
        current_dedicated: int | None = None,
        current_low_priority: int | None = None,
    ) -> int:
        """The instance count: the number itself, or the pool count its keyword names.

        ``pool_current_*`` need the pool's current node counts (from the service).
        """
        wanted = self.num_instances
        if isinstance(wanted, int):
            return wanted
        counts = {
            "pool_specification_vm_count_dedicated": pool_spec.vm_count.dedicated,
            "pool_specification_vm_count_low_priority": pool_spec.vm_count.low_priority,
            "pool_current_dedicated": current_dedicated,
            "pool_current_low_priority": current_low_priority,
        }
        count = counts[wanted]
        if count is None:
            raise ConfigError(f"multi_instance.num_instances: {wanted} needs the current node "
                              f"counts of pool '{pool_spec.id}'")
        if count < 1:
            raise ConfigError(f"multi_instance.num_instances: {wanted} is 0 in pool "
                              f"'{pool_spec.id}'", hint="the pool needs nodes of that kind")
        return count
