#!/usr/bin/env bash
# Trains the world's supervised baselines far past the demos' budget and ships them
# (make pretrain; run once, in the background, about an hour on 2 cores):
#   umm1-sft   the UMM-1 captioner                  (trainer sft)
#   umm2-vq    UMM-2's image tokenizer, the VQ-VAE  (trainer sft --unified vq)
#   umm2-sft   the unified model, from umm2-vq      (trainer sft --unified model --init umm2-vq)
# Each shipped folder ($DEST/NAME) holds the final weights (model.safetensors and its config
# files, state.json: no optimizer state), the run's metrics.jsonl and eval.json (validation
# scenes), and made.json: the exact command, the git commit it ran at, the machine, the time and
# the files' SHA-256. The same command at the same commit gives the same bytes on this machine
# (one libtorch thread a rank, a fixed seed); cmd/trainer's TestShippedBaselinesReplay reruns the
# first steps of each and compares their metrics with the shipped ones.
# The demos start from $DEST (make demo; FROM_SCRATCH=1 trains their short baselines instead).
#
#   scripts/pretrain-world.sh [umm1] [umm2]     both when none is named
# WORK (runs/pretrain): the full run folders (checkpoints with optimizer state, plots, logs).
# DEST (world/pretrained): the shipped folders. NP: ranks (2).
set -euo pipefail
cd "$(dirname "$0")/.."
me=pretrain clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
work=${WORK:-runs/pretrain}
dest=${DEST:-world/pretrained}
np=${NP:-2}
want_whole NP "$np"
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(umm1 umm2)
for w in "${which[@]}"; do
  case $w in umm1 | umm2) ;; *) usage_error "unknown baseline '$w': name umm1, umm2 or none (both)" ;; esac
done
[ -x bin/trainer ] && [ -x bin/launch ] || die "bin/trainer or bin/launch missing: run make build first"
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=false
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty=true
[ "$dirty" = false ] || say "warning: the working tree has uncommitted changes: made.json records dirty=true"
mkdir -p "$work" "$dest"

# json_list ARG...: the arguments as a JSON list of strings (they hold no quotes or backslashes).
json_list() {
  local out="" a
  for a in "$@"; do out+="${out:+, }\"$a\""; done
  echo "[$out]"
}

# ship NAME SECONDS ARG...: copies the final checkpoint of $work/NAME (weights and configs, not
# the optimizer state) with the run's metrics into $dest/NAME, atomically, and writes made.json.
ship() {
  local name=$1 secs=$2
  shift 2
  local ckpt tmp f sums=""
  ckpt=$(ls -d "$work/$name"/checkpoints/step-* | sort | tail -1)
  tmp="$dest/.$name.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for f in model.safetensors state.json config.json generation_config.json preprocessor_config.json; do
    [ ! -e "$ckpt/$f" ] || cp "$ckpt/$f" "$tmp/"
  done
  cp "$work/$name/metrics.jsonl" "$work/$name/eval.json" "$tmp/"
  for f in "$tmp"/*; do
    sums+="${sums:+, }\"$(basename "$f")\": \"$(sha256sum "$f" | cut -d' ' -f1)\""
  done
  cat >"$tmp/made.json" <<EOF
{
  "name": "$name",
  "script": "scripts/pretrain-world.sh",
  "commit": "$commit",
  "dirty": $dirty,
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "np": $np,
  "args": $(json_list "$@"),
  "checkpoint": "$(basename "$ckpt")",
  "seconds": $secs,
  "machine": "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(dpkg-query -W -f='${Package} ${Version}' libtorch1.13 2>/dev/null || echo libtorch unknown)",
  "sha256": {$sums}
}
EOF
  rm -rf "${dest:?}/$name"
  mv "$tmp" "$dest/$name"
  say "shipped $dest/$name ($(du -sh "$dest/$name" | cut -f1))"
}

# train NAME ARG...: runs `launch -np $np trainer ARG... --out $work/NAME` from scratch, then ships it.
train() {
  local name=$1 t0
  shift
  rm -rf "${work:?}/$name"
  say "$name: launch -np $np trainer $* -> $work/$name"
  t0=$(date +%s)
  bin/launch -np "$np" bin/trainer "$@" --out "$work/$name" >"$work/$name.log" 2>&1 ||
    die "$name failed: see $work/$name.log"
  ship "$name" $(($(date +%s) - t0)) "$@"
}

for w in "${which[@]}"; do
  case $w in
    umm1)
      # The demo's settings (trainer sft's defaults) for twice its steps.
      train umm1-sft sft --steps 4000 --seed 1 --eval-every 1000 --eval-scenes 200 --ckpt-every 1000 --log-every 50
      ;;
    umm2)
      # The demo's settings for about 3 and 5.5 times its steps.
      train umm2-vq sft --unified vq --steps 2000 --seed 1 --batch 32 --lr 2e-3 --warmup 20 \
        --eval-every 500 --eval-scenes 100 --ckpt-every 500 --log-every 50
      train umm2-sft sft --unified model --init "$dest/umm2-vq" --steps 3000 --seed 1 --batch 32 --lr 1e-3 --warmup 30 \
        --eval-every 500 --eval-scenes 50 --ckpt-every 500 --log-every 50
      ;;
  esac
done
say "done: $dest"
