"""Bus bandwidth of PyTorch's gloo all_reduce (float32 sum) on loopback, the peer of
bench/ringbw in `make bench`. Same sizes, same timing rule and the same JSON lines as ringbw:

  /usr/bin/python3 bench/torch/gloobw.py [--ranks 2] [--min-bytes 65536] [--max-bytes 67108864]

It starts the ranks itself (torch.multiprocessing) on 127.0.0.1. For every size: one checked
all-reduce; timed warm-up calls in two stages (3 calls, then about 50 ms of calls) that pick the
iteration count for about --time seconds of work (rank 0's choice, broadcast); a barrier; the
timed loop. The time is the slowest rank's.
algbw = bytes / time, busbw = algbw * 2(n-1)/n.
"""
import argparse
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, args, port, queue):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=args.ranks)
    n = args.ranks
    size = args.min_bytes
    while size <= args.max_bytes:
        count = size // 4
        pattern = (torch.arange(count) % 97).float()
        buf = pattern * (rank + 1)
        dist.all_reduce(buf)
        correct = bool(torch.equal(buf, pattern * (n * (n + 1) // 2)))
        iters = torch.tensor([3])
        for budget in (0.05, args.time):  # calibrate on 3 calls, then on about 50 ms of calls
            calls = int(iters)
            t0 = time.perf_counter()
            for _ in range(calls):
                dist.all_reduce(buf)
            per = (time.perf_counter() - t0) / calls
            iters = torch.tensor([max(3, int(budget / per))])
            dist.broadcast(iters, 0)
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(int(iters)):
            dist.all_reduce(buf)
        elapsed = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        if rank == 0:
            sec = float(elapsed) / int(iters)
            alg = size / sec / 1e9
            queue.put(json.dumps({"op": "allreduce", "impl": "gloo", "bytes": size, "ranks": n,
                                  "iters": int(iters), "sec_per_op": sec, "algbw_GBps": alg,
                                  "busbw_GBps": alg * 2 * (n - 1) / n, "correct": correct}))
        size *= args.factor
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--min-bytes", type=int, default=64 << 10)
    ap.add_argument("--max-bytes", type=int, default=64 << 20)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--time", type=float, default=0.5, help="measuring seconds per size")
    args = ap.parse_args()
    if args.ranks < 2 or args.min_bytes < 4 or args.max_bytes < args.min_bytes or args.factor < 2:
        sys.exit("gloobw.py: need --ranks >= 2, 4 <= --min-bytes <= --max-bytes, --factor >= 2")
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = free_port()
    procs = [ctx.Process(target=worker, args=(r, args, port, queue)) for r in range(args.ranks)]
    for p in procs:
        p.start()
    failed = False
    for p in procs:
        p.join()
        failed |= p.exitcode != 0
    while not queue.empty():
        print(queue.get(), flush=True)
    if failed:
        sys.exit("gloobw.py: a rank failed (exit codes %s)" % [p.exitcode for p in procs])


if __name__ == "__main__":
    main()
