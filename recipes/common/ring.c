/*
 * ring: a small MPI check and micro-benchmark for multi-node container runs.
 *
 *   ring [ring_iterations [pingpong_iterations]]      (defaults 1000 and 1000)
 *
 * 1. every rank reports rank, hostname and IPv4 address (printed by rank 0, in rank order);
 * 2. a token goes round the ring 0 -> 1 -> ... -> n-1 -> 0 ring_iterations times:
 *    microseconds per hop = elapsed / (iterations * n);
 * 3. ping-pong between ranks 0 and 1: 8-byte latency (half the round trip) and
 *    1 MiB bandwidth (2 * bytes per round trip / round-trip time). The iterations run in
 *    BATCHES equal batches and the median batch is reported: on a shared machine one
 *    descheduling would otherwise move the mean of the whole run.
 * Output lines start with a fixed word so scripts can grep them.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <mpi.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_LEN 64
#define ADDR_LEN INET_ADDRSTRLEN
#define BIG (1 << 20)
#define BATCHES 15

/* First non-loopback IPv4 address, preferring eth0 (the node's pool interface). */
static void my_address(char *out)
{
    struct ifaddrs *ifs, *i;
    strcpy(out, "?");
    if (getifaddrs(&ifs) != 0)
        return;
    for (int pass = 0; pass < 2; pass++)
        for (i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
                continue;
            if (pass == 0 && strcmp(i->ifa_name, "eth0") != 0)
                continue;
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, ADDR_LEN);
            freeifaddrs(ifs);
            return;
        }
    freeifaddrs(ifs);
}

static void hello(int rank, int size)
{
    char me[NAME_LEN + ADDR_LEN] = {0};
    char *all = NULL;
    gethostname(me, NAME_LEN - 1);
    my_address(me + NAME_LEN);
    if (rank == 0)
        all = malloc((size_t)size * sizeof me);
    MPI_Gather(me, sizeof me, MPI_CHAR, all, sizeof me, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        for (int r = 0; r < size; r++) {
            char *p = all + (size_t)r * sizeof me;
            printf("hello: rank %d of %d on %s (%s)\n", r, size, p, p + NAME_LEN);
        }
        free(all);
    }
}

static void ring(int rank, int size, int iterations)
{
    int token = 0, next = (rank + 1) % size, prev = (rank + size - 1) % size;
    double t0 = 0;
    /* Round 0 is a warm-up (connection setup); timing starts after it. */
    for (int it = 0; it <= iterations; it++) {
        if (it == 1)
            t0 = MPI_Wtime();
        if (rank == 0) {
            MPI_Send(&token, 1, MPI_INT, next, 0, MPI_COMM_WORLD);
            MPI_Recv(&token, 1, MPI_INT, prev, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(&token, 1, MPI_INT, prev, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            token++;
            MPI_Send(&token, 1, MPI_INT, next, 0, MPI_COMM_WORLD);
        }
    }
    double us = (MPI_Wtime() - t0) * 1e6;
    if (rank == 0)
        printf("ring: ranks=%d iterations=%d token=%d usec_per_hop=%.2f\n", size, iterations,
               token, iterations ? us / ((double)iterations * size) : 0.0);
}

/* Round-trip time in seconds of `bytes` between ranks 0 and 1 (after one warm-up). */
static double round_trip(int rank, char *buf, int bytes, int iterations)
{
    double t0 = 0;
    for (int it = 0; it <= iterations; it++) {
        if (it == 1)
            t0 = MPI_Wtime();
        if (rank == 0) {
            MPI_Send(buf, bytes, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
            MPI_Recv(buf, bytes, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(buf, bytes, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, bytes, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
        }
    }
    return (MPI_Wtime() - t0) / iterations;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median over BATCHES batches of the round-trip time of `bytes`, in seconds. */
static double median_round_trip(int rank, char *buf, int bytes, int iterations)
{
    double times[BATCHES];
    int per_batch = iterations / BATCHES > 1 ? iterations / BATCHES : 1;
    for (int b = 0; b < BATCHES; b++)
        times[b] = round_trip(rank, buf, bytes, per_batch);
    qsort(times, BATCHES, sizeof times[0], by_value);
    return times[BATCHES / 2];
}

static void pingpong(int rank, int size, int iterations)
{
    if (size < 2) {
        if (rank == 0)
            printf("pingpong: skipped (needs 2 ranks)\n");
        return;
    }
    char *buf = calloc(BIG, 1);
    int big_iterations = iterations / 10 > 10 * BATCHES ? iterations / 10 : 10 * BATCHES;
    double small = median_round_trip(rank, buf, 8, iterations);
    double large = median_round_trip(rank, buf, BIG, big_iterations);
    if (rank == 0) {
        printf("pingpong: bytes=8 iterations=%d latency_usec=%.2f\n", iterations, small * 1e6 / 2);
        printf("pingpong: bytes=%d iterations=%d bandwidth_MBps=%.1f\n", BIG, big_iterations,
               2.0 * BIG / large / 1e6);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    int rank, size;
    int iterations = argc > 1 ? atoi(argv[1]) : 1000;
    int pp_iterations = argc > 2 ? atoi(argv[2]) : 1000;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (iterations < 0 || pp_iterations < 1) {
        if (rank == 0)
            fprintf(stderr, "usage: ring [ring_iterations>=0 [pingpong_iterations>=1]]\n");
        MPI_Finalize();
        return 2;
    }
    hello(rank, size);
    MPI_Barrier(MPI_COMM_WORLD);
    ring(rank, size, iterations);
    pingpong(rank, size, pp_iterations);
    MPI_Finalize();
    return 0;
}
