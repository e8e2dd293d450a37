#!/usr/bin/env bash
# hf-cuda.sh: a registered GPU-host check (scripts/gpu/run.sh runs every scripts/gpu/checks/*.sh from
# the repository root, with GPU_RUN_BIN and GPU_RUN_OUT set). The Hugging Face families on CUDA,
# against transformers' own outputs (models/hf/testdata/transformers, the oracle of their CPU tests):
#   1. trainer generate on the GPU gives transformers' greedy tokens for qwen2 and for qwen2_5_vl
#      with the fixture's image, in float32 (and runs in bfloat16);
#   2. three steps of Unified-GRPO with the tiny Qwen2.5-VL policy and a CLIP encoder in the reward,
#      on the GPU.
# Writes $GPU_RUN_OUT/hf-cuda.txt. Exit 77 (skipped) without a CUDA device.
set -euo pipefail
: "${GPU_RUN_BIN:?}" "${GPU_RUN_OUT:?}"
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || { echo "hf-cuda: skipped, no CUDA device"; exit 77; }
fix=models/hf/testdata/transformers
tr=$GPU_RUN_BIN/trainer
out=$GPU_RUN_OUT/hf-cuda.txt
mkdir -p "$GPU_RUN_OUT"
: >"$out"
fail=0
expect() { # expect NAME WANT CMD...: runs CMD, compares its last line with WANT
  local name=$1 want=$2; shift 2
  local got
  if got=$("$@" 2>>"$out" | tail -1) && [ "$got" = "$want" ]; then
    echo "pass $name: $got" | tee -a "$out"
  else
    echo "FAIL $name: got '$got', want '$want'" | tee -a "$out"
    fail=1
  fi
}
want_lm=$(python3 -c 'import json; print(json.dumps(json.load(open("'$fix'/qwen2/expected.json"))["generation"]["generate"][1], separators=(",", ":")))')
prompt_lm=$(python3 -c 'import json; print(json.load(open("'$fix'/qwen2/expected.json"))["inputs"]["row_texts"][1])')
expect "qwen2 generate float32 on cuda" "$want_lm" "$tr" generate --policy "hf:$fix/qwen2" --prompt "$prompt_lm" --max-new 8 --ids --device cuda
expect "qwen2_5_vl generate --image float32 on cuda" "[64,220,341,268,94,64]" \
  "$tr" generate --policy "hf:$fix/qwen2_5_vl" --image "$fix/qwen2_5_vl/image.png" --prompt "What is in the picture?" --max-new 6 --ids --device cuda
if "$tr" generate --policy "hf:$fix/qwen2" --prompt "$prompt_lm" --max-new 8 --ids --device cuda --dtype bfloat16 >>"$out" 2>&1; then
  echo "pass qwen2 generate bfloat16 on cuda (ran)" | tee -a "$out"
else
  echo "FAIL qwen2 generate bfloat16 on cuda" | tee -a "$out"; fail=1
fi
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
if "$tr" train --init "$fix/qwen2_5_vl" --out "$run/vl" --steps 3 --batch 2 --group 2 --max-len 12 --eval-scenes 2 \
    --reward "conv,clip=$fix/clip_vision" --device cuda --log-every 1 --monitor-interval 0 >>"$out" 2>&1; then
  echo "pass qwen2_5_vl GRPO 3 steps on cuda" | tee -a "$out"
  tail -3 "$run/vl/metrics.jsonl" >>"$out"
else
  echo "FAIL qwen2_5_vl GRPO on cuda (log above)" | tee -a "$out"; fail=1
fi
exit $fail
