/* All-reduce bus bandwidth of OpenMPI, printed like ringbw (JSON lines from
 * rank 0), for side-by-side runs: mpirun -np 2 ./mpi_allreduce [min max]. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    long lo = argc > 1 ? atol(argv[1]) : 64L << 10;
    long hi = argc > 2 ? atol(argv[2]) : 64L << 20;
    for (long bytes = lo; bytes <= hi; bytes *= 4) {
        long count = bytes / 4;
        float *buf = malloc(bytes);
        for (long i = 0; i < count; i++) buf[i] = (float)(rank + 1);
        /* Warm up, then pick the iteration count on rank 0 for ~0.3 s. */
        double t0 = MPI_Wtime();
        for (int i = 0; i < 3; i++)
            MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        int iters = (int)(0.3 / ((MPI_Wtime() - t0) / 3));
        if (iters < 3) iters = 3;
        MPI_Bcast(&iters, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        for (int i = 0; i < iters; i++)
            MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double el = MPI_Wtime() - t0, worst;
        MPI_Reduce(&el, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            double sec = worst / iters, alg = bytes / sec / 1e9;
            printf("{\"op\":\"allreduce\",\"impl\":\"openmpi\",\"bytes\":%ld,\"ranks\":%d,\"iters\":%d,"
                   "\"sec_per_op\":%g,\"algbw_GBps\":%g,\"busbw_GBps\":%g}\n",
                   bytes, n, iters, sec, alg, alg * 2 * (n - 1) / n);
            fflush(stdout);
        }
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
