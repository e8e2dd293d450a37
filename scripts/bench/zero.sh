#!/usr/bin/env bash
# The sharded optimizer (ZeRO-1) on 2 CPU ranks with a Qwen2-0.5B-shaped model (bench/lmbench init:
# 24 layers, hidden 896, vocabulary 151,936, random weights, 494 M parameters, float32): GRPO for
# ZERO_STEPS steps of B=2 images x G=4 fixed-length captions (--min-len = --max-len = ZERO_LEN),
# no KL reference (--beta 0), the host optimizer, one thread a rank, once per configuration:
#   replicated  --shard-optimizer=false: every rank holds all the masters and moments
#   sharded     the default with several ranks: each holds its half
#   lean        sharded, --activation-checkpointing and --micro-batch 2
# For each: the peak resident set of each rank (/usr/bin/time), the mean step time (steps after the
# first), and `trainer plan`'s host peak for the same flags; the table holds peak / plan (target
# at most 1.3) and step time / replicated's (target at most 1.2).
#
# Usage: scripts/bench/zero.sh RUN_FOLDER
# Writes RUN_FOLDER/zero.md (the table) and zero.json, logs in RUN_FOLDER/logs/zero-*.log, the runs
# in RUN_FOLDER/zero/; the model (2 GB) is written once into RUN_FOLDER/zero/model and reused.
#
# Settings (environment): ZERO_STEPS=3, ZERO_LEN=32, ZERO_CONFIGS="replicated sharded lean".
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench-zero clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ $# -eq 1 ] || usage_error "usage: scripts/bench/zero.sh RUN_FOLDER"
run=$1
steps=${ZERO_STEPS:-3}
len=${ZERO_LEN:-32}
configs=${ZERO_CONFIGS:-replicated sharded lean}
want_whole ZERO_STEPS "$steps" ZERO_LEN "$len"
[ "$steps" -ge 2 ] && [ "$len" -ge 1 ] || usage_error "ZERO_STEPS must be at least 2 (the first step is left out) and ZERO_LEN at least 1"
for c in $configs; do
  case $c in replicated | sharded | lean) ;; *) usage_error "ZERO_CONFIGS: $c is not replicated, sharded or lean" ;; esac
done
[ -x bin/trainer ] && [ -x bin/launch ] || die "bin/trainer and bin/launch are missing: run make build"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
one_thread
mkdir -p "$run"/{logs,zero}

phase "zero: build"
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
logged zero-build go build -o "$tools/" ./bench/lmbench
model=$run/zero/model
if [ ! -f "$model/model.safetensors" ]; then
  logged zero-init "$tools/lmbench" init --out "$model"
fi
# A text policy needs a tokenizer (ids < 384; captions' other ids are left out of their text).
cp models/hf/testdata/transformers/qwen2/tokenizer.json models/hf/testdata/transformers/qwen2/tokenizer_config.json "$model/"

# knobs CONFIG: the flags of a configuration, for trainer train and trainer plan alike.
knobs() {
  case $1 in
    replicated) echo "--shard-optimizer=false" ;;
    sharded) echo "--shard-optimizer" ;;
    lean) echo "--shard-optimizer --activation-checkpointing --micro-batch 2" ;;
  esac
}
shape=(--batch 2 --group 4 --max-len "$len" --beta 0 --optimizer host --device cpu)

for c in $configs; do
  phase "zero: $c, 2 ranks, B=2 G=4, $len tokens, $steps steps"
  # shellcheck disable=SC2046
  bin/trainer plan --init "$model" --np 2 "${shape[@]}" $(knobs "$c") --json >"$run/zero/plan-$c.json" 2>"$run/logs/zero-plan-$c.log" ||
    die "trainer plan failed for $c (see $run/logs/zero-plan-$c.log)"
  out=$run/zero/run-$c
  rm -rf "$out" "$run/zero/time-$c"
  mkdir -p "$run/zero/time-$c"
  # Each rank runs under /usr/bin/time, which writes its peak into time-CONFIG/RANK.json.
  # shellcheck disable=SC2016,SC2046
  logged "zero-$c" bin/launch -np 2 sh -c 'exec /usr/bin/time -f "{\"wall_s\":%e,\"max_rss_kb\":%M}" -o "$0/$RANK.json" "$@"' \
    "$run/zero/time-$c" bin/trainer train --init "$model" --out "$out" --steps "$steps" "${shape[@]}" $(knobs "$c") \
    --min-len "$len" --eval-scenes 0 --log-every 1 --threads 1 --plot-every 0 --monitor-interval 0 --ckpt-every 0
done

phase "zero: table"
RUN="$run" CONFIGS="$configs" python3 - <<'EOF'
import json, os
run, configs = os.environ["RUN"], os.environ["CONFIGS"].split()
rows = []
for c in configs:
    peaks = [json.load(open(os.path.join(run, "zero", "time-" + c, "%d.json" % r)))["max_rss_kb"] * 1024 for r in (0, 1)]
    plan = json.load(open(os.path.join(run, "zero", "plan-%s.json" % c)))
    recs = [json.loads(l) for l in open(os.path.join(run, "zero", "run-" + c, "metrics.jsonl")) if l.strip()]
    times = [r["step_time"] for r in recs[1:]]
    rows.append(dict(config=c, peak_rss_bytes=peaks, plan_host_bytes=plan["peak"]["host"],
                     step_s=sum(times) / len(times), step_times=[r["step_time"] for r in recs],
                     update_s=[r["update_time"] for r in recs], loss=[r["loss"] for r in recs]))
base = next((r for r in rows if r["config"] == "replicated"), None)
for r in rows:
    r["peak_over_plan"] = max(r["peak_rss_bytes"]) / r["plan_host_bytes"]
    r["step_over_replicated"] = r["step_s"] / base["step_s"] if base else None
gib = 2 ** 30
lines = ["| configuration | peak RSS rank 0 / 1 | plan's host peak | peak / plan (<= 1.3) | step s (after the first) | step / replicated (<= 1.2) |",
         "|---|---:|---:|---:|---:|---:|"]
for r in rows:
    ratio = "%.2f" % r["step_over_replicated"] if r["step_over_replicated"] is not None else "-"
    lines.append("| %s | %.2f / %.2f GiB | %.2f GiB | %.2f | %.1f | %s |" % (r["config"], r["peak_rss_bytes"][0] / gib,
                 r["peak_rss_bytes"][1] / gib, r["plan_host_bytes"] / gib, r["peak_over_plan"], r["step_s"], ratio))
open(os.path.join(run, "zero.md"), "w").write("\n".join(lines) + "\n")
tmp = os.path.join(run, "zero.json.tmp")
json.dump(rows, open(tmp, "w"), indent=1)
os.replace(tmp, os.path.join(run, "zero.json"))
print("\n".join(lines))
EOF
