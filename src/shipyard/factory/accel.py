"""GPUs and InfiniBand per VM size, as Batch Shipyard 3.9.1 gives them to a task's container.

The size decides (batch-shipyard-behaviour.md sections 2 and 3): NC/ND/NV sizes are GPU
sizes, and a task there gets ``gpus`` (default ``all``) as ``--gpus=`` (Docker pools only:
on a native pool Batch turns GPUs on itself) and the CUDA cache environment. RDMA sizes
(``r`` in the name: H16r, A8/A9, NC24r, ND24rs, HB/HC, ...) on a pool with inter-node
communication get InfiniBand: the ``/opt/intel`` mount on NetworkDirect sizes, and on
Docker pools the devices, the unlimited memlock ulimit and the image's DAT files; the MPI
fabric settings follow in :mod:`shipyard.factory.mpi`. Where the image keeps its DAT files
(and where its temp disk is) comes from a platform image's publisher and offer, or from a
custom image's node agent (``batch.node.centos``, ``.ubuntu``, ``.opensuse``), as Batch
Shipyard reads them.

The local engine has neither GPUs nor InfiniBand: there, :func:`resolve` gives nothing, so
the CPU paths of a GPU or RDMA recipe still run, and :func:`local_warning` is the one line
the CLI prints about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.config import JobSpec, PoolSpecification, TaskSpec
from shipyard.config.pool import VmConfiguration
from shipyard.errors import ConfigError

_GPU_COMPUTE = re.compile(r"^standard_n[cd]\d+r?s?(_v\d)?(_promo)?$", re.I)
_GPU_VISUAL = re.compile(r"^standard_nv\d+s?(_v2)?(_promo)?$", re.I)
_SRIOV = re.compile(r"^standard_((hb|hc)\d+m?rs?(_v\d)?)$", re.I)
_SRIOV_TRANSITION = re.compile(r"^standard_nc\d+rs_v3$", re.I)
_NETWORKDIRECT = re.compile(r"^standard_((a8|a9)|((h|nc|nd)\d+m?rs?(_v[1-3])?))(_promo)?$",
                            re.I)

#: Batch Shipyard's value for "no GPUs" in ``gpus``.
GPUS_OFF = "disable"
#: The memlock limit InfiniBand needs (unlimited, as Batch Shipyard writes it).
MEMLOCK = "9223372036854775807"
#: Where node prep writes the InfiniBand partition key an SR-IOV MPI reads.
UCX_IB_PKEY = "$AZ_BATCH_NODE_STARTUP_DIR/wd/UCX_IB_PKEY"


def is_gpu_size(vm_size: str) -> bool:
    """NC, NCs_v2/v3, ND, NDs, ND40s_v2 and NV sizes (later families are not seen as GPU)."""
    return bool(_GPU_COMPUTE.match(vm_size) or _GPU_VISUAL.match(vm_size))


def is_sriov_size(vm_size: str) -> bool:
    """RDMA over SR-IOV: HB, HC and the NC*rs_v3 transition sizes."""
    return bool(_SRIOV.match(vm_size) or _SRIOV_TRANSITION.match(vm_size))


def is_networkdirect_size(vm_size: str) -> bool:
    """RDMA over NetworkDirect: A8, A9, H*r, NC*r, NC24rs_v2, ND*rs, ..."""
    return bool(_NETWORKDIRECT.match(vm_size)) and not is_sriov_size(vm_size)


def is_rdma_size(vm_size: str) -> bool:
    return is_sriov_size(vm_size) or is_networkdirect_size(vm_size)


@dataclass(frozen=True)
class Accel:
    """What one task gets: its ``--gpus`` value (``None``: none) and InfiniBand, on which bus."""

    gpus: str | None = None
    infiniband: bool = False
    sriov: bool = False
    vm: VmConfiguration | None = None
    tempdisk: str = "/mnt/resource"

    def environment(self, runtime: str | None) -> dict[str, str]:
        """The task environment: the CUDA cache on GPUs, Intel MPI's fabric over IB."""
        env: dict[str, str] = {}
        if self.gpus is not None:
            env.update(CUDA_CACHE_DISABLE="0", CUDA_CACHE_MAXSIZE="1073741824",
                       CUDA_CACHE_PATH=f"{self.tempdisk}/batch/tasks/.nv/ComputeCache")
        if self.infiniband and runtime in ("intelmpi", "intelmpi-ofa"):
            env.update(_intelmpi_fabric(self.sriov, runtime))
        return env

    def run_options(self, native: bool) -> list[str]:
        """The container options, in Batch Shipyard's order.

        Native pools get no ``--gpus`` and no devices (Batch binds them itself), but the
        NetworkDirect mounts as Batch Shipyard 3.9.1's code adds them in both modes.
        """
        out = [f"--gpus={self.gpus}"] if self.gpus is not None and not native else []
        if not self.infiniband:
            return out
        dat = _dat_mounts(self.vm)  # an image Batch Shipyard has no IB setup for fails
        if not self.sriov:
            out.append("-v /opt/intel:/opt/intel:ro")
        if not native:
            out += [f"--ulimit memlock={MEMLOCK}", "--device=/dev/infiniband/rdma_cm",
                    "--device=/dev/infiniband/uverbs0"]
        if self.sriov and not native:
            out += ["--device=/dev/infiniband/issm0", "--device=/dev/infiniband/ucm0",
                    "--device=/dev/infiniband/umad0", "-v /etc/dat.conf:/etc/dat.conf:ro"]
        if self.sriov:
            return out
        return out + [o for o in dat if not (native and o.startswith("--device"))]


