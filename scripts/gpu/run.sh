#!/usr/bin/env bash
# run.sh: the one command run on a GPU host that has PyTorch but no Go and no network. From the
# repository root, with .gpukit/ (make gpu-kit) carried along:
#
#   scripts/gpu/run.sh              on the GPU host
#   scripts/gpu/run.sh --rehearse   the same on a CPU machine: Go hidden from PATH, apt forbidden, an
#                                   empty module cache and no module proxy, Debian's libtorch; the
#                                   steps that need a GPU are skipped
#
# Steps, each time-boxed so that a failing or slow one still leaves the others' results:
#   1. gpucheck (prebuilt in the kit, no libtorch): NCCL and CUDA runtime, a one-rank all-reduce on
#      device memory with its bandwidth, NVML
#   2. build: unpack the kit, find PyTorch's libtorch, compile gotch's C++ layer against it on every
#      core (scripts/setup/gotch-prep.py, with the list kept in scripts/setup/gotch-compat/), build
#      the binaries
#   3. train: SFT on the GPU, Unified-GRPO with launch -np 2 on the one GPU (CPU ring) and -np 1
#      through NCCL; the first steps again on the CPU with the same seed, to compare
#   4. bench: GRPO step time, Go against the PyTorch twin (bench/torch/grpo.py) on the same GPU and
#      weights, at the world size and at a wide size (scripts/gpu/bench.sh), one round each (ROUNDS)
#   5. the checks other parts register in scripts/gpu/checks/*.sh: each runs from the repository
#      root with GPU_RUN_BIN (the built binaries, and the kit's nccl.test), GPU_RUN_WORK (the scratch
#      folder), GPU_RUN_MODE (gpu or rehearse), GPU_RUN_CHECKS (where its result JSON goes, see
#      scripts/gpu/check-result.py: the report carries it) and GPU_RUN_OUT (where a file that must
#      come back goes: at most 8 come back in all), and exits 0 (passed), 77 (skipped: a
#      prerequisite is missing here) or anything else (failed). A line "# gpu-run: order=N
#      limit=S" in a check sets its place (ascending; 50 without) and its time limit (90 s without).
# and writes at most 8 files to $OUT (runs/gpu/ when OUT is unset): gpu-report.json, gpu-report.md
# (both by the kit's prebuilt bench/report: `report gpu`), gpu-run.log, the training and device
# plots, and what registered checks return.
#
# Environment: OUT, GPU_RUN_BUDGET (seconds for the whole run, default 560, to fit one 10-minute
# call; 900 to rehearse), GPU_RUN_WORK (scratch folder, default /tmp/unigrpo-gpu-run), LIBTORCH (a
# libtorch folder instead of PyTorch's), GPU_RUN_STEPS (steps to run, default "check build train
# bench extra"), GPU_RUN_CHECKS_ONLY (names of the registered checks to run, default all).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
me=gpu-run clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
mode=gpu
case "${1:-}" in
  "") ;;
  --rehearse) mode=rehearse ;;
  *) usage_error "usage: scripts/gpu/run.sh [--rehearse]" ;;
esac
budget=${GPU_RUN_BUDGET:-560}
[ $mode = rehearse ] && budget=${GPU_RUN_BUDGET:-900} # two cores compile for minutes
want_whole GPU_RUN_BUDGET "$budget"
if [ -z "${OUT:-}" ]; then OUT=$root/runs/gpu; [ $mode = rehearse ] && OUT=$root/runs/gpu-rehearse; fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=${GPU_RUN_WORK:-/tmp/unigrpo-gpu-run}
todo=" ${GPU_RUN_STEPS:-check build train bench extra} "
kit=$root/.gpukit
rm -rf "$work"
mkdir -p "$work"/{run,logs,checks}
steps=$work/steps.jsonl
: >"$steps"
exec > >(tee "$OUT/gpu-run.log") 2>&1

