#!/usr/bin/env bash
# The sharded optimizer (ZeRO-1) on 2 CPU ranks with a Qwen2-0.5B-shaped model (bench/lmbench init:
# ZERO_LAYERS of its 24 layers, hidden 896, vocabulary 151,936, random weights, 494 M parameters at
# 24 layers, float32): GRPO for
# ZERO_STEPS steps (and the final checkpoint) of B=2 images x G=4 fixed-length captions (--min-len = --max-len = ZERO_LEN),
# no KL reference (--beta 0), the host optimizer, one thread a rank, once per configuration:
#   replicated  --shard-optimizer=false: every rank holds all the masters and moments; its plan
#               is over this 24 GiB machine's memory, so it runs with --no-plan-check, and when the
#               kernel kills it the table says so (its step time then has no peer)
#   sharded     the default with several ranks: each holds its half
#   lean        sharded, --activation-checkpointing and --micro-batch 2
# For each: the peak resident set of each rank (/usr/bin/time), the mean step time (steps after the
# first), and `trainer plan`'s host rows for the same flags; the table holds the peak over the
# plan's resident bytes (target at most 1.3) and over its peak, and step time / replicated's (target at most 1.2), and whether the run completed.
#
# On this 24 GiB machine two ranks of the 24-layer model fit only in the lean configuration (a
# sharded rank without checkpointing peaks at 12.2 GiB); make bench runs the lean one at 24 layers
# and the three side by side at 12.
#
# Usage: scripts/bench/zero.sh RUN_FOLDER
# Writes RUN_FOLDER/zero-LLAYERS.md (the table) and zero-LLAYERS.json, logs in
# RUN_FOLDER/logs/zero-L*.log, the runs in RUN_FOLDER/zero-LLAYERS/; the model is written once into
# RUN_FOLDER/zero-LLAYERS/model and reused.
#
# Settings (environment): ZERO_LAYERS=24, ZERO_STEPS=5, ZERO_LEN=32,
# ZERO_CONFIGS="sharded lean replicated".
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench-zero clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ $# -eq 1 ] || usage_error "usage: scripts/bench/zero.sh RUN_FOLDER"
run=$1
layers=${ZERO_LAYERS:-24}
steps=${ZERO_STEPS:-5}
len=${ZERO_LEN:-32}
configs=${ZERO_CONFIGS:-sharded lean replicated}
want_whole ZERO_LAYERS "$layers" ZERO_STEPS "$steps" ZERO_LEN "$len"
[ "$steps" -ge 2 ] && [ "$len" -ge 1 ] || usage_error "ZERO_STEPS must be at least 2 (the first step is left out) and ZERO_LEN at least 1"
for c in $configs; do
  case $c in replicated | sharded | lean) ;; *) usage_error "ZERO_CONFIGS: $c is not replicated, sharded or lean" ;; esac
done
[ -x bin/trainer ] && [ -x bin/launch ] || die "bin/trainer and bin/launch are missing: run make build"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
one_thread
tag=L$layers
z=$run/zero-$tag
mkdir -p "$run/logs" "$z"

phase "zero: build"
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
logged zero-build go build -o "$tools/" ./bench/lmbench
model=$z/model
if [ ! -f "$model/model.safetensors" ]; then
  logged "zero-$tag-init" "$tools/lmbench" init --out "$model" --layers "$layers"
fi
# A text policy needs a tokenizer (ids < 384; captions' other ids are left out of their text).
cp models/hf/testdata/transformers/qwen2/tokenizer.json models/hf/testdata/transformers/qwen2/tokenizer_config.json "$model/"

# knobs CONFIG: the flags of a configuration, for trainer train and trainer plan alike.
knobs() {
  case $1 in
    replicated) echo "--shard-optimizer=false --no-plan-check" ;;
    sharded) echo "--shard-optimizer" ;;
    lean) echo "--shard-optimizer --activation-checkpointing --micro-batch 2" ;;
  esac
}
shape=(--batch 2 --group 4 --max-len "$len" --beta 0 --optimizer host --device cpu)

