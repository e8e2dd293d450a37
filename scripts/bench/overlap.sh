#!/usr/bin/env bash
# The reward's share of a world GRPO step when the reward is a slow service (a text-to-image
# decoder's stand-in: `trainer serve-reward --delay D`, D per caption, one request at a time),
# before and after the pool and the overlap of issue 22:
#   serial      one service, the whole rollout then the whole reward (the default before the change)
#   chunks      one service, --rollout-batch OV_CHUNK without overlap (what the chunks alone change)
#   overlap     one service, --rollout-batch OV_CHUNK: each chunk's reward asked for while the next
#               chunk is sampled
#   pool        two services, the same overlap
# For each delay of OV_DELAYS, each side runs OV_WARMUP + OV_STEPS steps of B=8 G=8 (64 captions
# a step) from the same checkpoint, one thread; the table gives the mean over the measured steps of
# reward_share (the reward's wait after the rollout over the step time), reward_time,
# reward_busy_time and step_time, and each service's images/s. Every side must give the same
# training metrics (the reward does not depend on the pool or the overlap): checked, and a
# mismatch fails the benchmark.
#
# Usage: scripts/bench/overlap.sh RUN_FOLDER [INIT]
# INIT is a checkpoint, checkpoint folder or run folder (default: a fresh SFT of OV_SFT_STEPS=30
# steps in RUN_FOLDER/overlap/sft). Writes RUN_FOLDER/overlap.md (the table) and overlap.json,
# logs in RUN_FOLDER/logs/ov-*.log, the runs in RUN_FOLDER/overlap/.
#
# Settings (environment): OV_DELAYS="2ms 10ms", OV_WARMUP=2, OV_STEPS=8, OV_CHUNK=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench-overlap clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ $# -ge 1 ] && [ $# -le 2 ] || usage_error "usage: scripts/bench/overlap.sh RUN_FOLDER [INIT]"
run=$1
init=${2:-}
delays=${OV_DELAYS:-2ms 10ms}
warmup=${OV_WARMUP:-2}
steps=${OV_STEPS:-8}
chunk=${OV_CHUNK:-1}
sft_steps=${OV_SFT_STEPS:-30}
want_whole OV_WARMUP "$warmup" OV_STEPS "$steps" OV_CHUNK "$chunk" OV_SFT_STEPS "$sft_steps"
[ "$steps" -ge 1 ] && [ "$chunk" -ge 1 ] || usage_error "OV_STEPS and OV_CHUNK must be at least 1"
for d in $delays; do [[ $d =~ ^[0-9]+(ms|us|s)$ ]] || usage_error "OV_DELAYS: $d is not a duration like 2ms"; done
[ -x bin/trainer ] || die "bin/trainer is missing: run make build"
one_thread
mkdir -p "$run"/{logs,overlap}

if [ -z "$init" ]; then
  init=$run/overlap/sft
  if ! ls "$init"/checkpoints/step-*/model.safetensors >/dev/null 2>&1; then
    phase "overlap: sft ($sft_steps steps, the start checkpoint)"
    rm -rf "$init"
    logged ov-sft bin/trainer sft --out "$init" --steps "$sft_steps" --eval-scenes 0 --log-every 50 --monitor-interval 0
  fi
fi

# Services: started per delay, stopped (by their process ids) when the script ends.
pids=()
stop_services() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap stop_services EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_service NAME DELAY: starts a service and prints its URL once it serves.
start_service() {
  local port log=$run/logs/ov-$1.log
  port=$(free_port)
  bin/trainer serve-reward --listen "127.0.0.1:$port" --delay "$2" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q '^serving' "$log" 2>/dev/null && { echo "http://127.0.0.1:$port"; return; }
    sleep 0.1
  done
  die "serve-reward did not start (log: $log)"
}

