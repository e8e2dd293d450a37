#!/usr/bin/env bash
# reward-embed.sh: a registered check of the GPU kit's run (scripts/gpu/run.sh runs every
# scripts/gpu/checks/*.sh from the repository root). The reward's Hugging Face encoder on the GPU:
# models/hf/vit's BenchmarkRewardEmbed/clip-b32, a CLIP ViT-B/32 of random weights (float32) with
# CLIP's processor, 64 images of 256 px an iteration, all in one forward pass (batched) against
# one image a pass, 5 iterations a side after a warm-up, on cuda:
#   go test -c -o vit.test ./models/hf/vit && cd models/hf/vit &&
#   UNIGRPO_BENCH_DEVICE=cuda UNIGRPO_BENCH_IMAGES=64 ../../../vit.test -test.run XXX \
#     -test.bench 'BenchmarkRewardEmbed/clip-b32' -test.benchtime 5x
# The test binary is built on the host with the kit's Go and the gotch the build step compiled
# against PyTorch's libtorch ($GPU_RUN_WORK/src). Without a GPU (make gpu-rehearse) it builds the
# same way and runs on the CPU with 4 images and one iteration, then exits 77 (skipped).
# Oracle: none for speed; the features are checked on the CPU by the package's tests
# (TestViTBatchedEqualsOneImage: batched equals one image a pass within 1e-5; transformers'
# fixtures for the one-image path). The report carries images/s of both sides and their ratio.
# gpu-run: order=40 limit=150
set -uo pipefail
checks=${GPU_RUN_CHECKS:-${GPU_RUN_OUT:?GPU_RUN_CHECKS or GPU_RUN_OUT must name a folder}}
work=${GPU_RUN_WORK:-/tmp/unigrpo-gpu-run}
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/lines"; : >"$tmp/text"
note() { echo "$*" | tee -a "$tmp/lines"; }
result() {
  python3 scripts/gpu/check-result.py --out "$checks/reward-embed.json" --check reward-embed --status "$1" \
    --lines "$tmp/lines" --text "$tmp/text" --title "reward encoder on the GPU: CLIP-B/32 images/s, batched vs one image a pass" \
    --oracle "speed only; batched features equal the one-image path within 1e-5 on the CPU (TestViTBatchedEqualsOneImage)"
}
cuda=0
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && cuda=1
device=cuda images=64 iters=5
[ $cuda = 1 ] || { device=cpu images=4 iters=1; }
if [ ! -x "$work/go/bin/go" ] || [ ! -d "$work/src/vendor" ]; then
  note "reward-embed: no kit Go or prepared source in $work (the build step did not run)"; result fail; exit 1
fi
if ! grep -q 'func BenchmarkRewardEmbed' "$work/src/models/hf/vit/"*_test.go 2>/dev/null; then
  note "reward-embed: not built yet: models/hf/vit has no BenchmarkRewardEmbed"; result skip; exit 77
fi
s=$(date +%s)
if ! (cd "$work/src" && GOROOT=$work/go PATH=$work/go/bin:$PATH GOFLAGS=-mod=vendor GOWORK=off GOPROXY=off GOSUMDB=off \
    GOTOOLCHAIN=local GOTELEMETRY=off GOMODCACHE=$work/modcache GOCACHE=${GPU_RUN_GOCACHE:-$work/gocache} CGO_ENABLED=1 \
    go test -c -vet=off -o "$tmp/vit.test" ./models/hf/vit) >"$tmp/build.log" 2>&1; then
  tail -n 20 "$tmp/build.log" | tee "$tmp/text"
  note "FAIL reward-embed: building the vit test binary failed"; result fail; exit 1
fi
echo "built vit.test in $(( $(date +%s) - s ))s"
if ! (cd "$root/models/hf/vit" && UNIGRPO_BENCH_DEVICE=$device UNIGRPO_BENCH_IMAGES=$images "$tmp/vit.test" -test.run XXX \
    -test.bench 'BenchmarkRewardEmbed/clip-b32' -test.benchtime ${iters}x) >"$tmp/bench.log" 2>&1; then
  tail -n 20 "$tmp/bench.log" | tee "$tmp/text"
  note "FAIL reward-embed: the benchmark failed on $device"; result fail; exit 1
fi
cp "$tmp/bench.log" "$tmp/text"
cat "$tmp/bench.log"
rate() { sed -n "s|^BenchmarkRewardEmbed/clip-b32/$1[- 0-9]*.* \([0-9.]*\) img/s.*|\1|p" "$tmp/bench.log" | tail -1; }
b=$(rate batched) o=$(rate one-image)
if [ -z "$b" ] || [ -z "$o" ]; then note "FAIL reward-embed: no img/s of both sides in the output"; result fail; exit 1; fi
note "CLIP-B/32 reward encoder on $device, $images images an iteration: batched $b img/s, one image a pass $o img/s ($(python3 -c "print('%.2fx' % ($b / $o))"))"
if [ $cuda = 1 ]; then result pass; exit 0; fi
note "no CUDA device: rehearsed on the CPU (4 images, one iteration)"
result skip; exit 77
