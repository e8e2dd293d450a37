#!/usr/bin/env bash
# Verifies a GPU host: NCCL + CUDA runtime load, one-rank and multi-GPU
# all-reduce on device memory with result checks and bandwidth, NVML.
#
# GPU hosts usually have no Go toolchain: build on a CPU machine
#   go build -o bin/gpucheck ./cmd/gpucheck
# and copy bin/ and scripts/ over; then run scripts/gpu-check.sh [gpucheck flags].
# Environment: GPUCHECK (binary path), UNIGRPO_NCCL_LIB / UNIGRPO_CUDART_LIB
# (library paths; found automatically in the usual places otherwise),
# GPU_CHECK_LOG (also write the output there).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${GPUCHECK:-$root/bin/gpucheck}"

if [[ ! -x "$bin" ]]; then
	if command -v go >/dev/null 2>&1; then
		echo "gpu-check: building $bin" >&2
		(cd "$root" && GOWORK=off go build -o "$bin" ./cmd/gpucheck)
	else
		echo "gpu-check: $bin not found and no Go toolchain here." >&2
		echo "  Build it on a CPU machine (go build -o bin/gpucheck ./cmd/gpucheck) and copy bin/ over," >&2
		echo "  or set GPUCHECK to the binary's path." >&2
		exit 1
	fi
fi

# Ask Python where pip's NVIDIA wheels live, for installs outside the
# folders gpucheck searches by itself (odd venv or conda locations).
py="$(command -v python3 || true)"
if [[ -n "$py" ]]; then
	if [[ -z "${UNIGRPO_NCCL_LIB:-}" ]]; then
		lib="$("$py" - <<'PY' 2>/dev/null || true
import os
try:
    import nvidia.nccl as m
    for d in m.__path__:
        p = os.path.join(d, "lib", "libnccl.so.2")
        if os.path.exists(p):
            print(p)
            break
except Exception:
    pass
PY
)"
		[[ -n "$lib" ]] && export UNIGRPO_NCCL_LIB="$lib"
	fi
	if [[ -z "${UNIGRPO_CUDART_LIB:-}" ]]; then
		lib="$("$py" - <<'PY' 2>/dev/null || true
import glob, os
try:
    import nvidia
    for d in nvidia.__path__:
        for sub in ("cu13/lib", "cuda_runtime/lib", "cu12/lib"):
            hits = sorted(glob.glob(os.path.join(d, sub, "libcudart.so*")))
            if hits:
                print(hits[-1])
                raise SystemExit
except Exception:
    pass
PY
)"
		[[ -n "$lib" ]] && export UNIGRPO_CUDART_LIB="$lib"
	fi
fi

echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
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
	echo "gpu-check: FAILED (gpucheck exit $status)" >&2
	exit "$status"
fi

# TODO(lead): once `trainer train --device cuda` exists, run a short CUDA
# training of the default world here (for example
#   "$root/bin/trainer" train --device cuda --steps 20 --out "$(mktemp -d)/gpu-check-run"
# under `launch -np <GPUs>`) and fail the script if it fails.

echo "gpu-check: OK"
