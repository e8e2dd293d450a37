/*
 * mpibw: bus bandwidth of OpenMPI's MPI_Allreduce (float32 sum), the peer of bench/ringbw in
 * `make bench`. Same sizes, same timing rule and the same JSON lines as ringbw:
 *
 *   mpicc -O2 -o mpibw bench/mpibw/mpibw.c
 *   mpirun --allow-run-as-root --oversubscribe -np 2 ./mpibw [min_bytes max_bytes factor seconds]
 *
 * For every size: one checked all-reduce; timed warm-up calls in two stages (3 calls, then
 * about 50 ms of calls) that pick the iteration count for about `seconds` of work (rank 0's
 * choice, broadcast); a barrier; the timed loop. The time is the slowest rank's. algbw = bytes / time, busbw = algbw * 2(n-1)/n.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    long min_bytes = argc > 1 ? atol(argv[1]) : 64L << 10;
    long max_bytes = argc > 2 ? atol(argv[2]) : 64L << 20;
    long factor = argc > 3 ? atol(argv[3]) : 4;
    double seconds = argc > 4 ? atof(argv[4]) : 0.5;
    if (min_bytes < 4 || max_bytes < min_bytes || factor < 2 || seconds <= 0) {
        if (rank == 0)
            fprintf(stderr, "mpibw: bad arguments; usage: mpibw [min_bytes max_bytes factor seconds]\n");
        MPI_Finalize();
        return 2;
    }
    for (long size = min_bytes; size <= max_bytes; size *= factor) {
        long count = size / 4;
        float *buf = malloc(count * sizeof(float));
        if (buf == NULL) {
            fprintf(stderr, "mpibw: out of memory for %ld bytes\n", size);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (long i = 0; i < count; i++)
            buf[i] = (float)((rank + 1) * (i % 97));
        MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        int correct = 1;
        for (long i = 0; i < count; i++) {
            if (buf[i] != (float)(n * (n + 1) / 2 * (i % 97))) {
                correct = 0;
                break;
            }
        }
        /* Calibration in two stages (3 calls, then about 50 ms of calls), rank 0 deciding. */
        int iters = 3;
        double t0;
        for (int stage = 0; stage < 2; stage++) {
            int calls = iters;
            t0 = MPI_Wtime();
            for (int k = 0; k < calls; k++)
                MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double per = (MPI_Wtime() - t0) / calls;
            iters = (int)((stage == 0 ? 0.05 : seconds) / per);
            if (iters < 3)
                iters = 3;
            MPI_Bcast(&iters, 1, MPI_INT, 0, MPI_COMM_WORLD);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        for (int k = 0; k < iters; k++)
            MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double elapsed = MPI_Wtime() - t0, slowest;
        MPI_Allreduce(&elapsed, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (rank == 0) {
            double sec = slowest / iters, alg = size / sec / 1e9;
            printf("{\"op\":\"allreduce\",\"impl\":\"openmpi\",\"bytes\":%ld,\"ranks\":%d,\"iters\":%d,"
                   "\"sec_per_op\":%.9g,\"algbw_GBps\":%.6g,\"busbw_GBps\":%.6g,\"correct\":%s}\n",
                   size, n, iters, sec, alg, alg * 2 * (n - 1) / n, correct ? "true" : "false");
            fflush(stdout);
        }
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
