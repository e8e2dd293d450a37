#!/usr/bin/env bash
# A demo over several training seeds (make seeds; UMM=2 for the unified model): runs
# scripts/demo/umm1.sh (or umm2.sh) once per seed of SEEDS, each in RUN/seed-N, then summarises
# their benchmarks, which all score the same benchmark scenes: the mean and the sample standard
# deviation over the seeds of every row and metric (trainer seeds -> RUN/seeds/seeds.md).
# Each seed's own table (RUN/seed-N/bench/unibench.md) has its 95% intervals over scenes; the
# spread over seeds adds what the scenes cannot show, how much training itself varies.
# SEEDS="1 2 3" by default; RUN, NP and the step counts pass to the demo script.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=seeds clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
umm=${UMM:-1}
case $umm in
  1) demo=scripts/demo/umm1.sh run=${RUN:-runs/seeds} ;;
  2) demo=scripts/demo/umm2.sh run=${RUN:-runs/seeds-umm2} ;;
  *) usage_error "UMM=$umm: use 1 (the captioner) or 2 (the unified model)" ;;
esac
seeds=${SEEDS:-1 2 3}
[ -n "${seeds// /}" ] || usage_error "SEEDS is empty: give training seeds, e.g. SEEDS=\"1 2 3\""
mkdir -p "$run"
benches=()
for s in $seeds; do
  want_whole SEED "$s"
  say "seed $s: $demo -> $run/seed-$s"
  RUN="$run/seed-$s" SEED="$s" "$demo" >"$run/seed-$s.log" 2>&1 || die "seed $s failed: see $run/seed-$s.log"
  benches+=(--bench "$run/seed-$s/bench")
done
bin/trainer seeds "${benches[@]}" --out "$run/seeds"
