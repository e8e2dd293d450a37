#!/usr/bin/env bash
# The unified model (UMM-2, Janus layout) in the world (make demo UMM=2):
#   1-2. the shipped supervised model, world/pretrained/umm2-sft (made by make pretrain), or with
#        FROM_SCRATCH=1 short ones trained here:
#   1. its image tokenizer: the VQ-VAE on the world's renders       (trainer sft --unified vq)
#   2. the supervised stage: caption, answer questions, draw          (trainer sft --unified model)
#   3. Unified-GRPO: caption, redraw with itself, reward the cosine,  (trainer train --joint)
#      the objective over both the caption and the drawn codes
#   4. Unified-Bench on the benchmark's scenes: SFT vs GRPO, with question answering and
#      drawing, 95% bootstrap intervals and paired differences (trainer eval)
# Training evaluates on the validation scenes (--val-seed); only step 4 sees the benchmark's.
# Set RUN=folder to keep several; GRPO_STEPS (and with FROM_SCRATCH=1 VQ_STEPS, SFT_STEPS)
# shorten or lengthen it; SEED is the training seed (scripts/demo/seeds.sh runs several);
# GRPO_FLAGS adds flags to trainer train.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=demo-umm2 clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
run=${RUN:-runs/demo-umm2}
np=${NP:-2}
vq_steps=${VQ_STEPS:-600}
sft_steps=${SFT_STEPS:-550}
grpo_steps=${GRPO_STEPS:-60}
seed=${SEED:-1}
scratch=${FROM_SCRATCH:-0}
want_whole NP "$np" VQ_STEPS "$vq_steps" SFT_STEPS "$sft_steps" GRPO_STEPS "$grpo_steps" SEED "$seed" FROM_SCRATCH "$scratch"
# shellcheck disable=SC2206 # GRPO_FLAGS is split into words on purpose
extra=(${GRPO_FLAGS:-})
mkdir -p "$run"
rm -rf "$run/vq" "$run/sft" "$run/grpo" "$run/bench"

base=world/pretrained/umm2-sft
if [ "$scratch" = 1 ]; then
  say "1/4 image tokenizer (VQ-VAE): $vq_steps steps on $np ranks -> $run/vq"
  bin/launch -np "$np" bin/trainer sft --unified vq --out "$run/vq" --steps "$vq_steps" --seed "$seed" --batch 32 --lr 2e-3 \
    --warmup 20 --eval-every "$vq_steps" --eval-scenes 100 --log-every 100

  say "2/4 supervised stage (caption, answer, draw): $sft_steps steps on $np ranks -> $run/sft"
  bin/launch -np "$np" bin/trainer sft --unified model --init "$run/vq" --out "$run/sft" --steps "$sft_steps" --seed "$seed" \
    --batch 32 --lr 1e-3 --warmup 30 --eval-every "$sft_steps" --eval-scenes 50 --log-every 100
  base=$run/sft
else
  [ -f "$base/model.safetensors" ] || die "$base is missing: make pretrain ships it (or FROM_SCRATCH=1 trains short baselines)"
  say "1-2/4 image tokenizer and supervised stage: the shipped world/pretrained/umm2-vq and $base"
fi

say "3/4 Unified-GRPO, joint over captions and drawings: $grpo_steps steps on $np ranks -> $run/grpo"
bin/launch -np "$np" bin/trainer train --init "$base" --out "$run/grpo" --steps "$grpo_steps" --seed "$seed" \
  --lr 1e-4 --joint --draw-temperature 1 --eval-every 30 --eval-scenes 50 --log-every 10 "${extra[@]}"

say "4/4 Unified-Bench on the benchmark's held-out scenes -> $run/bench"
bin/trainer eval --ckpt "sft=$base" --ckpt "unified-grpo=$run/grpo" --scenes 200 --out "$run/bench" >/dev/null
cat "$run/bench/unibench.md"
echo
say "done. Pictures:"
for f in "$run/grpo/plots/training_dynamics.png" "$run/bench/examples.png"; do
  echo "  $f"
done
