"""mpi4py check and micro-benchmark: hello from every rank, a ring, and a 0<->1 ping-pong.

    mpirun ... python3 /opt/pingpong/pingpong.py [ring_iterations [pingpong_iterations]]

Uses only the buffer protocol (bytearray), so it needs no numpy. Output lines start with a
fixed word (hello:, ring:, pingpong:) like the C ring of the other recipes.
"""

import fcntl
import socket
import struct
import sys

from mpi4py import MPI

BIG = 1 << 20


def my_address() -> str:
    """IPv4 address of eth0 (the node's pool interface), else of the first other interface.

    Asked of the kernel (SIOCGIFADDR): emulated nodes have no default route, so the usual
    connect-a-UDP-socket trick fails there.
    """
    names = [name for _, name in socket.if_nameindex() if name != "lo"]
    for name in sorted(names, key=lambda n: n != "eth0"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
            return socket.inet_ntoa(packed[20:24])
    return "?"


def hello(comm: MPI.Comm) -> None:
    everyone = comm.gather((socket.gethostname(), my_address()), root=0)
    if comm.rank == 0:
        library = MPI.Get_library_version().strip("\x00 \n").splitlines()[0]
        print(f"hello: mpi4py {MPI.Get_version()} on {library}")
        for rank, (host, addr) in enumerate(everyone):
            print(f"hello: rank {rank} of {comm.size} on {host} ({addr})")


def ring(comm: MPI.Comm, iterations: int) -> None:
    token = bytearray(4)
    nxt, prev = (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size
    t0 = 0.0
    for it in range(iterations + 1):  # round 0 is a warm-up
        if it == 1:
            t0 = MPI.Wtime()
        if comm.rank == 0:
            comm.Send([token, MPI.BYTE], dest=nxt)
            comm.Recv([token, MPI.BYTE], source=prev)
        else:
            comm.Recv([token, MPI.BYTE], source=prev)
            comm.Send([token, MPI.BYTE], dest=nxt)
    elapsed = MPI.Wtime() - t0
    if comm.rank == 0 and iterations:
        hop = elapsed * 1e6 / (iterations * comm.size)
        print(f"ring: ranks={comm.size} iterations={iterations} usec_per_hop={hop:.2f}")


def round_trip(comm: MPI.Comm, buf: bytearray, iterations: int) -> float:
    """Seconds per round trip of ``buf`` between ranks 0 and 1, after one warm-up."""
    t0 = 0.0
    for it in range(iterations + 1):
        if it == 1:
            t0 = MPI.Wtime()
        if comm.rank == 0:
            comm.Send([buf, MPI.BYTE], dest=1)
            comm.Recv([buf, MPI.BYTE], source=1)
        elif comm.rank == 1:
            comm.Recv([buf, MPI.BYTE], source=0)
            comm.Send([buf, MPI.BYTE], dest=0)
    return (MPI.Wtime() - t0) / iterations


def pingpong(comm: MPI.Comm, iterations: int) -> None:
    if comm.size < 2:
        if comm.rank == 0:
            print("pingpong: skipped (needs 2 ranks)")
        return
    big_iterations = max(10, iterations // 10)
    small = round_trip(comm, bytearray(8), iterations)
    large = round_trip(comm, bytearray(BIG), big_iterations)
    if comm.rank == 0:
        print(f"pingpong: bytes=8 iterations={iterations} latency_usec={small * 1e6 / 2:.2f}")
        print(f"pingpong: bytes={BIG} iterations={big_iterations} "
              f"bandwidth_MBps={2 * BIG / large / 1e6:.1f}")


def main() -> int:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    pp_iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    comm = MPI.COMM_WORLD
    hello(comm)
    comm.Barrier()
    ring(comm, iterations)
    pingpong(comm, pp_iterations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
