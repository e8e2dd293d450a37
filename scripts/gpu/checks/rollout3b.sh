#!/usr/bin/env bash
# rollout3b.sh: a registered check of the GPU kit's run (scripts/gpu/run.sh runs every
# scripts/gpu/checks/*.sh from the repository root): the rollout of issue 22. The GRPO rollout of the
# Qwen2.5-VL-3B shape (bench/torch/qwen2_5_vl_3b, random weights) in bfloat16, B = 8 images of 448
# px x G = 8 samples of exactly 64 tokens (min = max new tokens: equal work):
#   1. the twin (bench/torch/rollout3b.py) makes the weights on the GPU with transformers, saves them,
#      and times transformers.generate (one prefill and vision pass per row, generate's cache);
#   2. the Go side (bench/rolloutbench: qwenvl's Sample, one prefill per image, sampling on the
#      device, the preallocated cache) times the same rollout on the same weights.
# Reports rollout tokens/s of both, their ratio (target >= 2) and the fraction of the device's
# peak memory bandwidth a Go decode step achieves reading the language model's weights once
# (target >= 0.5; the peak from the GPU's name: H100 SXM 3350 GB/s, H100 PCIe 2000, H200 4800).
# Without CUDA (make gpu-rehearse): the twin is compiled only, and the Go side runs on the CPU with
# the tiny Qwen2.5-VL fixture (float32, B = 2 x G = 2, 4 tokens), then exit 77 (skipped).
# gpu-run: order=25 limit=240
set -uo pipefail
: "${GPU_RUN_BIN:?GPU_RUN_BIN must name the built binaries}"
checks=${GPU_RUN_CHECKS:-${GPU_RUN_OUT:?GPU_RUN_CHECKS or GPU_RUN_OUT must name a folder}}
work=${GPU_RUN_WORK:-/tmp/unigrpo-gpu-run}
dir=$work/rollout3b
py=${PYTHON:-python3}
bench=$GPU_RUN_BIN/rolloutbench
rm -rf "$dir"
mkdir -p "$dir" "$checks"
trap 'rm -rf "$dir/model"' EXIT
lines=$dir/lines
: >"$lines"
say() { echo "rollout3b: $*" | tee -a "$lines"; }
result() { # STATUS
  "$py" scripts/gpu/check-result.py --out "$checks/rollout3b.json" --check rollout3b --status "$1" --lines "$lines" \
    --title "Rollout of the Qwen2.5-VL-3B shape, bfloat16, B=8 x G=8, 64 tokens: Go against transformers.generate" \
    --oracle "transformers.generate on the same weights and GPU (speed); the device's peak bandwidth (weights read per decode step)"
}
[ -x "$bench" ] || { say "FAILED: $bench is missing (scripts/gpu/run.sh builds it)"; result fail; exit 1; }

if ! { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }; then
  if ! "$py" -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
      bench/torch/rollout3b.py "$dir/rollout3b.pyc"; then say "FAILED: bench/torch/rollout3b.py does not compile"; result fail; exit 1; fi
  if "$bench" --model models/hf/testdata/transformers/qwen2_5_vl --device cpu --dtype float32 --batch 2 --group 2 \
      --new 4 --size 56 --repeat 1 >"$dir/go.jsonl" 2>"$dir/go.log"; then
    say "no CUDA device: the twin compiles; the Go side ran on the CPU with the tiny fixture: $(tail -n 1 "$dir/go.jsonl")"
    result skip; echo "rollout3b: skipped, no CUDA device"; exit 77
  fi
  say "FAILED: rolloutbench on the CPU: $(tail -n 3 "$dir/go.log")"; result fail; exit 1
fi

src=bench/torch/qwen2_5_vl_3b
mkdir -p "$dir/model"
cp "$src/config.json" "$src/preprocessor_config.json" "$dir/model/"
cp models/hf/testdata/transformers/qwen2_5_vl/tokenizer.json models/hf/testdata/transformers/qwen2_5_vl/tokenizer_config.json "$dir/model/"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 | head -1)
case $gpu in
  *H200*) bw=4800 ;;
  *H100*PCIe*) bw=2000 ;;
  *H100*) bw=3350 ;;
  *) bw=0 ;;
esac
fail=0
if ! PYTHONUNBUFFERED=1 timeout 150 "$py" bench/torch/rollout3b.py --model "$dir/model" --create --device cuda \
    >"$dir/twin.jsonl" 2>"$dir/twin.log"; then
  say "twin FAILED: $(tail -n 3 "$dir/twin.log")"; fail=1
fi
if ! ls "$dir/model"/*.safetensors >/dev/null 2>&1; then
  say "FAILED: the twin saved no weights, so the Go side cannot run"; result fail; exit 1
fi
if ! timeout 150 "$bench" --model "$dir/model" --device cuda --bandwidth "$bw" >"$dir/go.jsonl" 2>"$dir/go.log"; then
  say "Go side FAILED: $(tail -n 3 "$dir/go.log")"; fail=1
fi
GO="$dir/go.jsonl" TWIN="$dir/twin.jsonl" GPU="$gpu" "$py" - >>"$lines" <<'PY' || fail=1
import json, os
def last(p):
    try:
        return json.loads([l for l in open(p) if l.startswith("{")][-1])
    except (OSError, IndexError, ValueError):
        return None
g, t = last(os.environ["GO"]), last(os.environ["TWIN"])
for name, r in (("go", g), ("twin", t)):
    if r:
        print("%s on %s: %.0f tok/s (prefill %.3f s, decode step %.2f ms)" % (name, os.environ["GPU"], r["rollout_tok_s"], r["prefill_s"], 1e3 * r["decode_step_s"]))
if g and t:
    ratio = g["rollout_tok_s"] / t["rollout_tok_s"]
    print("ratio go/twin %.2f (target >= 2: %s)" % (ratio, "met" if ratio >= 2 else "not met"))
if g and g.get("weight_read_bw_fraction"):
    f = g["weight_read_bw_fraction"]
    print("decode step reads the %.2f GB of language-model weights at %.0f%% of the peak bandwidth (target >= 50%%: %s)"
          % (g["lm_weight_bytes"] / 1e9, 100 * f, "met" if f >= 0.5 else "not met"))
if not (g and t):
    raise SystemExit(1)
PY
cat "$lines"
if [ $fail = 1 ]; then result fail; exit 1; fi
result pass
