"""MPI launch lines, one per runtime: a pure function from settings to one shell command.

The line runs in bash inside the master's container (``docker exec``), so
``$AZ_BATCH_HOST_LIST`` is expanded there, from the container's environment. A numeric
``processes_per_node`` is multiplied out here (unset means one rank per node); a command
(``nproc``) is run on the master at launch time instead. Nothing here depends on where the
nodes run: tuning for emulated nodes travels as environment from the local engine, so Azure
and local get the same line.

>>> from shipyard.config import MpiSettings
>>> mpi_command(MpiSettings(runtime="mpich", processes_per_node=2), 3, "./a.out")
'mpirun -hosts "$AZ_BATCH_HOST_LIST" -np 6 -ppn 2 ./a.out'
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config import MpiSettings
from shipyard.factory.shell import quote

HOSTS = '"$AZ_BATCH_HOST_LIST"'
#: The file where node prep writes the InfiniBand partition key of SR-IOV sizes, as
#: ``UCX_IB_PKEY=0x...``.
_PKEY_FILE = '"$AZ_BATCH_NODE_STARTUP_DIR"/wd/UCX_IB_PKEY'
#: The key for Open MPI's ``-x NAME=value``.
UCX_IB_PKEY = f'"$(cat {_PKEY_FILE})"'
#: The key for Hydra's ``-env NAME value`` (two words: Batch Shipyard's one-word
#: ``-env $(cat ...)`` would take the program as the value).
UCX_IB_PKEY_ENV = f'UCX_IB_PKEY "$(cut -d= -f2 {_PKEY_FILE})"'

#: Batch Shipyard's fabric selection for Intel MPI 2018 over OFA verbs (``intelmpi-ofa``).
INTELMPI_OFA_OPTIONS = ("-genv I_MPI_FABRICS shm:ofa",)


@dataclass(frozen=True)
class _Counts:
    """Total ranks (``np``) and ranks per node, as shell text."""

    np: str
    ppn: str


def _counts(mpi: MpiSettings, num_instances: int) -> _Counts:
    per_node = mpi.processes_per_node
    if per_node is None:
        per_node = 1
    if isinstance(per_node, int):
        return _Counts(np=str(num_instances * per_node), ppn=str(per_node))
    # A command: run on the master when the line runs, once for each place it is needed.
    counted = f"$({per_node})"
    return _Counts(np=f"$(({num_instances} * {counted}))", ppn=counted)


def _transport(interface: str, sriov_ib: bool) -> list[str]:
    """Open MPI over UCX on SR-IOV InfiniBand (Batch Shipyard's choice), else TCP on eth0."""
    if sriov_ib:
        return ["--mca pml ucx", "--mca btl ^vader,tcp,openib",
                "-x UCX_NET_DEVICES=mlx5_0:1", f"-x {UCX_IB_PKEY}"]
    interface = quote(interface)
    return [f"--mca btl_tcp_if_include {interface}", f"--mca oob_tcp_if_include {interface}"]


def _runtime_options(mpi: MpiSettings, counts: _Counts, interface: str,
                     sriov_ib: bool) -> list[str]:
    if mpi.runtime == "openmpi":
        return ["--oversubscribe", f"-host {HOSTS}", f"-np {counts.np}",
                f"--map-by ppr:{counts.ppn}:node", *_transport(interface, sriov_ib),
                "--allow-run-as-root"]
    if mpi.runtime in ("mpich", "mvapich"):
        pkey = [f"-env {UCX_IB_PKEY_ENV}"] if sriov_ib else []
        return [f"-hosts {HOSTS}", f"-np {counts.np}", f"-ppn {counts.ppn}", *pkey]
    fabric = list(INTELMPI_OFA_OPTIONS) if mpi.runtime == "intelmpi-ofa" else []
    return [*fabric, f"-hosts {HOSTS}", f"-np {counts.np}", f"-perhost {counts.ppn}"]


def mpi_command(mpi: MpiSettings, num_instances: int, command: str,
                interface: str = "eth0", *, sriov_ib: bool = False) -> str:
    """``<executable> <options> <runtime options> <command>`` for ``num_instances`` nodes.

    ``executable_path``, ``options`` and ``command`` are the user's shell text and are kept
    exactly as written; ``interface`` is the network interface Open MPI is pinned to, unless
    ``sriov_ib`` (InfiniBand on an SR-IOV size) selects UCX with the node's partition key.
    """
    if num_instances < 1:
        raise ValueError(f"num_instances must be at least 1 (got {num_instances})")
    counts = _counts(mpi, num_instances)
    parts = [mpi.executable_path, *mpi.options, *_runtime_options(mpi, counts, interface, sriov_ib)]
    return " ".join([*parts, command] if command.strip() else parts)
