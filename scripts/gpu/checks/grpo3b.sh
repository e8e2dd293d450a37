#!/usr/bin/env bash
# grpo3b.sh: a registered check of the GPU kit's run (scripts/gpu/run.sh runs every
# scripts/gpu/checks/*.sh from the repository root): the issue's GPU benchmark. A GRPO step of the
# Qwen2.5-VL-3B shape (bench/torch/qwen2_5_vl_3b/config.json: hidden 2048, 36 layers, 16 heads, 2
# key/value heads, intermediate 11008, vocabulary 151,936, tied embeddings; vision depth 32, width
# 1280, 16 heads, intermediate 3420, out 2048, patch 14, merge 2; the tiny fixture's tokenizer, whose
# special ids the config names) with random weights, one rank, bfloat16 mixed precision (float32
# masters), B = 4 images (448 px: 256 image tokens each) x G = 8 captions of exactly 64 tokens
# (--min-len = --max-len, so both sides do equal work), activation checkpointing, micro-batches of
# 8 when the trainer has --micro-batch, --beta 0.2 (0 on a GPU under 100 GiB, where the reference's
# copy would not fit beside the rest):
#   1. the PyTorch twin (bench/torch/grpo3b.py) makes the random weights on the GPU with
#      transformers, saves them as safetensors in the scratch folder, and times its steps;
#   2. the Go trainer trains from that folder (stopped once its steps are logged: the final
#      checkpoint of 3B weights, masters and moments would take ~45 GB of disk and a minute).
# Both sides' device memory is read by the same instrument, nvidia-smi's memory.used (NVML) every
# 100 ms, device-wide: the Go trainer cannot read libtorch's allocator statistics, so the peak
# compared is the device's, less the reading before the side started. The twin also records
# torch.cuda.max_memory_allocated. `report gpu` (bench/report) reads $GPU_RUN_WORK/bench3b/ and
# gives the verdicts: peak memory at most the twin's, and the step time without the reward at most
# the twin's (the Go side's reward is the world's renderer and colour embedder on the CPU, the
# twin's random numbers), each only when both sides sampled 64 tokens for every caption.
# Without CUDA (make gpu-rehearse) it compiles the twin, runs the Go half on the CPU with the tiny
# Qwen2.5-VL fixture and the same flags, and exits 77 (skipped).
# Environment: GRPO3B_STEPS (3: one warm-up step, then the timed ones), GRPO3B_BETA (overrides the
# choice above), PYTHON (the Python with torch and transformers; python3).
# gpu-run: order=20 limit=300
set -uo pipefail
: "${GPU_RUN_BIN:?GPU_RUN_BIN must name the built binaries}"
work=${GPU_RUN_WORK:-/tmp/unigrpo-gpu-run}
dir=$work/bench3b
trainer=$GPU_RUN_BIN/trainer
py=${PYTHON:-python3}
B=4 G=8 T=64 micro=8 steps=${GRPO3B_STEPS:-3}
rm -rf "$dir"
mkdir -p "$dir/images"
trap 'rm -rf "$dir/model"; [ -n "${mem_pid:-}" ] && kill "$mem_pid" 2>/dev/null' EXIT
notes=()
say() { echo "grpo3b: $*"; }
t_start=$(date +%s)

cuda=0
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && cuda=1
if [ $cuda = 1 ]; then
  device=cuda size=448 model_src=bench/torch/qwen2_5_vl_3b
  gpu_index=${CUDA_VISIBLE_DEVICES:-0}; gpu_index=${gpu_index%%,*}
  gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i "$gpu_index" | head -1)
  gpu_total=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits -i "$gpu_index" | head -1)
  beta=0.2
  [[ $gpu_total =~ ^[0-9]+$ ]] || gpu_total=0
  if [ "$gpu_total" -lt 102400 ]; then
    beta=0
    notes+=("--beta 0 on both sides: this GPU has ${gpu_total} MiB, and the KL reference's second copy of the weights (7 GiB) would not fit beside the float32 masters, moments and gradients (name nvidia-h200 for --beta 0.2)")
  fi
  beta=${GRPO3B_BETA:-$beta}
  missing=$("$py" -c 'import importlib.util as u; print(" ".join(m for m in ("torch", "transformers", "tokenizers", "PIL", "safetensors") if u.find_spec(m) is None))' 2>&1)
  if [ -n "$missing" ]; then say "skipped: $py lacks $missing (the twin needs them)"; exit 77; fi
