#!/usr/bin/env bash
# UMM-1, the main job, on the embedded default world, on two CPU ranks (make demo):
#   1. the supervised baseline, which describes scenes only in part: the shipped one,
#      world/pretrained/umm1-sft (made by make pretrain), or with FROM_SCRATCH=1 a short one
#      trained here (launch -np 2 trainer sft, SFT_STEPS)
#   2. Unified-GRPO from it: reconstruction reward, no length term (launch -np 2 trainer train)
#   3. Unified-Bench on the benchmark's scenes: baseline vs trained vs the oracle and empty
#      captions, with 95% bootstrap intervals and paired differences (trainer eval)
# Training evaluates on the validation scenes (--val-seed); only step 3 sees the benchmark's.
# Set RUN=folder to keep several demos; GRPO_STEPS shortens or lengthens it; SEED is the
# training seed (scripts/demo/seeds.sh runs several); GRPO_FLAGS adds flags to trainer train.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=demo clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
run=${RUN:-runs/demo}
np=${NP:-2}
sft_steps=${SFT_STEPS:-2000}
grpo_steps=${GRPO_STEPS:-300}
seed=${SEED:-1}
scratch=${FROM_SCRATCH:-0}
want_whole NP "$np" SFT_STEPS "$sft_steps" GRPO_STEPS "$grpo_steps" SEED "$seed" FROM_SCRATCH "$scratch"
# shellcheck disable=SC2206 # GRPO_FLAGS is split into words on purpose
extra=(${GRPO_FLAGS:-})
mkdir -p "$run"
rm -rf "$run/sft" "$run/grpo" "$run/bench"

base=world/pretrained/umm1-sft
if [ "$scratch" = 1 ]; then
  say "1/3 supervised baseline: $sft_steps steps on $np ranks -> $run/sft"
  bin/launch -np "$np" bin/trainer sft --out "$run/sft" --steps "$sft_steps" --seed "$seed" --log-every 250
  base=$run/sft
else
  [ -f "$base/model.safetensors" ] || die "$base is missing: make pretrain ships it (or FROM_SCRATCH=1 trains a short baseline)"
  say "1/3 supervised baseline: the shipped $base ($(sed -n 's/.*"args": \[\(.*\)\],/\1/p' "$base/made.json" | tr -d '",'))"
fi

say "2/3 Unified-GRPO: $grpo_steps steps on $np ranks -> $run/grpo"
bin/launch -np "$np" bin/trainer train --init "$base" --out "$run/grpo" --steps "$grpo_steps" --seed "$seed" --log-every 25 "${extra[@]}"

say "3/3 Unified-Bench on the benchmark's held-out scenes -> $run/bench"
bin/trainer eval --ckpt "baseline=$base" --ckpt "unified-grpo=$run/grpo" --scenes 200 --out "$run/bench" >/dev/null
cat "$run/bench/unibench.md"
echo
say "done. Pictures:"
for f in "$run/grpo/plots/training_dynamics.png" "$run/grpo/plots/training_sheet.png" "$run/bench/examples.png"; do
  echo "  $f"
done