for c in $configs; do
  phase "zero: $c, $layers layers, 2 ranks, B=2 G=4, $len tokens, $steps steps"
  # shellcheck disable=SC2046
  bin/trainer plan --init "$model" --np 2 "${shape[@]}" $(knobs "$c" | sed 's/ *--no-plan-check//') --json >"$z/plan-$c.json" 2>"$run/logs/zero-$tag-plan-$c.log" ||
    die "trainer plan failed for $c (see $run/logs/zero-$tag-plan-$c.log)"
  out=$z/run-$c
  rm -rf "$out" "$z/time-$c"
  mkdir -p "$z/time-$c"
  # Each rank runs under /usr/bin/time, which writes its peak into time-CONFIG/RANK.json.
  # shellcheck disable=SC2016,SC2046
  if bin/launch -np 2 sh -c 'exec /usr/bin/time -f "{\"wall_s\":%e,\"max_rss_kb\":%M}" -o "$0/$RANK.json" "$@"' \
    "$z/time-$c" bin/trainer train --init "$model" --out "$out" --steps "$steps" "${shape[@]}" $(knobs "$c") \
    --min-len "$len" --eval-scenes 0 --log-every 1 --threads 1 --plot-every 0 --monitor-interval 0 --ckpt-every 0 \
    >"$run/logs/zero-$tag-$c.log" 2>&1; then
    echo ok >"$z/status-$c"
  else
    # The replicated run may not fit this machine; the others must.
    tail -n 5 "$run/logs/zero-$tag-$c.log" >&2
    [ "$c" = replicated ] || die "zero-$tag-$c failed (log: $run/logs/zero-$tag-$c.log)"
    say "the replicated run failed (log: $run/logs/zero-$tag-$c.log); the table says so"
    echo failed >"$z/status-$c"
  fi
done

phase "zero: table"
RUN="$run" TAG="$tag" CONFIGS="$configs" python3 - <<'EOF'
import json, os
run, tag, configs = os.environ["RUN"], os.environ["TAG"], os.environ["CONFIGS"].split()
rows = []
for c in configs:
    d = os.path.join(run, "zero-" + tag)
    plan = json.load(open(os.path.join(d, "plan-%s.json" % c)))
    row = dict(config=c, completed=open(os.path.join(d, "status-" + c)).read().strip() == "ok",
               plan_host_bytes=plan["peak"]["host"], peak_rss_bytes=[], step_s=None,
               plan_static_bytes=sum(x["bytes"] for x in plan["rows"] if x["where"] == "host" and x["phase"] == "resident"))
    for r in (0, 1):
        try:  # /usr/bin/time writes nothing for a rank the kernel killed
            row["peak_rss_bytes"].append(json.load(open(os.path.join(d, "time-" + c, "%d.json" % r)))["max_rss_kb"] * 1024)
        except (OSError, ValueError):
            row["peak_rss_bytes"].append(None)
    mf = os.path.join(d, "run-" + c, "metrics.jsonl")
    recs = [json.loads(l) for l in open(mf) if l.strip()] if os.path.exists(mf) else []
    row["steps_logged"] = len(recs)
    row["step_times"] = [r["step_time"] for r in recs]
    if len(recs) >= 2:
        row["step_s"] = sum(row["step_times"][1:]) / (len(recs) - 1)
    rows.append(row)
base = next((r for r in rows if r["config"] == "replicated" and r["step_s"]), None)
for r in rows:
    peaks = [p for p in r["peak_rss_bytes"] if p]
    r["peak_over_plan"] = max(peaks) / r["plan_host_bytes"] if peaks else None
    r["peak_over_static"] = max(peaks) / r["plan_static_bytes"] if peaks else None
    r["step_over_replicated"] = r["step_s"] / base["step_s"] if base and r["step_s"] else None
gib = 2 ** 30
lines = ["| configuration | completed | peak RSS rank 0 / 1 | plan: resident / peak | peak RSS / plan's resident (<= 1.3) | / plan's peak | step s (after the first) | step / replicated (<= 1.2) |",
         "|---|---|---:|---:|---:|---:|---:|---:|"]
fmt = lambda v, f: "-" if v is None else f % v
for r in rows:
    done = "yes" if r["completed"] else "no (%d steps logged)" % r["steps_logged"]
    peaks = " / ".join(fmt(p and p / gib, "%.2f") for p in r["peak_rss_bytes"]) + " GiB"
    lines.append("| %s | %s | %s | %.2f / %.2f GiB | %s | %s | %s | %s |" % (r["config"], done, peaks, r["plan_static_bytes"] / gib,
                 r["plan_host_bytes"] / gib, fmt(r["peak_over_static"], "%.2f"), fmt(r["peak_over_plan"], "%.2f"),
                 fmt(r["step_s"], "%.1f"), fmt(r["step_over_replicated"], "%.2f")))
open(os.path.join(run, "zero-%s.md" % tag), "w").write("\n".join(lines) + "\n")
tmp = os.path.join(run, "zero-%s.json.tmp" % tag)
json.dump(rows, open(tmp, "w"), indent=1)
os.replace(tmp, os.path.join(run, "zero-%s.json" % tag))
print("\n".join(lines))
EOF