def _intelmpi_fabric(sriov: bool, runtime: str) -> dict[str, str]:
    env = {"I_MPI_FALLBACK": "0", "MANPATH": "/usr/share/man:/usr/local/man"}
    if not sriov:
        env.update(I_MPI_FABRICS="shm:dapl", I_MPI_DAPL_PROVIDER="ofa-v2-ib0",
                   I_MPI_DYNAMIC_CONNECTION="0", I_MPI_DAPL_TRANSLATION_CACHE="0")
    elif runtime == "intelmpi-ofa":
        env["I_MPI_FABRICS"] = "shm:ofa"
    else:
        env.update(I_MPI_FABRICS="shm:ofi", FI_PROVIDER="mlx")
    return env


def _dat_mounts(vm: VmConfiguration | None) -> list[str]:
    """The DAT configuration of a NetworkDirect image, where its HPC image keeps it: a
    platform image by publisher and offer, a custom one by its node agent's distribution
    (Batch Shipyard's ``task_settings``)."""
    family = _ib_family(vm)
    if family == "centos":
        return ["-v /etc/rdma:/etc/rdma:ro", "-v /etc/rdma/dat.conf:/etc/dat.conf:ro"]
    both = ["-v /etc/dat.conf:/etc/dat.conf:ro", "-v /etc/dat.conf:/etc/rdma/dat.conf:ro"]
    if family == "ubuntu":
        return both
    if family == "suse":
        return [*both, "--device=/dev/hvnd_rdma"]
    if vm is not None and vm.custom_image is not None:
        raise ConfigError(
            "pool.yaml: pool_specification.vm_configuration.custom_image: InfiniBand on a "
            f"custom image with node agent '{vm.custom_image.node_agent}' is not a "
            "configuration Batch Shipyard supports",
            hint="base the image on CentOS, Ubuntu or openSUSE, or set infiniband: false")
    image = vm.platform_image if vm is not None else None
    publisher, offer = ((image.publisher.lower(), image.offer.lower()) if image else ("", ""))
    raise ConfigError(
        f"pool.yaml: pool_specification.vm_configuration.platform_image: InfiniBand on "
        f"{publisher or 'this'}/{offer or 'image'} is not a configuration Batch Shipyard "
        "supports", hint="use OpenLogic CentOS-HPC, or set infiniband: false")