left() { echo $(( budget - $(elapsed) )); }
# record NAME STATUS SECONDS NOTE: one line of steps.jsonl
record() {
  python3 -c 'import json,sys; print(json.dumps({"step":sys.argv[1],"status":sys.argv[2],"seconds":float(sys.argv[3]),"note":sys.argv[4]}))' \
    "$1" "$2" "$3" "$4" >>"$steps"
}
# step NAME LIMIT CMD...: runs CMD (a shell function or program) for at most LIMIT seconds, and
# never past the budget minus a reserve for the report; logs to logs/NAME.log and records the result.
step() {
  local name=$1 limit=$2; shift 2
  local avail=$(( $(left) - 20 ))
  [ "$limit" -gt "$avail" ] && limit=$avail
  if [ "$limit" -lt 5 ]; then
    say "$name: skipped, the time budget is spent"
    record "$name" skip 0 "time budget spent"
    return 1
  fi
  say "$name (at most ${limit}s)"
  local s rc=0
  s=$(date +%s)
  # a shell function runs in a child bash that receives every function defined here (lib.sh's
  # included); programs run as they are
  local def=""
  [ "$(type -t "$1")" = function ] && def=$(declare -f)
  timeout --kill-after=5 "$limit" bash -c "$def
\"\$@\"" step "$@" >"$work/logs/$name.log" 2>&1 || rc=$?
  local d=$(( $(date +%s) - s ))
  sed "s/^/  [$name] /" "$work/logs/$name.log" | tail -n 40
  if [ $rc = 0 ]; then
    record "$name" pass "$d" ""; say "$name: passed in ${d}s"
  elif [ $rc = 77 ]; then # a registered check whose prerequisites this machine lacks
    record "$name" skip "$d" "$(grep -v '^\s*$' "$work/logs/$name.log" | tail -n 1 | cut -c1-300)"; say "$name: skipped"
    rc=0
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    record "$name" timeout "$d" "stopped after ${limit}s"; say "$name: TIMED OUT after ${d}s"
  else
    record "$name" fail "$d" "$(grep -v '^\s*$' "$work/logs/$name.log" | tail -n 3 | tr '\n' ' ' | cut -c1-400)"
    say "$name: FAILED (exit $rc) after ${d}s"
  fi
  return $rc
}
skip() { record "$1" skip 0 "$2"; say "$1: skipped ($2)"; }
wants() { [[ $todo == *" $1 "* ]]; }

# --- the environment of a rehearsal ---------------------------------------------------------------
if [ $mode = rehearse ]; then
  # Go hidden: PATH without any folder holding a go binary. apt forbidden: apt-get/apt fail.
  fake=$work/fakebin
  mkdir -p "$fake"
  for t in apt-get apt dpkg-query; do
    printf '#!/bin/sh\necho "gpu-run rehearsal: %s is forbidden here" >&2\nexit 1\n' "$t" >"$fake/$t"
    chmod +x "$fake/$t"
  done
  newpath=$fake
  IFS=: read -ra dirs <<<"$PATH"
  for d in "${dirs[@]}"; do [ -x "$d/go" ] || newpath=$newpath:$d; done
  export PATH=$newpath
  unset GOROOT GOPATH GOFLAGS GOWORK
  if command -v go >/dev/null; then echo "gpu-run: go is still on PATH at $(command -v go)" >&2; exit 1; fi
  export LIBTORCH_INC=${LIBTORCH_INC:-/usr/include} LIBTORCH_LIB=${LIBTORCH_LIB:-/usr/lib/x86_64-linux-gnu}
fi
jobs=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) # nproc heeds OMP_NUM_THREADS, which make sets to 1
find_gpu_libs
export GPU_RUN_MODE=$mode GPU_RUN_WORK=$work GPU_RUN_CHECKS=$work/checks work OUT root mode kit jobs
say "mode $mode, $jobs cores, budget ${budget}s, out $OUT"
# The kit's prebuilt programs (gpucheck, report, nccl.test) travel compressed: unpack them first.
export kitbin=$work/kitbin # the steps run in child shells
mkdir -p "$kitbin"
[ ! -f "$kit/bin.tar.xz" ] || tar -xJf "$kit/bin.tar.xz" -C "$kitbin" || say "could not unpack $kit/bin.tar.xz"

