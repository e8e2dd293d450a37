#!/usr/bin/env bash
# nccl-shard.sh: a registered GPU-host check (scripts/gpu/run.sh runs every scripts/gpu/checks/*.sh
# from the repository root). The sharded optimizer (ZeRO-1, --shard-optimizer) on a GPU:
#   1. NCCL's reduce-scatter and all-gather on device memory: the nccl package's
#      TestRealReduceScatterAllGather (prebuilt in the kit as nccl.test), one rank per
#      visible GPU: a world of 1 on a one-GPU host, since NCCL refuses two ranks on one device.
#      Oracle: hand-computed sums, exact.
#   2. Sharded equals replicated through the trainer's device optimizer on the GPU: launch -np 2
#      trainer train with both ranks on the one GPU (--share-gpus; gradients reduce-scattered
#      through host memory and the CPU ring, --grad-sync ring), the tiny Qwen2 fixture, 4 steps
#      with warmup, weight decay and the clip active, in float32 and in bfloat16 (float32
#      masters), --shard-optimizer against --shard-optimizer=false. Oracle: the replicated run;
#      the metrics and the final checkpoint (weights, masters, moments) must be equal bit for bit
#      (scripts/gpu/compare-runs.py).
# Without a GPU (make gpu-rehearse) part 1 runs and skips, and part 2 runs on the CPU with the
# device optimizer there (--optimizer device); the check then exits 77 (skipped) once part 2 passed.
# Its result goes to $GPU_RUN_CHECKS/nccl-shard.json (the report's section), its runs' logs to the
# step's log.
# gpu-run: order=10 limit=150
set -uo pipefail
: "${GPU_RUN_BIN:?GPU_RUN_BIN must name the built binaries}"
checks=${GPU_RUN_CHECKS:-${GPU_RUN_OUT:?GPU_RUN_CHECKS or GPU_RUN_OUT must name a folder}}
py=python3
trainer=$GPU_RUN_BIN/trainer
fix=models/hf/testdata/transformers/qwen2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lines=$tmp/lines.txt
: >"$lines"
note() { echo "$*" | tee -a "$lines"; }
cuda=0
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && cuda=1
fail=0

# --- 1. NCCL on device memory ---------------------------------------------------------------------
t=$GPU_RUN_BIN/nccl.test
if [ ! -x "$t" ]; then
  note "FAIL nccl: no $t (the kit carries it prebuilt: make gpu-kit)"; fail=1
elif [ $cuda = 1 ]; then
  if out=$(UNIGRPO_NCCL_REAL=1 "$t" -test.run '^TestRealReduceScatterAllGather$' -test.v -test.count=1 2>&1); then
    note "pass nccl reduce-scatter and all-gather on the GPU: $(grep -o 'NCCL [0-9.]* (.*' <<<"$out" | tail -1)"
  else
    echo "$out" | tail -n 20
    note "FAIL nccl reduce-scatter and all-gather on the GPU: $(grep -v '^\s*$' <<<"$out" | grep -v '^\(FAIL\|PASS\|---\)' | tail -1 | cut -c1-300)"
    fail=1
  fi
else
  out=$("$t" -test.run '^TestRealReduceScatterAllGather$' -test.v -test.count=1 2>&1)
  if grep -q -- '--- SKIP' <<<"$out"; then
    note "skip nccl reduce-scatter and all-gather: no CUDA device here (the test ran and skipped)"
  else
    echo "$out" | tail -n 20
    note "FAIL nccl test without CUDA: it neither skipped nor passed"; fail=1
  fi
fi

# --- 2. sharded against replicated ----------------------------------------------------------------
common=(--init "$fix" --steps 4 --batch 4 --group 4 --max-len 8 --lr 1e-3 --warmup 2 --weight-decay 0.1 --clip 0.5
  --seed 1 --eval-scenes 0 --log-every 1 --ckpt-every 0 --plot-every 0 --check-every 2 --monitor-interval 0)
if [ $cuda = 1 ]; then place=(--device cuda --share-gpus --grad-sync ring); where="2 ranks on one GPU, CPU ring"
else place=(--device cpu --optimizer device); where="2 ranks on the CPU, device optimizer (no CUDA here)"; fi
for dtype in float32 bfloat16; do
  for shard in true false; do
    run=$tmp/$dtype-$shard
    if ! "$GPU_RUN_BIN/launch" -np 2 "$trainer" train "${common[@]}" "${place[@]}" --dtype "$dtype" --shard-optimizer=$shard \
        --out "$run" >"$run.log" 2>&1; then
      tail -n 15 "$run.log"
      note "FAIL $dtype --shard-optimizer=$shard: the run failed ($(grep -v '^\s*$' "$run.log" | tail -1 | cut -c1-200))"
      fail=1; continue 2
    fi
    grep 'train: done' "$run.log" | tail -1
  done
  # The run log names the optimizer's placement: the sharded path must be the one that ran.
  if ! grep -q 'sharded over 2 ranks' "$tmp/$dtype-true.log" || grep -q 'sharded over' "$tmp/$dtype-false.log"; then
    note "FAIL $dtype: the run logs do not show one sharded and one replicated optimizer"; fail=1; continue
  fi
  # weights_crc is not comparable between the two in mixed precision: a replicated rank sums its
  # float32 masters, a sharded one the bfloat16 weights (trainer/deviceopt_state.go, params); the
  # checkpoints below compare the weights and the masters themselves.
  ignore=(); [ $dtype = bfloat16 ] && ignore=(--ignore weights_crc)
  if cmp=$($py scripts/gpu/compare-runs.py "$tmp/$dtype-true" "$tmp/$dtype-false" "${ignore[@]}" 2>&1); then
    note "pass $dtype, $where: sharded equals replicated; $(paste -sd';' <<<"$cmp" | sed 's/;/; /g')"
  else
    echo "$cmp"
    note "FAIL $dtype, $where: sharded differs from replicated; $(paste -sd';' <<<"$cmp" | sed 's/;/; /g' | cut -c1-600)"
    fail=1
  fi
  grep -h -o 'AdamW state [^;]*' "$tmp/$dtype-true.log" | tail -1 | sed "s/^/  $dtype sharded run: /" | tee -a "$lines"
done

status=pass rc=0
if [ $fail = 1 ]; then status=fail rc=1
elif [ $cuda = 0 ]; then status=skip rc=77; fi
$py scripts/gpu/check-result.py --out "$checks/nccl-shard.json" --check nccl-shard --status $status --lines "$lines" \
  --title "Sharded optimizer (ZeRO-1): NCCL reduce-scatter and all-gather, sharded against replicated" \
  --oracle "hand-computed sums for NCCL; the replicated run for the sharded one, equal bit for bit (metrics and checkpoint)"
case $rc in
  0) echo "nccl-shard: passed" ;;
  77) echo "nccl-shard: skipped on the GPU parts (no CUDA device); sharded equals replicated on the CPU" ;;
  *) echo "nccl-shard: FAILED (see above)" ;;
esac
exit $rc