def _ib_family(vm: VmConfiguration | None) -> str | None:
    """``centos``, ``ubuntu`` or ``suse``: the InfiniBand setup of an image Batch Shipyard
    knows, or ``None``."""
    if vm is not None and vm.custom_image is not None:
        agent = vm.custom_image.node_agent
        return next((family for prefix, family in _CUSTOM_IB.items()
                     if agent.startswith(prefix)), None)
    image = vm.platform_image if vm is not None else None
    if image is None:
        return None
    return _PLATFORM_IB.get((image.publisher.lower(), image.offer.lower()))


#: Platform images with an InfiniBand setup, by where it keeps the DAT files.
_PLATFORM_IB = {("openlogic", "centos-hpc"): "centos",
                ("microsoft-azure-batch", "centos-container-rdma"): "centos",
                ("microsoft-azure-batch", "ubuntu-server-container-rdma"): "ubuntu",
                ("suse", "sles-hpc"): "suse"}
#: Custom images: by the distribution their node agent names.
_CUSTOM_IB = {"batch.node.centos": "centos", "batch.node.ubuntu": "ubuntu",
              "batch.node.opensuse": "suse"}


def _gpus(job: JobSpec, task: TaskSpec, vm_size: str, where: str) -> str | None:
    wanted, key = job.gpus_for(task)
    if wanted in (None, ""):
        wanted = "all" if is_gpu_size(vm_size) else GPUS_OFF
    if wanted == GPUS_OFF:
        return None
    if not is_gpu_size(vm_size):
        raise ConfigError(f"jobs.yaml: {where}.{key}: {wanted!r} needs a GPU VM size "
                          f"(NC, ND or NV); the pool's is {vm_size}",
                          hint=f"remove {key}, or set gpus: disable")
    return wanted


def _infiniband(job: JobSpec, task: TaskSpec, pool: PoolSpecification, vm_size: str,
                where: str) -> bool:
    wanted = job.infiniband_for(task)
    rdma = is_rdma_size(vm_size)
    if wanted is None:
        return rdma and pool.inter_node_communication_enabled
    if wanted and not pool.inter_node_communication_enabled:
        raise ConfigError(f"jobs.yaml: {where}.infiniband: needs a pool with "
                          "inter_node_communication_enabled: true")
    if wanted and not rdma:
        raise ConfigError(f"jobs.yaml: {where}.infiniband: needs an RDMA VM size (H16r, "
                          f"NC24r, HB60rs, HC44rs, ...); the pool's is {vm_size}")
    return wanted


def resolve(job: JobSpec, task: TaskSpec, pool: PoolSpecification, vm_size: str, *,
            local: bool = False, where: str = "task") -> Accel:
    """What ``task`` of ``job`` gets on ``vm_size``; nothing on the local engine."""
    gpus = _gpus(job, task, vm_size, where)
    infiniband = _infiniband(job, task, pool, vm_size, where)
    if local:
        return Accel()
    accel = Accel(gpus=gpus, infiniband=infiniband, sriov=is_sriov_size(vm_size),
                  vm=pool.vm_configuration, tempdisk=pool.temp_disk)
    accel.run_options(native=False)  # an unsupported InfiniBand image fails here, early
    return accel


def local_warning(vm_size: str | None) -> str | None:
    """The one line saying a GPU or RDMA size runs without them on the local engine."""
    if not vm_size:
        return None
    missing = [name for name, has in (("GPUs", is_gpu_size(vm_size)),
                                      ("InfiniBand", is_rdma_size(vm_size))) if has]
    if not missing:
        return None
    return (f"warning: the local engine has no {' and no '.join(missing)}: {vm_size} runs "
            "here without them (CPU and TCP only)")