# --- 1. gpucheck ----------------------------------------------------------------------------------
check_gpu() {
  [ -x "$kitbin/gpucheck" ] || { echo "no $kitbin/gpucheck: run make gpu-kit on the build machine"; return 1; }
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  GPUCHECK=$kitbin/gpucheck GPU_CHECK_SKIP_TRAIN=1 scripts/gpu/check.sh -count 67108864 -iters 20
}
if ! wants check; then :
elif [ $mode = gpu ] || command -v nvidia-smi >/dev/null; then step gpucheck 90 check_gpu
else skip gpucheck "no GPU in a rehearsal"; fi

# --- 2. build -------------------------------------------------------------------------------------
build() {
  set -e
  [ -f "$kit/go.tar.xz" ] && [ -f "$kit/vendor.tar.xz" ] || { echo "no kit in $kit: run make gpu-kit on the build machine"; return 1; }
  local s
  s=$(date +%s)
  tar -xJf "$kit/go.tar.xz" -C "$work"
  mkdir -p "$work/src"
  tar --exclude=./.git --exclude=./.gpukit --exclude=./runs --exclude=./bin --exclude=./.gotch \
      --exclude=./go.work --exclude=./go.work.sum --exclude=./vendor --exclude=./.gl --exclude=./.whl -cf - . | tar -xf - -C "$work/src"
  tar -xJf "$kit/vendor.tar.xz" -C "$work/src"
  echo "unpacked the kit in $(( $(date +%s) - s ))s"
  # libtorch: PyTorch's own (the GPU host), LIBTORCH, or include/lib folders named apart (Debian)
  local inc lib
  if [ -n "${LIBTORCH_INC:-}" ]; then inc=$LIBTORCH_INC; lib=$LIBTORCH_LIB
  else
    local tdir=${LIBTORCH:-}
    [ -n "$tdir" ] || tdir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
    inc=$tdir/include; lib=$tdir/lib
  fi
  local vh=$inc/torch/csrc/api/include/torch/version.h
  [ -f "$vh" ] || { echo "no libtorch headers under $inc"; return 1; }
  local tv abi cuda=""
  tv=$(torch_version "$inc")
  abi=$(libtorch_abi "$lib")
  local extra=""
  if [ -e "$lib/libtorch_cuda.so" ]; then
    cuda=--cuda
    # pip's CUDA libraries, which libtorch_cuda needs at link time
    for d in "$lib"/../../nvidia/*/lib "$lib"/../../nvidia/*/*/lib; do [ -d "$d" ] && extra="$extra -Wl,-rpath-link,$(cd "$d" && pwd)"; done
  fi
  echo "libtorch $tv at $lib (${cuda:-cpu}, C++11 ABI $abi)"
  # the Go toolchain of the kit, nothing from the network
  export GOROOT=$work/go PATH=$work/go/bin:$PATH GOFLAGS=-mod=vendor GOWORK=off GOPROXY=off GOSUMDB=off \
    GOTOOLCHAIN=local GOTELEMETRY=off GOMODCACHE=$work/modcache GOCACHE=${GPU_RUN_GOCACHE:-$work/gocache} CGO_ENABLED=1
  mkdir -p "$GOMODCACHE"
  go version
  # While gotch's C++ compiles, the Go packages that do not depend on it compile beside it.
  local pure
  # (a package is pure when neither it nor any of its dependencies is gotch)
  pure=$(cd "$work/src" && go list -deps -f '{{.ImportPath}}{{range .Deps}} {{.}}{{end}}' ./cmd/trainer ./cmd/launch ./bench/rewardenv |
    grep -v sugarme/gotch | cut -d' ' -f1)
  (cd "$work/src" && go build -p "$jobs" $pure) >"$work/logs/go-pure.log" 2>&1 &
  local pure_pid=$!
  echo "{\"torch_version\":\"$tv\",\"lib\":\"$lib\",\"cuda\":\"${cuda:-cpu}\",\"abi\":$abi}" >"$work/libtorch.json"
  local lt=$work/src/vendor/github.com/sugarme/gotch/libtch
  chmod -R u+w "$work/src/vendor"
  local compat=scripts/setup/gotch-compat/libtorch-${tv%.*}.txt
  python3 scripts/setup/gotch-prep.py --src "$lt" --include "$inc" --lib "$lib" --torch-version "$tv" --abi $abi $cuda \
    --jobs "$jobs" --compat "$compat" --write-compat "$work/compat.txt" --report "$work/gotch-prep.json" \
    ${extra:+--extra-ldflags "${extra# }"}
  wait "$pure_pid" || { tail -n 20 "$work/logs/go-pure.log"; echo "the Go packages without libtorch failed to build"; return 1; }
  echo "Go packages without libtorch built beside the C++ (log: go-pure.log)"
  s=$(date +%s)
  (cd "$work/src" && go build -p "$jobs" -o "$work/bin/" ./cmd/trainer ./cmd/launch ./bench/rewardenv ./bench/rolloutbench)
  echo "built trainer, launch, rewardenv and rolloutbench in $(( $(date +%s) - s ))s"
  cp "$kitbin/gpucheck" "$work/bin/" 2>/dev/null || true
  # the nccl package's tests, prebuilt in the kit (the trimmed toolchain has no vet, which go test
  # wants), for scripts/gpu/checks/nccl-shard.sh; that check says so when it is missing
  cp "$kitbin/nccl.test" "$work/bin/" 2>/dev/null || echo "no $kitbin/nccl.test: remake the kit (make gpu-kit)"
}
build_cap=300; [ $mode = rehearse ] && build_cap=600
if wants build; then step build $build_cap build; fi
have_bin() { [ -x "$work/bin/trainer" ] && [ -x "$work/bin/launch" ]; }

