#!/usr/bin/env bash
# bench.sh: the GPU benchmark of scripts/gpu/run.sh. GRPO steps of the Go trainer and of its
# PyTorch twin (bench/torch/grpo.py: same network, same checkpoint, same step) on the same device,
# taking turns, at two sizes:
#   world  the SFT checkpoint of the run (the default world model), B=8 G=8: small kernels, where
#          each side's cost between kernels dominates
#   wide   a language model of width WIDE_DIM (1024) and WIDE_LAYERS (8) blocks, B=16 G=8, from a
#          one-step SFT, with fixed-length rollouts (--min-len = the model's 40 tokens on both
#          sides): an untrained model's caption lengths swing with each side's own first updates
#          (seen on an H200: 0-3 tokens on one side, 40 on the other), which made the work unequal
# Each run writes metrics JSON lines; `report gpu` (bench/report) reads them (the first WARMUP steps
# left out) and computes step time, rollout tokens/s, update time and the update's FLOP utilisation.
#
# Environment: GPU_RUN_BIN (trainer, launch, rewardenv), GPU_RUN_INIT (the SFT run folder),
# GPU_RUN_BENCH (folder to write), DEVICE (cuda or cpu), WARMUP (3), STEPS (10), SIZES ("world wide"),
# ROUNDS (2: Go then the twin, then the twin then Go),
# WIDE_DIM, WIDE_LAYERS, PYTHON (the Python with torch, default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${GPU_RUN_BIN:?}; init=${GPU_RUN_INIT:?}; out=${GPU_RUN_BENCH:?}; dev=${DEVICE:-cuda}
warmup=${WARMUP:-3}; steps=${STEPS:-10}; sizes=${SIZES:-world wide}; rounds=${ROUNDS:-2}
wide_dim=${WIDE_DIM:-1024}; wide_layers=${WIDE_LAYERS:-8}; py=${PYTHON:-python3}
mkdir -p "$out"
echo "{\"warmup\": $warmup, \"device\": \"$dev\", \"wide_dim\": $wide_dim, \"wide_layers\": $wide_layers}" >"$out/settings.json"
total=$((warmup + steps))
quiet=(--eval-every 0 --eval-scenes 4 --ckpt-every 0 --keep 1 --plot-every 0 --check-every 0 --monitor-interval 0)

ckpt_of() { ls -d "$1"/checkpoints/step-* | sort | tail -n 1; }

for size in $sizes; do
  case $size in
    world) run=$init; B=8; G=8; fixed=() ;;
    wide)
      run=$out/wide-sft; B=16; G=8; fixed=(--min-len 40)
      "$bin/trainer" sft --device "$dev" --steps 1 --batch 8 --captions 2 --dim "$wide_dim" --layers "$wide_layers" \
        --heads 16 --out "$run" --eval-every 0 --eval-scenes 4 --monitor-interval 0 --log-every 1 >"$out/wide-sft.log" 2>&1 ||
        { tail -n 5 "$out/wide-sft.log"; exit 1; } ;;
    *) echo "gpu-bench: unknown size $size" >&2; exit 2 ;;
  esac
  ckpt=$(ckpt_of "$run")
  for r in $(seq 1 "$rounds"); do
    go_run() {
      rm -rf "$out/$size-go-$r"
      "$bin/trainer" train --device "$dev" --init "$ckpt" --out "$out/$size-go-$r" --steps "$total" \
        --batch $B --group $G --threads 1 --log-every "$total" "${quiet[@]}" "${fixed[@]}"
    }
    torch_run() {
      "$py" bench/torch/grpo.py --device "$dev" --init "$ckpt/model.safetensors" --env "$bin/rewardenv" \
        --out "$out/$size-torch-$r.jsonl" --steps "$total" --batch $B --group $G --threads 1 "${fixed[@]}"
    }
    if [ $((r % 2)) = 1 ]; then go_run; torch_run; else torch_run; go_run; fi
    echo "gpu-bench: $size round $r done"
  done
done