total=$((warmup + steps))
for d in $delays; do
  phase "overlap: services of $d per caption"
  u0=$(start_service "svc0-$d" "$d")
  u1=$(start_service "svc1-$d" "$d")
  side() {
    local name=$1
    shift
    rm -rf "$run/overlap/$d-$name"
    logged "ov-$d-$name" bin/trainer train --init "$init" --out "$run/overlap/$d-$name" --steps "$total" \
      --batch 8 --group 8 --eval-scenes 0 --ckpt-every 0 --keep 1 --plot-every 0 --check-every 0 \
      --monitor-interval 0 --log-every 1 --threads 1 "$@"
  }
  phase "overlap: $d: serial (1 service)"
  side serial --reward-url "$u0" --reward-overlap=false
  phase "overlap: $d: chunks (1 service, --rollout-batch $chunk, no overlap)"
  side chunks --reward-url "$u0" --rollout-batch "$chunk" --reward-overlap=false
  phase "overlap: $d: overlap (1 service, --rollout-batch $chunk)"
  side overlap --reward-url "$u0" --rollout-batch "$chunk"
  phase "overlap: $d: pool (2 services, --rollout-batch $chunk)"
  side pool --reward-url "$u0" --reward-url "$u1" --rollout-batch "$chunk"
  stop_services
done

phase "overlap: table"
RUN="$run" DELAYS="$delays" WARMUP="$warmup" CHUNK="$chunk" python3 - <<'EOF'
import json, os, platform, sys, time
run, delays, warmup, chunk = os.environ["RUN"], os.environ["DELAYS"].split(), int(os.environ["WARMUP"]), os.environ["CHUNK"]
sides = [("serial", "1 service, reward after the rollout"),
         ("chunks", "1 service, --rollout-batch %s, no overlap" % chunk),
         ("overlap", "1 service, overlap (--rollout-batch %s)" % chunk),
         ("pool", "2 services, overlap (--rollout-batch %s)" % chunk)]
same = ("reward_mean", "loss", "kl", "grad_norm", "length_mean")
def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")
rows, bad = [], []
out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.node(),
       "cpus": os.cpu_count(), "loadavg_at_end": open("/proc/loadavg").read().split()[:3], "runs": []}
for d in delays:
    recs = {}
    for name, what in sides:
        with open(os.path.join(run, "overlap", "%s-%s" % (d, name), "metrics.jsonl")) as f:
            recs[name] = [json.loads(l) for l in f if l.strip()]
    for name, what in sides:
        rs = recs[name]
        for i, (a, b) in enumerate(zip(recs["serial"], rs)):
            for k in same:
                if a.get(k) != b.get(k):
                    bad.append("%s %s step %d %s: %r vs serial %r" % (d, name, i + 1, k, b.get(k), a.get(k)))
        m = rs[warmup:]
        e = {"delay": d, "side": name, "what": what, "steps": len(m)}
        for k in ("reward_share", "reward_time", "reward_busy_time", "step_time", "rollout_time"):
            e[k] = mean([r[k] for r in m])
        e["services_images_per_s"] = [mean([r["reward_service%d_images_per_s" % i] for r in m])
                                      for i in range(2) if "reward_service%d_images_per_s" % i in m[0]]
        out["runs"].append(e)
        rows.append("| %s | %s | %.1f%% | %.3f | %.3f | %.3f | %.3f | %s |" % (
            d, what, 100 * e["reward_share"], e["reward_time"], e["reward_busy_time"], e["rollout_time"], e["step_time"],
            ", ".join("%.0f" % v for v in e["services_images_per_s"])))
if bad:
    sys.exit("overlap: the sides' training metrics differ:\n" + "\n".join(bad[:20]))
md = ["# The reward's share of a world GRPO step: a slow reward service, pooled and overlapped", "",
      "B=8 G=8 (64 captions a step), `trainer serve-reward --delay D` per caption; means over the measured steps;",
      "every side's training metrics equal (checked).", "",
      "| delay | side | reward share | reward wait s | reward busy s | rollout s | step s | images/s per service |",
      "|---|---|---|---|---|---|---|---|"] + rows
for name in ("overlap.md", "overlap.json"):
    tmp = os.path.join(run, name + ".tmp")
    with open(tmp, "w") as f:
        if name.endswith(".md"):
            f.write("\n".join(md) + "\n")
        else:
            json.dump(out, f, indent=1)
    os.replace(tmp, os.path.join(run, name))
print("\n".join(md))
EOF
say "table: $run/overlap.md"
