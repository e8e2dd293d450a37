#!/usr/bin/env bash
# LoRA against full fine-tuning on one CPU rank with a Qwen2-0.5B-shaped model (bench/lmbench init:
# LORA_LAYERS of its 24 layers, hidden 896, vocabulary 151,936, random weights, float32): GRPO for
# LORA_STEPS steps (and the final checkpoint) of B=1 image x G=4 fixed-length captions
# (--min-len = --max-len = LORA_LEN), with the KL term (--beta 0.04: full fine-tuning loads a
# reference copy, LoRA uses the policy with its adapters off), the host optimizer, one thread,
# --activation-checkpointing, once per configuration:
#   full   every weight trains
#   lora   --lora-rank 16 on q_proj,k_proj,v_proj,o_proj (alpha 32), the base frozen
# For each: the optimizer state written to the final checkpoint (optimizer.safetensors: AdamW
# moments, and the float32 masters of a mixed run), the peak resident set (/usr/bin/time) and the
# mean step time (steps after the first). The table holds LoRA over full for each: targets state
# under 0.02 and peak under 0.6; the step time is reported as it is.
#
# Usage: scripts/bench/lora.sh RUN_FOLDER
# Writes RUN_FOLDER/lora-LLAYERS.md (the table) and lora-LLAYERS.json, logs in RUN_FOLDER/logs/,
# the runs in RUN_FOLDER/lora-LLAYERS/; the model is written once into RUN_FOLDER/lora-LLAYERS/model
# and reused.
#
# Settings (environment): LORA_LAYERS=12, LORA_STEPS=3, LORA_LEN=16.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench-lora clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ $# -eq 1 ] || usage_error "usage: scripts/bench/lora.sh RUN_FOLDER"
run=$1
layers=${LORA_LAYERS:-12}
steps=${LORA_STEPS:-3}
len=${LORA_LEN:-16}
want_whole LORA_LAYERS "$layers" LORA_STEPS "$steps" LORA_LEN "$len"
[ "$steps" -ge 2 ] && [ "$len" -ge 1 ] || usage_error "LORA_STEPS must be at least 2 (the first step is left out) and LORA_LEN at least 1"
[ -x bin/trainer ] || die "bin/trainer is missing: run make build"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
one_thread
tag=L$layers
z=$run/lora-$tag
mkdir -p "$run/logs" "$z"

phase "lora: build"
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
logged lora-build go build -o "$tools/" ./bench/lmbench
model=$z/model
if [ ! -f "$model/model.safetensors" ]; then
  logged "lora-$tag-init" "$tools/lmbench" init --out "$model" --layers "$layers"
fi
# A text policy needs a tokenizer (ids < 384; captions' other ids are left out of their text).
cp models/hf/testdata/transformers/qwen2/tokenizer.json models/hf/testdata/transformers/qwen2/tokenizer_config.json "$model/"

knobs() {
  case $1 in
    full) ;;
    lora) echo "--lora-rank 16 --lora-targets q_proj,k_proj,v_proj,o_proj" ;;
  esac
}
shape=(--batch 1 --group 4 --max-len "$len" --beta 0.04 --optimizer host --device cpu --activation-checkpointing)

for c in full lora; do
  phase "lora: $c, $layers layers, 1 rank, B=1 G=4, $len tokens, $steps steps"
  out=$z/run-$c
  rm -rf "$out" "$z/time-$c.json"
  # shellcheck disable=SC2046
  /usr/bin/time -f '{"wall_s":%e,"max_rss_kb":%M}' -o "$z/time-$c.json" \
    bin/trainer train --init "$model" --out "$out" --steps "$steps" "${shape[@]}" $(knobs "$c") \
    --min-len "$len" --eval-scenes 0 --log-every 1 --threads 1 --plot-every 0 --monitor-interval 0 --ckpt-every 0 \
    >"$run/logs/lora-$tag-$c.log" 2>&1 || die "lora-$tag-$c failed (log: $run/logs/lora-$tag-$c.log)"
done

phase "lora: table"
RUN="$run" TAG="$tag" python3 - <<'PY'
import glob, json, os
run, tag = os.environ["RUN"], os.environ["TAG"]
d = os.path.join(run, "lora-" + tag)
rows = {}
for c in ("full", "lora"):
    out = os.path.join(d, "run-" + c)
    recs = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl")) if l.strip()]
    opt = sorted(glob.glob(os.path.join(out, "checkpoints", "step-*", "optimizer.safetensors")))[-1]
    times = [r["step_time"] for r in recs]
    rows[c] = dict(config=c, state_bytes=os.path.getsize(opt),
                   peak_rss_bytes=json.load(open(os.path.join(d, "time-%s.json" % c)))["max_rss_kb"] * 1024,
                   step_s=sum(times[1:]) / (len(times) - 1), step_times=times, kl_last=recs[-1].get("kl"))
f, l = rows["full"], rows["lora"]
ratio = dict(state=l["state_bytes"] / f["state_bytes"], peak=l["peak_rss_bytes"] / f["peak_rss_bytes"], step=l["step_s"] / f["step_s"])
mib, gib = 2 ** 20, 2 ** 30
lines = ["| configuration | optimizer state | peak RSS | step s (after the first) | kl at the last step |",
         "|---|---:|---:|---:|---:|"]
for r in (f, l):
    lines.append("| %s | %.1f MiB | %.2f GiB | %.1f | %.3g |" % (r["config"], r["state_bytes"] / mib, r["peak_rss_bytes"] / gib, r["step_s"], r["kl_last"] or 0))
lines.append("| **lora / full** | **%.4f** (target < 0.02) | **%.2f** (target < 0.6) | **%.2f** | |" % (ratio["state"], ratio["peak"], ratio["step"]))
open(os.path.join(run, "lora-%s.md" % tag), "w").write("\n".join(lines) + "\n")
tmp = os.path.join(run, "lora-%s.json.tmp" % tag)
json.dump(dict(rows=[f, l], lora_over_full=ratio), open(tmp, "w"), indent=1)
os.replace(tmp, os.path.join(run, "lora-%s.json" % tag))
print("\n".join(lines))
PY