else
  # The rehearsal: the Go half at the tiny fixture's size on the CPU, the twin compiled only.
  device=cpu size=64 T=8 model_src="" gpu_name="" gpu_total=0 beta=${GRPO3B_BETA:-0.2}
  if ! "$py" -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
      bench/torch/grpo3b.py "$dir/grpo3b.pyc"; then say "FAILED: bench/torch/grpo3b.py does not compile"; exit 1; fi
  say "no CUDA device: bench/torch/grpo3b.py compiles; the Go half runs on the CPU with the tiny Qwen2.5-VL fixture"
fi

help=$("$trainer" train --help 2>&1)
knobs=(--activation-checkpointing)
if grep -q -- '--micro-batch' <<<"$help"; then knobs+=(--micro-batch "$micro")
else
  micro=0
  notes+=("micro-batches not built yet (trainer train has no --micro-batch): both sides run the update over all $((B * G)) sequences at once")
  say "${notes[-1]}"
fi
# The plan check (trainer plan) refuses a run it finds over budget; its activation and runtime
# figures are estimates, and this benchmark measures, so it runs anyway. The plan is recorded.
go_knobs=("${knobs[@]}")
grep -q -- '--no-plan-check' <<<"$help" && go_knobs+=(--no-plan-check)

# The source images: B random RGB squares (their content does not change the work).
"$py" - "$dir/images" "$B" "$size" <<'PY' || { say "FAILED: could not write the images (Pillow and numpy needed)"; exit 1; }
import os, sys
import numpy as np
from PIL import Image
d, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = np.random.default_rng(1)
for i in range(n):
    Image.fromarray(r.integers(0, 256, (s, s, 3), dtype=np.uint8)).save(os.path.join(d, "image%d.png" % i))
PY

mem_pid=""
mem_start() { # FILE: the reading now, then one every 100 ms until mem_stop
  [ $cuda = 1 ] || return 0
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu_index" >"$1"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu_index" -lms 100 >>"$1" 2>/dev/null &
  mem_pid=$!
}
mem_stop() { [ -n "$mem_pid" ] && kill "$mem_pid" 2>/dev/null; wait "$mem_pid" 2>/dev/null; mem_pid=""; }

