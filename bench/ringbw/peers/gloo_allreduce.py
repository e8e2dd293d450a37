"""All-reduce bus bandwidth of PyTorch's gloo backend, printed like ringbw.

Run one process per rank with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set
(for example under `launch -np 2 /usr/bin/python3 gloo_allreduce.py`).
"""
import json
import os
import sys
import time

import torch
import torch.distributed as dist


def main():
    lo = int(sys.argv[1]) if len(sys.argv) > 1 else 64 << 10
    hi = int(sys.argv[2]) if len(sys.argv) > 2 else 64 << 20
    dist.init_process_group("gloo")
    rank, n = dist.get_rank(), dist.get_world_size()
    size = lo
    while size <= hi:
        buf = torch.full((size // 4,), float(rank + 1), dtype=torch.float32)
        t0 = time.perf_counter()
        for _ in range(3):
            dist.all_reduce(buf)
        iters = torch.tensor([max(3, int(0.3 / ((time.perf_counter() - t0) / 3)))])
        dist.broadcast(iters, 0)
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(int(iters)):
            dist.all_reduce(buf)
        el = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
        dist.all_reduce(el, op=dist.ReduceOp.MAX)
        if rank == 0:
            sec = float(el) / int(iters)
            alg = size / sec / 1e9
            print(json.dumps({"op": "allreduce", "impl": "gloo", "bytes": size, "ranks": n, "iters": int(iters),
                              "sec_per_op": sec, "algbw_GBps": alg, "busbw_GBps": alg * 2 * (n - 1) / n}), flush=True)
        size *= 4
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
