#!/usr/bin/env bash
# Peak memory of GRPO with micro-batches (trainer train --micro-batch): a Qwen2-shaped model with
# random weights (bench/lmbench init) whose trunk is small and vocabulary large (2 layers, hidden
# 128, vocabulary 151,936, tied head: 20 M parameters, 78 MiB), so that the update's activations,
# the logits [N, T, V] and what the log-softmax and its backward keep, outweigh the training state.
# It trains as a text-prompted policy for MB_STEPS steps of B=MB_BATCH images x G=8 fixed-length
# captions (--min-len = --max-len = MB_LEN tokens), once for each micro-batch size of MB_SIZES
# (0: the whole batch), one thread, one after the other; each run's peak resident set
# (/usr/bin/time) and update time, and whether its metrics equal the whole batch's.
#
# Usage: scripts/bench/microbatch.sh RUN_FOLDER
# Writes RUN_FOLDER/microbatch.md (the table) and microbatch.json, logs in RUN_FOLDER/logs/mb-*.log,
# the runs in RUN_FOLDER/mb/; the model is written once into RUN_FOLDER/mb/model and reused.
#
# Settings (environment): MB_SIZES="0 8 2", MB_STEPS=2, MB_BATCH=2, MB_LEN=32.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench-microbatch clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ $# -eq 1 ] || usage_error "usage: scripts/bench/microbatch.sh RUN_FOLDER"
run=$1
sizes=${MB_SIZES:-0 8 2}
steps=${MB_STEPS:-2}
batch=${MB_BATCH:-2}
len=${MB_LEN:-32}
want_whole MB_STEPS "$steps" MB_BATCH "$batch" MB_LEN "$len"
for m in $sizes; do want_whole MB_SIZES "$m"; done
[ "$steps" -ge 1 ] && [ "$batch" -ge 1 ] && [ "$len" -ge 1 ] || usage_error "MB_STEPS, MB_BATCH and MB_LEN must be at least 1"
[ -x bin/trainer ] || die "bin/trainer is missing: run make build"
one_thread
mkdir -p "$run"/{logs,mb}

phase "microbatch: build"
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
logged mb-build go build -o "$tools/" ./bench/lmbench
model=$run/mb/model
if [ ! -f "$model/model.safetensors" ]; then
  logged mb-init "$tools/lmbench" init --out "$model" --layers 2 --hidden 128 --intermediate 512 \
    --heads 2 --kv-heads 1 --head-dim 64 --vocab 151936
fi
# A text policy needs a tokenizer (ids < 384; captions' other ids are left out of their text).
cp models/hf/testdata/transformers/qwen2/tokenizer.json models/hf/testdata/transformers/qwen2/tokenizer_config.json "$model/"

for m in $sizes; do
  phase "microbatch: --micro-batch $m, B=$batch G=8, $len tokens, $steps steps"
  rm -rf "$run/mb/run-$m"
  logged "mb-$m" /usr/bin/time -f '{"wall_s":%e,"max_rss_kb":%M}' -o "$run/mb/time-$m.json" \
    bin/trainer train --init "$model" --out "$run/mb/run-$m" --steps "$steps" --batch "$batch" --group 8 \
    --max-len "$len" --min-len "$len" --micro-batch "$m" --eval-scenes 0 --log-every 1 --threads 1 \
    --plot-every 0 --monitor-interval 0
done

phase "microbatch: table"
RUN="$run" SIZES="$sizes" python3 - <<'EOF'
import json, os
run, sizes = os.environ["RUN"], os.environ["SIZES"].split()
keys = ("loss", "kl", "grad_norm", "entropy", "reward_mean")
rows = []
for m in sizes:
    t = json.load(open(os.path.join(run, "mb", "time-%s.json" % m)))
    recs = [json.loads(l) for l in open(os.path.join(run, "mb", "run-%s" % m, "metrics.jsonl")) if l.strip()]
    rows.append(dict(micro_batch=int(m), peak_rss_mib=t["max_rss_kb"] / 1024, wall_s=t["wall_s"],
                     update_s=[r["update_time"] for r in recs], metrics=[{k: r[k] for k in keys} for r in recs]))
base = rows[0]
for r in rows:
    worst = max(abs(a[k] - b[k]) / max(1, abs(b[k])) for a, b in zip(r["metrics"], base["metrics"]) for k in keys)
    r["metrics_rel_diff"] = worst
lines = ["| --micro-batch | peak RSS | update s per step | wall s | metrics vs --micro-batch %d (max rel. diff) |" % base["micro_batch"],
         "|---:|---:|---|---:|---:|"]
for r in rows:
    lines.append("| %d | %.0f MiB | %s | %.1f | %.2g |" % (r["micro_batch"], r["peak_rss_mib"],
                 ", ".join("%.1f" % s for s in r["update_s"]), r["wall_s"], r["metrics_rel_diff"]))
open(os.path.join(run, "microbatch.md"), "w").write("\n".join(lines) + "\n")
json.dump(rows, open(os.path.join(run, "microbatch.json"), "w"), indent=1)
print("\n".join(lines))
EOF