# --- 3. training ----------------------------------------------------------------------------------
dev=cuda; [ $mode = rehearse ] && dev=cpu
sft_steps=50; grpo_steps=20; cmp_steps=5
[ $mode = rehearse ] && { sft_steps=6; grpo_steps=3; cmp_steps=3; }
quiet="--eval-every 0 --eval-scenes 8 --log-every 5 --ckpt-every 0 --keep 1"
export dev sft_steps grpo_steps cmp_steps quiet
train_sft() {
  "$work/bin/trainer" sft --device "$dev" --steps "$sft_steps" --seed 1 --out "$work/run/sft" --monitor-interval 0.5 $quiet
}
train_np2() {
  "$work/bin/launch" -np 2 "$work/bin/trainer" train --device "$dev" --grad-sync ring --share-gpus --init "$work/run/sft" \
    --out "$work/run/grpo-np2" --steps "$grpo_steps" --batch 4 --seed 1 --monitor-interval 0.5 --plot-every "$grpo_steps" $quiet
}
train_np1() {
  # on the GPU through NCCL; in a rehearsal with the device optimizer on the CPU
  local place=(--grad-sync nccl); [ $mode = rehearse ] && place=(--optimizer device)
  "$work/bin/launch" -np 1 "$work/bin/trainer" train --device "$dev" "${place[@]}" --init "$work/run/sft" \
    --out "$work/run/grpo-np1" --steps "$grpo_steps" --batch 4 --seed 1 --monitor-interval 0.5 --plot-every "$grpo_steps" $quiet
}
train_cpu_twin() {
  # the first steps again on the CPU, same seed and start: how far CUDA's metrics are from the CPU's
  "$work/bin/trainer" sft --device cpu --steps "$cmp_steps" --seed 1 --out "$work/run/sft-cpu" --monitor-interval 0 $quiet
  "$work/bin/trainer" train --device cpu --init "$work/run/sft" --out "$work/run/grpo-np1-cpu" --steps "$cmp_steps" \
    --batch 4 --seed 1 --monitor-interval 0 $quiet
}
if wants train && have_bin; then
  step train-sft 120 train_sft && {
    step train-grpo-np2 90 train_np2
    step train-grpo-np1 90 train_np1
    [ $dev = cuda ] && step train-cpu-compare 60 train_cpu_twin
  }
elif wants train; then skip train "no binaries (the build failed)"; fi

