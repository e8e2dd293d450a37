#!/usr/bin/env bash
# Verifies a GPU host: NCCL + CUDA runtime load, one-rank and multi-GPU
# all-reduce on device memory with result checks and bandwidth, NVML.
#
# GPU hosts usually have no Go toolchain: build on a CPU machine
#   go build -o bin/gpucheck ./cmd/gpucheck
# and copy bin/ and scripts/ over; then run scripts/gpu/check.sh [gpucheck flags].
# (scripts/gpu/run.sh runs it with the GPU kit's prebuilt gpucheck.)
# Environment: GPUCHECK (binary path), UNIGRPO_NCCL_LIB / UNIGRPO_CUDART_LIB
# (library paths; found automatically in the usual places otherwise),
# GPU_CHECK_LOG (also write the output there).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${GPUCHECK:-$root/bin/gpucheck}"
me=gpu-check
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

if [[ ! -x "$bin" ]]; then
	if command -v go >/dev/null 2>&1; then
		say "building $bin" >&2
		(cd "$root" && GOWORK=off go build -o "$bin" ./cmd/gpucheck)
	else
		die "$bin not found and no Go toolchain here. Build it on a CPU machine (go build -o bin/gpucheck ./cmd/gpucheck) and copy bin/ over, or set GPUCHECK to the binary's path."
	fi
fi

find_gpu_libs

say "$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
if command -v nvidia-smi >/dev/null 2>&1; then
	nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader || true
fi

status=0
if [[ -n "${GPU_CHECK_LOG:-}" ]]; then
	"$bin" "$@" 2>&1 | tee "$GPU_CHECK_LOG" || status=$?
	status=${PIPESTATUS[0]}
else
	"$bin" "$@" || status=$?
fi
if [[ $status -ne 0 ]]; then
	say "FAILED (gpucheck exit $status)" >&2
	exit "$status"
fi

# A short CUDA training of the default world: the supervised baseline on one GPU, then
# Unified-GRPO on every GPU of the host through launch. bin/trainer must have been built
# against a CUDA libtorch (LIBTORCH=... make build, see docs/gpu.md); a CPU-only build stops here
# with a message saying so. GPU_CHECK_SKIP_TRAIN=1 skips this part.
if [[ "${GPU_CHECK_SKIP_TRAIN:-0}" != 1 ]]; then
	trainer="$root/bin/trainer"
	launcher="$root/bin/launch"
	[[ -x "$trainer" && -x "$launcher" ]] || die "$trainer or $launcher missing: run make build"
	ngpu=$(nvidia-smi -L 2>/dev/null | wc -l)
	[[ "$ngpu" -ge 1 ]] || ngpu=1
	run=$(mktemp -d)/gpu-check
	say "CUDA training, SFT on 1 GPU then GRPO on $ngpu GPU(s), in $run"
	"$trainer" sft --device cuda --steps 50 --eval-scenes 16 --log-every 25 --out "$run/sft"
	"$launcher" -np "$ngpu" "$trainer" train --device cuda --init "$run/sft" --out "$run/grpo" \
		--steps 10 --batch $((ngpu * 2)) --eval-scenes 16 --log-every 5 --monitor-interval 0.5
	say "CUDA training finished; plots in $run/grpo/plots"
fi

say OK
