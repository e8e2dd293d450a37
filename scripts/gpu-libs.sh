# gpu-libs.sh is sourced by gpu-check.sh and gpu-run.sh: it exports UNIGRPO_NCCL_LIB and
# UNIGRPO_CUDART_LIB, unless already set, from what python3's pip NVIDIA wheels hold (odd venv or
# conda locations that the nccl package's own search does not know). Nothing is set without them.
__py=$(command -v python3 || true)
if [ -n "$__py" ] && [ -z "${UNIGRPO_NCCL_LIB:-}" ]; then
  __lib=$("$__py" - <<'PY' 2>/dev/null || true
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
)
  [ -n "$__lib" ] && export UNIGRPO_NCCL_LIB="$__lib"
fi
if [ -n "$__py" ] && [ -z "${UNIGRPO_CUDART_LIB:-}" ]; then
  __lib=$("$__py" - <<'PY' 2>/dev/null || true
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
)
  [ -n "$__lib" ] && export UNIGRPO_CUDART_LIB="$__lib"
fi
unset __py __lib