# --- 4. benchmark ---------------------------------------------------------------------------------
# The twin needs a Python with torch: python3 on the GPU host; in a rehearsal Debian's
# /usr/bin/python3 when python3-torch is installed (make bench installs it), at toy sizes.
export PYTHON=python3
export ROUNDS=${ROUNDS:-1} # one round of each size: the budget of one call holds the registered checks too
if [ $mode = rehearse ]; then
  export PYTHON=/usr/bin/python3 WARMUP=1 STEPS=2 WIDE_DIM=64 WIDE_LAYERS=2
fi
bench() {
  GPU_RUN_BIN=$work/bin GPU_RUN_INIT=$work/run/sft GPU_RUN_BENCH=$work/bench DEVICE=$dev scripts/gpu/bench.sh
}
if ! wants bench; then :
elif ! have_bin || { [[ ${SIZES:-world} == *world* ]] && [ ! -d "$work/run/sft" ]; }; then skip bench "no binaries or SFT checkpoint"
elif ! "$PYTHON" -c 'import torch' 2>/dev/null; then skip bench "$PYTHON has no torch (the twin needs it)"
else step bench 150 bench; fi

# --- 5. registered checks -------------------------------------------------------------------------
# check_list prints "ORDER LIMIT PATH" for each registered check, in the order they run.
check_list() {
  local c order limit
  for c in scripts/gpu/checks/*.sh; do
    [ -e "$c" ] || continue
    if [ -n "${GPU_RUN_CHECKS_ONLY:-}" ] && [[ " $GPU_RUN_CHECKS_ONLY " != *" $(basename "$c" .sh) "* ]]; then continue; fi
    order=$(sed -n 's/^# gpu-run:.*order=\([0-9][0-9]*\).*/\1/p' "$c" | head -1)
    limit=$(sed -n 's/^# gpu-run:.*limit=\([0-9][0-9]*\).*/\1/p' "$c" | head -1)
    echo "${order:-50} ${limit:-90} $c"
  done | sort -k1,1n -k3,3
}
if wants extra; then
  mapfile -t registered < <(check_list)
  for line in "${registered[@]}"; do
    read -r _ limit c <<<"$line"
    step "extra-$(basename "$c" .sh)" "$limit" env GPU_RUN_BIN="$work/bin" GPU_RUN_OUT="$OUT" "$c" </dev/null
  done
fi

# --- PyTorch's headers, when this libtorch has no compatibility list yet ---------------------------
# They let the list, and changes to gotch-prep.py, be worked out on a machine without a GPU.
tv=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["torch_version"])' "$work/libtorch.json" 2>/dev/null || true)
if [ $mode = gpu ] && [ -n "$tv" ] && [ ! -f "scripts/setup/gotch-compat/libtorch-${tv%.*}.txt" ] && [ "$(left)" -gt 40 ]; then
  inc=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "include"))')
  say "packing PyTorch $tv's headers for the build machine"
  timeout 30 tar -C "$(dirname "$inc")" -cf - include | xz -T0 -6 >"$OUT/torch-include.tar.xz" || rm -f "$OUT/torch-include.tar.xz"
fi

# --- report ---------------------------------------------------------------------------------------
say "writing the report"
for r in grpo-np1 grpo-np2; do
  if [ -f "$work/run/$r/plots/training_dynamics.png" ]; then
    cp "$work/run/$r/plots/training_dynamics.png" "$work/run/$r/plots/devices.png" "$OUT/" 2>/dev/null
    break
  fi
done
if [ ! -x "$kitbin/report" ]; then say "no $kitbin/report, so no report: run make gpu-kit on the build machine"
else "$kitbin/report" gpu --work "$work" --out "$OUT" --mode "$mode" --seconds "$(elapsed)" || say "the report failed"; fi
fails=$(grep -c '"status": "\(fail\|timeout\)"' "$steps" || true)
say "done in $(elapsed)s: $(grep -c '"status": "pass"' "$steps" || true) passed, $fails failed, $(grep -c '"status": "skip"' "$steps" || true) skipped"
[ "$fails" = 0 ]
