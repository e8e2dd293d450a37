#!/usr/bin/env bash
# The reward-encoder benchmark of make bench (scripts/bench/run.sh runs it after its other
# sections; it also runs alone): images/s of the reward's Hugging Face encoder, a CLIP ViT-B/32 of
# random weights with CLIP's processor (models/hf/vit's BenchmarkRewardEmbed/clip-b32), all the
# images in one forward pass (batched), in passes of 9 (group9: a source and its 8
# reconstructions, as reward.Score runs them) and one image a pass (the reward before batching),
# in the same process, one thread.
#
# Usage: scripts/bench/reward.sh RUN_FOLDER
# Writes RUN_FOLDER/reward.json and RUN_FOLDER/reward.md, the benchmark's output in
# RUN_FOLDER/logs/reward-bench.log, and the committed report bench/reward/DATE-DEVICE.json.
#
# Settings (environment): REWARD_IMAGES=16 (images per iteration), REWARD_ITERS=3 (iterations
# per side), REWARD_DEVICE=cpu (or cuda, with a CUDA libtorch).
set -euo pipefail
cd "$(dirname "$0")/../.."
me=bench-reward clock=1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ $# -eq 1 ] || usage_error "usage: scripts/bench/reward.sh RUN_FOLDER"
run=$1
n=${REWARD_IMAGES:-16}
iters=${REWARD_ITERS:-3}
device=${REWARD_DEVICE:-cpu}
want_whole REWARD_IMAGES "$n" REWARD_ITERS "$iters"
[ "$n" -ge 1 ] && [ "$iters" -ge 1 ] || usage_error "REWARD_IMAGES and REWARD_ITERS must be at least 1"
[ "$device" = cpu ] || [ "$device" = cuda ] || usage_error "REWARD_DEVICE=$device: want cpu or cuda"
one_thread
mkdir -p "$run"/logs bench/reward

phase "reward: build the encoder benchmark"
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
logged reward-build go test -c -vet=off -o "$tools/vit.test" ./models/hf/vit

phase "reward: CLIP-B/32, $n images, batched vs one image a pass, $device"
(cd models/hf/vit && UNIGRPO_BENCH_DEVICE=$device UNIGRPO_BENCH_IMAGES=$n "$tools/vit.test" -test.run XXX \
  -test.bench 'BenchmarkRewardEmbed/clip-b32' -test.benchtime "${iters}x") >"$run/logs/reward-bench.log" 2>&1 ||
  { tail -n 20 "$run/logs/reward-bench.log" >&2; die "the reward benchmark failed (log: $run/logs/reward-bench.log)"; }

report=bench/reward/$(date -u +%Y-%m-%d)-$device.json
python3 - "$run/logs/reward-bench.log" "$run/reward.json" "$report" "$run/reward.md" "$device" "$n" "$iters" <<'PY'
import json, os, platform, re, subprocess, sys, time
log, out, committed, md, device, n, iters = sys.argv[1:8]
sides = {}
for line in open(log):
    m = re.match(r"BenchmarkRewardEmbed/clip-b32/(\S+?)(-\d+)?\s+\d+\s+(\d+) ns/op.*?([\d.]+) img/s", line)
    if m:
        sides[m.group(1)] = {"img_s": float(m.group(4)), "ns_per_iter": int(m.group(3))}
if not {"batched", "one-image"} <= set(sides):
    sys.exit("reward bench: the log has no img/s of both sides (batched, one-image): " + log)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
rep = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "benchmark": "BenchmarkRewardEmbed/clip-b32",
       "model": "CLIP ViT-B/32 vision tower + projection, random weights, float32", "device": device,
       "machine": {"cpu": cpu, "cores": os.cpu_count(), "threads": 1, "host": platform.node(),
                   "loadavg_after": open("/proc/loadavg").read().split()[:3]}, "commit": commit,
       "images": int(n), "iterations": int(iters),
       "sides": [{"side": k, "img_s": v["img_s"], "ns_per_iter": v["ns_per_iter"]} for k, v in sorted(sides.items())],
       "speedup_batched": sides["batched"]["img_s"] / sides["one-image"]["img_s"]}
if "group9" in sides:
    rep["speedup_group9"] = sides["group9"]["img_s"] / sides["one-image"]["img_s"]
for path in (out, committed):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rep, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
with open(md, "w") as f:
    f.write("| CLIP-B/32 reward encoder (%s, %s images) | img/s |\n|---|---:|\n" % (device, n))
    for k, v in sorted(sides.items()):
        f.write("| %s | %.2f |\n" % (k, v["img_s"]))
    f.write("| batched / one image | %.2fx |\n" % rep["speedup_batched"])
    if "speedup_group9" in rep:
        f.write("| group9 / one image | %.2fx |\n" % rep["speedup_group9"])
print(open(md).read())
PY
say "reward: $run/reward.md, committed report $report"