fail=0
# --- 1. the PyTorch twin, which makes the weights ------------------------------------------------
if [ $cuda = 1 ]; then
  mkdir -p "$dir/model"
  cp "$model_src/config.json" "$model_src/preprocessor_config.json" "$dir/model/"
  cp models/hf/testdata/transformers/qwen2_5_vl/tokenizer.json models/hf/testdata/transformers/qwen2_5_vl/tokenizer_config.json "$dir/model/"
  s=$(date +%s)
  mem_start "$dir/torch-mem.txt"
  PYTHONUNBUFFERED=1 timeout 170 "$py" bench/torch/grpo3b.py --model "$dir/model" --create --images "$dir/images" \
    --out "$dir/torch.jsonl" --summary "$dir/torch-summary.json" --batch $B --group $G --new-tokens $T --steps "$steps" \
    --beta "$beta" --micro-batch "$micro" --device cuda >"$dir/torch.log" 2>&1
  rc=$?
  mem_stop
  grep -v '^\s*$' "$dir/torch.log" | tail -n 12
  if [ $rc != 0 ] || [ ! -f "$dir/torch.jsonl" ]; then
    say "FAILED: the PyTorch twin exited $rc after $(( $(date +%s) - s ))s (log above)"; fail=1
  else say "the twin ran in $(( $(date +%s) - s ))s"; fi
  init=$dir/model
  if ! ls "$init"/*.safetensors >/dev/null 2>&1; then
    say "FAILED: the twin saved no weights, so the Go side cannot run"; exit 1
  fi
else
  init=models/hf/testdata/transformers/qwen2_5_vl
fi

# --- 2. the Go trainer ----------------------------------------------------------------------------
if grep -q 'unknown command' <<<"$("$trainer" plan --help 2>&1)"; then
  say "trainer plan: not built yet"
else
  "$trainer" plan --init "$init" --np 1 --dtype bfloat16 -B $B -G $G --max-len $T --beta "$beta" --image-size "$size" \
    --device "$device" "${knobs[@]}" >"$dir/plan.txt" 2>&1 || say "trainer plan exited $? (kept in plan.txt)"
fi
args=(train --init "$init" --out "$dir/go" --images "$dir/images" --images-held-out 0 --image-size "$size" --steps "$steps"
  --batch $B --group $G --min-len $T --max-len $T --dtype bfloat16 --beta "$beta" --device "$device" --reward colour
  --eval-scenes 0 --eval-every 0 --ckpt-every 0 --keep 1 --log-every 1 --plot-every 0 --check-every 0 --monitor-interval 0.5
  "${go_knobs[@]}")
say "trainer ${args[*]}"
s=$(date +%s)
go_limit=$(( 290 - (s - t_start) )); [ $go_limit -lt 60 ] && go_limit=60
mem_start "$dir/go-mem.txt"
"$trainer" "${args[@]}" >"$dir/go.log" 2>&1 &
pid=$!
logged=0 stopped=0
while kill -0 "$pid" 2>/dev/null; do
  logged=$(grep -c '"step_time"' "$dir/go/metrics.jsonl" 2>/dev/null || true)
  if [ "${logged:-0}" -ge "$steps" ]; then kill "$pid" 2>/dev/null; stopped=1; break; fi
  if [ $(( $(date +%s) - s )) -gt "$go_limit" ]; then kill "$pid" 2>/dev/null; say "FAILED: the Go run took over ${go_limit}s"; fail=1; break; fi
  sleep 0.2
done
wait "$pid"; rc=$?
mem_stop
grep -v '^\s*$' "$dir/go.log" | tail -n 8
logged=$(grep -c '"step_time"' "$dir/go/metrics.jsonl" 2>/dev/null || true)
if [ "${logged:-0}" -lt "$steps" ]; then
  say "FAILED: the Go run logged ${logged:-0} of $steps steps (exit $rc; log above)"; fail=1
else
  say "the Go run logged its $steps steps in $(( $(date +%s) - s ))s$([ $stopped = 1 ] && echo ', then was stopped before its final checkpoint')"
fi
rm -rf "$dir/go/checkpoints"

# --- settings, for the report ---------------------------------------------------------------------
"$py" - "$dir/settings.json" "${notes[@]}" <<PY
import json, sys
notes = sys.argv[2:]
json.dump({"device": "$device", "model": "Qwen2.5-VL-3B shape, random weights (bench/torch/qwen2_5_vl_3b)" if "$device" == "cuda"
           else "the tiny Qwen2.5-VL fixture (a rehearsal on the CPU)", "batch": $B, "group": $G, "new_tokens": $T,
           "steps": $steps, "warmup": 1, "beta": float("$beta"), "micro_batch": $micro, "activation_checkpointing": True,
           "dtype": "bfloat16", "image_size": $size, "gpu": "$gpu_name", "gpu_mem_total_mib": float("${gpu_total:-0}" or 0),
           "memory": "nvidia-smi memory.used (NVML), device-wide, every 100 ms; the first reading is before the side starts",
           "reward": "Go: the world's renderer and colour embedder on the CPU; twin: random numbers (compared without it)",
           "notes": notes}, open(sys.argv[1], "w"), indent=1)
PY
if [ $cuda = 0 ]; then
  [ $fail = 0 ] || exit 1
  say "skipped: no CUDA device (rehearsed: the twin compiles, the Go half ran $steps steps on the CPU)"
  exit 77
fi
[ $fail = 0 ] && say "passed: both sides measured (the verdicts are in the report)"
exit $fail
