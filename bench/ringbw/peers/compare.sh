#!/bin/bash
# Side-by-side all-reduce bus bandwidth, 2 ranks on this machine: the Go
# ring (shared memory, Unix sockets, TCP), OpenMPI and PyTorch gloo,
# interleaved ROUNDS times so that they see the same machine load.
# Needs: openmpi-bin libopenmpi-dev (mpicc, mpirun) and python3-torch.
# Usage (from the repository root): bench/ringbw/peers/compare.sh [ROUNDS]
set -euo pipefail
rounds=${1:-3}
lo=${MIN_BYTES:-1048576}
hi=${MAX_BYTES:-16777216}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
here=$(dirname "$0")
go build -o "$dir/launch" ./cmd/launch
go build -o "$dir/ringbw" ./bench/ringbw
mpicc -O2 -o "$dir/mpi_allreduce" "$here/mpi_allreduce.c"
for ((i = 1; i <= rounds; i++)); do
  for tr in auto unix tcp; do
    "$dir/launch" -np 2 "$dir/ringbw" --transport "$tr" --min-bytes "$lo" --max-bytes "$hi" --time 300ms 2>/dev/null |
      sed -n 's/^\[rank 0\] //p' | sed "s/\"op\":\"allreduce\"/\"op\":\"allreduce\",\"impl\":\"ring-$tr\"/"
  done
  mpirun --allow-run-as-root --oversubscribe -np 2 "$dir/mpi_allreduce" "$lo" "$hi"
  "$dir/launch" -np 2 /usr/bin/python3 "$here/gloo_allreduce.py" "$lo" "$hi" 2>/dev/null | sed -n 's/^\[rank 0\] //p'
done | python3 -c '
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in sys.stdin:
    d = json.loads(line)
    runs[(d["impl"], d["bytes"])].append(d["busbw_GBps"])
impls = sorted({k[0] for k in runs})
sizes = sorted({k[1] for k in runs})
print("median busbw GB/s over rounds; 2 ranks")
print("%-12s" % "impl" + "".join("%10s" % ("%dKB" % (s >> 10) if s < 1 << 20 else "%dMB" % (s >> 20)) for s in sizes))
for impl in impls:
    print("%-12s" % impl + "".join("%10.2f" % statistics.median(runs[(impl, s)]) for s in sizes))
'
